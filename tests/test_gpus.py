"""GPUs on any host: inventory parsing, type mapping, allocation bookkeeping, and what a
function asking for a GPU the server lacks gets in each fallback mode (real server, real
containers; this host's real inventory, which on CI is no GPUs)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import PrivateServer

from nodal.runtime.gpus import (
    GpuAllocator,
    GpuDevice,
    GpuFit,
    GpuUnavailable,
    discover_gpus,
    find_driver_tool,
    gpu_type_of,
    parse_inventory,
    parse_request,
)

ROOT = Path(__file__).parent.parent
MODAL = [sys.executable, "-m", "modal.cli.entry"]


def _device(index: int, name: str) -> GpuDevice:
    return GpuDevice(index=index, name=name, uuid=f"GPU-{index:04d}", memory_mb=81559, minor=index)


# ---------------------------------------------------------------- inventory and types
@pytest.mark.parametrize(
    ("name", "gpu_type"),
    [
        ("NVIDIA H100 80GB HBM3", "H100"),
        ("NVIDIA H100 PCIe", "H100"),
        ("NVIDIA H100 NVL", "H100"),
        ("NVIDIA H200", "H200"),
        ("NVIDIA B200", "B200"),
        ("NVIDIA A100-SXM4-80GB", "A100-80GB"),
        ("NVIDIA A100 80GB PCIe", "A100-80GB"),
        ("NVIDIA A100-SXM4-40GB", "A100-40GB"),
        ("NVIDIA A100-PCIE-40GB", "A100-40GB"),
        ("NVIDIA L40S", "L40S"),
        ("NVIDIA L4", "L4"),
        ("NVIDIA A10G", "A10G"),
        ("NVIDIA A10", "A10G"),
        ("Tesla T4", "T4"),
        ("NVIDIA GeForce RTX 4090", "NVIDIA GEFORCE RTX 4090"),
    ],
)
def test_device_names_map_to_modal_gpu_types(name, gpu_type):
    assert gpu_type_of(name) == gpu_type


def test_nvidia_smi_inventory_is_parsed():
    text = (
        "0, NVIDIA H100 80GB HBM3, GPU-b664d0ca-9c50-192d-53ae-f6a16c47840b, 81559, 00000000:00:06.0\n"
        "1, NVIDIA A100-SXM4-40GB, GPU-1111, 40960, 00000000:00:07.0\n"
        "garbage line\n"
    )
    devices = parse_inventory(text)
    assert [(d.index, d.gpu_type, d.uuid, d.memory_mb) for d in devices] == [
        (0, "H100", "GPU-b664d0ca-9c50-192d-53ae-f6a16c47840b", 81559),
        (1, "A100-40GB", "GPU-1111", 40960),
    ]
    assert devices[1].node.startswith("/dev/nvidia")


def test_this_hosts_inventory_matches_its_driver():
    devices = discover_gpus()
    if find_driver_tool("nvidia-smi") is None:
        assert devices == []  # no driver: no GPUs, and no error
    else:
        assert all(d.uuid.startswith("GPU-") for d in devices)


# ---------------------------------------------------------------- allocation bookkeeping
def test_requests_are_parsed_in_order_of_preference():
    options = parse_request("H100:2,A100-80GB")
    assert [(o.gpu_type, o.count) for o in options] == [("H100", 2), ("A100-80GB", 1)]


def test_allocation_is_exclusive_and_released():
    gpus = GpuAllocator([_device(0, "NVIDIA H100 80GB HBM3"), _device(1, "NVIDIA H100 80GB HBM3")])
    first = gpus.allocate("c1", "H100")
    second = gpus.allocate("c2", "H100")
    assert {d.uuid for d in first}.isdisjoint(d.uuid for d in second)
    assert gpus.fit("H100") is GpuFit.BUSY
    with pytest.raises(GpuUnavailable, match="H100: 0 of 2 free"):
        gpus.allocate("c3", "H100")
    gpus.release("c1")
    assert gpus.fit("H100") is GpuFit.NOW
    assert gpus.allocate("c3", "H100") == first
    assert gpus.free_by_type() == {}


def test_counts_preferences_upgrades_and_any():
    gpus = GpuAllocator([_device(0, "NVIDIA A100-SXM4-80GB"), _device(1, "NVIDIA A100-SXM4-80GB"),
                         _device(2, "Tesla T4")])
    assert gpus.fit("H100") is GpuFit.NEVER
    assert gpus.fit("A100-80GB:3") is GpuFit.NEVER
    # an A100 (40 GB) request may get an 80 GB card, as on Modal
    assert [d.index for d in gpus.allocate("a", "A100-40GB")] == [0]
    # the first option that fits wins; H100 is absent, so the T4 is taken
    assert [d.index for d in gpus.allocate("b", "H100,T4")] == [2]
    assert gpus.fit("A100-80GB:2") is GpuFit.BUSY
    assert [d.index for d in gpus.allocate("c", "ANY")] == [1]
    # a reservation is handed back to its owner, not doubled
    assert [d.index for d in gpus.allocate("c", "ANY")] == [1]
    gpus.release("a")
    gpus.release("b")
    gpus.release("c")
    assert gpus.free_by_type() == {"A100-80GB": 2, "T4": 1}


# ---------------------------------------------------------------- a real server without the GPU
def _modal(*args: str, home: Path | None = None, timeout: float = 240) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if home is not None:
        env["NODAL_HOME"] = str(home)
    return subprocess.run([*MODAL, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL, check=False)


needs_no_h100 = pytest.mark.skipif(
    any(d.gpu_type == "H100" for d in discover_gpus()), reason="this host has an H100: no fallback happens"
)


@needs_no_h100
def test_missing_gpu_runs_on_cpu_with_one_warning(nodal_server):
    proc = _modal("run", "tests/apps/gpu_app.py")
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout + proc.stderr
    assert "first {'cuda_visible_devices': None, 'nvidia0': False}" in out
    assert "second" in out
    assert out.count("asks for GPU H100 but this Nodal server has") == 1, out[-3000:]
    assert "running it on CPU" in out
    # a build step's gpu= falls back the same way, with a warning in the build log
    assert "Image.run_commands(gpu='H100'): this server has no GPUs; building on CPU." in out
    assert "build saw 0 gpus" in out


def test_gpu_list_on_a_host_without_gpus(nodal_server):
    proc = _modal("gpu", "list", "--json")
    assert proc.returncode == 0, proc.stderr
    listed = json.loads(proc.stdout)
    assert len(listed) == len(discover_gpus())
    if not listed:
        proc = _modal("gpu", "list")
        assert "This Nodal server has no GPUs" in proc.stdout
        assert "run on CPU with a warning" in proc.stdout


@pytest.fixture(scope="module")
def queue_server(require_containers, tmp_path_factory):
    """A server in cluster mode: inputs for a missing GPU wait for one instead of falling back."""
    server = PrivateServer(tmp_path_factory.mktemp("nodal-gpu-queue"))
    old = os.environ.get("NODAL_GPU_FALLBACK")
    os.environ["NODAL_GPU_FALLBACK"] = "queue"
    try:
        server.start()
    finally:
        if old is None:
            os.environ.pop("NODAL_GPU_FALLBACK", None)
        else:
            os.environ["NODAL_GPU_FALLBACK"] = old
    yield server
    server.stop()


@needs_no_h100
def test_queue_mode_fails_the_input_after_its_timeout(queue_server):
    code = (
        "import sys, time\n"
        "sys.path.insert(0, 'tests')\n"
        "from apps.gpu_queue_app import app, short_timeout\n"
        "with app.run():\n"
        "    t = time.monotonic()\n"
        "    try:\n"
        "        short_timeout.remote()\n"
        "        print('NO ERROR')\n"
        "    except Exception as e:\n"
        "        print('ERROR', type(e).__name__, e, round(time.monotonic() - t, 1))\n"
    )
    proc = queue_server.python(code)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = [x for x in proc.stdout.splitlines() if x.startswith(("ERROR", "NO ERROR"))][-1]
    assert line.startswith("ERROR FunctionTimeoutError"), proc.stdout
    assert "waited 2s (its timeout) for GPU H100,A100-80GB:2" in line
    assert float(line.split()[-1]) >= 2.0  # it waited the timeout, not less
    # in queue mode a build step asking for a missing GPU fails, saying what to change
    built = _modal("run", "tests/apps/gpu_app.py", home=queue_server.home)
    assert built.returncode != 0
    assert "Image.run_commands(gpu='H100'): this server has no GPUs. Ask for a GPU type it has" in built.stderr
    listed = _modal("gpu", "list", home=queue_server.home)
    assert "wait for one until their timeout" in listed.stdout or "Container ID" in listed.stdout


def test_bad_fallback_setting_is_refused(tmp_path):
    env = {**os.environ, "NODAL_HOME": str(tmp_path), "NODAL_GPU_FALLBACK": "maybe"}
    proc = subprocess.run([sys.executable, "-m", "nodal.server"], env=env, capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL, check=False)
    assert proc.returncode != 0
    assert "NODAL_GPU_FALLBACK must be one of cpu, queue, not 'maybe'" in proc.stderr
