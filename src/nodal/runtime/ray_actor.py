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

Exec (`modal container exec`, `modal shell <container>`) runs through the actor too: the
local runtime on the node enters the container (`exec_start`), and the server moves the
process's bytes with `exec_read` (a long poll of output chunks, then the exit code),
`exec_write`/`exec_close_stdin`, `exec_signal` and `exec_resize` (see `ray_exec.py`).

`block_network=True`: the container's network namespace keeps only its loopback, plus one
listener the actor opens inside it at the server's own address (`ray_confine.py`), relayed to
the server. The container reaches the Nodal server (TLS end to end, the same URL as any
container on a Ray node) and nothing else.

Volumes (`node_volumes.py`): the spec's `node_volumes` are written into directories on the
node (their files fetched from the blob store by sha256) and bound at their mount paths;
the server commits and reloads them with `volume_scan`/`volume_restore`/`volume_sync`. The
directories are removed when the container ends, before its exit code is reported.

The node's layer cache is shared by every actor on the node: the layers and blobs a container
uses are leased (`ray_node_cache.CacheLease`, a shared flock each) from before they are looked for
until the container has ended (or its actor died), and the cache is kept within the server's
`ray_layer_cache_gb` budget (`ray_cache_gc.collect`) before a start fetches and after it started.

This module imports Ray lazily, so the server and the pure-logic tests need not load it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
from collections import deque
from pathlib import Path

from nodal.runtime.backend import ContainerSpec
from nodal.runtime.ray_exec import ActorExecs

MAX_BUFFERED_LINES = 10_000  # log lines kept between two polls; older ones are dropped
POLL_SECONDS = 5.0  # a poll with nothing to report returns after this long


class ContainerActor:
    """One container on the node this actor was placed on."""

    def __init__(self, scratch_root: str, layer_cache: str = "", blob_source=None, cache_budget: int = 0) -> None:
        """`layer_cache`: where this node keeps image layers (`ray_node_cache.NodeLayerCache`, one
        directory per node under it); `blob_source`: how it reads the server's blob store;
        `cache_budget`: bytes the node's cache may hold (0: unbounded, `ray_cache_gc.collect`)."""
        from nodal.runtime.local import LocalRuntime

        self.scratch_root = Path(scratch_root)
        self.layer_cache = layer_cache
        self.blob_source = blob_source
        self.cache_budget = cache_budget
        self.cache = None  # ray_node_cache.NodeLayerCache: the cache entries this container uses, leased
        self._collecting: asyncio.Task | None = None
        self.runtime: LocalRuntime | None = None
        self._make_runtime = lambda gpus: LocalRuntime(self.scratch_root, gpus=gpus)
        self.lines: deque[tuple[str, str]] = deque()
        self.dropped = 0
        self.exit_code: int | None = None
        self.changed: asyncio.Event | None = None
        self.container_id = ""
        self.execs: ActorExecs | None = None
        self.confinement = None  # ray_confine.Confinement of a block_network container
        self.volumes = None  # node_volumes.NodeVolumes of a container that mounts volumes

    def _gpus(self, spec: ContainerSpec):
        """The GPUs Ray assigned to this actor (only those: other actors own the rest)."""
        if not spec.gpu:
            return []
        import ray

        from nodal.runtime.gpus import discover_gpus

        assigned = {str(i) for i in ray.get_gpu_ids()}
        devices = [d for d in discover_gpus() if str(d.index) in assigned or d.uuid in assigned]
        if len(devices) < len(assigned):
            from nodal.runtime.gpus import GpuUnavailable

            raise GpuUnavailable(
                f"Ray gave this container GPU {', '.join(sorted(assigned))} on node "
                f"{ray.get_runtime_context().get_node_id()[:8]}, but nvidia-smi there lists "
                f"{len(devices) or 'none'} of them: the node declares GPUs to Ray (--num-gpus) that its NVIDIA "
                "driver does not show")
        return devices

    async def start(self, spec: ContainerSpec, layer_refs: list | tuple = (),
                    blob_refs: list | tuple = ()) -> tuple[str, list[str]]:
        """Launch the container; returns the id of the Ray node it runs on and the ids of the
        GPUs Ray gave it there (`ray.get_gpu_ids()`: indexes or uuids). `layer_refs`: the
        spec's layers to take from this node's layer cache, fetched from the blob store by
        their content identity first when the node lacks them; `blob_refs`: (index, sha256) of
        binds to take from the node's blob cache the same way (`ray_layers.py`)."""
        import ray

        node_id = ray.get_runtime_context().get_node_id()
        try:
            await self._start(spec, node_id, layer_refs, blob_refs)
            return node_id, [str(i) for i in ray.get_gpu_ids()] if spec.gpu else []
        except BaseException:
            if self.cache is not None:  # what it leased may be collected
                cache, self.cache = self.cache, None
                cache.release()
            raise

    async def _start(self, spec: ContainerSpec, node_id: str, layer_refs, blob_refs) -> None:
        if layer_refs or blob_refs or spec.node_volumes:
            from nodal.runtime.backend import Bind
            from nodal.runtime.ray_cache_gc import collect
            from nodal.runtime.ray_layers import LayerShippingError
            from nodal.runtime.ray_node_cache import NodeLayerCache, node_layer_cache_root

            if self.blob_source is None:
                raise LayerShippingError("this server gave its Ray nodes no blob store to fetch from")
            cache = self.cache = NodeLayerCache(node_layer_cache_root(self.layer_cache, node_id), self.blob_source)
            layers, binds = list(spec.layers), list(spec.binds)
            for ref in layer_refs:  # leased before looked for: no collection removes them from here on
                await asyncio.to_thread(cache.lease.hold, "layer", ref.sha256)
            missing = cache.missing_bytes(list(layer_refs))
            if self.cache_budget and missing:  # room for what this start fetches
                await asyncio.to_thread(collect, cache.root, self.cache_budget, missing)
            for ref in layer_refs:
                layers[ref.index] = await asyncio.to_thread(cache.ensure, ref)
            for index, sha in blob_refs:
                path = await asyncio.to_thread(cache.blob, sha)
                binds[index] = Bind(path, binds[index].dest, read_only=True)
            if spec.node_volumes:
                from nodal.runtime.node_volumes import NodeVolumes, sweep_stale

                await asyncio.to_thread(sweep_stale, cache.root)  # of containers whose actor died
                self.volumes = NodeVolumes(cache.root, spec.container_id, await asyncio.to_thread(cache.store))
                try:
                    binds += await asyncio.to_thread(self.volumes.materialise, list(spec.node_volumes))
                except BaseException:
                    volumes, self.volumes = self.volumes, None
                    await asyncio.to_thread(volumes.remove)
                    raise
            spec = dataclasses.replace(spec, layers=layers, binds=binds)
        self.changed = asyncio.Event()
        self.container_id = spec.container_id
        self.runtime = self._make_runtime(self._gpus(spec))
        self.execs = ActorExecs(self.runtime, spec.container_id)
        spec = dataclasses.replace(spec, env={**spec.env, "NODAL_NODE_ID": node_id})
        if spec.block_network:
            from nodal.runtime.network import slirp4netns_path
            from nodal.runtime.ray_confine import Confinement, ConfinementError

            if slirp4netns_path() is None:  # without it the launcher would fall back to the host's network
                raise ConfinementError("block_network on a Ray node needs slirp4netns installed on the node")
            # The launcher's own block_network would cut the container off from the server too:
            # it starts with a NAT namespace that `confine` takes down before its command runs.
            self.confinement = Confinement.for_spec(spec, lambda: self.runtime.upper_dir(spec.container_id))
        try:
            if spec.block_network:
                await self.runtime.start(dataclasses.replace(spec, block_network=False), self._on_log,
                                         self._on_exit, on_network=self.confinement.confine)
            else:
                await self.runtime.start(spec, self._on_log, self._on_exit)
        except BaseException:
            if self.volumes is not None:
                volumes, self.volumes = self.volumes, None
                await asyncio.to_thread(volumes.remove)
            raise
        if self.cache is not None:  # back within budget (what it fetched counts now), leftovers removed
            self._collecting = asyncio.create_task(self._collect(self.cache.root))

    async def _collect(self, root: Path) -> None:
        """Keep the node's cache within its budget and remove leftovers nothing uses (in the
        background: the start does not wait)."""
        import ray

        from nodal.runtime.ray_cache_gc import collect, sweep_departed_nodes

        try:
            await asyncio.to_thread(collect, root, self.cache_budget)
            alive = {n["NodeID"] for n in await asyncio.to_thread(ray.nodes) if n.get("Alive")}
            if any(node_id.startswith(root.name) for node_id in alive):  # the list knows this node: sane
                await asyncio.to_thread(sweep_departed_nodes, root.parent, alive)
        except Exception:  # noqa: BLE001 - the container runs on; the next start collects again
            logging.getLogger(__name__).exception("collecting the node's layer cache %s failed", root)

    def _on_log(self, _cid: str, stream: str, line: str) -> None:
        if len(self.lines) >= MAX_BUFFERED_LINES:
            self.lines.popleft()
            self.dropped += 1
        self.lines.append((stream, line))
        assert self.changed is not None
        self.changed.set()

    async def _on_exit(self, _cid: str, code: int) -> None:
        if self.confinement is not None:
            self.confinement.close()
        if self.volumes is not None:  # committed by the worker at exit; the server learns of the end after
            volumes, self.volumes = self.volumes, None
            await asyncio.to_thread(volumes.remove)
        if self.cache is not None:  # its layers and blobs are no longer in use (its mounts are gone)
            cache, self.cache = self.cache, None
            cache.release()
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

    # ---------- exec into the container (see ray_exec.py) ----------
    async def exec_start(self, exec_id: int, command: list[str], env: dict[str, str] | None, workdir: str | None,
                         pty: bool, stdout: int, stderr: int, pty_size: tuple[int, int] | None = None) -> int:
        """Start `command` in the container (on a terminal of `pty_size` when `pty`); its pid on this node."""
        if self.execs is None:
            raise ValueError(f"container {self.container_id!r} is not running")
        return await self.execs.start(exec_id, command, env=env, workdir=workdir, pty=pty, pty_size=pty_size,
                                      stdout=stdout, stderr=stderr)

    async def exec_read(self, exec_id: int) -> tuple[list[tuple[int, bytes]], int | None]:
        """(output chunks as (fd, bytes) since the last call, the exit code once all is sent)."""
        assert self.execs is not None
        return await self.execs.read(exec_id)

    async def exec_write(self, exec_id: int, data: bytes) -> None:
        assert self.execs is not None
        await self.execs.write(exec_id, data)

    async def exec_close_stdin(self, exec_id: int) -> None:
        assert self.execs is not None
        self.execs.close_stdin(exec_id)

    async def exec_signal(self, exec_id: int, sig: int) -> None:
        assert self.execs is not None
        self.execs.signal(exec_id, sig)

    async def exec_resize(self, exec_id: int, rows: int, cols: int) -> None:
        assert self.execs is not None
        self.execs.resize(exec_id, rows, cols)

    # ---------- the container's volumes (see node_volumes.py) ----------
    def _volumes(self):
        if self.volumes is None:
            raise ValueError(f"container {self.container_id!r} has no volumes mounted on this node (it has ended?)")
        return self.volumes

    async def volume_scan(self, volume_id: str) -> tuple[dict[str, list], list[str]]:
        """(changed files, deleted paths) of the volume's directory, the contents uploaded."""
        return await asyncio.to_thread(self._volumes().scan, volume_id)

    async def volume_restore(self, volume_id: str) -> None:
        self._volumes().restore(volume_id)

    async def volume_sync(self, volume_id: str, manifest: dict[str, list]) -> None:
        """Bring the volume's directory to `manifest` (a reload)."""
        await asyncio.to_thread(self._volumes().sync, volume_id, manifest)

    def pid(self) -> int:
        """The actor's process id (tests use it to check nothing outlives a node)."""
        return os.getpid()
