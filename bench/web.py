"""Web endpoint benchmarks: a hello-world `asgi_app` through the Nodal gateway next to the same
ASGI app under plain uvicorn, in the same run.

    .venv/bin/python bench/web.py            # 64 connections, 10 s each, 10 cold requests
    .venv/bin/python bench/web.py --quick    # 5 s each, 5 cold requests

Load comes from `wrk` (Debian package `wrk`) with 64 connections; both servers run one
process (uvicorn with h11, as in the container). Cold request: a GET to an endpoint with no
container running (scaled to zero after its 2 s scaledown window), until the response is in.
Uses its own NODAL_HOME (a temp dir) unless NODAL_HOME is set, and stops the server it started.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wrk(url: str, host: str | None, connections: int, seconds: int) -> dict:
    """Requests/s and p99 latency (ms) of `wrk --latency` against `url` (with a Host header)."""
    cmd = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    if host:
        cmd[1:1] = ["-H", f"Host: {host}"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99_text = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99_text.group(2)]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p99_ms": float(p99_text.group(1)) * scale, "non_2xx": int(errors.group(1)) if errors else 0,
            "raw": out}


def wait_listening(port: int, deadline_s: float = 30.0) -> None:
    deadline = time.monotonic() + deadline_s
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"nothing listens on port {port}") from None
            time.sleep(0.05)


def bench_plain_uvicorn(connections: int, seconds: int) -> dict:
    port = free_port()
    log = tempfile.TemporaryFile("w")  # uvicorn's output, kept out of the report
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "web_app:asgi", "--port", str(port), "--http", "h11",
         "--no-access-log", "--log-level", "warning", "--app-dir", str(Path(__file__).parent)],
        stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_listening(port)
        wrk(f"http://127.0.0.1:{port}/", None, connections, 1)  # warm up
        return wrk(f"http://127.0.0.1:{port}/", None, connections, seconds)
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()


def bench_gateway(connections: int, seconds: int, n_cold: int) -> dict:
    import httpx
    from web_app import app, cold, hello

    with app.run():
        url = hello.get_web_url()
        u = urllib.parse.urlsplit(url)
        target = f"http://127.0.0.1:{u.port}/"
        deadline = time.monotonic() + 120
        while httpx.get(target, headers={"Host": u.netloc}, timeout=120).status_code != 200:
            if time.monotonic() > deadline:
                raise RuntimeError("the endpoint never answered")
        wrk(target, u.netloc, connections, 1)  # warm up
        result = wrk(target, u.netloc, connections, seconds)

        cu = urllib.parse.urlsplit(cold.get_web_url())
        cold_target = f"http://127.0.0.1:{cu.port}/"
        samples = []
        with httpx.Client(timeout=120) as client:
            client.get(cold_target, headers={"Host": cu.netloc})  # builds the SDK site etc. once
            for _ in range(n_cold):
                deadline = time.monotonic() + 60
                while cold.get_current_stats().num_total_runners:  # scaled back to zero
                    if time.monotonic() > deadline:
                        raise RuntimeError("the cold endpoint never scaled to zero")
                    time.sleep(0.1)
                t = time.perf_counter()
                r = client.get(cold_target, headers={"Host": cu.netloc})
                samples.append(time.perf_counter() - t)
                assert r.status_code == 200, r.text
        result["cold_p50_ms"] = statistics.median(samples) * 1000
        result["cold_samples_ms"] = [round(s * 1000) for s in samples]
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("bench/web.py needs wrk: apt-get install wrk")
    seconds, n_cold = (5, 5) if args.quick else (10, 10)
    own_home = "NODAL_HOME" not in os.environ
    if own_home:
        os.environ["NODAL_HOME"] = tempfile.mkdtemp(prefix="nodal-bench-web-")
    os.environ.setdefault("NODAL_GATEWAY_PORT", "0")
    from nodal.server import daemon

    started = daemon.server_pid() is None
    if started:
        daemon.start_daemon()
    try:
        plain = bench_plain_uvicorn(args.connections, seconds)
        gw = bench_gateway(args.connections, seconds, n_cold)
    finally:
        if started:
            daemon.stop_daemon()
        if own_home:
            shutil.rmtree(os.environ["NODAL_HOME"], ignore_errors=True)
    print(f"\nhello-world asgi_app, {args.connections} connections, {seconds} s (wrk):")
    print(f"{'':28} {'req/s':>10} {'p99 ms':>8} {'non-2xx':>8}")
    print(f"{'plain uvicorn (h11)':28} {plain['rps']:>10.0f} {plain['p99_ms']:>8.1f} {plain['non_2xx']:>8}")
    print(f"{'Nodal gateway -> container':28} {gw['rps']:>10.0f} {gw['p99_ms']:>8.1f} {gw['non_2xx']:>8}")
    print(f"throughput ratio gateway/plain: {gw['rps'] / plain['rps']:.2f} (target >= 0.50)")
    if os.environ.get("BENCH_RAW"):
        print(plain["raw"], gw["raw"])
    print(f"cold request p50: {gw['cold_p50_ms']:.0f} ms (target <= 300), samples {gw['cold_samples_ms']}")


if __name__ == "__main__":
    main()
