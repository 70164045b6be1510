"""GPUs on this node: what there is (inventory), who holds which (allocation), and how a
container gets exactly its own (device nodes, driver libraries, `CUDA_VISIBLE_DEVICES`).

Inventory comes from `nvidia-smi` (the driver's own tool, present wherever the driver is),
read once when the runtime starts. Requests are the canonical strings `modal._validation`
makes from `gpu=`: `"H100"`, `"H100:2"`, or a preference list `"H100,A100-80GB:2"`.
Allocation is whole GPUs, exclusive per container, returned when the container ends.

Inside a container the assigned GPUs' `/dev/nvidiaN` nodes, the control nodes, and the
driver's user-space libraries are bound in, as the NVIDIA container toolkit does, so CUDA
works in any image; the libraries land in `DRIVER_LIB_DIR`, put on `LD_LIBRARY_PATH`.
"""

from __future__ import annotations

import enum
import functools
import logging
import os
import platform
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from nodal.runtime.backend import Bind

log = logging.getLogger(__name__)

DRIVER_LIB_DIR = "/opt/nodal/nvidia/lib"
DRIVER_BIN_DIR = "/opt/nodal/nvidia/bin"
# Where nvidia-smi lives besides PATH: driver installs that keep it out of /usr/bin.
_EXTRA_BIN_DIRS = ("/usr/local/nvidia/bin", "/usr/lib/nvidia/bin")
_CONTROL_NODES = ("/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools", "/dev/nvidia-modeset")
_CAPS_DIR = "/dev/nvidia-caps"
# The driver's compute and utility libraries (the container toolkit's "compute,utility" set).
_DRIVER_LIBS = (
    "libcuda", "libcudadebugger", "libnvidia-ml", "libnvidia-cfg", "libnvidia-ptxjitcompiler",
    "libnvidia-nvvm", "libnvidia-gpucomp", "libnvidia-allocator", "libnvidia-opencl",
    "libnvidia-pkcs11", "libnvidia-pkcs11-openssl3", "libnvidia-fatbinaryloader", "libnvidia-compiler",
)
_DRIVER_BINS = ("nvidia-smi", "nvidia-debugdump")
_QUERY = "index,name,uuid,memory.total,pci.bus_id"

# Device names as nvidia-smi reports them → the canonical types of `modal.gpu`.
_NAME_TYPES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(p, re.IGNORECASE), t)
    for p, t in (
        (r"\bB200\b", "B200"),
        (r"\bH200\b", "H200"),
        (r"\bH100\b", "H100"),
        (r"\bA100\b.*\b80\s*GB\b", "A100-80GB"),
        (r"\bA100\b", "A100-40GB"),
        (r"\bL40S\b", "L40S"),
        (r"\bA10G?\b", "A10G"),
        (r"\bL4\b", "L4"),
        (r"\bT4\b", "T4"),
    )
)
# A request for the key type may also be served by these (Modal upgrades A100 40GB to 80GB).
_UPGRADES = {"A100-40GB": ("A100-40GB", "A100-80GB")}


def gpu_type_of(device_name: str) -> str:
    """The canonical type of a device name ("NVIDIA H100 80GB HBM3" → "H100"); the name
    itself, upper-cased, when it is none of the documented types (usable through "any")."""
    for pattern, gpu_type in _NAME_TYPES:
        if pattern.search(device_name):
            return gpu_type
    return device_name.strip().upper()


@dataclass(frozen=True)
class GpuDevice:
    index: int
    name: str
    uuid: str
    memory_mb: int
    minor: int  # N of /dev/nvidiaN

    @property
    def gpu_type(self) -> str:
        return gpu_type_of(self.name)

    @property
    def node(self) -> str:
        return f"/dev/nvidia{self.minor}"


@dataclass(frozen=True)
class GpuOption:
    gpu_type: str  # canonical type, or "ANY"
    count: int

    def accepts(self, device: GpuDevice) -> bool:
        if self.gpu_type == "ANY":
            return True
        return device.gpu_type in _UPGRADES.get(self.gpu_type, (self.gpu_type,))


def parse_request(request: str) -> list[GpuOption]:
    """A canonical request string → its options, in order of preference."""
    options = []
    for part in request.split(","):
        gpu_type, _, count = part.strip().partition(":")
        if not gpu_type:
            raise ValueError(f"malformed GPU request {request!r}")
        options.append(GpuOption(gpu_type.upper(), int(count) if count else 1))
    return options


class GpuFit(enum.Enum):
    NOW = "now"  # enough free GPUs of an acceptable type
    BUSY = "busy"  # this node has them, but they are in use
    NEVER = "never"  # this node has too few of every acceptable type


class GpuUnavailable(RuntimeError):
    """No free GPUs for the request right now."""


class GpuAllocator:
    """Whole-GPU, exclusive allocation of one node's devices to containers."""

    def __init__(self, devices: list[GpuDevice]) -> None:
        self.devices = list(devices)
        self._holder: dict[str, str] = {}  # device uuid → container id

    def fit(self, request: str) -> GpuFit:
        options = parse_request(request)
        if any(len(self._free(o)) >= o.count for o in options):
            return GpuFit.NOW
        if any(sum(o.accepts(d) for d in self.devices) >= o.count for o in options):
            return GpuFit.BUSY
        return GpuFit.NEVER

    def allocate(self, owner: str, request: str) -> list[GpuDevice]:
        """Take GPUs for `owner` per the first option that fits; GpuUnavailable if none does.
        An owner that already holds GPUs (reserved earlier) gets those."""
        held = [d for d in self.devices if self._holder.get(d.uuid) == owner]
        if held:
            return held
        for option in parse_request(request):
            free = self._free(option)
            if len(free) >= option.count:
                chosen = free[: option.count]
                for device in chosen:
                    self._holder[device.uuid] = owner
                return chosen
        raise GpuUnavailable(f"no free GPUs for {request!r} on this node ({self.describe()})")

    def release(self, owner: str) -> None:
        for uuid in [u for u, o in self._holder.items() if o == owner]:
            del self._holder[uuid]

    def holder(self, device: GpuDevice) -> str | None:
        return self._holder.get(device.uuid)

    def free_by_type(self) -> dict[str, int]:
        free: dict[str, int] = {}
        for device in self.devices:
            if device.uuid not in self._holder:
                free[device.gpu_type] = free.get(device.gpu_type, 0) + 1
        return free

    def describe(self) -> str:
        if not self.devices:
            return "no GPUs"
        total: dict[str, int] = {}
        for device in self.devices:
            total[device.gpu_type] = total.get(device.gpu_type, 0) + 1
        free = self.free_by_type()
        return ", ".join(f"{t}: {free.get(t, 0)} of {n} free" for t, n in sorted(total.items()))

    def _free(self, option: GpuOption) -> list[GpuDevice]:
        return [d for d in self.devices if d.uuid not in self._holder and option.accepts(d)]


# ---------- discovery ----------
def find_driver_tool(name: str) -> str | None:
    search = os.pathsep.join([os.environ.get("PATH", ""), *_EXTRA_BIN_DIRS])
    return shutil.which(name, path=search)


def _device_minor(bus_id: str, index: int) -> int:
    """The /dev/nvidiaN minor of the GPU at `bus_id`, from the driver's /proc entry."""
    short = bus_id.lower()
    if len(short.split(":")[0]) == 8:  # nvidia-smi prints an 8-digit PCI domain; /proc uses 4
        short = short[4:]
    info = Path("/proc/driver/nvidia/gpus") / short / "information"
    try:
        for line in info.read_text().splitlines():
            if line.startswith("Device Minor:"):
                return int(line.split(":", 1)[1])
    except (OSError, ValueError):
        pass
    return index


def parse_inventory(csv_text: str) -> list[GpuDevice]:
    """nvidia-smi's `--query-gpu=index,name,uuid,memory.total,pci.bus_id --format=csv,noheader,nounits`."""
    devices = []
    for line in csv_text.splitlines():
        fields = [f.strip() for f in line.split(",")]
        if len(fields) < 5 or not fields[0].isdigit():
            continue
        index, name, uuid, memory, bus_id = fields[:5]
        memory_mb = int(memory) if memory.isdigit() else 0
        devices.append(GpuDevice(int(index), name, uuid, memory_mb, _device_minor(bus_id, int(index))))
    return devices


def discover_gpus(timeout: float = 15.0) -> list[GpuDevice]:
    """This node's NVIDIA GPUs; none when the driver or its tool is absent or not answering."""
    smi = find_driver_tool("nvidia-smi")
    if smi is None:
        return []
    try:
        result = subprocess.run(
            [smi, f"--query-gpu={_QUERY}", "--format=csv,noheader,nounits"],
            capture_output=True, text=True, timeout=timeout, check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.warning("nvidia-smi failed: %s; no GPUs will be used", exc)
        return []
    if result.returncode != 0:
        log.warning("nvidia-smi failed (%d): %s; no GPUs will be used", result.returncode, result.stderr.strip())
        return []
    devices = parse_inventory(result.stdout)
    log.info("GPUs: %s", ", ".join(f"{d.index}: {d.name}" for d in devices) or "none")
    return devices


# ---------- making assigned GPUs visible in a container ----------
def _ldconfig_entries() -> list[tuple[str, str]]:
    """(library file name, path) pairs from the host's linker cache, for this machine's ABI."""
    ldconfig = shutil.which("ldconfig", path="/usr/sbin:/sbin:/usr/bin:/bin")
    if ldconfig is None:
        return []
    try:
        out = subprocess.run([ldconfig, "-p"], capture_output=True, text=True, timeout=10, check=False).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    want_abi = "x86-64" if platform.machine() == "x86_64" else platform.machine().replace("_", "-")
    entries = []
    for line in out.splitlines():
        m = re.match(r"\s*(\S+) \(([^)]*)\) => (\S+)", line)
        if m and want_abi in m.group(2):
            entries.append((m.group(1), m.group(3)))
    return entries


@functools.cache
def driver_files() -> tuple[Bind, ...]:
    """The host driver's user-space libraries and tools, bound read-only under /opt/nodal/nvidia
    (read once per process: the driver does not change under a running server)."""
    binds, seen = [], set()
    for name, path in _ldconfig_entries():
        stem = name.split(".so", 1)[0]
        if stem not in _DRIVER_LIBS or name in seen:
            continue
        real = os.path.realpath(path)
        if os.path.isfile(real):
            seen.add(name)
            binds.append(Bind(Path(real), f"{DRIVER_LIB_DIR}/{name}"))
    for tool in _DRIVER_BINS:
        path = find_driver_tool(tool)
        if path is not None:
            binds.append(Bind(Path(os.path.realpath(path)), f"{DRIVER_BIN_DIR}/{tool}"))
    return tuple(binds)


def container_gpu_setup(devices: list[GpuDevice], image_env: dict[str, str]) -> tuple[list[Bind], dict[str, str]]:
    """Binds and env that give a container exactly `devices`."""
    binds = [Bind(Path(d.node), d.node, read_only=False) for d in devices]
    for node in _CONTROL_NODES:
        if os.path.exists(node):
            binds.append(Bind(Path(node), node, read_only=False))
    if os.path.isdir(_CAPS_DIR):
        binds.append(Bind(Path(_CAPS_DIR), _CAPS_DIR, read_only=False))
    binds += driver_files()
    uuids = ",".join(d.uuid for d in devices)
    ld_path = ":".join(p for p in (DRIVER_LIB_DIR, image_env.get("LD_LIBRARY_PATH", "")) if p)
    path = image_env.get("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
    env = {
        "CUDA_VISIBLE_DEVICES": uuids,
        "NVIDIA_VISIBLE_DEVICES": uuids,
        "LD_LIBRARY_PATH": ld_path,
        "PATH": f"{DRIVER_BIN_DIR}:{path}",  # first: the host's own nvidia-smi may be a wrapper
    }
    return binds, env
