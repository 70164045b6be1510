"""Deployed-app life: redeploy of an unchanged app, and schedule jitter with 100 schedules.

    .venv/bin/python bench/lifecycle.py [--schedules 100] [--seconds 20]

- deploy: `deploy_app` of an app whose code did not change (its warm containers are kept);
  p50 and max over 10 redeploys (target <= 1 s).
- jitter: an app with N functions on `modal.Period(seconds=2)`, measured once every function
  has its warm container (the first runs start one container per function, N container starts
  that load the machine for a while; the bench waits until each function reports a runner, then
  `--warmup` seconds more); the server's fire times (its schedule table in SQLite, read while it
  runs) minus each run's due time `anchor + k * period`; p50/p99/max (target p99 <= 100 ms).
  Also the lateness of each run's start in its container (what `_tick` returns, read from the
  stored results): the claim, the durable call, dispatch and the worker, end to end. Peer: asyncio `call_at` timers
  in this process for the same due times (the floor any Python scheduler sits on).
Uses its own NODAL_HOME (a temp dir) and stops the server it started.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

PERIOD = 2.0

APP = '''
import modal

app = modal.App("bench-lifecycle")

def _tick() -> float:
    import time
    return time.time()  # when the run started in its container

for _i in range({n}):
    app.function(schedule=modal.Period(seconds={period}), name=f"tick_{{_i}}", serialized=True)(_tick)


@app.function()
def hello() -> str:
    return "hi"
'''


def _load(path: Path, n: int):
    path.write_text(APP.format(n=n, period=PERIOD))
    spec = importlib.util.spec_from_file_location("bench_lifecycle_app", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def wait_warm(app_name: str, n: int, timeout: float) -> float:
    """Wait until each of the N scheduled functions has a container (its first runs started
    one); return the seconds it took. Raises TimeoutError past `timeout`."""
    import modal

    functions = [modal.Function.from_name(app_name, f"tick_{i}") for i in range(n)]
    start = time.monotonic()
    cold = list(functions)
    while cold:
        cold = [f for f in cold if f.get_current_stats().num_total_runners < 1]
        if not cold:
            break
        if time.monotonic() - start > timeout:
            raise TimeoutError(f"{len(cold)} of {n} scheduled functions still have no container after {timeout:.0f} s")
        time.sleep(0.5)
    return time.monotonic() - start


def jitter_samples(db: Path, seconds: float) -> list[float]:
    """Lateness of every fire the server records in `seconds`."""
    seen: dict[str, float] = {}
    late: list[float] = []
    deadline = time.monotonic() + seconds
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    while time.monotonic() < deadline:
        for fid, anchor, last in con.execute("SELECT function_id, anchor, last_fire FROM schedule_state"):
            if last is None or seen.get(fid) == last:
                continue
            if fid in seen:  # the first reading may be a fire from before we looked
                late.append((last - anchor) % PERIOD)
            seen[fid] = last
        time.sleep(0.05)  # sampling the table; a fire is never overwritten within a period
    con.close()
    return late


def run_start_samples(db: Path, since: float, until: float) -> list[float]:
    """Lateness of the start, in its container, of every scheduled run created in [since, until]."""
    import cloudpickle

    from nodal.proto import api_pb2

    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    anchors = dict(con.execute("SELECT function_id, anchor FROM schedule_state"))
    late = []
    for fid, outputs in con.execute(
        "SELECT function_id, outputs FROM calls WHERE done = 1 AND created_at BETWEEN ? AND ?", (since, until)
    ):
        if fid not in anchors or not outputs:
            continue
        for out in api_pb2.CallGetOutputsResponse.FromString(outputs).outputs:
            if out.result.status == api_pb2.RESULT_STATUS_SUCCESS and out.result.data.data:
                late.append((cloudpickle.loads(out.result.data.data) - anchors[fid]) % PERIOD)
    con.close()
    return late


async def asyncio_peer(n: int, seconds: float) -> list[float]:
    loop = asyncio.get_running_loop()
    late: list[float] = []
    start = time.time() + 0.5

    def fire(due: float) -> None:
        late.append(time.time() - due)

    for i in range(n):
        k = 0
        while (due := start + (i % 20) * 0.1 + k * PERIOD) < start + seconds:
            loop.call_at(loop.time() + (due - time.time()), fire, due)
            k += 1
    await asyncio.sleep(seconds + 1)
    return late


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--schedules", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=15.0,
                        help="seconds to wait, once every scheduled function has its container, before measuring")
    args = parser.parse_args()
    if "NODAL_HOME" not in os.environ:
        os.environ["NODAL_HOME"] = tempfile.mkdtemp(prefix="nodal-bench-life-")
    from modal.runner import deploy_app
    from nodal import paths
    from nodal.server import daemon

    started = daemon.server_pid() is None
    if started:
        daemon.start_daemon()
    try:
        module = _load(Path(tempfile.mkdtemp()) / "bench_lifecycle_app.py", args.schedules)
        deploy_app(module.app)
        module.hello.remote()
        deploys = []
        for _ in range(10):
            t = time.perf_counter()
            deploy_app(module.app)
            deploys.append(time.perf_counter() - t)
        warm_s = wait_warm("bench-lifecycle", args.schedules, timeout=300.0)  # first runs start N containers
        jitter_samples(paths.database_path(), args.warmup)
        since = time.time()
        late = jitter_samples(paths.database_path(), args.seconds)
        until = time.time()
        wait_s = time.monotonic() + 10.0  # the last runs finish
        while (started := run_start_samples(paths.database_path(), since, until)) and \
                len(started) < len(late) and time.monotonic() < wait_s:
            time.sleep(0.2)
    finally:
        if started:
            daemon.stop_daemon()
    peer = asyncio.run(asyncio_peer(args.schedules, min(args.seconds, 10.0)))
    print(f"unchanged redeploy ({args.schedules + 1} functions): p50 {statistics.median(deploys):.3f} s, "
          f"max {max(deploys):.3f} s   (target <= 1 s)")
    print(f"schedule jitter, {args.schedules} x Period({PERIOD:g}s), {len(late)} fires: "
          f"p50 {pct(late, 0.5) * 1000:.1f} ms, p99 {pct(late, 0.99) * 1000:.1f} ms, max {max(late) * 1000:.1f} ms"
          f"   (target p99 <= 100 ms; all {args.schedules} containers warm after {warm_s:.1f} s)")
    if started:
        print(f"run start in its container, {len(started)} runs: p50 {pct(started, 0.5) * 1000:.1f} ms, "
              f"p99 {pct(started, 0.99) * 1000:.1f} ms, max {max(started) * 1000:.1f} ms")
    print(f"asyncio call_at peer, {len(peer)} timers: p50 {pct(peer, 0.5) * 1000:.2f} ms, "
          f"p99 {pct(peer, 0.99) * 1000:.2f} ms   ratio p99 {pct(late, 0.99) / max(pct(peer, 0.99), 1e-9):.2f}x")


if __name__ == "__main__":
    sys.exit(main())
