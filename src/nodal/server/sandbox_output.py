"""A process's output kept on the server, so any number of readers can stream it from the start.

A sandbox's stdout/stderr outlive any one client: `Sandbox.from_id(...).stdout.read()`
after the sandbox ended still returns everything. The buffer keeps up to
`limit` bytes; beyond that the oldest chunks go (a reader that fell behind skips them).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

DEFAULT_LIMIT = 32 * 1024 * 1024


class OutputBuffer:
    """Ordered (fd, bytes) chunks with an end marker; readers follow it live."""

    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        self.limit = limit
        self._chunks: list[tuple[int, bytes]] = []
        self._first = 0  # index (since the start) of _chunks[0]
        self._size = 0
        self._closed = False
        self._changed = asyncio.Event()

    @property
    def size(self) -> int:
        """Bytes held now."""
        return self._size

    @property
    def closed(self) -> bool:
        return self._closed

    def append(self, fd: int, data: bytes) -> None:
        if not data or self._closed:
            return
        self._chunks.append((fd, data))
        self._size += len(data)
        while self._size > self.limit and len(self._chunks) > 1:
            _fd, old = self._chunks.pop(0)
            self._first += 1
            self._size -= len(old)
        self._wake()

    def close(self) -> None:
        """No more output will come (the process ended and its pipes are drained)."""
        if not self._closed:
            self._closed = True
            self._wake()

    def _wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def follow(self) -> AsyncIterator[list[tuple[int, bytes]]]:
        """Batches of chunks from the start until the buffer is closed."""
        index = 0
        while True:
            changed = self._changed
            index = max(index, self._first)
            if index < self._first + len(self._chunks):
                batch = self._chunks[index - self._first :]
                index += len(batch)
                yield batch
                continue
            if self._closed:
                return
            await changed.wait()
