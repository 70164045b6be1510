"""The client's side of a framed stream on an event loop (`FramedCall`), and one that falls
back to gRPC where no framed connection can be made (`FallbackCall`). See `framing`."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Mapping
from typing import Any

from nodal.proto import api_pb2
from nodal.proto.framing import (
    _SERVICE,
    EOF,
    HALF_CLOSE,
    MESSAGE,
    METHODS,
    OPEN,
    STATUS,
    Endpoint,
    FrameProtocol,
    StreamError,
    TlsEndpoint,
    TlsFrameProtocol,
    _tls_failure,
)


class FramedCall:
    """One framed stream from the client's side, shaped like a gRPC-aio stream-stream call
    (`write`, `read`, `done_writing`, `cancel`, async iteration) for the code that uses it.

    Made synchronously, like a gRPC call object; it connects in the background, and the first
    `write` or `read` waits for that (StreamError "UNAVAILABLE" when nothing listens)."""

    def __init__(self, path: Endpoint, method: str, metadata: Mapping[str, str] = (), *,
                 timeout: float = 10.0) -> None:
        if method not in METHODS:
            raise ValueError(f"{method} is not served framed (only {', '.join(METHODS)})")
        self._response_type = getattr(api_pb2, _SERVICE.methods_by_name[method].output_type.name)
        self._protocol: FrameProtocol | None = None
        self._ended: StreamError | None = None
        self._done = False
        self._opening = asyncio.get_running_loop().create_task(self._open(path, method, dict(metadata), timeout))

    async def _open(self, path: Endpoint, method: str, metadata: dict[str, str], timeout: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        protocol: FrameProtocol | None = None
        try:
            if isinstance(path, TlsEndpoint):
                endpoint = path
                connecting = loop.create_connection(
                    lambda: TlsFrameProtocol(endpoint.context, server_side=False, server_hostname=endpoint.host),
                    path.host, path.port)
            else:
                connecting = loop.create_unix_connection(FrameProtocol, path)
            _transport, protocol = await asyncio.wait_for(connecting, timeout)
            await asyncio.wait_for(protocol.connected, max(0.0, deadline - loop.time()))  # the TLS handshake
        except (TimeoutError, OSError, StreamError) as exc:
            if protocol is not None:
                protocol.close()
            if isinstance(path, TlsEndpoint):
                why = getattr(protocol, "tls_error", None)
                self._ended = _tls_failure(path, why or exc)
            else:
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


class FallbackCall:
    """A FramedCall that becomes `fallback()` (the same stream over gRPC) when its connection
    cannot be made, e.g. a framed TLS port a firewall or a confined container's network does not
    pass: where no framed connection is possible, the stream still works, only slower."""

    def __init__(self, call: FramedCall, fallback: Any) -> None:
        self._call = call
        self._fallback = fallback
        self._active: Any = None

    async def _target(self) -> Any:
        if self._active is None:
            try:
                await self._call._connected()
                self._active = self._call
            except StreamError:
                if self._call._protocol is not None:  # it connected, then failed: not a fallback case
                    raise
                self._active = self._fallback()
        return self._active

    async def write(self, message: Any) -> None:
        await (self._active or await self._target()).write(message)

    async def done_writing(self) -> None:
        await (await self._target()).done_writing()

    async def read(self) -> Any:
        """As FramedCall.read; gRPC's end of stream reads as `EOF` too."""
        msg = await (self._active or await self._target()).read()
        grpc = sys.modules.get("grpc")
        return EOF if grpc is not None and msg is grpc.aio.EOF else msg

    def __aiter__(self) -> FallbackCall:
        return self

    async def __anext__(self) -> Any:
        msg = await self.read()
        if msg is EOF:
            raise StopAsyncIteration
        return msg

    def cancel(self) -> None:
        if self._active is None:
            self._active = self._call  # cancelled before it connected: stays cancelled, no fallback
        self._active.cancel()
