"""The connection to a Nodal server, and the one long-lived call stream per client."""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

import grpc

from modal._utils.async_utils import live_classmethod, live_method
from modal.exception import AuthError, ConnectionError, error_from_name
from nodal.proto import api_pb2
from nodal.proto.lazy_stub import LazyNodalStub

ERROR_KIND_KEY = "nodal-error-kind"
_CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", 80 * 1024 * 1024),
    ("grpc.max_send_message_length", 80 * 1024 * 1024),
    # A restarted local server is back in well under a second: reconnect quickly.
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 2000),
]


def _socket_for_env() -> tuple[str, bool]:
    """(server address, whether it is the local default that may be auto-started)."""
    in_container = os.environ.get("NODAL_SERVER_SOCKET")
    if in_container:
        return f"unix://{in_container}", False
    from modal.config import config

    url = config.get("server_url")
    if url:
        url = str(url)
        return (f"unix://{url}" if url.startswith("/") else url), False  # a bare path is a unix socket
    from nodal import paths

    return f"unix://{paths.socket_path()}", True


def translate_rpc_error(err: grpc.aio.AioRpcError) -> Exception:
    """The modal.exception a server error stands for."""
    kind = ""
    for key, value in err.trailing_metadata() or ():
        if key == ERROR_KIND_KEY:
            kind = value
    message = err.details() or str(err.code())
    if kind:
        return error_from_name(kind, message)
    if err.code() == grpc.StatusCode.UNAVAILABLE:
        return ConnectionError(
            f"could not reach the Nodal server ({message}); start it with `modal server start`, "
            "or point `server_url` (env MODAL_SERVER_URL) at a running one"
        )
    if err.code() == grpc.StatusCode.UNAUTHENTICATED:
        return AuthError(message)
    return error_from_name("InternalFailure" if err.code() == grpc.StatusCode.INTERNAL else "Error", message)


class _CallStream:
    """Multiplexes every streamed call of a client over one bidirectional stream.

    Messages are written straight onto the stream (no request iterator in between):
    on the hot path every queue hop costs a loop iteration."""

    def __init__(self, stub: LazyNodalStub) -> None:
        self._calls: dict[str, asyncio.Queue] = {}
        self._broken: Exception | None = None
        self._rpc = stub.CallStream()
        self._pending: list[api_pb2.CallStreamRequest] = []
        self._writing = False
        self._reader = asyncio.get_running_loop().create_task(self._read())

    async def _send(self, req: api_pb2.CallStreamRequest) -> None:
        """Write now if no write is in flight; else leave it to the writer in flight to drain.
        gRPC allows one write at a time."""
        self._pending.append(req)
        if self._writing:
            return
        self._writing = True
        try:
            while self._pending and self._broken is None:
                req = self._pending.pop(0)
                await self._rpc.write(req)
        except (grpc.aio.AioRpcError, grpc.aio.UsageError, asyncio.InvalidStateError) as err:
            if self._broken is None:
                self._broken = ConnectionError(f"the call stream broke while sending: {err}")
        finally:
            self._writing = False

    async def _read(self) -> None:
        try:
            async for resp in self._rpc:
                if resp.error_call_id:
                    q = self._calls.get(resp.error_call_id)
                    if q is not None:
                        q.put_nowait(error_from_name(resp.error_kind or "Error", resp.error))
                    continue
                for out in resp.outputs:
                    q = self._calls.get(out.call_id)
                    if q is not None:
                        q.put_nowait(out)
            self._broken = ConnectionError("the Nodal server closed the call stream")
        except grpc.aio.AioRpcError as err:
            self._broken = translate_rpc_error(err)
        except asyncio.CancelledError:
            self._broken = ConnectionError("the client was closed")
        for q in self._calls.values():
            q.put_nowait(self._broken)

    @property
    def broken(self) -> bool:
        return self._broken is not None

    def open(self, call_id: str) -> asyncio.Queue:
        if self._broken is not None:
            raise self._broken
        q: asyncio.Queue = asyncio.Queue()
        self._calls[call_id] = q
        return q

    def close_call(self, call_id: str) -> None:
        self._calls.pop(call_id, None)

    async def put(self, msg: api_pb2.CallPutInputs) -> None:
        if self._broken is not None:
            raise self._broken
        await self._send(api_pb2.CallStreamRequest(put=msg))

    def cancel(self, call_id: str) -> None:
        req = api_pb2.CallStreamRequest(cancel=api_pb2.CallCancelRequest(call_id=call_id))
        asyncio.get_running_loop().create_task(self._send(req))

    def close(self) -> None:
        self._pending.clear()
        self._rpc.cancel()
        self._reader.cancel()


class _Stub:
    """The gRPC stub, with server errors turned into modal.exception types."""

    def __init__(self, stub: LazyNodalStub) -> None:
        self._stub = stub

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._stub, name)

        async def call(request: Any, **kwargs: Any) -> Any:
            try:
                return await method(request, **kwargs)
            except grpc.aio.AioRpcError as err:
                raise translate_rpc_error(err) from None

        call.stream = method  # streaming RPCs: iterate `stub.X.stream(req)` directly
        return call


class Client:
    """A connection to a Nodal server (the local daemon by default)."""

    _default: Client | None = None

    def __init__(self, address: str, *, autostart: bool = False) -> None:
        self.address = address
        self._autostart = autostart
        self._channel: grpc.aio.Channel | None = None
        self._stub: _Stub | None = None
        self._call_stream: _CallStream | None = None
        self._closed = False

    @property
    def is_closed(self) -> bool:
        return self._closed

    @property
    def stub(self) -> _Stub:
        assert self._stub is not None, "client not connected"
        return self._stub

    async def _connect(self) -> None:
        if self._stub is not None:
            return
        if self._autostart:
            await asyncio.get_running_loop().run_in_executor(None, _ensure_local_server)
        self._channel = grpc.aio.insecure_channel(self.address, options=_CHANNEL_OPTIONS)
        self._stub = _Stub(LazyNodalStub(self._channel))
        # A server whose socket exists is there, perhaps busy: ride out a slow handshake rather
        # than failing on the first attempt. With no socket, fail at once ("no server").
        path = self.address.removeprefix("unix://").removeprefix("unix:")
        there = self.address.startswith("unix:") and os.path.exists(path)
        try:
            await self._stub.Hello(api_pb2.HelloRequest(client_version="0.1.0"), timeout=60, wait_for_ready=there)
        except ConnectionError:
            self._stub = None
            raise

    def call_stream(self) -> _CallStream:
        if self._call_stream is None or self._call_stream.broken:
            self._call_stream = _CallStream(self._stub._stub)  # type: ignore[union-attr]
        return self._call_stream

    @classmethod
    def from_address_lazy(cls, address: str) -> Client:
        """The process-wide client for `address`, connecting on first use (inside containers)."""
        if Client._default is None or Client._default.is_closed:
            Client._default = cls(address)
        return Client._default

    @live_method
    async def hello(self) -> None:
        """Check that the server answers."""
        await self._connect()
        await self.stub.Hello(api_pb2.HelloRequest(client_version="0.1.0"), timeout=10)

    @live_classmethod
    async def from_env(cls, _override_config: Any = None) -> Client:
        """The process-wide client for the server named by the environment and config."""
        return await _default_client()

    @live_classmethod
    async def from_credentials(cls, token_id: str, token_secret: str) -> Client:
        """A client authenticated with a token. Nodal's local socket needs none; the
        credentials are kept for servers reached over the network."""
        address, autostart = _socket_for_env()
        client = cls(address, autostart=autostart)
        client.token_id, client.token_secret = token_id, token_secret  # type: ignore[attr-defined]
        await client._connect()
        return client

    async def _close(self) -> None:
        self._closed = True
        if self._call_stream is not None:
            self._call_stream.close()
        if self._channel is not None:
            await self._channel.close()

    def __repr__(self) -> str:
        return f"Client({self.address!r})"


_announced = False


def _ensure_local_server() -> None:
    """Start the local server daemon if none runs for this NODAL_HOME, and say so once."""
    global _announced
    from nodal.server import daemon

    if daemon.server_pid() is not None:
        return
    try:
        pid = daemon.start_daemon()
    except RuntimeError as exc:
        raise ConnectionError(f"could not start a local Nodal server: {exc}") from None
    if not _announced:
        _announced = True
        from nodal import paths

        print(f"Started a local Nodal server (pid {pid}, state in {paths.nodal_home()}).", file=sys.stderr)


async def _default_client() -> Client:
    if Client._default is None or Client._default.is_closed:
        address, autostart = _socket_for_env()
        client = Client(address, autostart=autostart)
        await client._connect()
        Client._default = client
    await Client._default._connect()  # a lazily created client connects on first use
    return Client._default


async def reset_default_client() -> None:
    """Drop the process-wide client (tests restart servers)."""
    if Client._default is not None:
        await Client._default._close()
        Client._default = None
