"""The GPUs of a Ray cluster as `modal gpu list` and the dashboard show them: node by node,
each with the container holding it.

Ray counts GPUs and places actors on them; what each GPU is comes from the node itself: a
small Ray task pinned to each node that has GPUs runs `nvidia-smi` there (`discover_gpus`),
once per node while it stays in the cluster. Until that answer comes, and for a node whose
GPUs the driver does not list (GPUs declared to Ray by hand), the node's entries are what
Ray says: its `GPU` count and its `accelerator_type:*` resource. Holders come from the GPU
ids Ray gave each container's actor (`ContainerActor.start` returns them).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from nodal.runtime.backend import GpuInUse
from nodal.runtime.gpus import GpuDevice, discover_gpus

log = logging.getLogger(__name__)

NODES_TTL = 2.0  # seconds a read of the cluster's node list is reused
PROBE_TIMEOUT = 60.0  # a node's discovery task (placed, started and run); retried on the next listing
_ACCELERATOR = "accelerator_type:"
# Ray's accelerator type names → Nodal's canonical GPU types, where they differ.
_FROM_RAY = {"A100-80G": "A100-80GB", "A100-40G": "A100-40GB"}


def node_label(node: dict[str, Any]) -> str:
    """How a Ray node appears in listings: its address and the start of its id."""
    return f"{node.get('NodeManagerAddress', '?')} ({str(node.get('NodeID', ''))[:8]})"


def declared_gpus(resources: dict[str, float]) -> list[GpuDevice]:
    """A node's GPUs as Ray knows them: `GPU` of them, of its `accelerator_type:*` (when it has
    one), with no uuid or memory figure (Ray has neither)."""
    count = int(resources.get("GPU", 0))
    types = [key[len(_ACCELERATOR):] for key in resources if key.startswith(_ACCELERATOR)]
    name = _FROM_RAY.get(types[0], types[0]) if len(types) == 1 else "GPU (type not reported)"
    return [GpuDevice(index=i, name=name, uuid="", memory_mb=0, minor=i) for i in range(count)]


def node_entries(node: dict[str, Any], devices: list[GpuDevice],
                 holders: dict[tuple[str, str], str]) -> list[GpuInUse]:
    """One node's GPUs, each with its holder: the container whose actor Ray gave it (Ray's GPU
    id is the device's index on the node, or its uuid where CUDA_VISIBLE_DEVICES names uuids)."""
    node_id, label = node["NodeID"], node_label(node)
    return [GpuInUse(label, d, holders.get((node_id, str(d.index))) or holders.get((node_id, d.uuid)))
            for d in devices]


def _discover_here() -> list[GpuDevice]:
    return discover_gpus()


class ClusterGpus:
    """Each alive node's GPUs and their holders. Called on the server's event loop."""

    def __init__(self) -> None:
        self._nodes: list[dict[str, Any]] = []
        self._nodes_at = float("-inf")
        self._found: dict[str, list[GpuDevice]] = {}  # node id → what nvidia-smi there listed
        self._probes: dict[str, asyncio.Task] = {}
        self._task: Any = None  # the Ray remote function, made on first use

    def inventory(self, holders: dict[tuple[str, str], str]) -> list[GpuInUse]:
        """Every GPU of every alive node. `holders`: (node id, Ray GPU id) → container id; a
        Ray GPU id is the device's index (or uuid) on its node."""
        listed = []
        for node in self._gpu_nodes():
            node_id = node["NodeID"]
            devices = self._found.get(node_id) or declared_gpus(node.get("Resources", {}))
            if node_id not in self._found:
                self._probe(node_id)
            listed += node_entries(node, devices, holders)
        return listed

    def _gpu_nodes(self) -> list[dict[str, Any]]:
        """The alive nodes that have GPUs (Ray's node list, re-read after `NODES_TTL`)."""
        if time.monotonic() - self._nodes_at > NODES_TTL:
            import ray

            self._nodes = [n for n in ray.nodes() if n.get("Alive") and n.get("Resources", {}).get("GPU", 0) > 0]
            self._nodes_at = time.monotonic()
            alive = {n["NodeID"] for n in self._nodes}
            for gone in set(self._found) - alive:  # a node that comes back is asked again
                self._found.pop(gone)
        return self._nodes

    def _probe(self, node_id: str) -> None:
        """Ask the node what its GPUs are, in the background (one question at a time per node)."""
        running = self._probes.get(node_id)
        if running is not None and not running.done():
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # listed from a thread: the next listing on the loop asks
            return
        self._probes[node_id] = loop.create_task(self._ask(node_id), name=f"gpus-of-{node_id[:8]}")

    async def _ask(self, node_id: str) -> None:
        import ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        if self._task is None:
            self._task = ray.remote(_discover_here)
        ref = self._task.options(
            num_cpus=0, scheduling_strategy=NodeAffinitySchedulingStrategy(node_id, soft=False)
        ).remote()
        try:
            devices = await asyncio.wait_for(asyncio.wrap_future(ref.future()), PROBE_TIMEOUT)
        except Exception as exc:  # noqa: BLE001 - the node stays listed as Ray declares it
            log.warning("could not list the GPUs of Ray node %s: %s", node_id[:8], exc)
            try:
                ray.cancel(ref, force=True)
            except Exception:  # noqa: BLE001 - done or gone already
                pass
            return
        self._found[node_id] = list(devices)
