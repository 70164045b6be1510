"""What each running container uses right now: CPU, memory and (when it holds any) GPUs.

Read server-side from the kernel, never from the container:
- memory: the container's cgroup (`memory.current` on cgroup v2, `memory.usage_in_bytes` on
  v1), less the inactive page cache as `docker stats` does, with its limit when one is set;
  containers without a cgroup (no cpu/memory limits asked for) sum their processes' resident
  memory instead;
- CPU: cgroup v2's `cpu.stat` (`usage_usec`); otherwise (v1 puts usage in the separate cpuacct
  hierarchy, where containers get no group) the user+system time of every process in the
  container's pid namespace, children it reaped included. Percent is the rate since the previous
  reading (a page reload, or the live feed's last tick); the first reading shows the average
  over the container's life;
- GPU: `nvidia-smi` for the devices the runtime assigned to the container (utilisation, memory).

Only the local runtime keeps these handles (`LocalRuntime`); containers of other backends show
no figures. `snapshot()` does blocking file reads (and maybe a subprocess): call it in a thread,
with the `Probe`s taken on the event loop by `probes()`.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from nodal.runtime.gpus import find_driver_tool

CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
MAX_RATE_WINDOW = 120.0  # seconds: an older previous reading gives a lifetime average instead
GPU_CACHE_SECONDS = 2.0
GPU_QUERY = "index,utilization.gpu,memory.used,memory.total"
_UNLIMITED = 1 << 60  # cgroup v1 reports "no limit" as a huge number


@dataclass(frozen=True)
class Probe:
    """Where to read one container's figures (taken on the event loop; read in a thread)."""

    container_id: str
    cgroup_dirs: tuple[Path, ...]
    init_pid: int | None
    started_at: float  # monotonic
    gpu_indices: tuple[int, ...] = ()


@dataclass
class Usage:
    """One container's figures; None where it could not be measured."""

    cpu_seconds: float | None = None
    cpu_percent: float | None = None
    cpu_window: str = ""  # "now" (since the previous reading) or "average" (over its life)
    memory_bytes: int | None = None
    memory_limit_bytes: int | None = None
    source: str = ""  # "cgroup", "processes" or "" (nothing to read)
    gpus: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"cpu_seconds": self.cpu_seconds, "cpu_percent": self.cpu_percent, "cpu_window": self.cpu_window,
                "memory_bytes": self.memory_bytes, "memory_limit_bytes": self.memory_limit_bytes,
                "source": self.source, "gpus": self.gpus}


def probes(runtime, containers: list[tuple[str, float]]) -> list[Probe]:
    """Probes for (container id, monotonic start time) pairs, from the local runtime's records."""
    running = getattr(runtime, "_running", None)
    holders: dict[str, list[int]] = {}
    try:
        for used in runtime.gpu_inventory():
            if used.container_id:
                holders.setdefault(used.container_id, []).append(used.device.index)
    except Exception:  # noqa: BLE001 - a backend without GPU bookkeeping: no GPU figures
        holders = {}
    out = []
    for cid, started_at in containers:
        entry = running.get(cid) if isinstance(running, dict) else None
        launched = getattr(entry, "container", None)
        cgroup = getattr(launched, "cgroup", None)
        dirs = tuple(getattr(cgroup, "dirs", ()) or ())
        out.append(Probe(cid, dirs, getattr(launched, "init_pid", None), started_at,
                         tuple(sorted(holders.get(cid, ())))))
    return out


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def _stat_value(text: str | None, key: str) -> int | None:
    for line in (text or "").splitlines():
        name, _, value = line.partition(" ")
        if name == key and value.strip().isdigit():
            return int(value)
    return None


def cgroup_memory(dirs: tuple[Path, ...]) -> tuple[int | None, int | None]:
    """(bytes in use less inactive page cache, limit or None) from a container's cgroup dirs."""
    for d in dirs:
        current = _read(d / "memory.current")
        if current is not None and current.strip().isdigit():  # cgroup v2
            stat = _read(d / "memory.stat")
            used = int(current) - (_stat_value(stat, "inactive_file") or 0)
            raw = (_read(d / "memory.max") or "").strip()
            return max(0, used), int(raw) if raw.isdigit() else None
        usage = _read(d / "memory.usage_in_bytes")
        if usage is not None and usage.strip().isdigit():  # cgroup v1
            stat = _read(d / "memory.stat")
            used = int(usage) - (_stat_value(stat, "total_inactive_file") or _stat_value(stat, "inactive_file") or 0)
            raw = (_read(d / "memory.limit_in_bytes") or "").strip()
            limit = int(raw) if raw.isdigit() and int(raw) < _UNLIMITED else None
            return max(0, used), limit
    return None, None


def cgroup_cpu_seconds(dirs: tuple[Path, ...]) -> float | None:
    """CPU time the cgroup used (cgroup v2 `cpu.stat`; v1's cpu hierarchy has no usage)."""
    for d in dirs:
        usec = _stat_value(_read(d / "cpu.stat"), "usage_usec")
        if usec is not None:
            return usec / 1e6
    return None


def namespace_members(init_pids: set[int]) -> dict[int, list[int]]:
    """init pid -> every host pid in that pid namespace (one scan of /proc for all containers)."""
    by_ns: dict[str, int] = {}
    for pid in init_pids:
        try:
            by_ns[os.readlink(f"/proc/{pid}/ns/pid")] = pid
        except OSError:
            continue
    found: dict[int, list[int]] = {pid: [] for pid in by_ns.values()}
    if not by_ns:
        return found
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            ns = os.readlink(f"/proc/{entry}/ns/pid")
        except OSError:
            continue
        owner = by_ns.get(ns)
        if owner is not None:
            found[owner].append(int(entry))
    return found


def process_cpu_seconds(pids: list[int]) -> float | None:
    """user+system time of these processes and of the children they reaped."""
    total, seen = 0, False
    for pid in pids:
        text = _read(Path(f"/proc/{pid}/stat"))
        if text is None:
            continue
        fields = text.rpartition(")")[2].split()  # after "(comm)", which may hold spaces
        try:
            total += sum(int(v) for v in fields[11:15])  # utime stime cutime cstime
            seen = True
        except (ValueError, IndexError):
            continue
    return total / CLOCK_TICKS if seen else None


def process_memory_bytes(pids: list[int]) -> int | None:
    """Resident memory of these processes (shared pages counted once per process)."""
    total, seen = 0, False
    for pid in pids:
        text = _read(Path(f"/proc/{pid}/statm"))
        if text is None:
            continue
        parts = text.split()
        if len(parts) > 1 and parts[1].isdigit():
            total += int(parts[1]) * PAGE_SIZE
            seen = True
    return total if seen else None


def parse_gpu_usage(csv_text: str) -> dict[int, dict]:
    """nvidia-smi's `--query-gpu=index,utilization.gpu,memory.used,memory.total` (csv, no units)."""
    out: dict[int, dict] = {}
    for line in csv_text.splitlines():
        fields = [f.strip() for f in line.split(",")]
        if len(fields) < 4 or not fields[0].isdigit():
            continue

        def num(v: str) -> int | None:
            return int(float(v)) if v.replace(".", "", 1).isdigit() else None  # "[N/A]" -> None

        out[int(fields[0])] = {"index": int(fields[0]), "utilization_percent": num(fields[1]),
                               "memory_used_mb": num(fields[2]), "memory_total_mb": num(fields[3])}
    return out


class UsageSampler:
    """Reads containers' figures and remembers the previous CPU reading of each for rates."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._previous: dict[str, tuple[float, float]] = {}  # container id -> (monotonic, cpu seconds)
        self._gpu_cache: tuple[float, dict[int, dict]] = (0.0, {})

    def _gpu_usage(self) -> dict[int, dict]:
        at, cached = self._gpu_cache
        if time.monotonic() - at < GPU_CACHE_SECONDS:
            return cached
        smi = find_driver_tool("nvidia-smi")
        found: dict[int, dict] = {}
        if smi is not None:
            try:
                result = subprocess.run([smi, f"--query-gpu={GPU_QUERY}", "--format=csv,noheader,nounits"],
                                        capture_output=True, text=True, timeout=5, check=False)
                if result.returncode == 0:
                    found = parse_gpu_usage(result.stdout)
            except (OSError, subprocess.TimeoutExpired):
                pass
        self._gpu_cache = (time.monotonic(), found)
        return found

    def snapshot(self, probes: list[Probe]) -> dict[str, Usage]:
        """Figures for each probe (blocking reads: run in a thread)."""
        now = time.monotonic()
        need_pids = {p.init_pid for p in probes if p.init_pid and (not p.cgroup_dirs or
                                                                  cgroup_cpu_seconds(p.cgroup_dirs) is None)}
        members = namespace_members(need_pids) if need_pids else {}
        gpu = self._gpu_usage() if any(p.gpu_indices for p in probes) else {}
        out: dict[str, Usage] = {}
        with self._lock:
            for p in probes:
                u = Usage()
                pids = members.get(p.init_pid or -1, [])
                if p.cgroup_dirs:
                    u.memory_bytes, u.memory_limit_bytes = cgroup_memory(p.cgroup_dirs)
                    u.cpu_seconds = cgroup_cpu_seconds(p.cgroup_dirs)
                    u.source = "cgroup" if u.memory_bytes is not None or u.cpu_seconds is not None else ""
                if u.memory_bytes is None and pids:
                    u.memory_bytes = process_memory_bytes(pids)
                if u.cpu_seconds is None and pids:
                    u.cpu_seconds = process_cpu_seconds(pids)
                if not u.source and (u.memory_bytes is not None or u.cpu_seconds is not None):
                    u.source = "processes"
                if u.cpu_seconds is not None:
                    prev = self._previous.get(p.container_id)
                    if prev is not None and 0.5 <= now - prev[0] <= MAX_RATE_WINDOW and u.cpu_seconds >= prev[1]:
                        u.cpu_percent = 100.0 * (u.cpu_seconds - prev[1]) / (now - prev[0])
                        u.cpu_window = "now"
                    elif now - p.started_at > 0.5:
                        u.cpu_percent = 100.0 * u.cpu_seconds / (now - p.started_at)
                        u.cpu_window = "average"
                    if prev is None or now - prev[0] >= 0.5:
                        self._previous[p.container_id] = (now, u.cpu_seconds)
                u.gpus = [gpu.get(i) or {"index": i, "utilization_percent": None, "memory_used_mb": None,
                                         "memory_total_mb": None} for i in p.gpu_indices]
                out[p.container_id] = u
            live = {p.container_id for p in probes}
            if len(self._previous) > 4 * max(1, len(live)) + 100:  # forget containers that are gone
                self._previous = {k: v for k, v in self._previous.items() if k in live}
        return out
