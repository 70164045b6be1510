"""The Ray actor that holds one Nodal container on a Ray node (used by `RayRuntime`).

The actor runs the same `LocalRuntime` (overlayfs + bubblewrap launcher) as a single-machine
server, on whatever node Ray placed it, with a node-local scratch directory. The server
follows it with two kinds of calls:

- `start(spec)`: launches the container and returns the Ray node id it runs on (the
  container's env gets `NODAL_NODE_ID`, so code inside can name its node);
- `next_output()`: a long poll returning the log lines produced since the last poll (at most
  `MAX_BUFFERED_LINES` are kept; older ones are dropped with a note) and, once the container
  has ended and its output is drained, its exit code.

`stop(grace)` asks the local runtime to stop the container (SIGTERM, then SIGKILL after
`grace`). The server kills the actor once the container has ended; if the actor's node dies,
bubblewrap's `--die-with-parent` takes the container's processes with it.

This module imports Ray lazily, so the server and the pure-logic tests need not load it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
from collections import deque
from pathlib import Path

from nodal.runtime.backend import ContainerSpec

MAX_BUFFERED_LINES = 10_000  # log lines kept between two polls; older ones are dropped
POLL_SECONDS = 5.0  # a poll with nothing to report returns after this long


class ContainerActor:
    """One container on the node this actor was placed on."""

    def __init__(self, scratch_root: str) -> None:
        from nodal.runtime.local import LocalRuntime

        self.scratch_root = Path(scratch_root)
        self.runtime: LocalRuntime | None = None
        self._make_runtime = lambda gpus: LocalRuntime(self.scratch_root, gpus=gpus)
        self.lines: deque[tuple[str, str]] = deque()
        self.dropped = 0
        self.exit_code: int | None = None
        self.changed: asyncio.Event | None = None
        self.container_id = ""

    def _gpus(self, spec: ContainerSpec):
        """The GPUs Ray assigned to this actor (only those: other actors own the rest)."""
        if not spec.gpu:
            return []
        import ray

        from nodal.runtime.gpus import discover_gpus

        assigned = {str(i) for i in ray.get_gpu_ids()}
        return [d for d in discover_gpus() if str(d.index) in assigned or d.uuid in assigned]

    async def start(self, spec: ContainerSpec) -> str:
        """Launch the container; returns the id of the Ray node it runs on."""
        import ray

        node_id = ray.get_runtime_context().get_node_id()
        self.changed = asyncio.Event()
        self.container_id = spec.container_id
        self.runtime = self._make_runtime(self._gpus(spec))
        spec = dataclasses.replace(spec, env={**spec.env, "NODAL_NODE_ID": node_id})
        await self.runtime.start(spec, self._on_log, self._on_exit)
        return node_id

    def _on_log(self, _cid: str, stream: str, line: str) -> None:
        if len(self.lines) >= MAX_BUFFERED_LINES:
            self.lines.popleft()
            self.dropped += 1
        self.lines.append((stream, line))
        assert self.changed is not None
        self.changed.set()

    def _on_exit(self, _cid: str, code: int) -> None:
        self.exit_code = code
        assert self.changed is not None
        self.changed.set()

    async def next_output(self) -> tuple[list[tuple[str, str]], int | None]:
        """(log lines since the last call, the exit code once the container has ended)."""
        assert self.changed is not None, "next_output before start"
        if not self.lines and self.exit_code is None:
            try:
                await asyncio.wait_for(self.changed.wait(), POLL_SECONDS)
            except TimeoutError:
                pass
        self.changed.clear()
        lines = list(self.lines)
        self.lines.clear()
        if self.dropped:
            lines.insert(0, ("stderr", f"[nodal] {self.dropped} log lines dropped (the server fell behind)"))
            self.dropped = 0
        return lines, self.exit_code  # on_exit comes after the output is drained

    async def stop(self, grace_seconds: float) -> None:
        """SIGTERM the container, SIGKILL it after `grace_seconds`; returns once it is cleaned up."""
        if self.runtime is not None:
            await self.runtime.stop(self.container_id, grace_seconds)

    def pid(self) -> int:
        """The actor's process id (tests use it to check nothing outlives a node)."""
        return os.getpid()
