"""Container and build logs: kept per app on disk, streamed live to followers."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

from nodal.proto import api_pb2

_MAX_FOLLOWER_BACKLOG = 10_000  # entries; a follower that falls further behind loses the oldest


class LogHub:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self._followers: dict[str, set[asyncio.Queue]] = {}
        self._files: dict[str, object] = {}

    def _path(self, app_id: str) -> Path:
        return self.root / f"{app_id}.jsonl"

    def append(
        self,
        app_id: str,
        data: str,
        *,
        stream: str = "stdout",
        function_name: str = "",
        container_id: str = "",
    ) -> None:
        entry = api_pb2.LogEntry(
            timestamp=time.time(),
            app_id=app_id,
            function_name=function_name,
            container_id=container_id,
            stream=stream,
            data=data,
        )
        f = self._files.get(app_id)
        if f is None:
            f = self._files[app_id] = open(self._path(app_id), "a", buffering=1)
        f.write(
            json.dumps(
                {"t": entry.timestamp, "f": function_name, "c": container_id, "s": stream, "d": data}
            )
            + "\n"
        )
        for q in self._followers.get(app_id, ()):
            if q.qsize() >= _MAX_FOLLOWER_BACKLOG:
                q.get_nowait()
            q.put_nowait(entry)

    def close_app(self, app_id: str) -> None:
        """The app stopped: end every follower's stream."""
        for q in self._followers.pop(app_id, set()):
            q.put_nowait(None)
        f = self._files.pop(app_id, None)
        if f is not None:
            f.close()

    def history(self, app_id: str, since: float = 0.0) -> list[api_pb2.LogEntry]:
        path = self._path(app_id)
        if not path.exists():
            return []
        out = []
        with open(path) as f:
            for line in f:
                try:
                    r = json.loads(line)
                except ValueError:
                    continue  # a line cut by a crash
                if r["t"] >= since:
                    out.append(
                        api_pb2.LogEntry(
                            timestamp=r["t"], app_id=app_id, function_name=r["f"],
                            container_id=r["c"], stream=r["s"], data=r["d"],
                        )
                    )
        return out

    async def follow(self, app_id: str, since: float, app_alive: bool) -> AsyncIterator[api_pb2.LogEntry]:
        """Past entries, then live ones until the app stops (if it is still alive)."""
        q: asyncio.Queue | None = None
        if app_alive:
            q = asyncio.Queue()
            self._followers.setdefault(app_id, set()).add(q)
        try:
            last = since
            for entry in self.history(app_id, since):
                last = entry.timestamp
                yield entry
            if q is None:
                return
            while True:
                entry = await q.get()
                if entry is None:
                    return
                if entry.timestamp > last:
                    yield entry
        finally:
            if q is not None:
                self._followers.get(app_id, set()).discard(q)
