"""Core call-path benchmarks, Nodal next to Ray and multiprocessing in the same run.

    .venv/bin/python bench/core.py            # all figures
    .venv/bin/python bench/core.py --quick    # smaller counts
    .venv/bin/python bench/core.py --quick --grpc-streams   # the hot streams on gRPC (as before
                                                            # the framed sockets), to compare

Prints one table with ratios. Uses its own NODAL_HOME (a temp dir) unless NODAL_HOME is set,
and stops the server it started.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))


def p50_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def _trivial(x: int) -> int:
    return x


def bench_multiprocessing(n_remote: int, n_map: int) -> dict:
    with multiprocessing.Pool(2) as pool:
        pool.apply(_trivial, (0,))
        samples = []
        for i in range(n_remote):
            t = time.perf_counter()
            pool.apply(_trivial, (i,))
            samples.append(time.perf_counter() - t)
        t = time.perf_counter()
        pool.map(_trivial, range(n_map), chunksize=1)
        rate = n_map / (time.perf_counter() - t)
    return {"remote_p50_ms": p50_ms(samples), "map_per_s": rate}


def bench_ray(n_remote: int, n_map: int) -> dict:
    try:
        import ray
    except ImportError:
        return {"skipped": "ray is not installed (pip install -e .[bench])"}
    t = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    init_s = time.perf_counter() - t
    try:
        f = ray.remote(_trivial)

        @ray.remote
        class A:
            def f(self, x):
                return x

        ray.get(f.remote(0))
        samples = []
        for i in range(n_remote):
            t = time.perf_counter()
            ray.get(f.remote(i))
            samples.append(time.perf_counter() - t)
        a = A.remote()
        ray.get(a.f.remote(0))
        actor = []
        for i in range(n_remote):
            t = time.perf_counter()
            ray.get(a.f.remote(i))
            actor.append(time.perf_counter() - t)
        n = min(n_map, 20_000)
        t = time.perf_counter()
        ray.get([f.remote(i) for i in range(n)])
        rate = n / (time.perf_counter() - t)
        return {"remote_p50_ms": p50_ms(samples), "actor_p50_ms": p50_ms(actor), "map_per_s": rate,
                "init_s": init_s}
    finally:
        ray.shutdown()


def bench_spawn(fn, n: int) -> dict:
    """Spawn n calls (1,000 per batch), then collect every result; report rate and peak memory."""
    import asyncio

    import modal
    from nodal import paths

    async def run() -> int:
        ids: list[str] = []
        for start in range(0, n, 1000):
            calls = await asyncio.gather(*(fn.spawn.aio(i) for i in range(start, min(n, start + 1000))))
            ids.extend(c.object_id for c in calls)
        spawned = time.perf_counter()
        total = 0
        for start in range(0, n, 10_000):
            chunk = [modal.FunctionCall.from_id(i) for i in ids[start:start + 10_000]]
            total += sum(await modal.functions.gather.aio(*chunk))
        assert total == n * (n - 1) // 2, "wrong results"
        return spawned

    t = time.perf_counter()
    spawned = asyncio.run(run())
    elapsed = time.perf_counter() - t
    server_pid = int(paths.pid_path().read_text())
    server_hwm = 0.0
    for line in Path(f"/proc/{server_pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            server_hwm = int(line.split()[1]) / 1024
    return {"spawn_per_s": n / (spawned - t), "spawn_collect_per_s": n / elapsed,
            "client_peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "server_peak_rss_mb": server_hwm}


def cold_p50_ms(fn, n: int, pause: float = 0.0) -> float:
    """p50 of `n` calls of a single-use function (`max_inputs=1`): each one a new container."""
    samples = []
    for i in range(n):
        if pause:
            time.sleep(pause)
        t = time.perf_counter()
        fn.remote(i)
        samples.append(time.perf_counter() - t)
    return p50_ms(samples)


def bench_cold_without_spares(n_cold: int) -> dict:
    """Cold starts with spare containers off (the server restarted on the same home, so the
    image is cached): a container booted for each call."""
    from modal._utils.async_utils import run_sync
    from modal.client import reset_default_client
    from nodal.server import daemon

    daemon.stop_daemon()
    os.environ["NODAL_SPARE_CONTAINERS"] = "0"
    try:
        daemon.start_daemon()
        run_sync(reset_default_client())
        from bench_app import app, trivial_cold

        with app.run():
            trivial_cold.remote(0)
            return {"cold_nospare_p50_ms": cold_p50_ms(trivial_cold, n_cold)}
    finally:
        daemon.stop_daemon()
        del os.environ["NODAL_SPARE_CONTAINERS"]


def bench_nodal(n_remote: int, n_map: int, n_cold: int, n_spawn: int) -> dict:
    from nodal.server import daemon

    started = daemon.server_pid() is None
    if started:
        daemon.start_daemon()
    try:
        from bench_app import app, trivial, trivial_cold

        out: dict = {}
        with app.run():
            # Warm up for half a second: the container, both streams, and the spare container the
            # app's publish started booting (nodal.server.spares) are settled before measuring.
            warm_until = time.perf_counter() + 0.5
            while time.perf_counter() < warm_until:
                trivial.remote(0)
            samples = []
            for i in range(n_remote):
                t = time.perf_counter()
                trivial.remote(i)
                samples.append(time.perf_counter() - t)
            out["remote_p50_ms"] = p50_ms(samples)
            t = time.perf_counter()
            count = sum(1 for _ in trivial.map(range(n_map)))
            out["map_per_s"] = count / (time.perf_counter() - t)
            if n_cold:
                # At rest: a spare container of the image has booted since the last cold start
                # (nodal.server.spares; a boot takes ~0.2 s here, so 1 s apart is at rest).
                out["cold_p50_ms"] = cold_p50_ms(trivial_cold, n_cold, pause=1.0)
                out["cold_b2b_p50_ms"] = cold_p50_ms(trivial_cold, n_cold)  # back to back
            if n_spawn:
                out.update(bench_spawn(trivial, n_spawn))
        return out
    finally:
        if started:
            daemon.stop_daemon()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--spawn", type=int, default=0, help="number of spawned calls (default 1,000,000)")
    parser.add_argument("--no-peers", action="store_true", help="skip Ray and multiprocessing")
    parser.add_argument("--grpc-streams", action="store_true",
                        help="keep CallStream/WorkerStream on gRPC (NODAL_STREAMS=grpc for server and client)")
    args = parser.parse_args()
    if args.grpc_streams:
        os.environ["NODAL_STREAMS"] = "grpc"
    if "NODAL_HOME" not in os.environ:
        os.environ["NODAL_HOME"] = tempfile.mkdtemp(prefix="nodal-bench-")
    n_remote, n_map, n_cold, n_spawn = (200, 10_000, 5, 20_000) if args.quick else (2000, 100_000, 10, 1_000_000)
    if args.spawn:
        n_spawn = args.spawn
    # Nodal first, so the client's peak memory is measured before Ray is loaded in this process.
    from nodal.server import daemon

    own_server = daemon.server_pid() is None  # restarting a server we did not start is not ours to do
    nodal = bench_nodal(n_remote, n_map, n_cold, n_spawn)
    if n_cold and own_server:
        nodal.update(bench_cold_without_spares(n_cold))
    mp = {} if args.no_peers else bench_multiprocessing(n_remote, n_map)
    ray_ = {"skipped": "--no-peers"} if args.no_peers else bench_ray(n_remote, n_map)
    print("nodal:", {k: round(v, 3) for k, v in nodal.items()})
    print(f"{'metric':<28}{'nodal':>12}{'ray':>12}{'mp.Pool':>12}{'ray/nodal':>12}{'mp/nodal':>12}")
    for key, label in (("remote_p50_ms", "remote p50 (ms)"), ("map_per_s", "map throughput (/s)")):
        n, r, m = nodal.get(key), ray_.get(key), mp.get(key)
        ratio = lambda other: f"{other / n:.2f}" if other and n else "-"  # noqa: E731
        print(f"{label:<28}{n or 0:>12.2f}{r or 0:>12.2f}{m or 0:>12.2f}{ratio(r):>12}{ratio(m):>12}")
    print(f"{'cold start p50 (ms)':<28}{nodal.get('cold_p50_ms', 0):>12.1f}  (at rest: a spare container booted)")
    print(f"{'  back to back':<28}{nodal.get('cold_b2b_p50_ms', 0):>12.1f}  (calls in a row: spares boot behind)")
    print(f"{'  spares off':<28}{nodal.get('cold_nospare_p50_ms', 0):>12.1f}  (NODAL_SPARE_CONTAINERS=0)")
    if "spawn_per_s" in nodal:
        print(f"{'spawn (/s), n=' + str(n_spawn):<28}{nodal['spawn_per_s']:>12.1f}")
        print(f"{'spawn+collect (/s)':<28}{nodal['spawn_collect_per_s']:>12.1f}  peak RSS: client "
              f"{nodal['client_peak_rss_mb']:.0f} MB, server {nodal['server_peak_rss_mb']:.0f} MB")
    if "actor_p50_ms" in ray_:
        print(f"ray actor call p50 {ray_['actor_p50_ms']:.2f} ms, ray.init {ray_['init_s']:.1f} s")
    if "skipped" in ray_:
        print("ray:", ray_["skipped"])


if __name__ == "__main__":
    main()
