"""Live log following over server-sent events (SSE).

One `event: logs` message carries a JSON array of every line that arrived since the previous
message, so a browser keeps up with thousands of lines a second in a few dozen messages; a
comment line every HEARTBEAT seconds keeps proxies from closing a quiet stream and notices
browsers that went away. `event: end` says the app stopped (no more lines will come).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable

from aiohttp import web

from nodal.server.dashboard.queries import log_row

HEARTBEAT = 15.0  # seconds
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
