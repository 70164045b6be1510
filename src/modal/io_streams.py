"""Streams of a sandbox or of a process exec'd in one: `StreamReader`, `StreamWriter`, `StreamType`.

Each process (or a sandbox's own stdio) is one `ProcessStream` gRPC stream,
driven by `_ProcessChannel` on the SDK's event loop: output chunks are sorted
into one buffer per file descriptor as they arrive, stdin bytes go out on the
same stream. `StreamReader` reads a buffer (by chunk, by line, or all of it);
`StreamWriter` queues bytes and sends them on `drain()`.
"""

from __future__ import annotations

import asyncio
import codecs
import enum
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Generic, TypeVar

from modal._utils.async_utils import iter_aio, iter_sync, live_method
from modal.client import translate_rpc_error
from modal.exception import ConnectionError, InvalidError
from nodal.proto import api_pb2

T = TypeVar("T", str, bytes)


class StreamType(enum.Enum):
    """What happens to a process's stdout or stderr."""

    DEVNULL = 1  # discard it
    PIPE = 2  # keep it to be read through the process's StreamReader
    STDOUT = 3  # print it to this (the client's) stdout as it comes

    def __repr__(self) -> str:
        return f"{self.__module__}.{self.__class__.__name__}.{self.name}"


def stream_type_proto(value: StreamType, what: str) -> int:
    if not isinstance(value, StreamType):
        raise InvalidError(f"{what} must be a modal.stream_type.StreamType (PIPE, DEVNULL or STDOUT), not {value!r}")
    return api_pb2.PROCESS_STREAM_DEVNULL if value is StreamType.DEVNULL else api_pb2.PROCESS_STREAM_PIPE


class _FdBuffer:
    """Output of one file descriptor: chunks in order, then EOF."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.eof = False
        self.error: BaseException | None = None
        self.changed = asyncio.Event()

    def feed(self, data: bytes) -> None:
        self.chunks.append(data)
        self.changed.set()

    def finish(self, error: BaseException | None = None) -> None:
        self.eof, self.error = True, self.error or error
        self.changed.set()

    async def next_chunk(self) -> bytes | None:
        """The next chunk, or None at EOF."""
        while not self.chunks:
            if self.eof:
                if self.error is not None:
                    raise self.error
                return None
            self.changed.clear()
            await self.changed.wait()
        return self.chunks.pop(0)


class _ProcessChannel:
    """One ProcessStream call: its output buffers, its stdin, and the exit code."""

    def __init__(self, client: Any, first: api_pb2.ProcessStreamRequest, echo: dict[int, bool] | None = None) -> None:
        self._client = client
        self._first = first
        self._echo = echo or {}  # fds printed to the local stdout (StreamType.STDOUT)
        self.buffers = {1: _FdBuffer(), 2: _FdBuffer()}
        self.process_id = ""
        self.exit_code: int | None = None
        self.exited = asyncio.Event()
        self.error: BaseException | None = None
        self._call: Any = None
        self._reader: asyncio.Task | None = None
        self._write_lock = asyncio.Lock()

    async def start(self) -> None:
        """Open the stream, send the first message and wait until the process runs."""
        import grpc  # loaded with the client's channel already

        self._call = self._client.stub.ProcessStream.stream()
        try:
            await self._call.write(self._first)
            first = await self._call.read()
        except grpc.aio.AioRpcError as err:
            raise translate_rpc_error(err) from None
        if first is grpc.aio.EOF:
            raise ConnectionError("the Nodal server closed the process stream before the process started")
        self.process_id = first.process_id
        self._reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        import grpc

        error: BaseException | None = None
        try:
            while True:
                resp = await self._call.read()
                if resp is grpc.aio.EOF:
                    break
                if resp.data:
                    if self._echo.get(resp.fd):
                        sys.stdout.write(resp.data.decode(errors="replace"))
                        sys.stdout.flush()
                    else:
                        self.buffers.get(resp.fd, self.buffers[1]).feed(resp.data)
                if resp.exited:
                    self.exit_code = resp.exit_code
                    break
        except grpc.aio.AioRpcError as err:
            error = translate_rpc_error(err)
        except asyncio.CancelledError:
            error = ConnectionError("the process stream was closed")
        if self.exit_code is None and error is None:
            error = ConnectionError("the process stream ended before the process exited")
        self.error = error
        for buf in self.buffers.values():
            buf.finish(error)
        self.exited.set()
        if self.exit_code is not None:
            self._call.cancel()  # the server is done; release our side of the call

    async def send_input(self, data: bytes = b"", eof: bool = False, rows: int = 0, cols: int = 0,
                         signal: int = 0) -> None:
        if self.exited.is_set():
            return
        msg = api_pb2.ProcessStreamRequest(
            input=api_pb2.ProcessInput(data=data, eof=eof, rows=rows, cols=cols, signal=signal)
        )
        import grpc

        async with self._write_lock:
            try:
                await self._call.write(msg)
            except (grpc.aio.AioRpcError, grpc.aio.UsageError, asyncio.InvalidStateError):
                pass  # the process ended meanwhile: nothing reads its stdin anymore

    async def wait(self) -> int:
        await self.exited.wait()
        if self.exit_code is None:
            raise self.error or ConnectionError("the process stream broke")
        return self.exit_code

    def close(self) -> None:
        if self._call is not None:
            self._call.cancel()


class StreamReader(Generic[T]):
    """Retrieve output from a stream (`stdout` or `stderr`) of a sandbox or a process in one.

    Iterate it (`for chunk in reader`, or `async for`) to read chunks as they come (lines, when
    the process was exec'd with `bufsize=1`), or call `read()` for everything until EOF."""

    def __init__(
        self,
        file_descriptor: int,
        channel: Callable[[], Awaitable[_ProcessChannel]],
        *,
        text: bool = True,
        by_line: bool = False,
        stream_type: StreamType = StreamType.PIPE,
    ) -> None:
        self._fd = file_descriptor
        self._channel = channel
        self._text = text
        self._by_line = by_line
        self._stream_type = stream_type
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace") if text else None
        self._line_pending = b""

    @property
    def file_descriptor(self) -> int:
        """1 for stdout, 2 for stderr."""
        return self._fd

    def _decode(self, data: bytes, final: bool = False) -> Any:
        if self._decoder is None:
            return data
        return self._decoder.decode(data, final)

    async def _chunks(self) -> AsyncIterator[Any]:
        if self._stream_type is not StreamType.PIPE:
            return  # DEVNULL and STDOUT streams have nothing to read
        channel = await self._channel()
        buf = channel.buffers[self._fd]
        while True:
            chunk = await buf.next_chunk()
            if chunk is None:
                if self._line_pending:
                    rest, self._line_pending = self._line_pending, b""
                    yield self._decode(rest, final=True)
                elif self._decoder is not None:
                    tail = self._decode(b"", final=True)
                    if tail:
                        yield tail
                return
            if not self._by_line:
                text = self._decode(chunk)
                if text:
                    yield text
                continue
            self._line_pending += chunk
            *lines, self._line_pending = self._line_pending.split(b"\n")
            for line in lines:
                yield self._decode(line + b"\n")

    def __iter__(self):
        return iter_sync(self._chunks())

    def __aiter__(self):
        return iter_aio(self._chunks())

    @live_method
    async def read(self) -> T:
        """Everything from the stream until EOF (as str in text mode, else bytes)."""
        parts = [part async for part in self._chunks()]
        empty: Any = "" if self._text else b""
        return empty.join(parts)


class StreamWriter:
    """Buffers bytes for a process's stdin; `drain()` sends them, `write_eof()` then closes it."""

    def __init__(self, channel: Callable[[], Awaitable[_ProcessChannel]]) -> None:
        self._channel = channel
        self._buffer = bytearray()
        self._eof = False

    def write(self, data: bytes | bytearray | memoryview | str) -> None:
        """Queue `data` (str is UTF-8 encoded); it is sent by the next `drain()`."""
        if self._eof:
            raise ValueError("stdin is closed: write() after write_eof()")
        if isinstance(data, str):
            data = data.encode("utf-8")
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"stdin takes bytes or str, not {type(data).__name__}")
        self._buffer.extend(data)

    def write_eof(self) -> None:
        """Close stdin once the queued data is sent (by the next `drain()`)."""
        self._eof = True

    @live_method
    async def drain(self) -> None:
        """Send the queued data (and EOF, if written) to the process."""
        data, self._buffer = bytes(self._buffer), bytearray()
        channel = await self._channel()
        limit = 1 << 20
        for i in range(0, len(data), limit):
            last = i + limit >= len(data)
            await channel.send_input(data[i : i + limit], eof=self._eof and last)
        if not data and self._eof:
            await channel.send_input(eof=True)
