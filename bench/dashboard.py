"""Dashboard page load times with a busy history, and how well the live log view keeps up.

    .venv/bin/python bench/dashboard.py            # 10,000 calls, 100 warm containers
    .venv/bin/python bench/dashboard.py --quick    # 2,000 calls, 10 containers

Starts a private server (a temp NODAL_HOME, gateway on a free port), deploys dashboard_app.py
with `warm` kept at --containers warm containers (min_containers), runs --calls calls of `work`
(each logs a line), logs in to the dashboard with the owner's link, then times each page and
its JSON (server time to the last byte, keep-alive HTTP, 30 rounds each). Target: ≤ 300 ms.
Then follows the app's logs over SSE while `flood` prints 1,000 lines/s for 5 s, and reports
lines received vs printed and the lag from print to browser (target: none lost, keeps up).
Stops the server it started.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

TARGET_MS = 300.0


def _pct(samples: list[float], q: float) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, int(q * len(s)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--calls", type=int, default=None)
    parser.add_argument("--containers", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    calls = args.calls or (2000 if args.quick else 10_000)
    containers = args.containers if args.containers is not None else (10 if args.quick else 100)

    os.environ["NODAL_HOME"] = tempfile.mkdtemp(prefix="nodal-bench-dashboard-")
    os.environ["NODAL_GATEWAY_PORT"] = "0"
    os.environ["NODAL_BENCH_WARM"] = str(containers)
    from nodal.server import daemon

    daemon.start_daemon()
    try:
        run(calls, containers, args.rounds)
    finally:
        daemon.stop_daemon()


def run(calls: int, containers: int, rounds: int) -> None:
    import httpx

    from modal._utils.async_utils import run_sync
    from modal.client import Client
    from modal.runner import deploy_app
    from nodal import paths

    home = paths.nodal_home()
    client = Client(f"unix://{home / 'server.sock'}")
    run_sync(client._connect())
    import dashboard_app

    deploy_app(dashboard_app.app, client=client)
    base = (home / "gateway.url").read_text().strip()
    http = httpx.Client(base_url=base, timeout=120, follow_redirects=True)
    assert http.get(f"/_nodal/login?token={(home / 'dashboard-secret').read_text().strip()}").status_code == 200

    t = time.perf_counter()
    done = sum(1 for _ in dashboard_app.work.map(range(calls)))
    print(f"{done} calls in {time.perf_counter() - t:.1f}s")
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        live = [c for c in http.get("/_nodal/api/containers").json() if c["state"] == "ready"]
        if len(live) >= containers:
            break
        time.sleep(0.5)  # ok: polling for warm containers, with a deadline
    print(f"{len(live)} ready containers (asked for {containers} warm + work's)")

    apps = http.get("/_nodal/api/apps").json()
    app_id = apps["deployed"][0]["app_id"]
    fns = {f["tag"]: f["function_id"] for f in http.get(f"/_nodal/api/apps/{app_id}").json()["functions"]}
    pages = {
        "apps": "/_nodal/apps", "app": f"/_nodal/apps/{app_id}", "function": f"/_nodal/functions/{fns['work']}",
        "containers": "/_nodal/containers", f"logs (500 of {calls + 1} lines)": f"/_nodal/apps/{app_id}/logs",
        "api function": f"/_nodal/api/functions/{fns['work']}", "api containers": "/_nodal/api/containers",
    }
    print(f"\n{'page':<28}{'p50 ms':>9}{'p90 ms':>9}{'max ms':>9}{'target/p90':>12}")
    for name, path in pages.items():
        samples = []
        for _ in range(rounds):
            t = time.perf_counter()
            resp = http.get(path)
            samples.append((time.perf_counter() - t) * 1000)
            assert resp.status_code == 200, (path, resp.status_code)
        p90 = _pct(samples, 0.9)
        print(f"{name:<28}{statistics.median(samples):>9.1f}{p90:>9.1f}{max(samples):>9.1f}{TARGET_MS / p90:>11.1f}x")

    follow_logs(http, app_id, dashboard_app)
    after_restart(http, pages["function"], rounds)


def after_restart(http, function_page: str, rounds: int) -> None:
    """Restart the server on the same home: the function page now reads its history back from
    the metadata store (first load) and then serves it from memory."""
    from nodal import paths
    from nodal.server import daemon

    daemon.stop_daemon()
    daemon.start_daemon()
    home = paths.nodal_home()
    base = (home / "gateway.url").read_text().strip()
    with type(http)(base_url=base, timeout=120, follow_redirects=True) as fresh:
        assert fresh.get(f"/_nodal/login?token={(home / 'dashboard-secret').read_text().strip()}").status_code == 200
        t = time.perf_counter()
        first = fresh.get(function_page)
        cold = (time.perf_counter() - t) * 1000
        assert first.status_code == 200 and "No inputs finished" not in first.text
        samples = []
        for _ in range(rounds):
            t = time.perf_counter()
            assert fresh.get(function_page).status_code == 200
            samples.append((time.perf_counter() - t) * 1000)
    print(f"\nafter a restart: function page first load (history read from the store) {cold:.1f} ms; "
          f"then p50 {statistics.median(samples):.1f} ms, p90 {_pct(samples, 0.9):.1f} ms")


def follow_logs(http, app_id: str, dashboard_app, seconds: float = 5.0, rate: int = 1000) -> None:
    """Follow the app's logs over SSE while `flood` prints `rate` lines/s; count and time them."""
    lags: list[float] = []
    got = 0
    finished = threading.Event()

    def reader() -> None:
        nonlocal got
        url = f"/_nodal/api/apps/{app_id}/logs/stream"
        with http.stream("GET", url, params={"since": str(time.time()), "function": "flood"},
                         timeout=120) as resp:
            for line in resp.iter_lines():
                if not line.startswith("data: ["):
                    continue
                now = time.time()
                for e in json.loads(line[6:]):
                    if e["data"].startswith("flood done"):
                        finished.set()
                        return
                    parts = e["data"].split()
                    if len(parts) == 3 and parts[0] == "flood":
                        got += 1
                        lags.append(now - float(parts[2]))

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    time.sleep(0.5)  # ok: let the stream open before the flood starts
    printed = dashboard_app.flood.remote(seconds, rate)
    finished.wait(60)
    print(f"\nlive logs: {printed} lines printed at {rate}/s, {got} received over SSE "
          f"({got / max(printed, 1):.1%}); lag print→client p50 {statistics.median(lags) * 1000:.0f} ms, "
          f"p99 {_pct(lags, 0.99) * 1000:.0f} ms, max {max(lags) * 1000:.0f} ms" if lags else
          f"\nlive logs: {printed} printed, none received")


if __name__ == "__main__":
    main()
