"""The server's framed-stream listener: CallStream, DataStream and WorkerStream without gRPC.

Each framed socket sits beside a gRPC unix socket and shares its `AuthGate`: a stream opened
here is authenticated, authorised, limited and scoped exactly as the same stream over gRPC
(the gate admits it once; its `StreamGuard` then checks each message as the gate's wrapped
handler would, with no wrapper between), then runs the servicer's own handler. Only
the transport differs (nodal.proto.framing). Beside the TLS listener the same streams are
served over TCP+TLS (`start_tls`), through the guarded gate: every stream there needs a token
or a container credential, as on the gRPC TLS port.
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, NamedTuple

import grpc
from google.protobuf.message import DecodeError

from nodal.proto import api_pb2
from nodal.proto.framing import (
    HALF_CLOSE,
    MESSAGE,
    METHODS,
    OPEN,
    STATUS,
    FrameProtocol,
    StreamError,
    TlsFrameProtocol,
)
from nodal.server.auth import identity
from nodal.server.auth.gate import AuthGate, StreamGuard
from nodal.server.errors import ERROR_KIND_KEY, ApiError

log = logging.getLogger("nodal.framed")
_PREFIX = "/" + api_pb2.DESCRIPTOR.services_by_name["Nodal"].full_name + "/"
OPEN_TIMEOUT = 10.0  # a connection that sends no OPEN frame by then is dropped


_OFF = ("off", "0", "no", "false", "none")


def tls_streams_address(listen: str, setting: str) -> tuple[str, int, bool] | None:
    """Where the framed streams are served over TLS, from the gRPC TLS listener's `listen`
    (HOST:PORT) and the `streams_listen` setting (NODAL_STREAMS_LISTEN): (host, port, whether
    the setting named it); None when the setting is off/0. Empty: the same host, port + 1;
    a bare PORT: the same host; HOST:PORT as given. ValueError naming the fix otherwise."""
    value = setting.strip()
    if value.lower() in _OFF:
        return None
    host, _, port = listen.rpartition(":")
    if not value:
        return host, int(port) + 1, False
    if value.isdigit():
        return host, int(value), True
    other_host, _, other_port = value.rpartition(":")
    if not other_host or not other_port.isdigit():
        raise ValueError(f"NODAL_STREAMS_LISTEN (streams_listen) must be PORT, HOST:PORT or off, not {setting!r}")
    return other_host, int(other_port), True


class _CallDetails(NamedTuple):  # what grpc.GenericRpcHandler.service() reads
    method: str
    invocation_metadata: tuple[tuple[str, str], ...]


class _Aborted(Exception):
    def __init__(self, code: str, details: str, kind: str = "") -> None:
        super().__init__(details)
        self.code = code
        self.details = details
        self.kind = kind  # the modal.exception class name, where one applies

    @classmethod
    def refusing(cls, err: ApiError) -> _Aborted:
        """The stream's end for a request the server refused with `err`."""
        return cls(err.code.name, err.message, err.kind)


class _Context:
    """The part of grpc.aio.ServicerContext the stream handlers and the gate use."""

    def __init__(self, metadata: tuple[tuple[str, str], ...]) -> None:
        self._metadata = metadata
        self.kind = ""

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return self._metadata

    def set_trailing_metadata(self, metadata) -> None:
        for key, value in metadata:
            if key == ERROR_KIND_KEY:
                self.kind = value

    async def abort(self, code: grpc.StatusCode, details: str = "") -> None:
        raise _Aborted(code.name, details)

    def peer(self) -> str:
        return "unix:framed"


class FramedStreamServer:
    """Serves the framed streams on one unix socket, or one TCP+TLS port, through `gate` (an AuthGate)."""

    def __init__(self, gate: AuthGate, inline: dict[str, Callable[[Any], Any]] | None = None) -> None:
        """`inline`: streams answered message by message in the socket's read callback, by
        method: a function from a request message to its response message, which must not
        read the caller's identity (it is not set there). Used where the gate gives the caller
        a `StreamGuard` (the default workspace's callers); the stream's handler runs otherwise."""
        self.gate = gate
        self.inline = inline or {}
        self._server: asyncio.AbstractServer | None = None
        self._tasks: set[asyncio.Task] = set()
        self.path: Path | None = None
        self.port = 0  # the TCP port, once start_tls listens
        self.connections = 0  # connections accepted so far (tests and benchmarks read it)

    async def start_tls(self, host: str, port: int, context: ssl.SSLContext) -> int:
        """Listen on `host`:`port` (0: any free port) with TLS (`context`: the gRPC TLS listener's
        certificate and key, `nodal.server.tls.server_ssl_context`). The port listened on;
        OSError when it cannot be bound."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: self._protocol(context), host.strip("[]") or None, port,
                                                reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def start(self, path: Path) -> bool:
        """Listen on `path` (owner-only). False, with a warning, where the socket cannot be made
        (e.g. a path over the 107 bytes a unix socket address holds): clients then use gRPC."""
        path.unlink(missing_ok=True)
        loop = asyncio.get_running_loop()
        try:
            self._server = await loop.create_unix_server(self._protocol, str(path))
        except OSError as exc:
            log.warning("no framed-stream socket at %s (%s): streams stay on gRPC", path, exc)
            return False
        os.chmod(path, 0o600)
        self.path = path
        return True

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=2.0)
        if self.path is not None:
            self.path.unlink(missing_ok=True)

    def _protocol(self, tls: ssl.SSLContext | None = None) -> FrameProtocol:
        self.connections += 1
        protocol = _ServerProtocol() if tls is None else _TlsServerProtocol(tls)
        task = asyncio.get_running_loop().create_task(self._serve(protocol))
        protocol.task = task
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return protocol

    async def _serve(self, protocol: _ServerProtocol) -> None:
        try:
            # Over TLS the connection is made only once the handshake is done, and never if it fails.
            await asyncio.wait_for(protocol.connected, 2 * OPEN_TIMEOUT)
            kind, payload = await asyncio.wait_for(protocol.next_frame(), OPEN_TIMEOUT)
            if kind != OPEN:
                raise _Aborted("INVALID_ARGUMENT", "a framed stream must start with an OPEN frame")
            try:
                opened = api_pb2.StreamOpen.FromString(payload)
            except DecodeError:
                raise _Aborted("INVALID_ARGUMENT", "the OPEN frame is malformed") from None
            if opened.method not in METHODS:
                raise _Aborted("UNIMPLEMENTED", f"{opened.method!r} is not served on this socket "
                               f"(only {', '.join(METHODS)}); use the gRPC socket")
            metadata = tuple(opened.metadata.items())
            details = _CallDetails(_PREFIX + opened.method, metadata)
            context = _Context(metadata)
            answer = self.inline.get(opened.method)
            handler, guard = self.gate.admit_stream(details, inline=answer is not None)
            try:
                if guard is None:
                    await _run(protocol, handler, context)
                else:
                    await _guarded(protocol, handler, context, answer, guard)
            except _Aborted as err:
                _end(protocol, err.code, err.details, err.kind or context.kind)
                return
            _end(protocol, "OK", "")
        except _Aborted as err:
            _end(protocol, err.code, err.details)
        except (TimeoutError, StreamError, ConnectionError):
            protocol.close()  # the client went away (or never spoke): nothing to tell it
        except asyncio.CancelledError:
            protocol.close()
            raise
        except Exception as exc:  # noqa: BLE001 - one broken stream must not take the listener down
            log.exception("framed stream failed")
            _end(protocol, "INTERNAL", f"internal error: {exc!r}")


async def _run(protocol: FrameProtocol, handler: Any, context: _Context,
               guard: StreamGuard | None = None) -> None:
    """Serve a stream with its handler: requests read from the frames (each checked by `guard`,
    where one is given; a refused one ends the stream with its error), responses sent as frames."""
    deserialize = handler.request_deserializer
    serialize = handler.response_serializer
    refused: list[ApiError] = []

    async def requests() -> AsyncIterator[Any]:
        while True:
            kind, payload = await protocol.next_frame()
            if kind == HALF_CLOSE:
                return
            if kind != MESSAGE:
                raise _Aborted("INVALID_ARGUMENT", f"unexpected frame kind {kind} from the client")
            message = deserialize(payload) if deserialize is not None else payload
            if guard is not None:
                try:
                    guard.check(message)
                except ApiError as err:  # the handler may read from another task: told after it ends
                    refused.append(err)
                    raise
            yield message

    async for item in handler.stream_stream(requests(), context):
        if refused:
            break
        protocol.send(MESSAGE, serialize(item) if serialize is not None else item)
        await protocol.drain()
    if refused:
        raise _Aborted.refusing(refused[0])


async def _guarded(protocol: FrameProtocol, handler: Any, context: _Context,
                   answer: Callable[[Any], Any] | None, guard: StreamGuard) -> None:
    """Serve a stream of a caller `guard` checks, without the gate's wrapper: counted as one of
    its open streams, run as its identity, answered inline where `answer` is given."""
    try:
        guard.open()
    except ApiError as err:
        raise _Aborted.refusing(err) from None
    try:
        if answer is not None:
            await _answer_frames(protocol, answer, guard)
        else:
            identity.set_current(guard.who)
            await _run(protocol, handler, context, guard)
    finally:
        guard.close()


async def _answer_frames(protocol: FrameProtocol, answer: Callable[[Any], Any], guard: StreamGuard) -> None:
    """Answer each message as its frame arrives, in the read callback (no task hop, no async
    generators: about a fifth of a Dict op's server time), checked by `guard` first. Returns
    when the client half-closes; `_Aborted` for a frame or message that is not one, or one the
    guard refuses."""
    done: asyncio.Future = asyncio.get_running_loop().create_future()

    def on_frame(kind: int, payload: bytes) -> None:
        if done.done():
            return
        try:
            if kind == HALF_CLOSE:
                done.set_result(None)
                return
            if kind != MESSAGE:
                raise _Aborted("INVALID_ARGUMENT", f"unexpected frame kind {kind} from the client")
            try:
                request = guard.decode(payload)
            except DecodeError:
                raise _Aborted("INVALID_ARGUMENT", "a request message is malformed", "InvalidError") from None
            try:
                guard.check(request)
            except ApiError as err:
                raise _Aborted.refusing(err) from None
            protocol.send(MESSAGE, guard.encode(answer(request)))
            protocol.answered()
        except BaseException as exc:  # noqa: BLE001 - ends this stream (reported by _serve)
            done.set_exception(exc)

    protocol.handle_inline(on_frame)
    closed = asyncio.ensure_future(protocol.next_frame())  # raises StreamError once the client is gone
    try:
        await asyncio.wait([done, closed], return_when=asyncio.FIRST_COMPLETED)
    finally:
        closed.cancel()
    if not done.done():
        raise closed.exception() or StreamError("UNAVAILABLE", "the connection closed")
    done.result()


class _ServerProtocol(FrameProtocol):
    """A server-side connection: when the client goes away, its stream's handler is cancelled
    (as gRPC cancels an RPC whose client disconnected)."""

    task: asyncio.Task | None = None

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        if self.task is not None and not self.task.done():
            self.task.cancel()


class _TlsServerProtocol(_ServerProtocol, TlsFrameProtocol):
    """A server-side connection over TLS (the handshake done on this side)."""

    def __init__(self, context: ssl.SSLContext) -> None:
        TlsFrameProtocol.__init__(self, context, server_side=True)


def _end(protocol: FrameProtocol, code: str, details: str, kind: str = "") -> None:
    try:
        protocol.send(STATUS, api_pb2.StreamStatus(code=code, details=details, error_kind=kind).SerializeToString())
    except StreamError:
        pass
    protocol.close()
