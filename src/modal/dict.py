"""`modal.Dict`: a key-value store kept by the server, shared by every caller and container.

Keys and values are anything cloudpickle can serialize; keys are compared by their
pickled bytes. Entries live in the server's metadata store, so they survive restarts,
and expire 30 days after they were last written.

This module also holds `_DataObject`, the handle logic `modal.Queue` shares: naming,
lazy hydration, ephemeral lifetimes, deletion, and pickling into containers.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import re
import weakref
from collections.abc import AsyncIterator, Callable
from typing import Any, ClassVar, TypeVar

from modal._serialization import deserialize, serialize
from modal._utils.async_utils import (
    NO_FAST_PATH,
    live_classmethod,
    live_method,
    live_method_gen,
    run_aio,
    run_sync,
)
from modal.client import Client, _default_client, translate_rpc_error, translate_stream_error
from modal.exception import ConnectionError as _ModalConnectionError
from modal.exception import InvalidError, NotFoundError, deprecation_warning, error_from_name
from nodal.proto import api_pb2
from nodal.proto.framing import EOF, StreamError, grpc_errors

EPHEMERAL_HEARTBEAT_SLEEP = 60.0  # the server deletes an ephemeral object unheard-of for 5 minutes
_NAME_RE = re.compile(r"^[a-zA-Z0-9._-]{1,64}$")

D = TypeVar("D", bound="_DataObject")


def _check_name(name: Any, kind_name: str) -> str:
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise InvalidError(f"invalid {kind_name} name {name!r}: use 1 to 64 letters, digits, '-', '_' or '.'")
    return name


class _DataStream:
    """Non-blocking Dict and Queue ops of one client, multiplexed over one bidirectional stream.

    A unary RPC costs ~0.5 ms here; a stream message much less. Ops issued while a write is in
    flight go out together in the next message, so concurrent callers share messages."""

    def __init__(self, client: Client) -> None:
        self._rpc = client.open_stream("DataStream")
        self._waiting: dict[int, asyncio.Future] = {}
        self._pending: list[api_pb2.DataOp] = []
        self._writing = False
        self._broken: BaseException | None = None
        self._next_id = 0
        self._reader = asyncio.get_running_loop().create_task(self._read())

    @property
    def broken(self) -> bool:
        return self._broken is not None

    def _fail_all(self, err: BaseException) -> None:
        if self._broken is None:
            self._broken = err
        for fut in self._waiting.values():
            if not fut.done():
                fut.set_exception(self._broken)
        self._waiting.clear()

    async def _read(self) -> None:
        try:
            async for resp in self._rpc:
                for result in resp.results:
                    fut = self._waiting.pop(result.id, None)
                    if fut is not None and not fut.done():
                        fut.set_result(result)
            self._fail_all(ConnectionError("the Nodal server closed the data stream"))
        except StreamError as err:
            self._fail_all(translate_stream_error(err))
        except grpc_errors() as err:
            self._fail_all(translate_rpc_error(err))
        except asyncio.CancelledError:  # the client closed, or the caller's loop is ending
            self._fail_all(ConnectionError("the client was closed"))
            self._rpc.cancel()

    async def _flush(self) -> None:
        try:
            while self._pending and self._broken is None:
                ops, self._pending = self._pending, []
                await self._rpc.write(api_pb2.DataStreamRequest(ops=ops))
        except (*grpc_errors(), asyncio.InvalidStateError, StreamError) as err:
            self._fail_all(ConnectionError(f"the data stream broke while sending: {err}"))
        finally:
            self._writing = False

    async def call(self, **op: Any) -> api_pb2.DataResult:
        """Send one op (DataOp field name=request) and wait for its result; errors as modal.exception."""
        return await self.call_op(api_pb2.DataOp(**op))

    async def call_op(self, op: api_pb2.DataOp) -> api_pb2.DataResult:
        """`call` for an op built already (its id is set here)."""
        if self._broken is not None:
            raise self._broken
        self._next_id += 1
        op.id = op_id = self._next_id
        fut = asyncio.get_running_loop().create_future()
        self._waiting[op_id] = fut
        self._pending.append(op)
        if not self._writing:
            # The writer is a task of its own: a caller cancelled mid-write must not strand the
            # ops queued behind its write.
            self._writing = True
            asyncio.get_running_loop().create_task(self._flush())
        result = await fut
        if result.error_kind:
            raise error_from_name(result.error_kind, result.error_message)
        return result

    def close(self) -> None:
        self._rpc.cancel()
        self._reader.cancel()


def _client_stream(client: Client) -> _DataStream:
    """The client's DataStream on the SDK loop (opened on first use, reopened after it broke, e.g.
    when the server restarted)."""
    stream = client.__dict__.get("_nodal_data_stream")
    if stream is None or stream.broken:
        stream = client.__dict__["_nodal_data_stream"] = _DataStream(client)
    return stream


async def data_call(client: Client, **op: Any) -> api_pb2.DataResult:
    """Run one non-blocking Dict/Queue op over the client's data stream."""
    return await _client_stream(client).call(**op)


_loop_streams: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # loop -> {client: _DataStream}, both weak


def _stream_on_this_loop(client: Client) -> _DataStream:
    """The client's DataStream for the running event loop (a user's, not the SDK's): framed
    streams work on any loop, so `.aio` calls made there need no hop to the SDK loop."""
    streams = _loop_streams.get(loop := asyncio.get_running_loop())
    if streams is None:
        streams = _loop_streams[loop] = weakref.WeakKeyDictionary()
    stream = streams.get(client)
    if stream is None or stream.broken:
        stream = streams[client] = _DataStream(client)
    return stream


_blocking_op_ids = itertools.count(1)


def data_call_blocking(client: Client, fill: Callable[[api_pb2.DataOp, str], Any], object_id: str) -> Any:
    """Run one op for a blocking caller on the calling thread's own framed DataStream (no hop to
    the SDK's event loop): `fill(op, object_id)` writes the op's request into the message in
    place. The op's result, or NO_FAST_PATH where the client has no framed socket."""
    stream = client.blocking_stream("DataStream")
    if stream is None:
        return NO_FAST_PATH
    msg = api_pb2.DataStreamRequest()
    op = msg.ops.add()
    op.id = op_id = next(_blocking_op_ids)
    fill(op, object_id)
    try:
        stream.write(msg)
        while True:
            resp = stream.read()
            if resp is EOF:
                raise _ModalConnectionError("the Nodal server closed the data stream")
            for result in resp.results:
                if result.id == op_id:  # others: ops this thread gave up on (interrupted)
                    if result.error_kind:
                        raise error_from_name(result.error_kind, result.error_message)
                    return result
    except StreamError as err:
        raise translate_stream_error(err) from None


class _DataObject:
    """A handle to a server-side Dict or Queue: found by name at first use, or ephemeral by id."""

    _kind: ClassVar[int]
    _kind_name: ClassVar[str]

    def __init__(
        self,
        *,
        name: str | None = None,
        environment_name: str | None = None,
        create_if_missing: bool = False,
        object_id: str | None = None,
        client: Client | None = None,
    ) -> None:
        self._name = name
        self._environment_name = environment_name or ""
        self._create_if_missing = create_if_missing
        self._object_id = object_id
        self._client = client

    def __repr__(self) -> str:
        return f"{self._kind_name}({self._name or self._object_id!r})"

    # ---------- identity ----------
    @property
    def object_id(self) -> str | None:
        return self._object_id

    @property
    def is_hydrated(self) -> bool:
        return self._object_id is not None

    async def _ids(self) -> tuple[Client, str]:
        """The client and object id, looking the name up (or creating it) at first use."""
        if self._client is None or self._client.is_closed:
            self._client = await _default_client()
        else:
            await self._client._connect()
        if self._object_id is None:
            if self._name is None:
                raise InvalidError(
                    f"this {self._kind_name} has no name and no id (its ephemeral context ended)"
                )
            resp = await self._client.stub.DataObjectGetOrCreate(
                api_pb2.DataObjectGetOrCreateRequest(
                    kind=self._kind,
                    name=self._name,
                    environment_name=self._environment_name,
                    create_if_missing=self._create_if_missing,
                )
            )
            self._object_id = resp.object_id
        return self._client, self._object_id

    def _ids_now(self) -> tuple[Client, str] | None:
        """The client and id when both are known and connected already (a blocking fast path's
        condition; else the async method resolves them)."""
        client = self._client
        if client is None or client.is_closed or client._stub is None or self._object_id is None:
            return None
        return client, self._object_id

    async def _op(self, fill: Any, read: Any) -> Any:
        """One non-blocking op: `fill(op, object_id)` writes the DataOp's request into `op`,
        `read(result)` gives the call's value."""
        client, object_id = await self._ids()
        op = api_pb2.DataOp()
        fill(op, object_id)
        return read(await _client_stream(client).call_op(op))

    async def _op_here(self, fill: Any, read: Any) -> Any:
        """`_op` on the caller's own event loop (`.aio` from user code), or NO_FAST_PATH where the
        handle is not resolved yet or the client has no framed socket (gRPC lives on the SDK loop)."""
        ids = self._ids_now()
        if ids is None or not ids[0].framed:
            return NO_FAST_PATH
        op = api_pb2.DataOp()
        fill(op, ids[1])
        return read(await _stream_on_this_loop(ids[0]).call_op(op))

    def _op_blocking(self, fill: Any, read: Any) -> Any:
        """`_op` on the calling thread (data_call_blocking), or NO_FAST_PATH."""
        client = self._client
        if client is None or client.is_closed or client._stub is None or self._object_id is None:
            return NO_FAST_PATH
        result = data_call_blocking(client, fill, self._object_id)
        return result if result is NO_FAST_PATH else read(result)

    @live_method
    async def hydrate(self: D, client: Client | None = None) -> D:
        """Resolve this handle's id on the server now instead of at first use."""
        if client is not None:
            self._client = client
        await self._ids()
        return self

    def __getstate__(self) -> dict:
        # The client stays behind: a container connects to its own server socket.
        return {
            "name": self._name,
            "environment_name": self._environment_name,
            "create_if_missing": self._create_if_missing,
            "object_id": self._object_id,
        }

    def __setstate__(self, state: dict) -> None:
        self.__init__(**state)  # type: ignore[misc]

    # ---------- constructors ----------
    @classmethod
    def _from_name(
        cls: type[D],
        name: str,
        environment_name: str | None,
        create_if_missing: bool,
        client: Client | None = None,
    ) -> D:
        _check_name(name, cls._kind_name)
        return cls(
            name=name, environment_name=environment_name, create_if_missing=create_if_missing, client=client
        )

    @live_classmethod
    async def lookup(
        cls: type[D],
        name: str,
        *args: Any,
        client: Client | None = None,
        environment_name: str | None = None,
        create_if_missing: bool = False,
    ) -> D:
        """Deprecated: `from_name` then `hydrate` (this looks the object up at once)."""
        deprecation_warning(
            (2025, 1, 27), f"{cls._kind_name}.lookup is deprecated; use {cls._kind_name}.from_name"
        )
        obj = cls._from_name(name, environment_name, create_if_missing, client)
        await obj._ids()
        return obj

    @live_classmethod
    async def delete(
        cls, name: str, *, client: Client | None = None, environment_name: str | None = None
    ) -> None:
        """Delete the named object and everything in it (NotFoundError when there is none)."""
        _check_name(name, cls._kind_name)
        c = client or await _default_client()
        await c.stub.DataObjectDelete(
            api_pb2.DataObjectDeleteRequest(
                kind=cls._kind, name=name, environment_name=environment_name or ""
            )
        )

    @classmethod
    def _ephemeral(
        cls: type[D],
        client: Client | None,
        environment_name: str | None,
        init: Any = None,
        heartbeat_sleep: float = 0.0,
    ) -> _Ephemeral:
        return _Ephemeral(cls, client, environment_name, init, heartbeat_sleep or EPHEMERAL_HEARTBEAT_SLEEP)


def _running_app_id(client: Client, kind: int) -> str:
    """The id of the app of the innermost `app.run()` block this process is in with `client`: an
    ephemeral Dict or Queue made there is deleted when that app stops (in a container the server
    knows the app from the container's credential). Other kinds are not tied to apps."""
    from modal.app import App

    if kind not in (api_pb2.DATA_OBJECT_KIND_DICT, api_pb2.DATA_OBJECT_KIND_QUEUE):
        return ""
    running = [a for a in App._all_apps if a._running and a._app_id and a._run_client is client]
    return max(running, key=lambda a: a._run_started)._app_id if running else ""


class _Ephemeral:
    """The context manager `X.ephemeral()` returns: a fresh anonymous object, deleted at exit.

    Works with `with` and `async with`."""

    def __init__(
        self,
        cls: type,
        client: Client | None,
        environment_name: str | None,
        init: Any,
        heartbeat_sleep: float = EPHEMERAL_HEARTBEAT_SLEEP,
    ) -> None:
        self._cls = cls
        self._client = client
        self._env = environment_name or ""
        self._init = init  # async callable run on the new object (e.g. a Dict's initial data)
        self._heartbeat_sleep = heartbeat_sleep
        self._obj: _DataObject | None = None
        self._heartbeat: asyncio.Task | None = None

    async def _heartbeat_forever(self, client: Client, object_id: str) -> None:
        """Tell the server the owner lives; without this it deletes the object some minutes after a crash."""
        while True:
            await asyncio.sleep(self._heartbeat_sleep)
            try:
                await client.stub.DataObjectHeartbeat(api_pb2.DataObjectHeartbeatRequest(object_id=object_id))
            except NotFoundError:
                return
            except Exception:  # noqa: BLE001 - a restarting server: try again next beat
                continue

    async def _create(self) -> _DataObject:
        client = self._client or await _default_client()
        resp = await client.stub.DataObjectGetOrCreate(
            api_pb2.DataObjectGetOrCreateRequest(
                kind=self._cls._kind, environment_name=self._env, ephemeral=True,
                app_id=_running_app_id(client, self._cls._kind),
            )
        )
        self._obj = self._cls(environment_name=self._env, object_id=resp.object_id, client=client)
        self._heartbeat = asyncio.get_running_loop().create_task(
            self._heartbeat_forever(client, resp.object_id)
        )
        if self._init is not None:
            try:
                await self._init(self._obj)
            except BaseException:
                await self._delete()  # the block never starts, so its exit would not clean up
                raise
        return self._obj

    async def _delete(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()
        obj = self._obj
        if obj is None or obj._client is None or obj._object_id is None:
            return
        try:
            await obj._client.stub.DataObjectDelete(
                api_pb2.DataObjectDeleteRequest(kind=self._cls._kind, object_id=obj._object_id)
            )
        except NotFoundError:
            pass  # already gone: deleted with the app it was made in

    def __enter__(self) -> Any:
        return run_sync(self._create())

    def __exit__(self, *exc: Any) -> None:
        run_sync(self._delete())

    async def __aenter__(self) -> Any:
        return await run_aio(self._create())

    async def __aexit__(self, *exc: Any) -> None:
        await run_aio(self._delete())


class Dict(_DataObject):
    """A distributed dictionary: `d[k] = v` here, `d[k]` in any container or process.

    The operator forms block; in async code use the methods' `.aio` forms
    (`await d.put.aio(k, v)`)."""

    _kind = api_pb2.DATA_OBJECT_KIND_DICT
    _kind_name = "Dict"

    @staticmethod
    def from_name(
        name: str,
        data: dict | None = None,
        namespace: Any = None,
        *,
        environment_name: str | None = None,
        create_if_missing: bool = False,
        client: Client | None = None,
    ) -> Dict:
        """A lazy handle to the named Dict, looked up (or created) when first used."""
        if data is not None:
            raise InvalidError(
                "Dict.from_name(data=...) is no longer supported; call .update() after creating it"
            )
        return Dict._from_name(name, environment_name, create_if_missing, client)

    @classmethod
    def ephemeral(
        cls,
        data: dict | None = None,
        client: Client | None = None,
        environment_name: str | None = None,
        _heartbeat_sleep: float = EPHEMERAL_HEARTBEAT_SLEEP,
    ) -> _Ephemeral:
        """A new anonymous Dict for a `with` (or `async with`) block, deleted at its end."""
        if data is not None and not isinstance(data, dict):
            raise InvalidError("Dict.ephemeral(data=...) takes a dict")

        async def init(d: Dict) -> None:
            if data:
                await d._put_entries(data.items(), skip_if_exists=False)

        return cls._ephemeral(client, environment_name, init, _heartbeat_sleep)

    # ---------- operations ----------
    async def _put_entries(self, items: Any, skip_if_exists: bool) -> bool:
        client, dict_id = await self._ids()
        entries = [api_pb2.DictEntry(key=serialize(k), value=serialize(v)) for k, v in items]
        req = api_pb2.DictPutRequest(dict_id=dict_id, entries=entries, skip_if_exists=skip_if_exists)
        return (await data_call(client, dict_put=req)).dict_put.created

    # Each op below is (a function writing its request into a DataOp for an object id, its value
    # from the result), run by `_op` on the SDK loop, `_op_here` on the caller's event loop or, for
    # a blocking call, `_op_blocking` on the caller's thread. The request is written in place: no
    # copies of nested messages on the hot path.
    def _get_op(self, key: Any, default: Any = None) -> tuple[Any, Any]:
        k = serialize(key)

        def fill(op: api_pb2.DataOp, oid: str) -> None:
            get = op.dict_get
            get.dict_id, get.key, get.want_value = oid, k, True

        def read(r: api_pb2.DataResult) -> Any:
            got = r.dict_get
            return deserialize(got.value) if got.found else default

        return fill, read

    def _contains_op(self, key: Any) -> tuple[Any, Any]:
        k = serialize(key)

        def fill(op: api_pb2.DataOp, oid: str) -> None:
            get = op.dict_get
            get.dict_id, get.key = oid, k

        return fill, lambda r: r.dict_get.found

    def _put_op(self, key: Any, value: Any, *, skip_if_exists: bool = False) -> tuple[Any, Any]:
        k, v = serialize(key), serialize(value)

        def fill(op: api_pb2.DataOp, oid: str) -> None:
            put = op.dict_put
            put.dict_id, put.skip_if_exists = oid, skip_if_exists
            put.entries.add(key=k, value=v)

        return fill, lambda r: r.dict_put.created

    def _get_blocking(self, key: Any, default: Any = None) -> Any:
        return self._op_blocking(*self._get_op(key, default))

    def _contains_blocking(self, key: Any) -> Any:
        return self._op_blocking(*self._contains_op(key))

    def _put_blocking(self, key: Any, value: Any, *, skip_if_exists: bool = False) -> Any:
        return self._op_blocking(*self._put_op(key, value, skip_if_exists=skip_if_exists))

    async def _get_here(self, key: Any, default: Any = None) -> Any:
        return await self._op_here(*self._get_op(key, default))

    async def _contains_here(self, key: Any) -> Any:
        return await self._op_here(*self._contains_op(key))

    async def _put_here(self, key: Any, value: Any, *, skip_if_exists: bool = False) -> Any:
        return await self._op_here(*self._put_op(key, value, skip_if_exists=skip_if_exists))

    @functools.partial(live_method, blocking=_get_blocking, here=_get_here)
    async def get(self, key: Any, default: Any = None) -> Any:
        """The value of `key`, or `default` when it is absent."""
        return await self._op(*self._get_op(key, default))

    @functools.partial(live_method, blocking=_contains_blocking, here=_contains_here)
    async def contains(self, key: Any) -> bool:
        """Whether `key` is present."""
        return await self._op(*self._contains_op(key))

    @functools.partial(live_method, blocking=_put_blocking, here=_put_here)
    async def put(self, key: Any, value: Any, *, skip_if_exists: bool = False) -> bool:
        """Set `key` to `value`; with `skip_if_exists`, leave an existing key alone. True if written."""
        return await self._op(*self._put_op(key, value, skip_if_exists=skip_if_exists))

    @live_method
    async def update(self, other: Any = None, /, **kwargs: Any) -> None:
        """Add the items of a mapping (or iterable of pairs) and of the keyword arguments."""
        items: list[tuple[Any, Any]] = []
        if other is not None:
            items.extend(other.items() if hasattr(other, "items") else other)
        items.extend(kwargs.items())
        if items:
            await self._put_entries(items, skip_if_exists=False)

    @live_method
    async def pop(self, key: Any) -> Any:
        """Remove `key` and return its value; KeyError when it is absent."""
        client, dict_id = await self._ids()
        req = api_pb2.DictPopRequest(dict_id=dict_id, key=serialize(key))
        resp = (await data_call(client, dict_pop=req)).dict_get
        if not resp.found:
            raise KeyError(f"{key!r} not in dict {self._name or dict_id}")
        return deserialize(resp.value)

    @live_method
    async def len(self) -> int:
        """The number of entries (expired ones included, as in Modal)."""
        client, dict_id = await self._ids()
        return (await data_call(client, dict_len=api_pb2.DictLenRequest(dict_id=dict_id))).count.count

    @live_method
    async def clear(self) -> None:
        """Remove every entry."""
        client, dict_id = await self._ids()
        await client.stub.DictClear(api_pb2.DictClearRequest(dict_id=dict_id))

    async def _entries(self) -> list[api_pb2.DictEntry]:
        client, dict_id = await self._ids()
        return list((await client.stub.DictContents(api_pb2.DictContentsRequest(dict_id=dict_id))).entries)

    @live_method_gen
    async def keys(self) -> AsyncIterator[Any]:
        """An iterator over the keys (unordered)."""
        for e in await self._entries():
            yield deserialize(e.key)

    @live_method_gen
    async def values(self) -> AsyncIterator[Any]:
        """An iterator over the values (unordered)."""
        for e in await self._entries():
            yield deserialize(e.value)

    @live_method_gen
    async def items(self) -> AsyncIterator[tuple[Any, Any]]:
        """An iterator over (key, value) pairs (unordered)."""
        for e in await self._entries():
            yield deserialize(e.key), deserialize(e.value)

    # ---------- operators (blocking) ----------
    def __getitem__(self, key: Any) -> Any:
        missing = object()
        value = self.get(key, missing)
        if value is missing:
            raise KeyError(key)
        return value

    def __setitem__(self, key: Any, value: Any) -> None:
        self.put(key, value)

    def __delitem__(self, key: Any) -> None:
        self.pop(key)

    def __contains__(self, key: Any) -> bool:
        return self.contains(key)

    def __len__(self) -> int:
        return self.len()
