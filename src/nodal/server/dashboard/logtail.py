"""The newest lines of an app's log file, read from the end.

The log hub keeps one JSON-lines file per app and reads it front to back; a dashboard page only
wants the newest few hundred matching lines, so it reads backwards in blocks and stops once it
has them (or has scanned MAX_SCAN bytes), which keeps the log page fast however long the app has
been logging.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

from nodal.proto import api_pb2

BLOCK = 256 * 1024
MAX_SCAN = 64 * 1024 * 1024  # bytes scanned at most per request (a search over older lines stops here)


def _entry(app_id: str, raw: bytes) -> api_pb2.LogEntry | None:
    try:
        r = json.loads(raw)
        return api_pb2.LogEntry(timestamp=r["t"], app_id=app_id, function_name=r["f"], container_id=r["c"],
                                stream=r["s"], data=r["d"])
    except (ValueError, KeyError, TypeError):
        return None  # a line cut by a crash


def tail(path: Path, app_id: str, keep: Callable[[api_pb2.LogEntry], bool], limit: int) -> list[api_pb2.LogEntry]:
    """Up to `limit` newest entries passing `keep`, oldest first."""
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        return []
    found: list[api_pb2.LogEntry] = []
    with f:
        pos = f.seek(0, os.SEEK_END)
        scanned = 0
        rest = b""  # the start of a line whose beginning lies in the next (earlier) block
        while pos > 0 and len(found) < limit and scanned < MAX_SCAN:
            step = min(BLOCK, pos)
            pos -= step
            f.seek(pos)
            chunk = f.read(step) + rest
            scanned += step
            lines = chunk.split(b"\n")
            rest = lines[0] if pos > 0 else b""
            for raw in reversed(lines if pos == 0 else lines[1:]):
                if not raw.strip():
                    continue
                e = _entry(app_id, raw)
                if e is not None and keep(e):
                    found.append(e)
                    if len(found) >= limit:
                        break
    found.reverse()
    return found
