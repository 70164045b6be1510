"""The runtime backend interface: the only way the control plane touches containers.

A backend starts a container from a `ContainerSpec`, stops it, reports its state
and the resources it has left. `local` implements it on this host with the
bubblewrap launcher; `ray` will place the same launcher on Ray nodes.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nodal.runtime.gpus import GpuDevice, GpuFit


@dataclass(frozen=True)
class Bind:
    """A host path made visible at `dest` inside the container."""

    source: Path
    dest: str
    read_only: bool = True


@dataclass
class ContainerSpec:
    """Everything needed to start one container.

    `layers` are image layer directories, lowest first, stacked with overlayfs;
    the container gets a private writable layer on top, discarded when it ends.
    """

    container_id: str
    layers: list[Path]
    command: list[str]
    env: dict[str, str] = field(default_factory=dict)
    binds: list[Bind] = field(default_factory=list)
    workdir: str = "/root"
    block_network: bool = False
    cpu: float = 0.0  # cores requested (0 = no request)
    cpu_limit: float = 0.0  # hard cap in cores (0 = none)
    memory_mb: int = 0
    memory_limit_mb: int = 0  # hard cap (0 = none)
    hostname: str = "modal"
    gpu: str = ""  # canonical GPU request ("H100:2"); the backend assigns and binds the devices
    # Volumes the container's node writes and binds itself (`nodal.runtime.node_volumes.NodeVolume`:
    # the Ray runtime, whose nodes share no disk with the server); empty on one machine.
    node_volumes: list = field(default_factory=list)


class ContainerState(enum.Enum):
    STARTING = "starting"
    RUNNING = "running"
    EXITED = "exited"


@dataclass
class ContainerStatus:
    state: ContainerState
    exit_code: int | None = None


@dataclass
class Resources:
    cpu: float
    memory_mb: int
    gpus: dict[str, int] = field(default_factory=dict)  # free GPUs by canonical type


@dataclass
class GpuInUse:
    node: str
    device: GpuDevice
    container_id: str | None  # None: free


# Called with (container_id, stream name "stdout"/"stderr", one line of text).
LogSink = Callable[[str, str, str], None]
# Called once with (container_id, exit_code) when the container's process tree ends.
ExitCallback = Callable[[str, int], Awaitable[None] | None]


class RuntimeBackend(abc.ABC):
    """Starts and stops containers. All methods are called on the server's event loop."""

    @abc.abstractmethod
    async def start(self, spec: ContainerSpec, on_log: LogSink, on_exit: ExitCallback) -> None:
        """Start the container; returns once its process is running.

        `on_log` receives its stdout/stderr line by line; `on_exit` fires once when it ends,
        whatever the reason (exit, crash, stop)."""

    @abc.abstractmethod
    async def stop(self, container_id: str, grace_seconds: float = 5.0) -> None:
        """SIGTERM the container, SIGKILL it after `grace_seconds`, and clean up its layer."""

    @abc.abstractmethod
    def status(self, container_id: str) -> ContainerStatus | None:
        """The container's state, or None if this backend does not know it."""

    @abc.abstractmethod
    def resources_left(self) -> Resources:
        """CPU and memory not yet requested by running containers."""

    @abc.abstractmethod
    def gpu_fit(self, request: str) -> GpuFit:
        """Whether a GPU request (canonical string) can be placed now, later, or never."""

    @abc.abstractmethod
    def reserve_gpus(self, container_id: str, request: str) -> None:
        """Hold GPUs for a container about to start (so concurrent starts cannot take the same
        ones); `start` with that id uses them. Raises `GpuUnavailable` when they are taken."""

    @abc.abstractmethod
    def release_gpus(self, container_id: str) -> None:
        """Give back a reservation whose container never started (starting ones release on exit)."""

    @abc.abstractmethod
    def gpu_inventory(self) -> list[GpuInUse]:
        """Every GPU of this backend, with the container holding it (if any)."""

    @abc.abstractmethod
    async def exec(self, container_id: str, command: list[str]) -> ExecProcess:
        """Run another process inside a running container (sandboxes, `modal shell`)."""

    def was_lost(self, container_id: str) -> bool:
        """Whether a container ended because its node went away (not by its own doing): the
        scheduler then starts another instead of counting a failed start. Never, on one machine."""
        return False

    @abc.abstractmethod
    async def shutdown(self) -> None:
        """Stop every container this backend started."""


class ExecProcess(abc.ABC):
    """A process started with `RuntimeBackend.exec`, with its pipes."""

    @abc.abstractmethod
    async def wait(self) -> int: ...
