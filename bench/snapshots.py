"""Cold starts with `enable_memory_snapshot=True` against the same function without it, and
against running the same module as a new process on the host. The module's import takes 1 s
(bench/snapshot_app.py, standing in for a large library).

    .venv/bin/python bench/snapshots.py            # 10 cold starts of each
    .venv/bin/python bench/snapshots.py --quick    # 3 of each

Each call is a cold start (`max_inputs=1`), made at rest: after the previous container is gone
and, with a snapshot, once the next one is held. Uses its own NODAL_HOME (a temp dir) unless
NODAL_HOME is set, and stops the server it started.
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

AT_REST_TIMEOUT = 60.0


def _containers(client, app_id: str) -> list:
    from modal._utils.async_utils import run_sync
    from nodal.proto import api_pb2

    return list(run_sync(client.stub.ContainerList(api_pb2.ContainerListRequest(app_id=app_id))).containers)


def _at_rest(client, app_id: str, function: str, snapshot: bool) -> None:
    """Until the function has no container but, with a snapshot, one held (the previous call's
    container has exited: single-use)."""
    deadline = time.monotonic() + AT_REST_TIMEOUT
    while True:
        mine = [c.state for c in _containers(client, app_id) if c.function_name == function]
        if mine == (["snapshot"] if snapshot else []):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{function}'s containers did not settle: {mine}")
        time.sleep(0.02)  # the poll interval


def host_process_s() -> float:
    """The same module imported and its function called, in a new Python process on the host."""
    code = ("import os, sys; os.environ['MODAL_TASK_ID'] = 'host'; sys.path.insert(0, 'bench'); "
            "import snapshot_app; snapshot_app.without_snapshot.get_raw_f()(1)")
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, timeout=60)
    return time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    n = 3 if args.quick else 10
    if "NODAL_HOME" not in os.environ:
        os.environ["NODAL_HOME"] = tempfile.mkdtemp(prefix="nodal-bench-")
    from nodal.server import daemon

    started = daemon.server_pid() is None
    if started:
        daemon.start_daemon()
    samples: dict[str, list[float]] = {"host": [], "with_snapshot": [], "without_snapshot": []}
    try:
        from snapshot_app import app, with_snapshot, without_snapshot

        with app.run():
            client = app._client
            for i in range(n):  # interleaved: the machine's speed drifts
                samples["host"].append(host_process_s())
                for fn, name, snap in ((with_snapshot, "with_snapshot", True),
                                       (without_snapshot, "without_snapshot", False)):
                    _at_rest(client, app.app_id, name, snap)
                    t = time.perf_counter()
                    fn.remote(i)
                    samples[name].append(time.perf_counter() - t)
    finally:
        if started:
            daemon.stop_daemon()
    p50 = {k: statistics.median(v) * 1000 for k, v in samples.items()}
    print(f"cold start p50 of a function whose module takes 1 s to import ({n} each, at rest)")
    print(f"{'':<32}{'p50 ms':>10}{'vs host':>10}")
    for key, label in (("host", "new process on the host"), ("without_snapshot", "Nodal, no snapshot"),
                       ("with_snapshot", "Nodal, enable_memory_snapshot")):
        print(f"{label:<32}{p50[key]:>10.1f}{p50[key] / p50['host']:>10.2f}")


if __name__ == "__main__":
    main()
