"""A lean HTTP/1.1 client for the gateway's hop to a container's unix socket.

The hop is always the same: one request at a time per connection to a uvicorn (or the user's
own server via the relay) that speaks HTTP/1.1 with keep-alive. A general client (aiohttp's
ClientSession) spends most of the gateway's per-request CPU on features this hop never uses
(URLs, cookies, redirects, tracing), so requests are written as bytes and responses parsed
here: status line and headers in one read, then a Content-Length, chunked or until-close body.
Idle connections are pooled per socket; a request that fails on a reused connection before
any response byte arrived is retried once on a fresh one (the server may have closed it).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable

MAX_HEAD = 64 * 1024  # bytes of status line and headers
READ_CHUNK = 64 * 1024
MAX_IDLE = 64  # pooled idle connections per socket


class UpstreamError(ConnectionError):
    """The container closed the connection or sent something that is not HTTP/1.1."""


class Response:
    """A response whose head has been read; the body is read with `read()` or `chunks()`."""

    def __init__(self, conn: _Conn, status: int, reason: str, headers: list[tuple[str, str]],
                 length: int | None, chunked: bool, keep_alive: bool, no_body: bool) -> None:
        self._conn = conn
        self.status, self.reason, self.headers = status, reason, headers
        self.length, self.chunked, self._keep_alive = length, chunked, keep_alive
        self._done = no_body or length == 0
        if self._done:
            self._finish()

    def _finish(self) -> None:
        self._done = True
        self._conn.release(self._keep_alive)

    async def read(self) -> bytes:
        return b"".join([c async for c in self.chunks()])

    async def chunks(self) -> AsyncIterator[bytes]:
        if self._done:
            return
        reader = self._conn.reader
        try:
            if self.length is not None:
                left = self.length
                while left:
                    data = await reader.read(min(left, READ_CHUNK))
                    if not data:
                        raise UpstreamError("the container closed the connection mid-body")
                    left -= len(data)
                    yield data
            elif self.chunked:
                while True:
                    size_line = await reader.readuntil(b"\r\n")
                    size = int(size_line.split(b";", 1)[0].strip(), 16)
                    if size == 0:
                        while (await reader.readuntil(b"\r\n")) != b"\r\n":
                            pass  # trailers: dropped
                        break
                    yield await reader.readexactly(size)
                    await reader.readexactly(2)
            else:
                self._keep_alive = False
                while data := await reader.read(READ_CHUNK):
                    yield data
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
            self._keep_alive = False
            raise UpstreamError(f"bad response body from the container: {exc!r}") from None
        except BaseException:
            self._keep_alive = False
            raise
        finally:
            if not self._done:
                self._finish()

    def close(self) -> None:
        """Give up on the rest of the body (the connection is not reused)."""
        if not self._done:
            self._keep_alive = False
            self._finish()


class _Conn:
    def __init__(self, pool: UnixHttpPool, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.pool, self.reader, self.writer = pool, reader, writer

    def release(self, keep_alive: bool) -> None:
        if keep_alive and not self.writer.is_closing() and len(self.pool.idle) < MAX_IDLE:
            self.pool.idle.append(self)
        else:
            self.writer.close()


class UnixHttpPool:
    """Keep-alive HTTP/1.1 connections to one unix socket."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.idle: list[_Conn] = []
        self.closed = False

    async def _connect(self) -> _Conn:
        reader, writer = await asyncio.open_unix_connection(self.path, limit=MAX_HEAD)
        return _Conn(self, reader, writer)

    async def request(self, method: str, target: str, headers: Iterable[tuple[str, str]],
                      body: bytes | AsyncIterator[bytes] | None, length: int | None) -> Response:
        """Send one request; `body` is bytes, or chunks sent with `length` (Content-Length) or chunked."""
        lines = [f"{method} {target} HTTP/1.1"]
        lines.extend(f"{k}: {v}" for k, v in headers)
        if isinstance(body, bytes):
            lines.append(f"Content-Length: {len(body)}")
        elif body is not None:
            lines.append(f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        retry = bool(self.idle) and (body is None or isinstance(body, bytes))
        conn = self.idle.pop() if self.idle else await self._connect()
        try:
            return await self._exchange(conn, method, head, body, length)
        except (UpstreamError, ConnectionError, asyncio.IncompleteReadError) as exc:
            conn.writer.close()
            if not retry or (isinstance(exc, UpstreamError) and getattr(exc, "got_bytes", False)):
                raise UpstreamError(f"the container closed the connection: {exc!r}") from None
            return await self._exchange(await self._connect(), method, head, body, length)
        except BaseException:  # cancelled mid-exchange: the connection's state is unknown
            conn.writer.close()
            raise

    async def _exchange(self, conn: _Conn, method: str, head: bytes, body, length: int | None) -> Response:
        w = conn.writer
        if isinstance(body, bytes) or body is None:
            w.write(head + (body or b""))
        else:
            w.write(head)
            async for chunk in body:
                if not chunk:
                    continue
                w.write(chunk if length is not None else b"%x\r\n%b\r\n" % (len(chunk), chunk))
                await w.drain()
            if length is None:
                w.write(b"0\r\n\r\n")
        await w.drain()
        while True:
            try:
                raw = await conn.reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError as exc:
                err = UpstreamError("connection closed before a response")
                err.got_bytes = bool(exc.partial)  # type: ignore[attr-defined]
                raise err from None
            except asyncio.LimitOverrunError:
                raise UpstreamError("response headers too large") from None
            status_line, *header_lines = raw[:-4].decode("latin-1").split("\r\n")
            parts = status_line.split(" ", 2)
            if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
                raise UpstreamError(f"not an HTTP/1.1 response: {status_line[:80]!r}")
            status = int(parts[1])
            if 100 <= status < 200 and status != 101:
                continue  # 100 Continue and friends: the final response follows
            break
        headers = []
        length_out: int | None = None
        chunked = False
        keep_alive = parts[0] == "HTTP/1.1"
        for line in header_lines:
            name, _, value = line.partition(":")
            value = value.strip()
            lname = name.lower()
            if lname == "content-length":
                length_out = int(value)
            elif lname == "transfer-encoding":
                chunked = "chunked" in value.lower()
            elif lname == "connection":
                keep_alive = "close" not in value.lower() and (keep_alive or "keep-alive" in value.lower())
            headers.append((name, value))
        no_body = method == "HEAD" or status in (204, 304)
        if chunked:
            length_out = None
        return Response(conn, status, parts[2] if len(parts) > 2 else "", headers, length_out, chunked,
                        keep_alive, no_body)

    def close(self) -> None:
        self.closed = True
        for conn in self.idle:
            conn.writer.close()
        self.idle.clear()
