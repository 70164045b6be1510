"""Blocking and `.aio` faces for the SDK's async implementation.

The SDK is written once, async, and runs on one background event loop owned by
this module. A method decorated with `@live_method` is called like a normal
blocking method (`f.remote(x)`) and also has an async form (`await f.remote.aio(x)`),
as in the Modal client. Async generators get the same pair (`@live_method_gen`).
"""

from __future__ import annotations

import asyncio
import functools
import threading
from typing import Any, AsyncIterator, Callable, Coroutine, Iterator, Optional, TypeVar

T = TypeVar("T")

_loop: Optional[asyncio.AbstractEventLoop] = None
_thread: Optional[threading.Thread] = None
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
    """Run `coro` on the SDK loop and block for its result."""
    if _on_background_loop():
        coro.close()
        raise RuntimeError("a blocking Modal call was made from inside the SDK's event loop; use `.aio`")
    future = asyncio.run_coroutine_threadsafe(coro, background_loop())
    try:
        return future.result()
    except KeyboardInterrupt:
        future.cancel()
        raise


async def run_aio(coro: Coroutine[Any, Any, T]) -> T:
    """Await `coro` on the SDK loop from any event loop."""
    if _on_background_loop():
        return await coro
    return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, background_loop()))


def iter_sync(agen: AsyncIterator[T]) -> Iterator[T]:
    """Iterate an async iterator that lives on the SDK loop, blocking per item."""
    try:
        while True:
            try:
                yield run_sync(agen.__anext__())  # type: ignore[arg-type]
            except StopAsyncIteration:
                return
    finally:
        aclose = getattr(agen, "aclose", None)
        if aclose is not None and not _on_background_loop():
            try:
                run_sync(aclose())
            except Exception:  # noqa: BLE001 - closing is best effort
                pass


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


class _Bound:
    def __init__(self, fn: Callable[..., Any]) -> None:
        self._fn = fn
        self.__wrapped__ = fn

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return run_sync(self._fn(*args, **kwargs))

    def aio(self, *args: Any, **kwargs: Any) -> Any:
        return run_aio(self._fn(*args, **kwargs))


class _BoundGen(_Bound):
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return iter_sync(self._fn(*args, **kwargs))

    def aio(self, *args: Any, **kwargs: Any) -> Any:
        return iter_aio(self._fn(*args, **kwargs))


class live_method:
    """Descriptor: an async method exposed as a blocking call with an `.aio` variant."""

    bound_type = _Bound

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = fn
        functools.update_wrapper(self, fn)  # type: ignore[arg-type]

    def __get__(self, obj: Any, objtype: Any = None) -> Any:
        if obj is None:
            return self
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
