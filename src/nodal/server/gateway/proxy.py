"""Forwarding one HTTP request (or WebSocket) to a web container's unix socket.

Bodies stream both ways chunk by chunk (streaming responses and server-sent events
arrive as the app writes them); WebSocket frames are pumped in both directions.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web
from multidict import CIMultiDict

from nodal.server.gateway.upstream import Response, UnixHttpPool, UpstreamError

# Hop-by-hop headers (RFC 9110 7.6.1) and those this proxy sets itself.
HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
    "transfer-encoding", "upgrade", "content-length",
})
SMALL_BODY = 64 * 1024  # bytes: responses up to this size with a Content-Length are sent in one piece
PROXY_AUTH_HEADERS = frozenset({"modal-key", "modal-secret"})
WS_HANDSHAKE = frozenset({"sec-websocket-key", "sec-websocket-version", "sec-websocket-extensions",
                          "sec-websocket-protocol"})


class UpstreamPool:
    """Per container socket: a keep-alive HTTP pool, and an aiohttp session for WebSockets;
    closed when the container goes."""

    def __init__(self) -> None:
        self._sessions: dict[str, aiohttp.ClientSession] = {}
        self._http: dict[str, UnixHttpPool] = {}

    def http(self, socket_path: str) -> UnixHttpPool:
        p = self._http.get(socket_path)
        if p is None:
            p = self._http[socket_path] = UnixHttpPool(socket_path)
        return p

    def session(self, socket_path: str) -> aiohttp.ClientSession:
        s = self._sessions.get(socket_path)
        if s is None or s.closed:
            s = aiohttp.ClientSession(
                connector=aiohttp.UnixConnector(path=socket_path, limit=0),
                auto_decompress=False,
                cookie_jar=aiohttp.DummyCookieJar(),  # never mix cookies between callers
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=10),
            )
            self._sessions[socket_path] = s
        return s

    async def forget_prefix(self, prefix: str) -> None:
        for path in [p for p in self._http if p.startswith(prefix)]:
            self._http.pop(path).close()
        for path in [p for p in self._sessions if p.startswith(prefix)]:
            await self._sessions.pop(path).close()

    async def close(self) -> None:
        for p in self._http.values():
            p.close()
        self._http.clear()
        for s in self._sessions.values():
            await s.close()
        self._sessions.clear()


def _forward_headers(request: web.Request, extra_drop: frozenset[str] = frozenset()) -> dict[str, str]:
    headers: dict[str, str] = {}
    for k, v in request.headers.items():
        lk = k.lower()
        if lk in HOP_BY_HOP or lk in PROXY_AUTH_HEADERS or lk in extra_drop:
            continue
        headers[k] = v if k not in headers else f"{headers[k]}, {v}"
    peer = request.remote or ""
    prior = request.headers.get("X-Forwarded-For")
    headers["X-Forwarded-For"] = f"{prior}, {peer}" if prior else peer
    headers["X-Forwarded-Proto"] = request.scheme
    return headers


async def send_request(request: web.Request, pool: UnixHttpPool, path_qs: str) -> Response:
    """Send `request` to the container; returns once the response's head is in."""
    body: bytes | AsyncIterator[bytes] | None = None
    length = request.content_length
    if request.body_exists:
        body = await request.read() if length is not None and length <= SMALL_BODY else request.content.iter_any()
    return await pool.request(request.method, path_qs, _forward_headers(request).items(), body, length)


async def buffer_response(up: Response) -> web.Response:
    """The whole response as one `web.Response` (for a caller that comes back for it later)."""
    headers = CIMultiDict((k, v) for k, v in up.headers if k.lower() not in HOP_BY_HOP)
    return web.Response(status=up.status, reason=up.reason or None, body=await up.read(), headers=headers)


async def relay_response(request: web.Request, up: Response) -> web.StreamResponse:
    """Stream the container's response `up` back to the caller of `request`."""
    headers = CIMultiDict((k, v) for k, v in up.headers if k.lower() not in HOP_BY_HOP)
    if up.length is not None and up.length <= SMALL_BODY and request.method != "HEAD":
        # A small complete body: one write, no streaming machinery (the common case).
        return web.Response(status=up.status, reason=up.reason or None, body=await up.read(), headers=headers)
    resp = web.StreamResponse(status=up.status, reason=up.reason or None, headers=headers)
    if up.length is not None:
        resp.content_length = up.length
    try:
        await resp.prepare(request)
        async for chunk in up.chunks():
            await resp.write(chunk)
    except UpstreamError:
        # The body broke off after the head was sent: end the caller's connection so it sees an
        # incomplete response rather than a short one that looks whole.
        if request.transport is not None:
            request.transport.close()
        return resp
    finally:
        up.close()
    await resp.write_eof()
    return resp


async def forward_websocket(request: web.Request, session: aiohttp.ClientSession, path_qs: str) -> web.StreamResponse:
    """Open the same WebSocket to the container, then pump frames both ways until one side closes."""
    protocols = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()]
    try:
        upstream = await session.ws_connect(
            f"http://container{path_qs}", headers=_forward_headers(request, WS_HANDSHAKE),
            protocols=protocols, autoping=True, max_msg_size=0,
        )
    except aiohttp.WSServerHandshakeError as exc:
        return web.Response(status=exc.status or 502, text=f"the app refused the WebSocket: {exc.message}\n")
    client = web.WebSocketResponse(protocols=[upstream.protocol] if upstream.protocol else (), max_msg_size=0)
    await client.prepare(request)

    async def pump(src, dst) -> None:
        async for msg in src:
            if msg.type == aiohttp.WSMsgType.TEXT:
                await dst.send_str(msg.data)
            elif msg.type == aiohttp.WSMsgType.BINARY:
                await dst.send_bytes(msg.data)
            else:
                break
        await dst.close(code=src.close_code or aiohttp.WSCloseCode.OK)

    async with upstream:
        tasks = [asyncio.ensure_future(pump(client, upstream)), asyncio.ensure_future(pump(upstream, client))]
        done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for t in pending:
            t.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
    return client
