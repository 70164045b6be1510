"""GPU cold start: a function that imports torch and allocates a CUDA tensor, in a new
container each call, against the same work as a plain process on the host.

    NODAL_TEST_GPU_PYTHON=/path/to/python-with-torch bash scripts/device_gpu_check.sh --bench

(or `python bench/gpu.py -n 10` with that Python). The host peer is `python -c SCRIPT` as a
new process; Nodal's figure is `.remote()` round trip with a cold container (max_inputs=1).
Prints p50s and Nodal's overhead (target: <= 100 ms). Skips without a GPU or torch.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))


def host_run() -> float:
    from gpu_app import SCRIPT

    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", SCRIPT], check=True, capture_output=True, timeout=300)
    return time.perf_counter() - t


def _wait_gpus_free(deadline_s: float = 60.0) -> None:
    """Until no container holds a GPU: a cold start is timed from a free GPU, as the host's
    process is started after the previous one exited (teardown is not part of the figure)."""
    from modal._utils.async_utils import run_sync
    from modal.client import Client
    from nodal.proto import api_pb2

    stub = Client.from_env().stub
    deadline = time.monotonic() + deadline_s
    while any(g.container_id for g in run_sync(stub.GpuList(api_pb2.GpuListRequest())).gpus):
        if time.monotonic() > deadline:
            raise TimeoutError("a GPU stayed held for a minute after its container's input ended")
        time.sleep(0.01)  # the poll interval


def _timed(fn, n: int) -> list[float]:
    samples = []
    for _ in range(n):
        _wait_gpus_free()
        t = time.perf_counter()
        fn.remote()
        samples.append(time.perf_counter() - t)
    return samples


def runs(n: int) -> dict[str, list[float]]:
    """Cold starts of the torch function, interleaved with the host process (torch's own start
    time drifts by seconds, so each pair runs back to back), then of a trivial GPU and a trivial
    CPU function (Nodal's own part of the first)."""
    from gpu_app import app, cold, cold_cpu, cold_trivial

    with app.run():
        for fn in (cold, cold_trivial, cold_cpu):  # first calls: image record, page cache
            fn.remote()
        host_run()
        out: dict[str, list[float]] = {"host": [], "torch": []}
        for _ in range(n):
            out["host"].append(host_run())
            out["torch"] += _timed(cold, 1)
        out["trivial_gpu"] = _timed(cold_trivial, n)
        out["trivial_cpu"] = _timed(cold_cpu, n)
        return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=10)
    args = parser.parse_args()
    from nodal.runtime.gpus import discover_gpus

    if not discover_gpus():
        print("skipped: no NVIDIA GPU on this host")
        return
    try:
        import torch  # noqa: F401
    except ImportError:
        print("skipped: this Python has no torch")
        return
    if "NODAL_HOME" not in os.environ:
        os.environ["NODAL_HOME"] = tempfile.mkdtemp(prefix="nodal-bench-gpu-")
    from nodal.server import daemon

    daemon.start_daemon()
    try:
        measured = runs(args.n)
    finally:
        daemon.stop_daemon()
    host, nodal = measured["host"], measured["torch"]
    paired = statistics.median(b - a for a, b in zip(host, nodal, strict=True)) * 1000
    hp, npf = statistics.median(host) * 1000, statistics.median(nodal) * 1000
    print(f"GPU cold start, {args.n} runs each (import torch + 1024x1024 CUDA tensor)")
    print(f"  host process      p50 {hp:8.1f} ms   min {min(host) * 1000:8.1f} ms")
    print(f"  Nodal .remote()   p50 {npf:8.1f} ms   min {min(nodal) * 1000:8.1f} ms")
    for key, label in (("trivial_gpu", "no torch, gpu"), ("trivial_cpu", "no torch, no gpu")):
        print(f"  Nodal, {label:<16} p50 {statistics.median(measured[key]) * 1000:8.1f} ms   (container + worker + call)")
    print(f"  overhead          p50 {npf - hp:8.1f} ms   ratio {npf / hp:.2f}x   (target <= 100 ms)")
    print(f"  overhead, paired  p50 {paired:8.1f} ms   (median of per-pair differences)")


if __name__ == "__main__":
    main()
