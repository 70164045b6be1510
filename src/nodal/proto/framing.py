"""Framed streams: the API's hot bidirectional streams over a plain unix socket.

The three streams every call crosses (`CallStream` from clients, `WorkerStream` from
containers, `DataStream` for Dict/Queue ops) carry the same protobuf messages as over gRPC,
but a gRPC-aio stream message costs about twice a raw asyncio socket round trip on these
machines (ARCHITECTURE.md, "Facts measured"). So on the local sockets the server also listens
on a framed socket beside each gRPC one, and clients on this host use it for those streams.
Everything else (unary RPCs, TLS, remote clients) stays on gRPC.

A frame is a 5-byte header, a little-endian u32 payload length and a u8 kind, then the
payload. The client's first frame is OPEN (a `StreamOpen`: method and credentials), then
MESSAGE frames; HALF_CLOSE ends its writes. The server answers with MESSAGE frames and ends
the stream with one STATUS frame (a `StreamStatus`: a gRPC status name, details and the
modal.exception kind), then closes the connection.

This module has no gRPC import: a container's worker starts without it.
"""

from __future__ import annotations

import asyncio
import collections
import socket
import struct
import sys
from collections.abc import Mapping
from typing import Any

from nodal.proto import api_pb2

HEADER = struct.Struct("<IB")
MESSAGE, HALF_CLOSE, STATUS, OPEN = 0, 1, 2, 3
MAX_FRAME = 80 * 1024 * 1024  # as gRPC's message limit on both ends (nodal.server.main)
METHODS = ("CallStream", "DataStream", "WorkerStream")  # the streams served framed
_READ_HIGH_WATER = 1024  # frames queued unread before the socket stops reading
_SERVICE = api_pb2.DESCRIPTOR.services_by_name["Nodal"]


def grpc_errors() -> tuple[type[BaseException], ...]:
    """gRPC's call errors, once grpc is loaded (nothing can raise them before): what code that
    drives either kind of stream catches besides StreamError, without importing grpc itself."""
    grpc = sys.modules.get("grpc")
    return (grpc.aio.AioRpcError, grpc.aio.UsageError) if grpc is not None else ()


class StreamError(Exception):
    """A framed stream ended with an error status (or broke): the gRPC status name, its
    details and, when the server named one, the modal.exception kind."""

    def __init__(self, code: str, details: str, kind: str = "") -> None:
        super().__init__(f"{code}: {details}")
        self.code = code
        self.details = details
        self.kind = kind


class EndOfStream:
    """What `FramedCall.read()` returns once the server has ended the stream normally."""


EOF = EndOfStream()


class FrameProtocol(asyncio.Protocol):
    """Splits the byte stream into (kind, payload) frames and queues them for one reader;
    writes frames with flow control in both directions."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._buf = bytearray()
        self._frames: collections.deque[tuple[int, bytes]] = collections.deque()
        self._waiter: asyncio.Future | None = None
        self._closed: Exception | None = None
        self._paused_reading = False
        self._write_paused = False
        self._drain_waiters: list[asyncio.Future] = []
        self.connected: asyncio.Future = asyncio.get_running_loop().create_future()

    # -- asyncio.Protocol --
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        if not self.connected.done():
            self.connected.set_result(None)

    def data_received(self, data: bytes) -> None:
        buf = self._buf
        buf += data
        pos, size = 0, len(buf)
        while size - pos >= 5:
            length, kind = HEADER.unpack_from(buf, pos)
            if length > MAX_FRAME:
                self._fail(StreamError("RESOURCE_EXHAUSTED", f"a frame of {length} bytes is larger than max "
                                       f"({MAX_FRAME} bytes)"))
                return
            end = pos + 5 + length
            if end > size:
                break
            self._frames.append((kind, bytes(buf[pos + 5:end])))
            pos = end
        if pos:
            del buf[:pos]
        self._wake()
        if len(self._frames) > _READ_HIGH_WATER and not self._paused_reading and self.transport is not None:
            self._paused_reading = True
            self.transport.pause_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._closed is None:
            self._closed = StreamError("UNAVAILABLE", f"the connection closed ({exc})" if exc else "the connection closed")
        self._wake()
        for fut in self._drain_waiters:
            if not fut.done():
                fut.set_result(None)
        self._drain_waiters.clear()
        if not self.connected.done():
            self.connected.set_exception(self._closed)

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        for fut in self._drain_waiters:
            if not fut.done():
                fut.set_result(None)
        self._drain_waiters.clear()

    # -- reading --
    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _fail(self, err: Exception) -> None:
        self._closed = err
        self._frames.clear()
        if self.transport is not None:
            self.transport.abort()
        self._wake()

    async def next_frame(self) -> tuple[int, bytes]:
        """The next frame; StreamError once the connection is gone and every frame was read."""
        while not self._frames:
            if self._closed is not None:
                raise self._closed
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        frame = self._frames.popleft()
        if self._paused_reading and len(self._frames) < _READ_HIGH_WATER // 2 and self.transport is not None:
            self._paused_reading = False
            self.transport.resume_reading()
        return frame

    # -- writing --
    def send(self, kind: int, payload: bytes = b"") -> None:
        """Queue one frame on the socket (StreamError when the connection is gone)."""
        if len(payload) > MAX_FRAME:
            raise StreamError("RESOURCE_EXHAUSTED", f"a message of {len(payload)} bytes is larger than max "
                              f"({MAX_FRAME} bytes)")
        transport = self.transport
        if transport is None or transport.is_closing():
            raise self._closed or StreamError("UNAVAILABLE", "the connection is closed")
        transport.write(HEADER.pack(len(payload), kind) + payload)

    async def drain(self) -> None:
        """Wait while the socket's send buffer is over its high-water mark."""
        if self._write_paused and self._closed is None:
            fut = asyncio.get_running_loop().create_future()
            self._drain_waiters.append(fut)
            await fut

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


class FramedCall:
    """One framed stream from the client's side, shaped like a gRPC-aio stream-stream call
    (`write`, `read`, `done_writing`, `cancel`, async iteration) for the code that uses it.

    Made synchronously, like a gRPC call object; it connects in the background, and the first
    `write` or `read` waits for that (StreamError "UNAVAILABLE" when nothing listens)."""

    def __init__(self, path: str, method: str, metadata: Mapping[str, str] = (), *, timeout: float = 10.0) -> None:
        if method not in METHODS:
            raise ValueError(f"{method} is not served framed (only {', '.join(METHODS)})")
        self._response_type = getattr(api_pb2, _SERVICE.methods_by_name[method].output_type.name)
        self._protocol: FrameProtocol | None = None
        self._ended: StreamError | None = None
        self._done = False
        self._opening = asyncio.get_running_loop().create_task(self._open(path, method, dict(metadata), timeout))

    async def _open(self, path: str, method: str, metadata: dict[str, str], timeout: float) -> None:
        loop = asyncio.get_running_loop()
        try:
            _transport, protocol = await asyncio.wait_for(loop.create_unix_connection(FrameProtocol, path), timeout)
        except (TimeoutError, OSError) as exc:
            self._ended = StreamError("UNAVAILABLE", f"could not connect to {path}: {exc!r}")
            return
        protocol.send(OPEN, api_pb2.StreamOpen(method=method, metadata=metadata).SerializeToString())
        if self._ended is not None:  # cancelled while connecting
            protocol.close()
            return
        self._protocol = protocol

    async def _connected(self) -> FrameProtocol:
        if self._protocol is None:
            await asyncio.shield(self._opening)
        if self._ended is not None:
            raise self._ended
        assert self._protocol is not None
        return self._protocol

    async def write(self, message: Any) -> None:
        protocol = self._protocol if self._ended is None and self._protocol is not None else await self._connected()
        protocol.send(MESSAGE, message.SerializeToString())
        await protocol.drain()

    async def done_writing(self) -> None:
        if self._ended is None and not self._done:
            try:
                (await self._connected()).send(HALF_CLOSE)
            except StreamError:
                pass

    async def read(self) -> Any:
        """The next response, `EOF` when the server ended the stream normally, or StreamError."""
        if self._done:
            return EOF
        protocol = await self._connected()
        try:
            kind, payload = await protocol.next_frame()
        except StreamError as err:
            self._ended = err
            raise
        if kind == MESSAGE:
            return self._response_type.FromString(payload)
        status = api_pb2.StreamStatus.FromString(payload) if kind == STATUS else None
        protocol.close()
        if status is not None and status.code == "OK":
            self._done = True
            return EOF
        if status is None:
            self._ended = StreamError("INTERNAL", f"the server sent a frame of unknown kind {kind}")
        else:
            self._ended = StreamError(status.code, status.details, status.error_kind)
        raise self._ended

    def __aiter__(self) -> FramedCall:
        return self

    async def __anext__(self) -> Any:
        msg = await self.read()
        if msg is EOF:
            raise StopAsyncIteration
        return msg

    def cancel(self) -> None:
        if self._ended is None and not self._done:
            self._ended = StreamError("CANCELLED", "the stream was cancelled")
        if self._protocol is not None:
            self._protocol.close()


class BlockingStream:
    """A framed stream on a blocking socket, for a thread that would only wait anyway: a blocking
    `f.remote()` writes its input and reads its output on the calling thread, with no hop to an
    event loop and back. One per thread; not thread-safe."""

    def __init__(self, path: str, method: str, metadata: Mapping[str, str] = (), *, timeout: float = 10.0) -> None:
        if method not in METHODS:
            raise ValueError(f"{method} is not served framed (only {', '.join(METHODS)})")
        self._response_type = getattr(api_pb2, _SERVICE.methods_by_name[method].output_type.name)
        self._buf = bytearray()
        self.closed = False
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(timeout)  # connecting only: a reply may take as long as the call does
            sock.connect(path)
            sock.settimeout(None)
            self._sock = sock
            self.send(OPEN, api_pb2.StreamOpen(method=method, metadata=dict(metadata)).SerializeToString())
        except BaseException:
            sock.close()
            raise

    def send(self, kind: int, payload: bytes = b"") -> None:
        if len(payload) > MAX_FRAME:
            raise StreamError("RESOURCE_EXHAUSTED", f"a message of {len(payload)} bytes is larger than max "
                              f"({MAX_FRAME} bytes)")
        try:
            self._sock.sendall(HEADER.pack(len(payload), kind) + payload)
        except OSError as exc:
            self.close()
            raise StreamError("UNAVAILABLE", f"the connection closed ({exc})") from None

    def write(self, message: Any) -> None:
        self.send(MESSAGE, message.SerializeToString())

    def usable(self) -> bool:
        """Whether the server still holds this stream open (it sent nothing since: no STATUS, no
        close), checked without blocking before a new call goes out on it."""
        if self.closed:
            return False
        if self._buf:
            return True
        try:
            peeked = self._sock.recv(1, socket.MSG_DONTWAIT | socket.MSG_PEEK)
        except BlockingIOError:
            return True
        except OSError:
            peeked = b""
        if not peeked:
            self.close()
            return False
        return True

    def read(self) -> Any:
        """The next response (blocking), `EOF` when the server ended the stream, or StreamError."""
        buf = self._buf
        while True:
            if len(buf) >= 5:
                length, kind = HEADER.unpack_from(buf)
                if length > MAX_FRAME:
                    self.close()
                    raise StreamError("RESOURCE_EXHAUSTED", f"a frame of {length} bytes is larger than max")
                if len(buf) >= 5 + length:
                    payload = bytes(buf[5:5 + length])
                    del buf[:5 + length]
                    if kind == MESSAGE:
                        return self._response_type.FromString(payload)
                    self.close()
                    status = api_pb2.StreamStatus.FromString(payload) if kind == STATUS else None
                    if status is not None and status.code == "OK":
                        return EOF
                    if status is None:
                        raise StreamError("INTERNAL", f"the server sent a frame of unknown kind {kind}")
                    raise StreamError(status.code, status.details, status.error_kind)
            if self.closed:
                raise StreamError("UNAVAILABLE", "the connection is closed")
            try:
                chunk = self._sock.recv(262144)
            except OSError as exc:
                self.close()
                raise StreamError("UNAVAILABLE", f"the connection closed ({exc})") from None
            if not chunk:
                self.close()
                raise StreamError("UNAVAILABLE", "the server closed the connection")
            buf += chunk

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._sock.close()
