"""An asyncio-friendly exclusive file lock, shared between processes and tasks.

`flock` locks belong to an open file description, so two tasks of the same
process that each open the lock file exclude each other just like two
processes do. Waiting polls with a non-blocking `flock` (no worker threads:
many builds waiting on one layer must not exhaust the default executor).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
from collections.abc import AsyncIterator
from pathlib import Path


@contextlib.asynccontextmanager
async def file_lock(path: Path, poll_max: float = 0.1) -> AsyncIterator[None]:
    """Hold an exclusive lock on `path` (created if missing) for the `async with` body."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        delay = 0.005
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                await asyncio.sleep(delay)
                delay = min(delay * 2, poll_max)
        yield
    finally:
        os.close(fd)  # closing the last descriptor releases the lock
