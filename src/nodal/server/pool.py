"""A warm pool: the containers and queued inputs of one function (or one Cls parameter set)."""

from __future__ import annotations

import asyncio
import collections
import time
from dataclasses import dataclass, field
from typing import Any

from nodal.proto import api_pb2
from nodal.server.calls import PendingInput

DEFAULT_SCALEDOWN_WINDOW = 60.0  # seconds, as Modal
DEFAULT_TIMEOUT = 300.0  # seconds per input, as Modal
INITIAL_RUNTIME_ESTIMATE = 0.1  # seconds, until measured
PREFETCH_HORIZON = 0.02  # a container holds about this much queued work beyond what it runs
MAX_PREFETCH = 1000


@dataclass
class ContainerSlot:
    """The control plane's view of one container serving a pool."""

    container_id: str
    token: str
    # starting -> ready -> draining -> stopped; a memory snapshot's (Scheduler._keep_snapshot):
    # snapshotting -> snapshot -> starting (taken) -> ready ...
    state: str = "starting"
    send: asyncio.Queue = field(default_factory=asyncio.Queue)  # WorkerDirective | None
    inflight: dict[str, PendingInput] = field(default_factory=dict)
    handled: int = 0
    assigned: int = 0
    started_at: float = field(default_factory=time.monotonic)
    idle_since: float = field(default_factory=time.monotonic)
    startup_handle: asyncio.TimerHandle | None = None
    last_output_at: float = 0.0
    exited: asyncio.Event = field(default_factory=asyncio.Event)
    web_active: int = 0  # web requests running in this container (nodal.server.gateway)
    start_reason: str = ""  # why the autoscaler started it (Pool.start_reason), shown by the dashboard
    spare: Any = None  # the pre-started container it took over (nodal.server.spares.Spare), if any
    snapshot: bool = False  # started as its pool's memory snapshot (held pre-initialised until taken)


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
        self.retrying: dict[str, PendingInput] = {}  # inputs waiting out their retry delay
        self.kick_scheduled = False
        self.min_containers = definition.min_containers
        self.max_containers = definition.max_containers
        self.buffer_containers = definition.buffer_containers
        self.scaledown_window = definition.scaledown_window or DEFAULT_SCALEDOWN_WINDOW
        self.gpu_request = definition.gpu  # "" once it falls back to CPU (see Scheduler._gpu_room)
        self.gpu_wait_since: float | None = None  # waiting for a GPU with no container running
        self.start_failures = 0  # containers in a row that ended before they were ready
        self.crash_backoff_until = 0.0  # monotonic time before which min/buffer restarts wait
        self.drain_reason = ""  # set when a newer deployment replaced this pool (Scheduler.drain_pool)
        self.stopped = False
        self.generator_methods = frozenset(definition.generator_methods)
        self.parked = False  # spawned calls of this pool wait in the store (see CallService.refill)
        # Seconds one input takes in a container (moving average); sizes the prefetch window.
        self.avg_runtime = INITIAL_RUNTIME_ESTIMATE
        self.web_waiting = 0  # web requests waiting for a container with free capacity
        self.failed_starts = 0  # containers that exited or failed @enter before they were ready
        self.snapshot_failed = False  # its memory snapshot failed to load: cold starts start afresh

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
        """Containers serving or about to (a memory snapshot not taken yet is not one)."""
        return [c for c in self.containers.values() if c.state in ("starting", "ready")]

    def window(self, slot: ContainerSlot, ready_count: int) -> int:
        """How many inputs `slot` may hold: its capacity plus a prefetch share of the backlog.

        The prefetch covers about PREFETCH_HORIZON of work at the measured input runtime, so a
        container running tiny inputs never waits on a round trip for its next one, while one
        running long inputs does not hoard a queue that other containers could take."""
        base = self.capacity
        if self.definition.max_inputs:
            return max(0, min(base, self.definition.max_inputs - slot.assigned))
        share = len(self.pending) // max(1, ready_count)
        horizon = int(PREFETCH_HORIZON / max(self.avg_runtime, 1e-6)) * self.capacity
        return base + min(share, horizon, MAX_PREFETCH)

    def record_runtime(self, slot: ContainerSlot, started_at: float, now: float) -> None:
        """Update the runtime estimate from one completed input of a sequential container."""
        began = max(started_at, slot.last_output_at)
        slot.last_output_at = now
        self.avg_runtime += 0.05 * (max(now - began, 0.0) / self.capacity - self.avg_runtime)

    def start_reason(self, live: int) -> str:
        """Why one more container starts when `live` are up or starting: the backlog (inputs or web
        requests), `min_containers`, or `buffer_containers`."""
        running = sum(len(c.inflight) + c.web_active for c in self.containers.values())
        for_demand = -(-(len(self.pending) + running + self.web_waiting) // self.capacity)
        if live < for_demand:
            if self.pending:
                return f"scale-up: {len(self.pending)} input(s) waiting"
            if self.web_waiting:
                return f"scale-up: {self.web_waiting} web request(s) waiting"
            return "scale-up: inputs running"
        if live < self.min_containers:
            return f"min_containers={self.min_containers}"
        return f"buffer_containers={self.buffer_containers}"

    def desired_containers(self) -> int:
        """The autoscaler's target: enough containers for the backlog, within the bounds."""
        running = sum(len(c.inflight) + c.web_active for c in self.containers.values())
        demand = len(self.pending) + running + self.web_waiting
        want = -(-demand // self.capacity)  # ceil
        if want:
            want += self.buffer_containers
        want = max(want, self.min_containers)
        if self.max_containers:
            want = min(want, self.max_containers)
        return want
