"""CPU and memory caps for containers through cgroups, where the host allows it.

cgroup v2 (a unified hierarchy with the cpu and memory controllers): a
`nodal` group under the root, one child per container, `cpu.max` and
`memory.max`. cgroup v1 (or hybrid hosts whose controllers are still on v1):
a `nodal` group under this process's own group in the cpu and memory
hierarchies, `cpu.cfs_quota_us` and `memory.limit_in_bytes`. If neither is
writable, limits are skipped with one log line; containers still run.

The launcher moves the container's first process into the group before it
execs bubblewrap, so every process of the container is accounted.
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

CGROUP_ROOT = Path("/sys/fs/cgroup")
CFS_PERIOD_US = 100_000


@dataclass
class Cgroup:
    """One container's group(s): `procs_files` are where its first pid is written."""

    dirs: list[Path]
    procs_files: list[Path]

    async def remove(self, timeout: float = 2.0) -> None:
        """Remove the group(s); retried briefly while the last processes are being reaped."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        for d in self.dirs:
            while True:
                try:
                    os.rmdir(d)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    if loop.time() > deadline:
                        log.warning("could not remove cgroup %s (still busy)", d)
                        break
                    await asyncio.sleep(0.01)


def _write(path: Path, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)


def _v1_mounts() -> dict[str, tuple[Path, str]]:
    """controller -> (mount point, root of the mount inside the hierarchy) for v1 cpu/memory."""
    found: dict[str, tuple[Path, str]] = {}
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            fields, rfields = left.split(), right.split()
            if len(rfields) < 3 or rfields[0] != "cgroup":
                continue
            options = set(rfields[2].split(","))
            for controller in ("cpu", "memory", "pids"):
                if controller in options:
                    found[controller] = (Path(fields[4]), fields[3])
    return found


def _own_v1_paths() -> dict[str, str]:
    paths: dict[str, str] = {}
    with open("/proc/self/cgroup") as f:
        for line in f:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            for c in controllers.split(","):
                paths[c] = path
    return paths


class CgroupManager:
    """Creates per-container groups under a `nodal` parent; detects what the host allows once."""

    def __init__(self, root: Path = CGROUP_ROOT) -> None:
        self.root = root
        self._mode: str | None = None  # "v2", "v1" or "none"
        self._bases: dict[str, Path] = {}

    def _detect(self) -> str:
        if self._mode is not None:
            return self._mode
        self._mode = "none"
        reason = ""
        try:
            if self._setup_v2():
                self._mode = "v2"
            elif self._setup_v1():
                self._mode = "v1"
            else:
                reason = "no writable cgroup hierarchy with the cpu and memory controllers"
        except OSError as e:
            reason = str(e)
        if self._mode == "none":
            log.info("cgroup limits disabled: %s; containers run without cpu/memory caps", reason)
        return self._mode

    def _setup_v2(self) -> bool:
        controllers_file = self.root / "cgroup.controllers"
        if not controllers_file.exists():
            return False
        if not {"cpu", "memory"} <= set(controllers_file.read_text().split()):
            return False
        base = self.root / "nodal"
        _write(self.root / "cgroup.subtree_control", "+cpu +memory")
        base.mkdir(exist_ok=True)
        _write(base / "cgroup.subtree_control", "+cpu +memory")
        if "pids" in controllers_file.read_text().split():  # optional: process-count caps
            try:
                _write(self.root / "cgroup.subtree_control", "+pids")
                _write(base / "cgroup.subtree_control", "+pids")
            except OSError as e:
                log.info("pids cgroup controller unavailable: %s", e)
        self._bases = {"v2": base}
        return True

    def _setup_v1(self) -> bool:
        mounts, own = _v1_mounts(), _own_v1_paths()
        if not {"cpu", "memory"} <= mounts.keys():
            return False
        for controller in ("cpu", "memory"):
            mount, mount_root = mounts[controller]
            rel = os.path.relpath(own.get(controller, "/"), mount_root)
            base = (mount if rel.startswith("..") else mount / rel) / "nodal"
            base.mkdir(exist_ok=True)
            self._bases[controller] = base
        if "pids" in mounts:  # optional: process-count caps (sandboxes' fork-bomb guard)
            mount, mount_root = mounts["pids"]
            rel = os.path.relpath(own.get("pids", "/"), mount_root)
            base = (mount if rel.startswith("..") else mount / rel) / "nodal"
            try:
                base.mkdir(exist_ok=True)
                self._bases["pids"] = base
            except OSError as e:
                log.info("pids cgroup unavailable: %s", e)
        return True

    @property
    def available(self) -> bool:
        return self._detect() != "none"

    def create(self, name: str, cpu_limit: float, memory_limit_mb: int, pids_limit: int = 0) -> Cgroup | None:
        """A group for container `name` with the given caps (0 = none), or None if cgroups are off.

        `pids_limit` caps the number of processes (where the pids controller is available)."""
        if (cpu_limit <= 0 and memory_limit_mb <= 0 and pids_limit <= 0) or not self.available:
            return None
        try:
            group = (
                self._create_v2(name, cpu_limit, memory_limit_mb)
                if self._mode == "v2"
                else self._create_v1(name, cpu_limit, memory_limit_mb)
            )
        except OSError as e:
            log.warning("could not create cgroup for %s: %s; running it without limits", name, e)
            return None
        if pids_limit > 0:
            self._limit_pids(group, name, pids_limit)
        return group

    def _limit_pids(self, group: Cgroup, name: str, pids_limit: int) -> None:
        try:
            if self._mode == "v2":
                if (group.dirs[0] / "pids.max").exists():
                    _write(group.dirs[0] / "pids.max", str(pids_limit))
                return
            base = self._bases.get("pids")
            if base is None:
                return
            d = base / name
            d.mkdir(exist_ok=True)
            _write(d / "pids.max", str(pids_limit))
            group.dirs.append(d)
            group.procs_files.append(d / "cgroup.procs")
        except OSError as e:
            log.warning("could not cap the process count of %s: %s", name, e)

    def _create_v2(self, name: str, cpu_limit: float, memory_limit_mb: int) -> Cgroup:
        d = self._bases["v2"] / name
        d.mkdir(exist_ok=True)
        if cpu_limit > 0:
            _write(d / "cpu.max", f"{max(1000, int(cpu_limit * CFS_PERIOD_US))} {CFS_PERIOD_US}")
        if memory_limit_mb > 0:
            _write(d / "memory.max", str(memory_limit_mb * 1024 * 1024))
            if (d / "memory.swap.max").exists():
                _write(d / "memory.swap.max", "0")
        return Cgroup(dirs=[d], procs_files=[d / "cgroup.procs"])

    def _create_v1(self, name: str, cpu_limit: float, memory_limit_mb: int) -> Cgroup:
        cpu_dir, mem_dir = self._bases["cpu"] / name, self._bases["memory"] / name
        cpu_dir.mkdir(exist_ok=True)
        mem_dir.mkdir(exist_ok=True)
        if cpu_limit > 0:
            _write(cpu_dir / "cpu.cfs_period_us", str(CFS_PERIOD_US))
            _write(cpu_dir / "cpu.cfs_quota_us", str(max(1000, int(cpu_limit * CFS_PERIOD_US))))
        if memory_limit_mb > 0:
            _write(mem_dir / "memory.limit_in_bytes", str(memory_limit_mb * 1024 * 1024))
            memsw = mem_dir / "memory.memsw.limit_in_bytes"
            if memsw.exists():
                try:
                    _write(memsw, str(memory_limit_mb * 1024 * 1024))
                except OSError:
                    pass
        return Cgroup(
            dirs=[cpu_dir, mem_dir], procs_files=[cpu_dir / "cgroup.procs", mem_dir / "cgroup.procs"]
        )
