"""Blocking and `.aio` faces for the SDK's async implementation.

The SDK is written once, async, and runs on one background event loop owned by
this module. A method decorated with `@live_method` is called like a normal
blocking method (`f.remote(x)`) and also has an async form (`await f.remote.aio(x)`),
as in the Modal client. Async generators get the same pair (`@live_method_gen`).
"""

from __future__ import annotations

import asyncio
import functools
import queue
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import Any, TypeVar

T = TypeVar("T")

_loop: asyncio.AbstractEventLoop | None = None
_thread: threading.Thread | None = None
_lock = threading.Lock()


def background_loop() -> asyncio.AbstractEventLoop:
    """The SDK's event loop, started on first use in a daemon thread."""
    global _loop, _thread
    if _loop is not None and _thread is not None and _thread.is_alive():
        return _loop
    with _lock:
        if _loop is None or _thread is None or not _thread.is_alive():
            loop = asyncio.new_event_loop()
            ready = threading.Event()

            def run() -> None:
                asyncio.set_event_loop(loop)
                loop.call_soon(ready.set)
                loop.run_forever()

            _thread = threading.Thread(target=run, name="modal-sdk-loop", daemon=True)
            _thread.start()
            ready.wait()
            _loop = loop
    return _loop


def _on_background_loop() -> bool:
    try:
        return asyncio.get_running_loop() is _loop
    except RuntimeError:
        return False


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run `coro` on the SDK loop and block for its result.

    A bare lock is the cheapest way to wake this thread when the task ends, which matters
    on the hot path (`f.remote()` makes one of these round trips)."""
    if _on_background_loop():
        coro.close()
        raise RuntimeError("a blocking Modal call was made from inside the SDK's event loop; use `.aio`")
    loop = background_loop()
    done = threading.Lock()
    done.acquire()
    box: list[asyncio.Task] = []

    def start() -> None:
        task = loop.create_task(coro)
        box.append(task)
        task.add_done_callback(lambda _: done.release())

    loop.call_soon_threadsafe(start)
    try:
        done.acquire()
    except KeyboardInterrupt:
        loop.call_soon_threadsafe(lambda: box and box[0].cancel())
        raise
    return box[0].result()


async def run_aio(coro: Coroutine[Any, Any, T]) -> T:
    """Await `coro` on the SDK loop from any event loop."""
    if _on_background_loop():
        return await coro
    return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, background_loop()))


_ITER_CREDITS = 1024  # items an async iterator may run ahead of its blocking consumer
_ITER_RETURN_EVERY = 64  # credits handed back to the producer at a time


def iter_sync(agen: AsyncIterator[T]) -> Iterator[T]:
    """Iterate an async iterator that lives on the SDK loop, blocking per item.

    A task on the loop drives the iterator and hands items over through a thread-safe
    queue, so a fast stream costs a queue operation per item rather than a thread round trip.
    """
    if _on_background_loop():
        raise RuntimeError("a blocking Modal iterator was used inside the SDK's event loop; use `.aio`")
    loop = background_loop()
    items: queue.SimpleQueue = queue.SimpleQueue()
    credits: list[asyncio.Semaphore] = []
    task_box: list[asyncio.Task] = []
    _END = object()

    async def produce() -> None:
        credits.append(asyncio.Semaphore(_ITER_CREDITS))
        try:
            async for item in agen:
                await credits[0].acquire()
                items.put((True, item))
            items.put((True, _END))
        except BaseException as exc:  # noqa: BLE001 - re-raised in the consumer's thread
            items.put((False, exc))
        finally:
            aclose = getattr(agen, "aclose", None)
            if aclose is not None:
                await aclose()

    def start() -> None:
        task_box.append(loop.create_task(produce()))

    def give_back(n: int) -> None:
        for _ in range(n):
            credits[0].release()

    loop.call_soon_threadsafe(start)
    taken = 0
    try:
        while True:
            ok, value = items.get()
            if not ok:
                raise value
            if value is _END:
                return
            taken += 1
            if taken == _ITER_RETURN_EVERY:
                loop.call_soon_threadsafe(give_back, taken)
                taken = 0
            yield value
    finally:
        loop.call_soon_threadsafe(lambda: task_box and not task_box[0].done() and task_box[0].cancel())


async def iter_aio(agen: AsyncIterator[T]) -> AsyncIterator[T]:
    if _on_background_loop():
        async for item in agen:
            yield item
        return
    try:
        while True:
            try:
                yield await run_aio(agen.__anext__())  # type: ignore[arg-type]
            except StopAsyncIteration:
                return
    finally:
        aclose = getattr(agen, "aclose", None)
        if aclose is not None:
            await run_aio(aclose())


NO_FAST_PATH = object()  # what a `blocking=` fast path returns when it cannot answer the call


class _Bound:
    def __init__(self, fn: Callable[..., Any], blocking: Callable[..., Any] | None = None,
                 here: Callable[..., Any] | None = None) -> None:
        self._fn = fn
        self._blocking = blocking
        self._here = here
        self.__wrapped__ = fn

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self._blocking is not None and not _on_background_loop():
            value = self._blocking(*args, **kwargs)
            if value is not NO_FAST_PATH:
                return value
        return run_sync(self._fn(*args, **kwargs))

    def aio(self, *args: Any, **kwargs: Any) -> Any:
        if self._here is not None and not _on_background_loop():
            return _here_first(self._here, self._fn, args, kwargs)
        return run_aio(self._fn(*args, **kwargs))


async def _here_first(here: Callable[..., Any], fn: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
    value = await here(*args, **kwargs)
    if value is NO_FAST_PATH:
        return await run_aio(fn(*args, **kwargs))
    return value


class _BoundGen(_Bound):
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return iter_sync(self._fn(*args, **kwargs))

    def aio(self, *args: Any, **kwargs: Any) -> Any:
        return iter_aio(self._fn(*args, **kwargs))


class live_method:
    """Descriptor: an async method exposed as a blocking call with an `.aio` variant.

    `blocking` (optional): a sync method that answers the blocking call directly on the calling
    thread, or returns NO_FAST_PATH to leave it to the async method on the SDK loop. `here`
    (optional): the same for `.aio`, an async method run on the caller's own event loop. The hot
    calls use them to skip the hop to the SDK loop's thread and back."""

    bound_type = _Bound

    def __init__(self, fn: Callable[..., Any], blocking: Callable[..., Any] | None = None,
                 here: Callable[..., Any] | None = None) -> None:
        self.fn = fn
        self.blocking = blocking
        self.here = here
        functools.update_wrapper(self, fn)  # type: ignore[arg-type]

    def __get__(self, obj: Any, objtype: Any = None) -> Any:
        if obj is None:
            return self
        if self.blocking is not None or self.here is not None:
            return self.bound_type(
                self.fn.__get__(obj, objtype),
                self.blocking.__get__(obj, objtype) if self.blocking is not None else None,
                self.here.__get__(obj, objtype) if self.here is not None else None,
            )
        return self.bound_type(self.fn.__get__(obj, objtype))


class live_method_gen(live_method):
    """Descriptor: an async generator method exposed as a blocking iterator with `.aio`."""

    bound_type = _BoundGen


class live_classmethod(live_method):
    """Like `live_method`, bound to the class (for constructors such as `from_name`)."""

    def __get__(self, obj: Any, objtype: Any = None) -> Any:
        return self.bound_type(self.fn.__get__(objtype if objtype is not None else type(obj), None))


def live_function(fn: Callable[..., Any]) -> _Bound:
    """A module-level async function exposed as a blocking call with `.aio`."""
    bound = _Bound(fn)
    functools.update_wrapper(bound, fn)  # type: ignore[arg-type]
    return bound
