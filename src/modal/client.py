"""The connection to a Nodal server, and the one long-lived call stream per client.

Where: the local server's unix socket by default; `server_url` (env MODAL_SERVER_URL) names
another socket or, as `https://HOST:PORT` / `grpcs://HOST:PORT`, a server reached over TCP
with TLS, whose certificate must chain to `server_ca` (env MODAL_SERVER_CA) or a system root.
Who: every call carries the caller's credentials as gRPC metadata: inside a container the
container's own credential (NODAL_CONTAINER_ID/NODAL_CONTAINER_TOKEN), else a user token
(`Client.from_credentials`, or `token_id`/`token_secret` from the profile, env
MODAL_TOKEN_ID/MODAL_TOKEN_SECRET, when `server_url` is set). The local default server's
socket trusts its owner and needs none; a token given to it explicitly is still checked.
How: unary RPCs on gRPC; the hot streams framed (nodal.proto.framing) on the server's framed
unix socket, or, for a TLS server, on the framed TLS port it announces (gRPC where neither is
offered or reachable).
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import weakref
from typing import Any

from modal._utils.async_utils import live_classmethod, live_method
from modal.exception import AuthError, ConnectionError, InvalidError, RequestSizeError, error_from_name
from nodal.proto import api_pb2
from nodal.proto.blocking_stream import BlockingStream
from nodal.proto.framed_calls import FramedCall
from nodal.proto.framing import Endpoint, StreamError, TlsEndpoint, client_tls_context, grpc_errors
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
_TLS_SCHEMES = ("https://", "grpcs://")
_TOKEN_HELP = (
    "run `modal token set --token-id ak-... --token-secret as-...` (or `modal token new` where you "
    "can reach the server), or set MODAL_TOKEN_ID and MODAL_TOKEN_SECRET"
)


def _socket_for_env() -> tuple[str, bool]:
    """(server address, whether it is the local default that may be auto-started)."""
    in_container = os.environ.get("NODAL_SERVER_SOCKET")
    if in_container:
        return f"unix://{in_container}", False
    from modal.config import config

    url = config.get("server_url")
    if url:
        return str(url), False  # any form parse_server_url accepts (Client parses it)
    from nodal import paths

    return f"unix://{paths.socket_path()}", True


def parse_server_url(url: str) -> tuple[str, bool]:
    """(gRPC target, whether TLS is used) for a server address: `unix://PATH`, `unix:PATH` or a
    bare path (a unix socket), `https://HOST:PORT` or `grpcs://HOST:PORT` (TCP with TLS; port 443
    when left out). Anything else is an InvalidError naming the accepted forms."""
    if url.startswith("/"):
        return f"unix://{url}", False
    if url.startswith("unix:"):
        return url, False
    for scheme in _TLS_SCHEMES:
        if url.startswith(scheme):
            hostport = url[len(scheme):].rstrip("/")
            if not hostport or "/" in hostport:
                break
            if hostport.startswith("["):  # [v6]:port
                has_port = "]:" in hostport
            else:
                has_port = ":" in hostport
            return (hostport if has_port else f"{hostport}:443"), True
    raise InvalidError(
        f"server_url {url!r} is not a Nodal server address: use https://HOST:PORT (or grpcs://HOST:PORT) "
        "for a server reached over TLS, or a unix socket path"
    )


def _tls_error(message: str) -> bool:
    low = message.lower()
    return any(word in low for word in ("ssl", "handshake", "certificate", "tls", "hostname verification"))


def translate_rpc_error(err: Any, remote: str | None = None) -> Exception:
    """The modal.exception a server error stands for (`remote`: the TLS server's address)."""
    kind = ""
    for key, value in err.trailing_metadata() or ():
        if key == ERROR_KIND_KEY:
            kind = value
    return _server_error(err.code().name, err.details() or str(err.code()), kind, remote)


def translate_stream_error(err: StreamError) -> Exception:
    """The modal.exception a framed stream's error status stands for (see translate_rpc_error)."""
    return _server_error(err.code, err.details or err.code, err.kind, None)


def _server_error(code: str, message: str, kind: str, remote: str | None) -> Exception:
    """`code`: a grpc.StatusCode name; `kind`: the modal.exception class the server named."""
    if kind:
        return error_from_name(kind, message)
    if code == "UNAVAILABLE" and "hostname verification" in message.lower():
        return AuthError(
            f"the server's TLS certificate does not name the address in `server_url` ({message}). Use an "
            "address the certificate names, or restart the server with `modal server start --tls-san NAME` "
            "(env NODAL_TLS_SAN) to add this one"
        )
    if code == "UNAVAILABLE" and _tls_error(message):
        return AuthError(
            f"the server's TLS certificate is not trusted ({message}). Set `server_ca` to the server's CA "
            "file (the server's $NODAL_HOME/tls/ca.pem, or the operator's certificate): "
            "`modal token set --server-ca PATH`, or env MODAL_SERVER_CA=PATH"
        )
    if code == "UNAVAILABLE":
        if remote:
            return ConnectionError(
                f"could not reach the Nodal server at {remote} ({message}); check `server_url` "
                "(env MODAL_SERVER_URL) and that the server runs with NODAL_LISTEN set"
            )
        return ConnectionError(
            f"could not reach the Nodal server ({message}); start it with `modal server start`, "
            "or point `server_url` (env MODAL_SERVER_URL) at a running one"
        )
    if code == "RESOURCE_EXHAUSTED" and "larger than max" in message.lower():
        return RequestSizeError(f"the request or its reply is too large ({message}); send less per call")
    if code == "UNAUTHENTICATED":
        return AuthError(message)
    return error_from_name("InternalFailure" if code == "INTERNAL" else "Error", message)


def _metadata_value(name: str, value: str) -> str:
    value = str(value).strip()
    if not value or not value.isascii() or not value.isprintable():
        raise AuthError(f"{name} is malformed (empty or not printable ASCII); {_TOKEN_HELP}")
    return value


class _CallStream:
    """Multiplexes every streamed call of a client over one bidirectional stream.

    Messages are written straight onto the stream (no request iterator in between):
    on the hot path every queue hop costs a loop iteration."""

    def __init__(self, client: Client) -> None:
        self._calls: dict[str, asyncio.Queue] = {}
        self._broken: Exception | None = None
        self._rpc = client.open_stream("CallStream")
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
        except (*grpc_errors(), asyncio.InvalidStateError, StreamError) as err:
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
        except StreamError as err:
            self._broken = translate_stream_error(err)
        except grpc_errors() as err:
            self._broken = translate_rpc_error(err)
        except asyncio.CancelledError:  # the client closed, or the (user's) loop is ending
            self._broken = ConnectionError("the client was closed")
            self._rpc.cancel()
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

    def __init__(self, stub: LazyNodalStub, remote: str | None = None) -> None:
        self._stub = stub
        self._remote = remote

    def __getattr__(self, name: str) -> Any:
        import grpc

        method = getattr(self._stub, name)
        remote = self._remote

        async def call(request: Any, **kwargs: Any) -> Any:
            try:
                return await method(request, **kwargs)
            except grpc.aio.AioRpcError as err:
                raise translate_rpc_error(err, remote) from None

        call.stream = method  # streaming RPCs: iterate `stub.X.stream(req)` directly
        return call


class Client:
    """A connection to a Nodal server (the local daemon by default)."""

    _default: Client | None = None

    def __init__(
        self,
        address: str,
        *,
        autostart: bool = False,
        token_id: str | None = None,
        token_secret: str | None = None,
        server_ca: str | None = None,
    ) -> None:
        """`address`: see `parse_server_url`. Credentials and `server_ca` left out (None) come
        from the environment and the active profile when the client connects; `server_ca=""`
        trusts the system's roots whatever the profile says."""
        self.address = address
        self._target, self._tls = parse_server_url(address)
        self._autostart = autostart
        self.token_id = token_id
        self._token_secret = token_secret  # never shown: not in repr or messages
        self._server_ca = server_ca
        self._channel: Any = None  # grpc.aio.Channel once connected
        self._stub: _Stub | None = None
        self._call_stream: _CallStream | None = None  # on the SDK loop
        self._loop_call_streams: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # on users' loops
        self._closed = False
        self._metadata: tuple[tuple[str, str], ...] = ()
        # Where this client runs its hot streams framed, when it may: the server's framed unix
        # socket, or (a server reached over TLS) its framed TLS port; "" = on gRPC.
        self._streams_socket: Endpoint = ""
        self._thread_streams = threading.local()  # each thread's BlockingStreams, by method (blocking_stream)
        self._blocking_streams: list[BlockingStream] = []  # all of them, closed with the client

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
        metadata = self._metadata = self._credentials()
        if self._autostart:
            await asyncio.get_running_loop().run_in_executor(None, _ensure_local_server)
        import grpc  # here, not at import: a container whose code never calls out never loads it

        roots = None
        if self._tls:
            roots = self._root_certificates()
            creds = grpc.ssl_channel_credentials(root_certificates=roots)
            self._channel = grpc.aio.secure_channel(self._target, creds, options=_CHANNEL_OPTIONS)
        else:
            self._channel = grpc.aio.insecure_channel(self._target, options=_CHANNEL_OPTIONS)
        remote = self.address if self._tls else None
        self._stub = _Stub(LazyNodalStub(self._channel, metadata=metadata), remote)
        # A server whose socket exists is there, perhaps busy: ride out a slow handshake rather
        # than failing on the first attempt. With no socket, fail at once ("no server").
        path = self.address.removeprefix("unix://").removeprefix("unix:")
        there = self.address.startswith("unix:") and os.path.exists(path)
        try:
            hello = await self._stub.Hello(api_pb2.HelloRequest(client_version="0.1.0"), timeout=60, wait_for_ready=there)
        except (ConnectionError, AuthError):
            self._stub = None
            await self._channel.close()
            self._channel = None
            raise
        if self._tls:
            self._streams_socket = await self._framed_tls(hello.streams_tls_port, roots)
        else:
            self._streams_socket = self._framed_socket(hello.streams_socket)

    async def _framed_tls(self, port: int, roots: bytes | None) -> Endpoint:
        """The server's framed-stream TLS port as an endpoint on the host this client reaches its
        gRPC listener by (the certificate is checked for that name, against the same roots), when
        the server announced one and a TLS connection to it succeeds; else "" (streams on gRPC:
        a firewall that passes only the gRPC port costs speed, not function). Env
        NODAL_STREAMS=grpc keeps them on gRPC."""
        if not port or os.environ.get("NODAL_STREAMS", "").lower() == "grpc":
            return ""
        host = self._target.rpartition(":")[0].strip("[]")
        endpoint = TlsEndpoint(host, port, client_tls_context(roots))
        loop = asyncio.get_running_loop()
        try:
            transport, _protocol = await asyncio.wait_for(loop.create_connection(
                asyncio.Protocol, host, port, ssl=endpoint.context, server_hostname=host), 5.0)
        except (TimeoutError, OSError):
            return ""
        transport.close()
        return endpoint

    def _framed_socket(self, announced: str) -> str:
        """Where this client opens its hot streams framed (nodal.proto.framing): inside a container
        the socket bound in beside the server's, else the one the local server announced; "" (gRPC)
        with env NODAL_STREAMS=grpc. (A server reached over TLS: `_framed_tls`.)"""
        if os.environ.get("NODAL_STREAMS", "").lower() == "grpc" or self._tls:
            return ""
        if os.environ.get("NODAL_SERVER_SOCKET") and self.address == f"unix://{os.environ['NODAL_SERVER_SOCKET']}":
            path = os.environ.get("NODAL_STREAMS_SOCKET", "")
        else:
            path = announced
        return path if path and os.path.exists(path) else ""

    @property
    def framed(self) -> bool:
        """Whether this client runs its hot streams framed (the server's framed socket or TLS port)."""
        return bool(self._streams_socket)

    def blocking_stream(self, method: str) -> BlockingStream | None:
        """The calling thread's own `method` stream (CallStream or DataStream) on a blocking socket;
        None where the server offers no framed socket or it cannot be reached (callers then take
        the event-loop path)."""
        if not self._streams_socket or self._closed or self._stub is None:
            return None
        stream = getattr(self._thread_streams, method, None)
        if stream is not None and stream.usable():
            return stream
        try:
            stream = BlockingStream(self._streams_socket, method, dict(self._metadata))
        except (OSError, StreamError):
            return None
        setattr(self._thread_streams, method, stream)
        self._blocking_streams = [s for s in self._blocking_streams if not s.closed] + [stream]
        return stream

    def open_stream(self, method: str) -> Any:
        """A new `CallStream`, `DataStream` or `WorkerStream`: framed where the server offers it,
        else over gRPC. Both have the shape of a gRPC-aio stream-stream call."""
        if self._streams_socket:
            return FramedCall(self._streams_socket, method, dict(self._metadata))
        return getattr(self.stub._stub, method)()

    def _credentials(self) -> tuple[tuple[str, str], ...]:
        """The metadata sent with every call: explicit credentials, else the container's own
        (inside a container), else the profile's token when `server_url` names the server.
        A TLS (remote) server needs one."""
        token_id, token_secret = self.token_id, self._token_secret
        if not (token_id or token_secret):
            container_id = os.environ.get("NODAL_CONTAINER_ID")
            container_token = os.environ.get("NODAL_CONTAINER_TOKEN")
            if container_id and container_token:
                return (
                    ("x-nodal-container-id", _metadata_value("NODAL_CONTAINER_ID", container_id)),
                    ("x-nodal-container-token", _metadata_value("NODAL_CONTAINER_TOKEN", container_token)),
                )
            if self._autostart:
                # The local default server trusts its owner by the socket's permissions. A profile's
                # token names a server of its own (`server_url`): it is not sent here, where it
                # would be checked against a server it may not belong to.
                return ()
            from modal.config import config

            token_id, token_secret = config.get("token_id"), config.get("token_secret")
        if token_id and token_secret:
            return (
                ("x-modal-token-id", _metadata_value("token_id", token_id)),
                ("x-modal-token-secret", _metadata_value("token_secret", token_secret)),
            )
        if token_id or token_secret:
            missing = "token_secret (MODAL_TOKEN_SECRET)" if token_id else "token_id (MODAL_TOKEN_ID)"
            raise AuthError(f"a token needs both its id and its secret, and {missing} is not set; {_TOKEN_HELP}")
        if self._tls:
            raise AuthError(f"the Nodal server at {self.address} needs a token and none is set; {_TOKEN_HELP}")
        return ()

    def _root_certificates(self) -> bytes | None:
        """The CA certificates a TLS server's certificate must chain to (None: the system's)."""
        path = self._server_ca
        if path is None:
            from modal.config import config

            path = config.get("server_ca")
        if not path:
            return None
        try:
            with open(os.path.expanduser(path), "rb") as f:
                data = f.read()
        except OSError as exc:
            raise InvalidError(
                f"cannot read server_ca {path} ({exc.strerror or exc}); set `server_ca` (env MODAL_SERVER_CA) "
                "to the server's CA file, e.g. a copy of the server's $NODAL_HOME/tls/ca.pem"
            ) from None
        if b"-----BEGIN CERTIFICATE-----" not in data:
            raise InvalidError(f"server_ca {path} holds no PEM certificate; give the server's CA file (ca.pem)")
        return data

    def call_stream(self) -> _CallStream:
        """The client's CallStream for the running event loop: the SDK loop's (gRPC or framed), or,
        on a user's loop, one of that loop's own (framed only: callers check `framed` first)."""
        from modal._utils.async_utils import _on_background_loop

        if _on_background_loop():
            if self._call_stream is None or self._call_stream.broken:
                self._call_stream = _CallStream(self)
            return self._call_stream
        loop = asyncio.get_running_loop()
        stream = self._loop_call_streams.get(loop)
        if stream is None or stream.broken:
            stream = self._loop_call_streams[loop] = _CallStream(self)
        return stream

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
        """A client of the configured server (see `from_env`) that authenticates with this
        token instead of the profile's. The local socket checks it too."""
        if not token_id or not token_secret:
            raise AuthError(f"Client.from_credentials needs both a token id and a token secret; {_TOKEN_HELP}")
        address, autostart = _socket_for_env()
        client = cls(address, autostart=autostart, token_id=token_id, token_secret=token_secret)
        await client._connect()
        return client

    async def _close(self) -> None:
        self._closed = True
        for stream in self._blocking_streams:
            stream.close()
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
