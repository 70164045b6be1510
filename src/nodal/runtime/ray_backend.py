"""`RayRuntime`: the runtime backend that places containers on a Ray cluster.

Ray places and launches; everything else stays Nodal's. Each container becomes one Ray actor
(`ray_actor.ContainerActor`) that asks Ray for the container's CPU, memory and GPUs (the GPU
type as Ray's accelerator type) and runs the same local launcher on the node Ray chose. The
server follows each actor with one task: it awaits `start` (which waits as long as Ray cannot
place the actor: the scheduler's startup timeout applies), then long-polls the container's
log lines and finally its exit code. An actor that dies (its node stopped, or killed) ends
its container with a non-zero exit code, so the scheduler retries the inputs per policy.

Containers on Ray nodes reach the server over TCP+TLS (`server_url`, `server_ca`): the
container launcher asks the runtime for `remote_server` and gives the container
NODAL_SERVER_URL and the CA file instead of the unix socket. Image layers travel through the
blob store by content identity (`ray_layers.py`: packed once on the server, fetched once per
node into the node's layer cache before the container starts); with an s3:// blob store, so
do the code and file blobs a container binds. A container's volumes are written on its node
from the blob store and kept there (`node_volumes.py`); the server commits and reloads them
through the actor (this runtime is the volume service's `NodeVolumeAgent`). The code blobs of
a directory blob store and network file systems are host paths: valid on every node only
while the nodes share the filesystem (true for a cluster on one machine, or a shared mount).

Sandboxes (which need stdin pipes and raw output) run on the server's own host through an
embedded `LocalRuntime`. `exec` into a Ray-placed container (`modal container exec`, `modal
shell <container>`) runs through the container's actor on its node (`ray_exec.py`), and
`block_network=True` leaves a container on a node only the server to talk to (`ray_confine.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nodal.runtime.backend import (
    ContainerSpec,
    ContainerState,
    ContainerStatus,
    ExecProcess,
    ExitCallback,
    GpuInUse,
    LogSink,
    Resources,
    RuntimeBackend,
)
from nodal.runtime.gpus import GpuAllocator, GpuFit, discover_gpus, parse_request
from nodal.runtime.ray_gpus import ClusterGpus

log = logging.getLogger(__name__)

DEFAULT_CPU = 0.125  # what a container without a cpu request asks Ray for (the scheduler's default too)
CONNECT_TIMEOUT_SECONDS = 20.0  # ray.init against the cluster
_RESOURCES_TTL = 1.0  # seconds a snapshot of the cluster's resources is reused
LOST_EXIT_CODE = 137  # a container whose actor (or node) died: as if SIGKILLed
DEFAULT_LAYER_CACHE = "/var/tmp/nodal-ray-layers"  # on each node (NODAL_RAY_LAYER_CACHE on the server)
DEFAULT_LAYER_CACHE_GB = 20.0  # each node's cache budget (NODAL_RAY_LAYER_CACHE_GB; 0 = unbounded)
# Actors of the default shape (no cpu/memory/GPU request) kept started ahead of need: Ray takes
# ~1 s to start an actor's worker process, which a container taking a warm one does not wait for.
DEFAULT_WARM_ACTORS = 2
_ACTOR_NAMESPACE = "nodal"
# Calls one container's actor runs at once: its output poll, and per exec'd process a poll and
# its input (async methods: waiting costs nothing).
_ACTOR_CONCURRENCY = 256
# Nodal's canonical GPU types → Ray's accelerator type names, where they differ.
_RAY_ACCELERATORS = {"A100-80GB": "A100-80G", "A100-40GB": "A100-40G"}


class RayConfigError(RuntimeError):
    """The Ray backend cannot be used as configured; the message says what to change."""


def layer_cache_budget() -> int:
    """Bytes each node's layer cache may hold, from NODAL_RAY_LAYER_CACHE_GB (GiB, default
    `DEFAULT_LAYER_CACHE_GB`; 0 = unbounded): beyond it a node removes the least recently used
    layers and blobs none of its containers uses (`ray_cache_gc.collect`)."""
    raw = os.environ.get("NODAL_RAY_LAYER_CACHE_GB", "").strip()
    try:
        gb = float(raw) if raw else DEFAULT_LAYER_CACHE_GB
    except ValueError:
        gb = -1.0
    if not gb >= 0 or gb == float("inf"):
        raise RayConfigError(f"NODAL_RAY_LAYER_CACHE_GB (ray_layer_cache_gb) must be a number of GiB, 0 for no "
                             f"limit, not {raw!r}")
    return int(gb * 2**30)


def actor_options(spec: ContainerSpec) -> dict[str, Any]:
    """Ray actor options for a container: its CPU request (fractions allowed), memory request
    in bytes, and GPUs as `num_gpus` plus Ray's accelerator type (the first option of a
    multi-type request; "ANY" asks for GPUs of any type)."""
    options: dict[str, Any] = {"num_cpus": spec.cpu if spec.cpu > 0 else DEFAULT_CPU}
    if spec.memory_mb > 0:
        options["memory"] = spec.memory_mb * 1024 * 1024
    if spec.gpu:
        first = parse_request(spec.gpu)[0]
        options["num_gpus"] = first.count
        if first.gpu_type != "ANY":
            options["accelerator_type"] = _RAY_ACCELERATORS.get(first.gpu_type, first.gpu_type)
    return options


def gpu_fit_of(request: str, total: dict[str, float], available: dict[str, float]) -> GpuFit:
    """Whether a GPU request fits the cluster now (free GPUs of an acceptable type), later
    (the cluster has them, busy), or never, from Ray's total and available resources."""
    verdict = GpuFit.NEVER
    for option in parse_request(request):
        if option.gpu_type != "ANY":
            key = "accelerator_type:" + _RAY_ACCELERATORS.get(option.gpu_type, option.gpu_type)
            if key not in total:
                continue
        if total.get("GPU", 0.0) < option.count:
            continue
        if available.get("GPU", 0.0) >= option.count:
            return GpuFit.NOW
        verdict = GpuFit.BUSY
    return verdict


def check_reachable(address: str, timeout: float = 5.0) -> None:
    """Raise RayConfigError unless something listens at the Ray address (HOST:PORT of the GCS)."""
    if address in ("", "auto"):
        return
    if address.startswith("ray://"):
        raise RayConfigError(
            f"NODAL_RAY_ADDRESS {address!r} is a Ray Client address; give the cluster's GCS address "
            "HOST:PORT (the head's `ray start --port`, 6379 by default)"
        )
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise RayConfigError(f"NODAL_RAY_ADDRESS must be HOST:PORT of the Ray head (e.g. 10.0.0.5:6379), not {address!r}")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            pass
    except OSError as exc:
        raise RayConfigError(
            f"cannot reach the Ray cluster at {address} ({exc.strerror or exc}); start it with "
            "`ray start --head --port PORT` or fix NODAL_RAY_ADDRESS"
        ) from None


def connect(address: str, timeout: float = CONNECT_TIMEOUT_SECONDS) -> None:
    """`ray.init` against an existing cluster, bounded by `timeout` (RayConfigError otherwise)."""
    check_reachable(address)
    import ray

    outcome: list[BaseException | None] = []

    def init() -> None:
        try:
            ray.init(address=address or "auto", namespace=_ACTOR_NAMESPACE, log_to_driver=False,
                     logging_level=logging.WARNING, configure_logging=False)
            outcome.append(None)
        except BaseException as exc:  # noqa: BLE001 - reported below
            outcome.append(exc)

    thread = threading.Thread(target=init, name="ray-init", daemon=True)
    thread.start()
    thread.join(timeout)
    if not outcome:
        raise RayConfigError(f"the Ray cluster at {address} did not accept a connection within {timeout:.0f}s")
    if outcome[0] is not None:
        raise RayConfigError(f"cannot connect to the Ray cluster at {address}: {outcome[0]}") from None


@dataclass
class RemoteServer:
    """How containers on Ray nodes reach the server: its TLS URL and the CA file to trust."""

    url: str
    ca_file: Path


@dataclass
class _RayContainer:
    spec: ContainerSpec
    actor: Any
    state: ContainerState = ContainerState.STARTING
    exit_code: int | None = None
    node_id: str = ""
    gpu_ids: list[str] = field(default_factory=list)  # the GPUs Ray gave its actor, on node_id
    stopping: bool = False
    done: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task | None = None
    pooled: bool = False  # its actor came from the warm pool (started before this container)


class RayRuntime(RuntimeBackend):
    """Runs each container in its own Ray actor, on the node Ray places it."""

    def __init__(self, address: str, remote_server: RemoteServer, node_scratch: Path,
                 local_scratch: Path, blobs: Any = None, layer_cache: str = "",
                 warm_actors: int = DEFAULT_WARM_ACTORS, layer_cache_bytes: int | None = None) -> None:
        """Connects to the cluster at `address` (RayConfigError when it cannot). Containers use
        `node_scratch` on their node for their writable layers; sandboxes, which run on this
        host, use `local_scratch`. With `blobs` (the server's blob store) image layers are
        shipped to nodes through it into `layer_cache` on each node; without, layers are used
        at their host paths (nodes sharing this machine's disk). `warm_actors` actors of the
        default shape are kept started for containers that ask for no cpu, memory or GPU.
        `layer_cache_bytes`: each node's layer cache budget (default: `layer_cache_budget()`)."""
        self.layer_cache_bytes = layer_cache_budget() if layer_cache_bytes is None else max(0, layer_cache_bytes)
        connect(address)
        import ray

        from nodal.runtime.ray_actor import ContainerActor

        self.address = address
        self.remote_server = remote_server
        self.node_scratch = node_scratch
        self.local_scratch = local_scratch
        self._actor_class = ray.remote(ContainerActor)
        self.packer = None
        self.blob_source = None
        self.layer_cache = layer_cache or DEFAULT_LAYER_CACHE
        if blobs is not None:
            from nodal import paths
            from nodal.runtime.ray_layers import BlobSource, LayerPacker

            self.packer = LayerPacker(blobs, paths.nodal_home() / "ray-layers")
            self.blob_source = BlobSource.of_server(blobs)
        self._containers: dict[str, _RayContainer] = {}
        self._finished: dict[str, ContainerStatus] = {}
        self._lost: set[str] = set()  # ended because their actor or node died, not by a stop
        self._snapshot: tuple[float, dict[str, float], dict[str, float]] = (0.0, {}, {})
        self._local: Any = None  # LocalRuntime for sandboxes, made on first use
        # The image builder runs on this host: it sees this host's GPUs (Image steps' gpu=).
        self.gpus = GpuAllocator(discover_gpus())
        self.cluster_gpus = ClusterGpus()
        self.warm_actors = max(0, warm_actors)
        self._pool: list[Any] = []  # started actors of the default shape, oldest first
        self._fill_pool()
        total = ray.cluster_resources()
        log.info("containers run on the Ray cluster at %s (%d nodes, %g CPUs) and reach this server at %s",
                 address, sum(1 for n in ray.nodes() if n.get("Alive")), total.get("CPU", 0.0), remote_server.url)

    # ---------- the cluster's resources ----------
    def _resources(self) -> tuple[dict[str, float], dict[str, float]]:
        """(total, available) resources of the cluster, refreshed at most once per second."""
        import ray

        at, total, available = self._snapshot
        if time.monotonic() - at > _RESOURCES_TTL:
            total, available = ray.cluster_resources(), ray.available_resources()
            self._snapshot = (time.monotonic(), total, available)
        return total, available

    def resources_left(self) -> Resources:
        """The cluster's CPUs and memory not yet asked for by this server's containers (those
        still waiting for placement count as asked for: Ray's own figures lag behind)."""
        total, _available = self._resources()
        asked_cpu = sum(actor_options(c.spec)["num_cpus"] for c in self._containers.values())
        asked_cpu += DEFAULT_CPU * len(self._pool)
        asked_mb = sum(c.spec.memory_mb for c in self._containers.values())
        return Resources(cpu=total.get("CPU", 0.0) - asked_cpu,
                         memory_mb=int(total.get("memory", 0.0) / (1024 * 1024)) - asked_mb)

    def gpu_fit(self, request: str) -> GpuFit:
        total, available = self._resources()
        return gpu_fit_of(request, total, available)

    def reserve_gpus(self, container_id: str, request: str) -> None:
        """Nothing to hold: Ray accounts GPUs when it places the actor."""

    def release_gpus(self, container_id: str) -> None:
        """Nothing held (see `reserve_gpus`)."""

    def gpu_inventory(self) -> list[GpuInUse]:
        """Every alive node's GPUs (`ray_gpus.ClusterGpus`), each with the container whose actor
        Ray gave it."""
        holders = {(record.node_id, gpu): cid for cid, record in self._containers.items() for gpu in record.gpu_ids}
        return self.cluster_gpus.inventory(holders)

    # ---------- containers ----------
    async def start(self, spec: ContainerSpec, on_log: LogSink, on_exit: ExitCallback, **local_only: Any) -> None:
        """Create the container's actor and return; placement and launch go on in the
        background (a container waiting for room stays STARTING). Options only a local
        runtime has (a sandbox's stdin, raw output, network hook) run it on this host."""
        if local_only:
            await self._local_runtime().start(spec, on_log, on_exit, **local_only)
            return
        cid = spec.container_id
        if cid in self._containers or cid in self._finished:
            raise ValueError(f"container id {cid!r} is already in use")
        actor = self._take_warm(spec)
        pooled = actor is not None
        if actor is None:
            actor = self._new_actor(actor_options(spec), name=f"nodal-{cid}")
        record = _RayContainer(spec=spec, actor=actor, pooled=pooled)
        self._containers[cid] = record
        record.task = asyncio.create_task(self._follow(record, on_log, on_exit), name=f"ray-container-{cid}")

    def _new_actor(self, options: dict[str, Any], name: str | None = None) -> Any:
        """Create a container actor (Ray places and starts it in the background)."""
        extra = {"name": name} if name else {}
        return self._actor_class.options(
            max_restarts=0, max_concurrency=_ACTOR_CONCURRENCY, **extra, **options
        ).remote(str(self.node_scratch), self.layer_cache, self.blob_source, self.layer_cache_bytes)

    def _fill_pool(self) -> None:
        while len(self._pool) < self.warm_actors:
            self._pool.append(self._new_actor({"num_cpus": DEFAULT_CPU}))

    def _take_warm(self, spec: ContainerSpec) -> Any | None:
        """A started actor of the default shape for `spec` (None if it asks for more, or the
        pool is empty); the pool is refilled behind it."""
        if not self._pool or actor_options(spec) != {"num_cpus": DEFAULT_CPU}:
            return None
        actor = self._pool.pop(0)
        self._fill_pool()
        return actor

    async def _follow(self, record: _RayContainer, on_log: LogSink, on_exit: ExitCallback) -> None:
        """Start the container in its actor, relay its output, and report its end exactly once."""
        from ray.exceptions import RayActorError, RayError, RayTaskError

        from nodal.runtime.ray_layers import blob_binds

        cid = record.spec.container_id

        def emit(stream: str, line: str) -> None:
            try:
                on_log(cid, stream, line)
            except Exception:
                log.exception("on_log failed for container %s", cid)

        code = LOST_EXIT_CODE
        try:
            try:
                refs = await self.packer.refs(record.spec.layers) if self.packer is not None else []
                blob_refs = blob_binds(record.spec.binds, self.packer.blobs) if self.packer is not None else []
            except Exception as exc:  # noqa: BLE001 - reported as the container's failure to start
                emit("stderr", f"[nodal] the image's layers could not be shipped to Ray nodes: {exc}")
                code = 1
                raise _StartFailed from None
            try:
                record.node_id, record.gpu_ids = await record.actor.start.remote(record.spec, refs, blob_refs)
            except RayActorError:
                if not record.pooled or record.stopping:
                    raise
                # The warm actor died while it waited (its node went away): a fresh one instead.
                self._kill(record)
                record.actor, record.pooled = self._new_actor(actor_options(record.spec), name=f"nodal-{cid}"), False
                record.node_id, record.gpu_ids = await record.actor.start.remote(record.spec, refs, blob_refs)
            if record.state is ContainerState.STARTING:
                record.state = ContainerState.RUNNING
            while True:
                lines, exit_code = await record.actor.next_output.remote()
                for stream, line in lines:
                    emit(stream, line)
                if exit_code is not None:
                    code = exit_code
                    break
        except _StartFailed:
            pass
        except RayTaskError as exc:  # the launch itself failed on the node
            emit("stderr", f"[nodal] the container could not start on its Ray node: {exc.cause!r}")
            code = 1
        except RayActorError as exc:
            if not record.stopping:
                self._lost.add(cid)
                emit("stderr", f"[nodal] the container's Ray actor died (its node may be gone): {_first_line(exc)}")
        except RayError as exc:
            emit("stderr", f"[nodal] Ray failed for this container: {_first_line(exc)}")
        except asyncio.CancelledError:
            code = LOST_EXIT_CODE
        finally:
            self._kill(record)
            record.exit_code, record.state = code, ContainerState.EXITED
            self._containers.pop(cid, None)
            self._finished[cid] = ContainerStatus(ContainerState.EXITED, code)
            while len(self._finished) > 10_000:
                self._lost.discard(gone := next(iter(self._finished)))
                self._finished.pop(gone)
            record.done.set()
        try:
            result = on_exit(cid, code)
            if inspect.isawaitable(result):
                await result
        except Exception:
            log.exception("on_exit failed for container %s", cid)

    def _kill(self, record: _RayContainer) -> None:
        import ray

        try:
            ray.kill(record.actor, no_restart=True)
        except Exception:  # noqa: BLE001 - already gone
            pass

    async def stop(self, container_id: str, grace_seconds: float = 5.0) -> None:
        """Ask the actor to stop the container (SIGTERM, SIGKILL after the grace), then kill the
        actor; an actor not placed yet is simply killed."""
        if self._local is not None and self._local.status(container_id) is not None:
            await self._local.stop(container_id, grace_seconds)
            return
        record = self._containers.get(container_id)
        if record is None:
            return
        record.stopping = True
        if record.state is ContainerState.RUNNING:
            try:
                await asyncio.wait_for(record.actor.stop.remote(grace_seconds), grace_seconds + 10.0)
                await asyncio.wait_for(record.done.wait(), 10.0)  # its exit code, read by `_follow`
            except Exception:  # noqa: BLE001 - the actor is gone or stuck: killed below
                pass
        self._kill(record)
        try:
            await asyncio.wait_for(record.done.wait(), 30.0)
        except TimeoutError:
            log.warning("container %s did not report its end after its actor was killed", container_id)
            if record.task is not None:
                record.task.cancel()

    def status(self, container_id: str) -> ContainerStatus | None:
        if self._local is not None and (found := self._local.status(container_id)) is not None:
            return found
        record = self._containers.get(container_id)
        if record is not None:
            return ContainerStatus(record.state, record.exit_code)
        return self._finished.get(container_id)

    def was_lost(self, container_id: str) -> bool:
        """Whether the container ended because its Ray actor or node died (not its own exit or a
        stop): a scheduler can retry its inputs instead of treating it as a failed start."""
        return container_id in self._lost

    def node_of(self, container_id: str) -> str:
        """The Ray node id a running container was placed on ("" while it waits)."""
        record = self._containers.get(container_id)
        return record.node_id if record is not None else ""

    async def exec(
        self,
        container_id: str,
        command: list[str],
        *,
        env: dict[str, str] | None = None,
        workdir: str | None = None,
        pty: bool = False,
        pty_size: tuple[int, int] | None = None,
        stdout: int = asyncio.subprocess.PIPE,
        stderr: int = asyncio.subprocess.PIPE,
    ) -> ExecProcess:
        """Start `command` in a running container: on this host for a sandbox, else through the
        container's actor on its node (the process's bytes relayed by `ray_exec.RayExecProcess`).
        ValueError when the container is not running; RuntimeError when its node cannot start it."""
        if self._local is not None and self._local.status(container_id) is not None:
            return await self._local.exec(container_id, command, env=env, workdir=workdir, pty=pty,
                                          pty_size=pty_size, stdout=stdout, stderr=stderr)
        from nodal.runtime.ray_exec import RayExecProcess, next_exec_id

        record = self._containers.get(container_id)
        if record is None or record.state is not ContainerState.RUNNING or record.stopping:
            raise ValueError(f"container {container_id!r} is not running")
        exec_id = next_exec_id()
        with _actor_errors(container_id, "to start the process"):
            pid = await record.actor.exec_start.remote(exec_id, list(command), env, workdir, pty, stdout, stderr,
                                                       pty_size)
        return RayExecProcess(record.actor, exec_id, pid, stdout=stdout == asyncio.subprocess.PIPE,
                              stderr=stderr == asyncio.subprocess.PIPE, pty=pty)

    # ---------- volumes kept on the nodes (nodal.server.volumes.NodeVolumeAgent) ----------
    async def _volume_call(self, container_id: str, method: str, *args: Any) -> Any:
        """Call the container's actor about its volumes. ValueError when the container is not
        there (ended, its node gone); RuntimeError when its node failed at it."""
        record = self._containers.get(container_id)
        if record is None or record.stopping and record.state is not ContainerState.RUNNING:
            raise ValueError(f"container {container_id!r} is not running")
        with _actor_errors(container_id, f"at {method}"):
            return await getattr(record.actor, method).remote(*args)

    async def volume_scan(self, container_id: str, volume_id: str) -> tuple[dict[str, list], list[str]]:
        """The container's changes to the volume on its node (contents put in the blob store there)."""
        return await self._volume_call(container_id, "volume_scan", volume_id)

    async def volume_restore(self, container_id: str, volume_id: str) -> None:
        await self._volume_call(container_id, "volume_restore", volume_id)

    async def volume_sync(self, container_id: str, volume_id: str, manifest: dict[str, list]) -> None:
        """Bring the container's directory of the volume on its node to `manifest`."""
        await self._volume_call(container_id, "volume_sync", volume_id, manifest)

    async def shutdown(self, grace_seconds: float = 5.0) -> None:
        import ray

        self.warm_actors = 0
        for actor in self._pool:
            try:
                ray.kill(actor, no_restart=True)
            except Exception:  # noqa: BLE001 - already gone
                pass
        self._pool.clear()
        await asyncio.gather(*(self.stop(cid, grace_seconds) for cid in list(self._containers)))
        if self._local is not None:
            await self._local.shutdown(grace_seconds)

    # ---------- sandboxes: on this host ----------
    def _local_runtime(self):
        if self._local is None:
            from nodal.runtime.local import LocalRuntime

            self._local = LocalRuntime(self.local_scratch, gpus=self.gpus.devices)
            self._local.gpus = self.gpus
        return self._local

    def __getattr__(self, name: str) -> Any:
        """LocalRuntime-only helpers sandboxes use (stdin_of, init_pid, upper_dir, _running)."""
        if name in ("stdin_of", "init_pid", "upper_dir", "_running"):
            return getattr(self._local_runtime(), name)
        raise AttributeError(name)


class _StartFailed(Exception):
    """The container could not be started (already reported in its log)."""


@contextlib.contextmanager
def _actor_errors(container_id: str, doing: str) -> Iterator[None]:
    """A call to a container's actor failing, as the runtime interface says: ValueError when the
    container is not there (or the actor refused with one), RuntimeError when its node failed."""
    from ray.exceptions import RayActorError, RayError, RayTaskError

    try:
        yield
    except RayTaskError as exc:
        cause = exc.cause
        if isinstance(cause, ValueError):
            raise ValueError(str(cause)) from None
        raise RuntimeError(f"{type(cause).__name__}: {cause}") from None
    except RayActorError:
        raise ValueError(f"container {container_id!r} is not running (its Ray node is gone)") from None
    except RayError as exc:
        raise RuntimeError(f"Ray failed {doing}: {_first_line(exc)}") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def node_local_scratch() -> Path:
    """Where containers on Ray nodes keep their writable layers: NODAL_RAY_SCRATCH, or a
    directory under the node's /tmp (never the server's state directory, which other nodes
    do not have)."""
    return Path(os.environ.get("NODAL_RAY_SCRATCH") or "/tmp/nodal-ray-containers")
