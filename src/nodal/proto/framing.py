"""Framed streams: the API's hot bidirectional streams over a plain unix socket.

The three streams every call crosses (`CallStream` from clients, `WorkerStream` from
containers, `DataStream` for Dict/Queue ops) carry the same protobuf messages as over gRPC,
but a gRPC-aio stream message costs about twice a raw asyncio socket round trip on these
machines (ARCHITECTURE.md, "Facts measured"). So on the local sockets the server also listens
on a framed socket beside each gRPC one, and clients on this host use it for those streams.
A server with a TLS listener also serves them framed over TCP+TLS on a port of its own
(`TlsEndpoint`), for remote clients and containers on Ray nodes. Unary RPCs stay on gRPC.

A frame is a 5-byte header, a little-endian u32 payload length and a u8 kind, then the
payload. The client's first frame is OPEN (a `StreamOpen`: method and credentials), then
MESSAGE frames; HALF_CLOSE ends its writes. The server answers with MESSAGE frames and ends
the stream with one STATUS frame (a `StreamStatus`: a gRPC status name, details and the
modal.exception kind), then closes the connection.

This module holds the frames and the asyncio protocols both ends use; the client's streams are
`framed_calls.FramedCall` (on an event loop) and `blocking_stream.BlockingStream` (on a
blocking socket). None of them imports gRPC: a container's worker starts without it.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import ssl
import struct
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass

from nodal.proto import api_pb2

HEADER = struct.Struct("<IB")
MESSAGE, HALF_CLOSE, STATUS, OPEN = 0, 1, 2, 3
MAX_FRAME = 80 * 1024 * 1024  # as gRPC's message limit on both ends (nodal.server.main)
METHODS = ("CallStream", "DataStream", "WorkerStream")  # the streams served framed
_READ_HIGH_WATER = 1024  # frames queued unread before the socket stops reading
# Bytes read from a socket at a time. Under glibc's mmap threshold (128 KiB): a larger read
# buffer is mapped and unmapped on every read, which cost 20-45 µs per read on these machines.
READ_SIZE = 65536
_scratch = threading.local()  # each thread's read buffer (filled and consumed in one callback)
log = logging.getLogger("nodal.framed")
_SERVICE = api_pb2.DESCRIPTOR.services_by_name["Nodal"]


def grpc_errors() -> tuple[type[BaseException], ...]:
    """gRPC's call errors, once grpc is loaded (nothing can raise them before): what code that
    drives either kind of stream catches besides StreamError, without importing grpc itself."""
    grpc = sys.modules.get("grpc")
    return (grpc.aio.AioRpcError, grpc.aio.UsageError) if grpc is not None else ()


@dataclass(frozen=True)
class TlsEndpoint:
    """A framed-stream listener on TCP with TLS: `host` and `port` to connect to, and the
    client's TLS context, which checks the server's certificate for `host` (the name the
    client used for the server's gRPC listener)."""

    host: str
    port: int
    context: ssl.SSLContext

    def __str__(self) -> str:
        return f"{self.host}:{self.port} (TLS)"


Endpoint = str | TlsEndpoint  # a unix socket's path, or a TCP+TLS listener


def client_tls_context(cadata: bytes | None) -> ssl.SSLContext:
    """A client TLS context trusting `cadata` (PEM CA certificates), or the system's roots."""
    return ssl.create_default_context(cadata=cadata.decode() if cadata else None)


def _tls_failure(endpoint: TlsEndpoint, exc: BaseException) -> StreamError:
    """The StreamError for a connection to `endpoint` that failed (TLS named when it was TLS)."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return StreamError("UNAVAILABLE", f"TLS certificate verify failed for {endpoint}: {exc.verify_message}")
    if isinstance(exc, ssl.SSLError):
        return StreamError("UNAVAILABLE", f"TLS handshake with {endpoint} failed: {exc}")
    return StreamError("UNAVAILABLE", f"could not connect to {endpoint}: {exc!r}")


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


def _read_buffer() -> memoryview:
    """This thread's socket read buffer: asyncio fills it and hands it back in the same
    callback, so one per thread serves every connection."""
    view = getattr(_scratch, "view", None)
    if view is None:
        view = _scratch.view = memoryview(bytearray(READ_SIZE))
    return view


class FrameProtocol(asyncio.BufferedProtocol):
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
        self._view = memoryview(b"")  # the buffer the transport is reading into (get_buffer)
        self.connected: asyncio.Future = asyncio.get_running_loop().create_future()
        # Set by a server that answers each frame as it arrives (see `handle_inline`).
        self.on_frame: Callable[[int, bytes], None] | None = None

    # -- asyncio.Protocol --
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        if not self.connected.done():
            self.connected.set_result(None)

    def get_buffer(self, sizehint: int) -> memoryview:
        self._view = _read_buffer()
        return self._view

    def buffer_updated(self, nbytes: int) -> None:
        self.data_received(self._view[:nbytes])

    def data_received(self, data: bytes | memoryview) -> None:
        """Queue the frames `data` completes (the bytes after the last whole frame wait for more)."""
        buf = self._buf
        if buf:
            buf += data
            data = buf
        pos, size = 0, len(data)
        while size - pos >= 5:
            length, kind = HEADER.unpack_from(data, pos)
            if length > MAX_FRAME:
                self._fail(StreamError("RESOURCE_EXHAUSTED", f"a frame of {length} bytes is larger than max "
                                       f"({MAX_FRAME} bytes)"))
                return
            end = pos + 5 + length
            if end > size:
                break
            if self.on_frame is not None:
                self.on_frame(kind, bytes(data[pos + 5:end]))
                if self._closed is not None:
                    return
            else:
                self._frames.append((kind, bytes(data[pos + 5:end])))
            pos = end
        if data is buf:
            del buf[:pos]
        elif pos < size:
            buf += data[pos:]
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
        if self.on_frame is not None and self._paused_reading and self.transport is not None:
            self._paused_reading = False  # inline answers may go out again: take more frames
            self.transport.resume_reading()
        for fut in self._drain_waiters:
            if not fut.done():
                fut.set_result(None)
        self._drain_waiters.clear()

    def handle_inline(self, on_frame: Callable[[int, bytes], None]) -> None:
        """From now on hand each frame to `on_frame` as it arrives, in the read callback (no
        task, no queue), starting with those already queued. For a stream whose answers are
        computed synchronously: `on_frame` sends them itself. While the socket cannot take
        more output the connection stops reading, so a client that does not read its answers
        does not grow the server's buffers."""
        self.on_frame = on_frame
        while self._frames and self._closed is None:
            on_frame(*self._frames.popleft())

    def answered(self) -> None:
        """After an inline answer: stop reading while the socket's send buffer is full."""
        if self._write_paused and not self._paused_reading and self.transport is not None:
            self._paused_reading = True
            self.transport.pause_reading()

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
        self._sendable(len(payload)).write(HEADER.pack(len(payload), kind) + payload)

    def _sendable(self, size: int) -> asyncio.Transport:
        """The transport a frame of `size` bytes may go out on (StreamError if none may)."""
        if size > MAX_FRAME:
            raise StreamError("RESOURCE_EXHAUSTED", f"a message of {size} bytes is larger than max "
                              f"({MAX_FRAME} bytes)")
        transport = self.transport
        if transport is None or transport.is_closing():
            raise self._closed or StreamError("UNAVAILABLE", "the connection is closed")
        return transport

    async def drain(self) -> None:
        """Wait while the socket's send buffer is over its high-water mark."""
        if self._write_paused and self._closed is None:
            fut = asyncio.get_running_loop().create_future()
            self._drain_waiters.append(fut)
            await fut

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


class TlsFrameProtocol(FrameProtocol):
    """Frames over TLS done here, on a plain TCP transport, through an `ssl.SSLObject` and
    memory buffers: per message that is one decrypt or encrypt and the socket's own read or
    write, about a fifth of the CPU asyncio's TLS transport spends on a small message. The
    connection counts as made (`connected`) once the handshake is done. A failed handshake
    closes it: `connected` then fails, and `tls_error` says why."""

    def __init__(self, context: ssl.SSLContext, *, server_side: bool, server_hostname: str | None = None) -> None:
        super().__init__()
        self._incoming, self._outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self._tls = context.wrap_bio(self._incoming, self._outgoing, server_side=server_side,
                                     server_hostname=server_hostname)
        self._raw: asyncio.Transport | None = None  # `transport` (frames) is set after the handshake
        self._handshaken = False
        self.tls_error: ssl.SSLError | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._raw = transport  # type: ignore[assignment]
        if not self._tls.server_side:
            self._view = _read_buffer()
            self.buffer_updated(0)  # the client speaks first: its hello goes out now

    def buffer_updated(self, nbytes: int) -> None:
        if nbytes:
            self._incoming.write(self._view[:nbytes])
        try:
            if not self._handshaken:
                try:
                    self._tls.do_handshake()
                except ssl.SSLWantReadError:
                    return
                finally:
                    self._flush()
                self._handshaken = True
                super().connection_made(self._raw)  # type: ignore[arg-type]
            plain = self._view  # its ciphertext is in `_incoming` now: decrypt into it, no allocation
            while True:
                try:
                    n = self._tls.read(len(plain), plain)
                except (ssl.SSLWantReadError, ssl.SSLZeroReturnError):  # all read; or the peer's close_notify
                    break
                if not n:
                    break
                self.data_received(plain[:n])  # copies what it keeps
                if not self._incoming.pending and not self._tls.pending():
                    break  # all decrypted: another read would only raise SSLWantReadError (costly)
        except ssl.SSLError as exc:  # a failed handshake, a bad record: nothing more to say to the peer
            log.debug("framed TLS connection dropped: %s", exc)
            self.tls_error = exc
            self._flush()
            if self._raw is not None:
                self._raw.abort()
            return
        if self._outgoing.pending:
            self._flush()

    def _flush(self) -> None:
        if self._outgoing.pending and self._raw is not None and not self._raw.is_closing():
            self._raw.write(self._outgoing.read())

    def send(self, kind: int, payload: bytes = b"") -> None:
        transport = self._sendable(len(payload))
        self._tls.write(HEADER.pack(len(payload), kind) + payload)
        transport.write(self._outgoing.read())

    def close(self) -> None:
        if self._raw is None or self._raw.is_closing():
            return
        if self._handshaken:
            try:
                self._tls.unwrap()  # close_notify: the peer reads a clean end, not a truncation
            except ssl.SSLError:
                pass
            self._flush()
        self._raw.close()
