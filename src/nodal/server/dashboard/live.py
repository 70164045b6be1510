"""Live updates over server-sent events (SSE): following an app's logs, and keeping a page's
live block (app lists, a function's counts and chart, containers) current without reloading.

Logs: one `event: logs` message carries a JSON array of every line that arrived since the previous
message, so a browser keeps up with thousands of lines a second in a few dozen messages; a
comment line every HEARTBEAT seconds keeps proxies from closing a quiet stream and notices
browsers that went away. `event: end` says the app stopped (no more lines will come).

Pages: the same URL as the page, asked for with `Accept: text/event-stream` (what EventSource
sends), streams `event: html` messages carrying the page's live block, rendered server-side
again whenever an input finishes somewhere (`Changes`) and at least every PAGE_PERIOD seconds
(containers start and stop, uptimes move), sent only when it differs from the last one, and at
most every PAGE_MIN_INTERVAL seconds. `event: gone` says the page's object no longer exists.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from nodal.server.dashboard.queries import log_row

log = logging.getLogger("nodal.dashboard")

HEARTBEAT = 15.0  # seconds
PAGE_PERIOD = 2.0  # seconds between renders of a live block when nothing signals a change
PAGE_MIN_INTERVAL = 0.5  # seconds between two renders of one live block at most
MAX_BATCH = 2000  # lines per SSE message
BUFFER = 10_000  # lines held for a slow browser (the log hub drops the oldest beyond its own bound)


async def stream_logs(request: web.Request, logs, app_id: str, alive: bool, since: float,
                      keep: Callable, headers: dict[str, str]) -> web.StreamResponse:
    resp = web.StreamResponse(headers={**headers, "Content-Type": "text/event-stream",
                                       "Cache-Control": "no-store", "X-Accel-Buffering": "no"})
    await resp.prepare(request)
    queue: asyncio.Queue = asyncio.Queue(BUFFER)

    async def pump() -> None:
        try:
            async for entry in logs.follow(app_id, since, alive):
                await queue.put(entry)
        finally:
            await queue.put(None)

    task = asyncio.get_running_loop().create_task(pump())
    try:
        await resp.write(b"retry: 3000\n\n")
        while True:
            try:
                first = await asyncio.wait_for(queue.get(), HEARTBEAT)
            except TimeoutError:
                await resp.write(b": keep-alive\n\n")
                continue
            batch = [first]
            while len(batch) < MAX_BATCH and not queue.empty():
                batch.append(queue.get_nowait())
            ended = batch[-1] is None or any(e is None for e in batch)
            rows = [log_row(e) for e in batch if e is not None and keep(e)]
            if rows:
                await resp.write(f"event: logs\ndata: {json.dumps(rows)}\n\n".encode())
            if ended:
                await resp.write(b"event: end\ndata: {}\n\n")
                break
    except (ConnectionResetError, ConnectionError):
        pass  # the browser went away
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    return resp


class Changes:
    """A broadcast "something finished" signal: cheap to raise on the call path (one attribute
    test when nobody listens), awaited by the live pages."""

    def __init__(self) -> None:
        self._event: asyncio.Event | None = None

    def notify(self) -> None:
        if self._event is not None:
            self._event.set()
            self._event = None

    async def wait(self, timeout: float) -> None:
        """Until the next notify() or `timeout` seconds, whichever comes first."""
        if self._event is None:
            self._event = asyncio.Event()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), timeout)


async def stream_page(request: web.Request, first: str, render: Callable[[], Awaitable[str | None]],
                      changes: Changes, still_allowed: Callable[[], bool],
                      headers: dict[str, str]) -> web.StreamResponse:
    """Stream a page's live block: `first` is its HTML now (rendered by the caller before the
    response starts, so its errors are ordinary responses), `render()` its later HTML (None: the
    object is gone). `still_allowed()` is checked before each render (an ended session stops it)."""
    resp = web.StreamResponse(headers={**headers, "Content-Type": "text/event-stream",
                                       "Cache-Control": "no-store", "X-Accel-Buffering": "no"})
    await resp.prepare(request)
    loop = asyncio.get_running_loop()
    try:
        await resp.write(b"retry: 3000\n\n")
        last = first
        await resp.write(f"event: html\ndata: {json.dumps(first)}\n\n".encode())
        quiet_since = loop.time()
        while True:
            await changes.wait(PAGE_PERIOD)
            await asyncio.sleep(PAGE_MIN_INTERVAL)  # rate limit: a burst of inputs is one render
            if not still_allowed():
                await resp.write(b"event: end\ndata: {}\n\n")
                break
            try:
                html = await render()
            except Exception:  # noqa: BLE001 - a bug must end this stream, not the gateway
                log.exception("live view of %s failed", request.path)
                await resp.write(b"event: end\ndata: {}\n\n")
                break
            if html is None:
                await resp.write(b"event: gone\ndata: {}\n\n")
                break
            if html != last:
                last = html
                await resp.write(f"event: html\ndata: {json.dumps(html)}\n\n".encode())
                quiet_since = loop.time()
            elif loop.time() - quiet_since >= HEARTBEAT:
                await resp.write(b": keep-alive\n\n")  # also notices a browser that went away
                quiet_since = loop.time()
    except (ConnectionResetError, ConnectionError):
        pass  # the browser went away
    return resp
