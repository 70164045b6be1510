"""`modal.Function`, `modal.FunctionCall` and `modal.functions.gather`.

A Function is a handle: it knows how to find its id on the server (from a running
app, by name from a deployed app, or through a Cls instance) and sends calls
down the client's call stream. The work happens on the server.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from modal import _invocation as inv
from modal._utils.async_utils import (
    NO_FAST_PATH,
    live_classmethod,
    live_function,
    live_method,
    live_method_gen,
)
from modal.client import Client, _default_client
from modal.exception import (
    ConnectionError,
    ExecutionError,
    InvalidError,
    NotFoundError,
    TimeoutError,
    deprecation_warning,
)
from nodal.proto import api_pb2

if TYPE_CHECKING:
    from modal.app import App


@dataclass
class FunctionStats:
    """Queue and runner counts of a function, from `get_current_stats()`."""

    backlog: int
    num_total_runners: int


# Finds (client, function id) for a handle; set by whoever can hydrate it.
Resolver = Callable[[], Awaitable[tuple[Client, str]]]


def not_running_error(tag: str) -> ExecutionError:
    return ExecutionError(
        f"Function {tag!r} has not been hydrated with the metadata it needs to run, because the "
        "App it is defined on is not running. Call it inside `with app.run():`, from a "
        "`@app.local_entrypoint()` under `modal run`, or look up a deployed one with "
        "`modal.Function.from_name(app_name, name)`."
    )


class Function:
    """A function registered with an App (or looked up from a deployed one)."""

    def __init__(
        self,
        raw_f: Callable[..., Any] | None,
        tag: str,
        *,
        app: App | None = None,
        is_generator: bool = False,
        method_name: str = "",
        resolver: Resolver | None = None,
        definition: api_pb2.FunctionDef | None = None,
        local_call: Callable[..., Any] | None = None,
    ) -> None:
        self._raw_f = raw_f
        self._tag = tag
        self._app = app
        self.is_generator = is_generator
        self._method_name = method_name
        self._resolver = resolver
        self._definition = definition
        self._local_call = local_call
        self._client: Client | None = None
        self._function_id: str | None = None
        if raw_f is not None:
            self.__doc__ = raw_f.__doc__
            self.__name__ = getattr(raw_f, "__name__", tag)
            self.__qualname__ = getattr(raw_f, "__qualname__", tag)
            self.__module__ = getattr(raw_f, "__module__", None)  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Function({self._tag!r})"

    # ---------- identity ----------
    @property
    def tag(self) -> str:
        return self._tag

    @property
    def object_id(self) -> str:
        if self._function_id is None:
            raise ExecutionError(f"{self._tag} is not hydrated yet; call .hydrate() or run its app first")
        return self._function_id

    @property
    def is_hydrated(self) -> bool:
        return self._function_id is not None

    def _hydrate(self, function_id: str, client: Client) -> None:
        self._function_id = function_id
        self._client = client

    async def _ids(self) -> tuple[Client, str]:
        if self._function_id is not None and self._client is not None and not self._client.is_closed:
            await self._client._connect()  # no-op once connected
            return self._client, self._function_id
        if self._resolver is not None:
            client, fid = await self._resolver()
            if self._method_name == "":  # method handles re-resolve per instance binding
                self._hydrate(fid, client)
            return client, fid
        raise not_running_error(self._tag)

    @live_method
    async def hydrate(self, client: Client | None = None) -> Function:
        """Resolve this handle's id on the server now instead of at first use."""
        await self._ids()
        return self

    # ---------- calling ----------
    def _check_mode(self, want_gen: bool) -> None:
        if want_gen and not self.is_generator:
            raise InvalidError(f"{self._tag} is not a generator function; use .remote() instead of .remote_gen()")
        if not want_gen and self.is_generator:
            raise InvalidError(f"{self._tag} is a generator function; use .remote_gen() to iterate its results")

    def _remote_blocking(self, *args: Any, **kwargs: Any) -> Any:
        """`.remote()` from a blocking caller, answered on its own thread when the handle is
        resolved and the server offers a framed socket (else NO_FAST_PATH: the loop path)."""
        client = self._client
        if self._function_id is None or client is None or client.is_closed or self.is_generator:
            return NO_FAST_PATH
        return inv.call_once_blocking(client, self._function_id, args, kwargs, self._method_name)

    async def _remote_here(self, *args: Any, **kwargs: Any) -> Any:
        """`.remote.aio()` on the caller's own event loop when the handle is resolved (else
        NO_FAST_PATH: the SDK loop's path)."""
        client = self._client
        if self._function_id is None or client is None or client.is_closed or self.is_generator:
            return NO_FAST_PATH
        return await inv.call_once_here(client, self._function_id, args, kwargs, self._method_name)

    @functools.partial(live_method, blocking=_remote_blocking, here=_remote_here)
    async def remote(self, *args: Any, **kwargs: Any) -> Any:
        """Run the function in a container and return its result."""
        self._check_mode(want_gen=False)
        client, fid = await self._ids()
        return await inv.call_once(client, fid, await inv.make_input(client, 0, args, kwargs, self._method_name))

    @live_method_gen
    async def remote_gen(self, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        """Run a generator function in a container and iterate its results as they come."""
        self._check_mode(want_gen=True)
        client, fid = await self._ids()
        inp = await inv.make_input(client, 0, args, kwargs, self._method_name)
        async for item in inv.call_gen(client, fid, inp):
            yield item

    def local(self, *args: Any, **kwargs: Any) -> Any:
        """Call the function in this process, like calling the plain Python function."""
        if self._local_call is not None:
            return self._local_call(*args, **kwargs)
        if self._raw_f is None:
            raise ExecutionError(f"{self._tag} was looked up by name; its code is not available locally")
        return self._raw_f(*args, **kwargs)

    def get_raw_f(self) -> Callable[..., Any]:
        """The user's original function."""
        if self._raw_f is None:
            raise ExecutionError(f"{self._tag} was looked up by name; its code is not available locally")
        return self._raw_f

    @live_method
    async def spawn(self, *args: Any, **kwargs: Any) -> FunctionCall:
        """Start the function without waiting; the returned FunctionCall fetches the result later."""
        client, fid = await self._ids()

        inp = await inv.make_input(client, 0, args, kwargs, self._method_name)
        call_id = await inv.spawn_batcher(client, fid).spawn(inp)
        return FunctionCall._new(call_id, client, self.is_generator)

    @live_method_gen
    async def map(
        self, *input_iterators: Any, kwargs: dict = {}, order_outputs: bool = True, return_exceptions: bool = False
    ) -> AsyncIterator[Any]:
        """Run the function over the inputs in parallel containers; yields results (in input order by default)."""
        if self.is_generator:
            raise InvalidError(f"{self._tag} is a generator function; .map() is not supported for generators")
        if not input_iterators:
            raise InvalidError("map() needs at least one input iterator")
        client, fid = await self._ids()
        async for value in inv.call_map(client, fid, input_iterators, kwargs, order_outputs=order_outputs,
                                        return_exceptions=return_exceptions, method_name=self._method_name):
            yield value

    @live_method_gen
    async def starmap(
        self, input_iterator: Any, kwargs: dict = {}, order_outputs: bool = True, return_exceptions: bool = False
    ) -> AsyncIterator[Any]:
        """Like map, with each input a sequence spread over the function's arguments."""
        if self.is_generator:
            raise InvalidError(f"{self._tag} is a generator function; .starmap() is not supported for generators")
        client, fid = await self._ids()
        async for value in inv.call_map(client, fid, (input_iterator,), kwargs, order_outputs=order_outputs,
                                        return_exceptions=return_exceptions, star=True,
                                        method_name=self._method_name):
            yield value

    @live_method
    async def for_each(self, *input_iterators: Any, kwargs: dict = {}, ignore_exceptions: bool = False) -> None:
        """Run the function over the inputs, discarding results."""
        client, fid = await self._ids()
        async for _ in inv.call_map(client, fid, input_iterators, kwargs, order_outputs=False,
                                    return_exceptions=ignore_exceptions, method_name=self._method_name):
            pass

    # ---------- web endpoints ----------
    @live_method
    async def get_web_url(self) -> str | None:
        """The URL of this function's web endpoint on the server's gateway (None if it is not one)."""
        from modal._web_urls import web_url

        client, fid = await self._ids()
        return await web_url(client, fid, self._method_name)

    @property
    def web_url(self) -> str | None:
        """URL of a Function running as a web endpoint."""
        return self.get_web_url()

    # ---------- management ----------
    @live_method
    async def get_current_stats(self) -> FunctionStats:
        client, fid = await self._ids()
        s = await client.stub.FunctionGetStats(api_pb2.FunctionGetStatsRequest(function_id=fid))
        return FunctionStats(backlog=s.backlog, num_total_runners=s.num_total_runners)

    @live_method
    async def update_autoscaler(
        self,
        *,
        min_containers: int | None = None,
        max_containers: int | None = None,
        buffer_containers: int | None = None,
        scaledown_window: int | None = None,
    ) -> None:
        """Change the autoscaler's bounds for this function while it runs."""
        client, fid = await self._ids()
        req = api_pb2.FunctionUpdateScalingRequest(function_id=fid)
        for name, value in (("min_containers", min_containers), ("max_containers", max_containers),
                            ("buffer_containers", buffer_containers), ("scaledown_window", scaledown_window)):
            if value is not None:
                if not isinstance(value, (int, float)) or value < 0:
                    raise InvalidError(f"{name} must be a non-negative number, got {value!r}")
                setattr(req, f"has_{name}", True)
                setattr(req, name, value)
        await client.stub.FunctionUpdateScaling(req)

    @live_method
    async def keep_warm(self, warm_pool_size: int) -> None:
        """Deprecated: keep this many containers warm (use update_autoscaler(min_containers=...))."""
        deprecation_warning((2025, 2, 24), "keep_warm() is deprecated; use update_autoscaler(min_containers=...)")
        await self.update_autoscaler.aio(min_containers=warm_pool_size)

    @classmethod
    def from_name(
        cls, app_name: str, name: str, *, namespace: Any = None, environment_name: str | None = None,
        client: Client | None = None,
    ) -> Function:
        """A lazy handle to a function of a deployed app; resolved at first use."""
        if not isinstance(app_name, str) or not isinstance(name, str) or not app_name or not name:
            raise InvalidError("Function.from_name(app_name, name) needs two non-empty strings")
        if "." in name:
            cls_name, _, method = name.partition(".")
            raise InvalidError(
                f"{name!r} looks like a class method: use modal.Cls.from_name({app_name!r}, {cls_name!r})"
                f" and call .{method} on an instance"
            )
        handle = cls(None, name)

        async def resolve() -> tuple[Client, str]:
            c = client or await _default_client()
            resp = await c.stub.FunctionGet(
                api_pb2.FunctionGetRequest(app_name=app_name, tag=name, environment_name=environment_name or "")
            )
            handle.is_generator = resp.definition.is_generator
            handle._definition = resp.definition
            return c, resp.function_id

        handle._resolver = resolve
        return handle

    @live_classmethod
    async def lookup(
        cls, app_name: str, name: str, namespace: Any = None, client: Client | None = None,
        environment_name: str | None = None,
    ) -> Function:
        """Deprecated: `from_name` then `hydrate`."""
        deprecation_warning((2025, 1, 27), "Function.lookup is deprecated; use Function.from_name")
        f = cls.from_name(app_name, name, environment_name=environment_name, client=client)
        await f._ids()
        return f


RECONNECT_WINDOW = 60.0  # seconds a waiting FunctionCall keeps trying while the server restarts


async def _through_restarts(method: Any, request: Any) -> Any:
    """Call `method`, retrying for up to RECONNECT_WINDOW while the server cannot be reached:
    a spawned call outlives a server restart, so waiting for it should too."""
    deadline = time.monotonic() + RECONNECT_WINDOW
    delay = 0.1
    while True:
        try:
            return await method(request)
        except ConnectionError:
            if time.monotonic() + delay > deadline:
                raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)


class FunctionCall:
    """A handle to a spawned call: poll or wait for its result, cancel it, pass it around."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._call_id = ""
        self._client: Client | None = None
        self._is_generator = False

    @classmethod
    def _new(cls, call_id: str, client: Client | None, is_generator: bool = False) -> FunctionCall:
        fc = cls()
        fc._call_id, fc._client, fc._is_generator = call_id, client, is_generator
        return fc

    @property
    def object_id(self) -> str:
        return self._call_id

    def __repr__(self) -> str:
        return f"FunctionCall({self._call_id!r})"

    def __getstate__(self) -> dict:
        return {"call_id": self._call_id, "is_generator": self._is_generator}

    def __setstate__(self, state: dict) -> None:
        self._call_id, self._is_generator, self._client = state["call_id"], state["is_generator"], None

    async def _c(self) -> Client:
        if self._client is None or self._client.is_closed:
            self._client = await _default_client()
        return self._client

    @live_method
    async def hydrate(self, client: Client | None = None) -> FunctionCall:
        return self

    @live_method
    async def get(self, timeout: float | None = None) -> Any:
        """Wait for the result (forever by default; `timeout=0` polls once) and return it."""
        if timeout is not None and (not isinstance(timeout, (int, float)) or timeout < 0):
            raise InvalidError("timeout must be None or a non-negative number of seconds")
        client = await self._c()
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            wait = 60.0 if deadline is None else max(0.0, deadline - time.monotonic())
            resp = await _through_restarts(client.stub.CallGetOutputs, api_pb2.CallGetOutputsRequest(
                call_id=self._call_id, timeout=wait, start_gen_index=-1))
            if resp.done:
                finals = [o for o in resp.outputs if not o.result.gen_item]
                if not finals:
                    raise ExecutionError(f"call {self._call_id} finished without a result")
                return await inv.result_value(client, finals[-1].result)
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"the result of {self._call_id} was not ready within {timeout}s")

    @live_method_gen
    async def get_gen(self) -> AsyncIterator[Any]:
        """Iterate a spawned generator's results as they arrive."""
        client = await self._c()
        next_index = 0
        while True:
            resp = await _through_restarts(client.stub.CallGetOutputs, api_pb2.CallGetOutputsRequest(
                call_id=self._call_id, timeout=60.0, start_gen_index=next_index))
            for out in sorted(resp.outputs, key=lambda o: (not o.result.gen_item, o.result.gen_index)):
                if out.result.gen_item:
                    if out.result.gen_index >= next_index:
                        next_index = out.result.gen_index + 1
                        yield await inv.result_value(client, out.result)
                elif resp.done:
                    await inv.result_value(client, out.result)
                    return
            if resp.done:
                return

    @live_method
    async def get_call_graph(self) -> list:
        """The tree of inputs under this call, with their status."""
        from modal.call_graph import InputInfo, InputStatus

        client = await self._c()
        resp = await client.stub.CallGraph(api_pb2.CallGraphRequest(call_id=self._call_id))
        infos: dict[str, InputInfo] = {}
        roots = []
        for n in resp.nodes:
            info = InputInfo(input_id=n.input_id, function_call_id=n.call_id, task_id=n.task_id,
                             status=InputStatus(n.status), function_name=n.function_name, module_name="",
                             children=[])
            infos[n.input_id] = info
            parent = infos.get(n.parent_input_id)
            (parent.children if parent is not None else roots).append(info)
        return roots

    @live_method
    async def cancel(self, terminate_containers: bool = False) -> None:
        """Cancel the call; with `terminate_containers`, also stop the containers running it."""
        client = await self._c()
        await client.stub.CallCancel(
            api_pb2.CallCancelRequest(call_id=self._call_id, terminate_containers=terminate_containers)
        )

    @classmethod
    def from_id(cls, function_call_id: str, client: Client | None = None) -> FunctionCall:
        """A handle to an existing call, e.g. one spawned by another process."""
        if not isinstance(function_call_id, str) or not function_call_id.startswith("fc-"):
            raise InvalidError(f"{function_call_id!r} is not a function call id (they start with 'fc-')")
        return cls._new(function_call_id, client)


@live_function
async def gather(*function_calls: FunctionCall) -> list[Any]:
    """Wait for several spawned calls; results in the same order. The first failure is raised."""
    for fc in function_calls:
        if not isinstance(fc, FunctionCall):
            raise InvalidError(f"gather() takes FunctionCall objects, got {type(fc).__name__}")
    if not function_calls:
        return []
    client = await function_calls[0]._c()
    results = await inv.get_many(client, [fc.object_id for fc in function_calls], timeout=None)
    values = []
    for fc, resp in zip(function_calls, results):
        finals = [o for o in resp.outputs if not o.result.gen_item]
        if not finals:
            raise ExecutionError(f"call {fc.object_id} finished without a result")
        values.append(await inv.result_value(client, finals[-1].result))
    return values


__all__ = ["Function", "FunctionCall", "FunctionStats", "gather", "NotFoundError"]
