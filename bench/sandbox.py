"""Sandbox benchmarks: create-to-ready, `exec("echo", "hi")` round trip, and 50 sandboxes alive.

    .venv/bin/python bench/sandbox.py            # 30 creates, 300 execs, 50 alive
    .venv/bin/python bench/sandbox.py --quick    # 10 creates, 50 execs, 20 alive

Peers in the same run: `subprocess.run(["echo", "hi"])` on the host (the floor for starting
any process) and a bare `bwrap` container of the same image run to completion (the floor for a
container start with this launcher). Uses its own NODAL_HOME (a temp dir) unless NODAL_HOME is
set, reuses the Debian base from NODAL_BASE_CACHE when set, and stops the server it started.
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

sys.path.insert(0, str(Path(__file__).parent.parent / "src"))


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def ms(x: float) -> str:
    return f"{x * 1000:.1f} ms"


def pss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def mem_available_kb() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1])
    return 0


def all_pids() -> set[int]:
    return {int(p) for p in os.listdir("/proc") if p.isdigit()}


def bench_host_echo(n: int) -> float:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        subprocess.run(["echo", "hi"], stdout=subprocess.PIPE, check=True)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def bench_bare_bwrap(n: int, layers: list[Path]) -> float | None:
    """bwrap of the image's base rootfs (read-only, no overlay, no NAT) running `true`."""
    if not layers:
        return None
    times = []
    for _ in range(n):
        t = time.perf_counter()
        subprocess.run(["bwrap", "--ro-bind", str(layers[0]), "/", "--proc", "/proc", "--dev", "/dev",
                        "--unshare-pid", "--unshare-net", "true"], check=True)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    n_create, n_exec, n_alive = (10, 50, 20) if args.quick else (30, 300, 50)
    own_home = "NODAL_HOME" not in os.environ
    if own_home:
        os.environ["NODAL_HOME"] = tempfile.mkdtemp(prefix="nodal-bench-sandbox-")
    from nodal.server import daemon

    daemon.start_daemon()
    try:
        import modal

        app = modal.App.lookup("bench-sandbox", create_if_missing=True)
        warm = modal.Sandbox.create(app=app)  # builds (or finds) the image once
        warm.exec("true").wait()
        warm.terminate()

        create_returned, create_ready = [], []
        for _ in range(n_create):
            t = time.perf_counter()
            sb = modal.Sandbox.create(app=app)
            t_created = time.perf_counter()
            p = sb.exec("echo", "ready")
            assert p.stdout.read() == "ready\n"
            t_ready = time.perf_counter()
            create_returned.append(t_created - t)
            create_ready.append(t_ready - t)
            sb.terminate()

        sb = modal.Sandbox.create(app=app)
        sb.exec("true").wait()
        exec_times = []
        for _ in range(n_exec):
            t = time.perf_counter()
            p = sb.exec("echo", "hi")
            out = p.stdout.read()
            p.wait()
            exec_times.append(time.perf_counter() - t)
            assert out == "hi\n"
        sb.terminate()

        server_pid = daemon.server_pid()
        before_pids, before_avail = all_pids(), mem_available_kb()
        server_before = pss_kb(server_pid) if server_pid else 0
        t = time.perf_counter()
        alive = [modal.Sandbox.create(app=app) for _ in range(n_alive)]
        for box in alive:
            assert box.exec("echo", "up").stdout.read() == "up\n"
        t_alive = time.perf_counter() - t
        new_pids = all_pids() - before_pids
        new_pss = sum(pss_kb(p) for p in new_pids)
        server_growth = (pss_kb(server_pid) if server_pid else 0) - server_before
        avail_drop = before_avail - mem_available_kb()
        for box in alive:
            box.terminate()

        from nodal.images.builder import ImageBuilder

        base_layers: list[Path] = []
        try:
            built = ImageBuilder().cached([__import__("nodal.images.builder", fromlist=["Step"]).Step(
                "debian_slim", {"python_version": f"{sys.version_info[0]}.{sys.version_info[1]}"})])
            base_layers = list(built.layers) if built else []
        except Exception:  # noqa: BLE001 - the peer is optional
            base_layers = []
        host_echo = bench_host_echo(n_exec)
        bare = bench_bare_bwrap(n_create, base_layers)

        print(f"Sandbox.create() returns, p50 of {n_create}: {ms(statistics.median(create_returned))}"
              f" (p90 {ms(pct(create_returned, 0.9))})")
        print(f"create → first exec answered (ready), p50 of {n_create}: {ms(statistics.median(create_ready))}"
              f" (p90 {ms(pct(create_ready, 0.9))})")
        print(f"exec('echo','hi') round trip, p50 of {n_exec}: {ms(statistics.median(exec_times))}"
              f" (p90 {ms(pct(exec_times, 0.9))})")
        print(f"{n_alive} sandboxes alive, each answering exec: started in {t_alive:.1f} s")
        print(f"  memory per sandbox: {new_pss / n_alive / 1024:.1f} MiB PSS of its processes "
              f"(+{server_growth / n_alive / 1024:.2f} MiB server), "
              f"{avail_drop / n_alive / 1024:.1f} MiB of MemAvailable")
        print(f"peer: host subprocess.run(['echo','hi']) p50: {ms(host_echo)}")
        if bare is not None:
            print(f"peer: bare `bwrap … true` of the same rootfs p50: {ms(bare)}")
        print(f"ratio exec/host-subprocess: {statistics.median(exec_times) / host_echo:.1f}x")
        if bare is not None:
            print(f"ratio ready/bare-bwrap: {statistics.median(create_ready) / bare:.1f}x")
    finally:
        if own_home:
            daemon.stop_daemon()


if __name__ == "__main__":
    main()
