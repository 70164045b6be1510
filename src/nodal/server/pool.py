"""A warm pool: the containers and queued inputs of one function (or one Cls parameter set)."""

from __future__ import annotations

import asyncio
import collections
import time
from dataclasses import dataclass, field
from typing import Optional

from nodal.proto import api_pb2
from nodal.server.calls import PendingInput

DEFAULT_SCALEDOWN_WINDOW = 60.0  # seconds, as Modal
DEFAULT_TIMEOUT = 300.0  # seconds per input, as Modal


@dataclass
class ContainerSlot:
    """The control plane's view of one container serving a pool."""

    container_id: str
    token: str
    state: str = "starting"  # starting -> ready -> draining -> stopped
    send: asyncio.Queue = field(default_factory=asyncio.Queue)  # WorkerDirective | None
    inflight: dict[str, PendingInput] = field(default_factory=dict)
    handled: int = 0
    assigned: int = 0
    started_at: float = field(default_factory=time.monotonic)
    idle_since: float = field(default_factory=time.monotonic)
    startup_handle: Optional[asyncio.TimerHandle] = None


class Pool:
    def __init__(
        self,
        key: str,
        function_id: str,
        app_id: str,
        definition: api_pb2.FunctionDef,
        params: bytes = b"",
    ) -> None:
        self.key = key
        self.function_id = function_id
        self.app_id = app_id
        self.definition = definition
        self.params = params
        self.pending: collections.deque[PendingInput] = collections.deque()
        self.containers: dict[str, ContainerSlot] = {}
        self.kick_scheduled = False
        self.min_containers = definition.min_containers
        self.max_containers = definition.max_containers
        self.buffer_containers = definition.buffer_containers
        self.scaledown_window = definition.scaledown_window or DEFAULT_SCALEDOWN_WINDOW
        self.stopped = False

    @property
    def name(self) -> str:
        return self.definition.tag

    @property
    def capacity(self) -> int:
        """Inputs one container runs at once."""
        d = self.definition
        if d.batch_max_size:
            return d.batch_max_size * max(1, d.max_concurrent_inputs)
        return max(1, d.max_concurrent_inputs)

    @property
    def timeout(self) -> float:
        return self.definition.timeout or DEFAULT_TIMEOUT

    def live_containers(self) -> list[ContainerSlot]:
        return [c for c in self.containers.values() if c.state in ("starting", "ready")]

    def window(self, slot: ContainerSlot, ready_count: int) -> int:
        """How many inputs `slot` may hold: its capacity plus a prefetch share of the backlog,
        so a busy container always has its next input at hand without hoarding the queue."""
        base = self.capacity
        if self.definition.max_inputs:
            base = min(base, self.definition.max_inputs - slot.assigned)
            return max(0, base)
        share = len(self.pending) // max(1, ready_count)
        return base + min(share, 64)

    def desired_containers(self) -> int:
        """The autoscaler's target: enough containers for the backlog, within the bounds."""
        running = sum(len(c.inflight) for c in self.containers.values())
        demand = len(self.pending) + running
        want = -(-demand // self.capacity)  # ceil
        if want:
            want += self.buffer_containers
        want = max(want, self.min_containers)
        if self.max_containers:
            want = min(want, self.max_containers)
        return want
