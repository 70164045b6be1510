"""What TLS and token authentication cost per call: the same warm calls over the owner's unix
socket and over TCP+TLS with a token, interleaved against one server, on several fresh servers.

    .venv/bin/python bench/remote.py            # 3 servers, 2,000 timed calls per transport and measure
    .venv/bin/python bench/remote.py --quick    # 1 server, 300
    .venv/bin/python bench/remote.py --runs 5   # 5 servers

Each run starts a private server (its own NODAL_HOME, a temp dir) listening on the unix socket
and on NODAL_LISTEN=127.0.0.1:<free port> with its generated CA, deploys bench_app.py, then times
warm calls through two kinds of client: the owner's (unix socket, no token) and a remote one
(https://127.0.0.1:<port>, the initial admin token, the server's CA). The measures:
`trivial.remote()` on a warm container, the SDK's `d.get()` on a Dict (both on the hot framed
streams), and a unary `Hello` RPC (the control plane, gRPC on either transport). Transports:
unix = the owner's socket with the hot streams framed (the local default); unix+token = the
same with a token checked; tls+token = the hot streams framed over the server's TLS streams
port, unary RPCs on gRPC over TLS; and, as before the framed streams, unix-grpc and
tls-grpc+token with every stream on gRPC. Rounds alternate between the transports so drift on
a shared machine hits all alike; a fresh server per run averages over what one process's
memory layout does to its caches, which moves every figure here by up to a fifth from run to
run. Prints each run's p50/p90, client and server CPU per call, and the difference against the
same protocol over the unix socket (tls+token against unix, tls-grpc+token against unix-grpc),
then the median of the runs' differences for the warm calls against the target: TLS + auth
add at most 100 µs per warm call. Stops every server it started.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

APP_NAME = "nodal-bench-remote"
TARGET_US = 100.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _quantiles(samples: list[float]) -> tuple[float, float]:
    """(p50, p90) in microseconds."""
    q = statistics.quantiles(samples, n=10, method="inclusive")
    return statistics.median(samples) * 1e6, q[8] * 1e6


def _cpu_ns(pid: int) -> int:
    """CPU time used so far by every thread of process `pid` (ns, from the scheduler's accounting)."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass  # a thread that just ended
    return total


@dataclass
class Measure:
    """Latency samples of one transport, and the CPU time its calls cost (client and server)."""

    latency: list[float] = field(default_factory=list)
    client_cpu_ns: int = 0
    server_cpu_ns: int = 0

    def cpu_us(self) -> tuple[float, float]:
        """(client, server) CPU µs per call."""
        n = len(self.latency)
        return self.client_cpu_ns / n / 1e3, self.server_cpu_ns / n / 1e3


def _interleaved(runs: dict[str, object], n: int, rounds: int, server_pid: int) -> dict[str, Measure]:
    """n timed calls per transport, in `rounds` batches whose order rotates each round, so load
    from elsewhere on the machine falls on every transport alike. CPU time is counted per batch."""
    out = {name: Measure() for name in runs}
    names = list(runs)
    per = max(1, n // rounds)
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            m = out[name]
            client0, server0 = time.process_time_ns(), _cpu_ns(server_pid)
            m.latency.extend(runs[name](per))
            m.client_cpu_ns += time.process_time_ns() - client0
            m.server_cpu_ns += _cpu_ns(server_pid) - server0
    return out


def _time_remote(fn):
    def run(n: int) -> list[float]:
        samples = []
        for i in range(n):
            t = time.perf_counter()
            fn.remote(i)
            samples.append(time.perf_counter() - t)
        return samples

    return run


def _time_rpc(client, make_call):
    """Times `n` awaits of `make_call(stub)` inside the SDK's loop (one hop into it per batch)."""
    from modal._utils.async_utils import run_sync

    async def batch(n: int) -> list[float]:
        samples = []
        stub = client.stub
        for _ in range(n):
            t = time.perf_counter()
            await make_call(stub)
            samples.append(time.perf_counter() - t)
        return samples

    return lambda n: run_sync(batch(n))


def _time_get(d):
    def run(n: int) -> list[float]:
        samples = []
        for _ in range(n):
            t = time.perf_counter()
            d.get("k")
            samples.append(time.perf_counter() - t)
        return samples

    return run


def bench(n: int, rounds: int, warmup: int, server_pid: int) -> list[tuple[str, dict[str, Measure]]]:
    import modal
    from modal._utils.async_utils import run_sync
    from modal.client import Client
    from nodal import paths
    from nodal.proto import api_pb2

    home = paths.nodal_home()
    creds = tomllib.loads((home / "initial-admin-token").read_text())
    token = {"token_id": creds["token_id"], "token_secret": creds["token_secret"]}
    clients = {
        "unix-grpc": Client(f"unix://{home / 'server.sock'}"),  # the owner: trusted, no token; all gRPC
        "unix": Client(f"unix://{home / 'server.sock'}"),  # the same, its hot streams framed
        "unix+token": Client(f"unix://{home / 'server.sock'}", **token),  # auth without TLS
        "tls-grpc+token": Client(f"https://{os.environ['NODAL_LISTEN']}", server_ca=str(home / "tls" / "ca.pem"),
                                 **token),  # its hot streams on gRPC over TLS (as before the framed TLS port)
        "tls+token": Client(f"https://{os.environ['NODAL_LISTEN']}", server_ca=str(home / "tls" / "ca.pem"),
                            **token),  # its hot streams framed over TLS
    }
    for c in clients.values():
        run_sync(c._connect())
    clients["unix-grpc"]._streams_socket = ""  # every stream on gRPC
    clients["tls-grpc+token"]._streams_socket = ""
    if not clients["tls+token"].framed:
        raise SystemExit("the TLS client did not get the server's framed TLS streams port")

    from bench_app import app

    app.deploy(name=APP_NAME, client=clients["unix"])
    fns = {name: modal.Function.from_name(APP_NAME, "trivial", client=c) for name, c in clients.items()}
    dicts = {name: modal.Dict.from_name(APP_NAME, create_if_missing=True, client=c) for name, c in clients.items()}
    dicts["unix"]["k"] = "v"
    for f in fns.values():  # the container starts here; every handle then calls the same warm one
        for i in range(warmup):
            f.remote(i)

    hello = api_pb2.HelloRequest(client_version="bench")
    results = []
    for label, runs in (("f.remote()", {k: _time_remote(f) for k, f in fns.items()}),
                        ("d.get()", {k: _time_get(d) for k, d in dicts.items()}),
                        ("Hello RPC", {k: _time_rpc(c, lambda s: s.Hello(hello)) for k, c in clients.items()})):
        for run in runs.values():
            run(warmup)
        results.append((label, _interleaved(runs, n, rounds, server_pid)))
    for c in clients.values():
        run_sync(c._close())
    return results


WARM_CALLS = ("f.remote()", "d.get()")  # the hot path the target is about; Hello shows the control plane
BASELINE_OF = {"tls+token": "unix", "unix+token": "unix"}  # the same protocol without TLS (or a token)


def _one_run(n: int) -> list[tuple[str, dict[str, Measure]]]:
    """One fresh server: its NODAL_HOME, listen ports, and the measures against it."""
    os.environ["NODAL_HOME"] = tempfile.mkdtemp(prefix="nodal-bench-remote-")
    os.environ["NODAL_LISTEN"] = f"127.0.0.1:{_free_port()}"
    os.environ["NODAL_STREAMS_LISTEN"] = str(_free_port())  # the framed TLS streams (default: listen port + 1)
    os.environ["NODAL_RATE_LIMIT"] = "1000000"  # still checked per message, but never refusing these tight loops
    from nodal.server import daemon

    server_pid = daemon.start_daemon()
    try:
        return bench(n, rounds=50, warmup=50, server_pid=server_pid)
    finally:
        daemon.stop_daemon()


def _print_run(index: int, results: list[tuple[str, dict[str, Measure]]]) -> dict[str, tuple[float, float]]:
    """Print one run's table; (added p50 latency, added CPU) of tls+token per measure."""
    print(f"run {index}: {'':<6}{'transport':<16}{'p50 µs':>8}{'p90 µs':>8}{'+p50':>7}{'ratio':>7}"
          f"{'CPU µs client':>15}{'server':>8}{'+CPU':>7}")
    added = {}
    for label, by_transport in results:
        for name, m in by_transport.items():
            base = by_transport[BASELINE_OF.get(name, "unix-grpc")]
            b50, _ = _quantiles(base.latency)
            bcpu = sum(base.cpu_us())
            p50, p90 = _quantiles(m.latency)
            client, server = m.cpu_us()
            if name == "tls+token":
                added[label] = (p50 - b50, client + server - bcpu)
            print(f"{label if name == 'unix-grpc' else '':<13}{name:<16}{p50:>8.0f}{p90:>8.0f}{p50 - b50:>7.0f}"
                  f"{p50 / b50:>7.2f}{client:>15.0f}{server:>8.0f}{client + server - bcpu:>7.0f}")
    return added


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one server and 300 timed calls per transport")
    parser.add_argument("-n", type=int, default=0, help="timed calls per transport and measure")
    parser.add_argument("--runs", type=int, default=0, help="fresh servers to measure on (default 3; --quick 1)")
    args = parser.parse_args()
    n = args.n or (300 if args.quick else 2000)
    runs = args.runs or (1 if args.quick else 3)
    for var in ("MODAL_SERVER_URL", "MODAL_TOKEN_ID", "MODAL_TOKEN_SECRET", "MODAL_SERVER_CA"):
        os.environ.pop(var, None)
    print(f"warm calls, {n} per transport and measure, {runs} fresh server(s) on this machine ({os.cpu_count()} "
          "CPUs): unix = the owner's socket, no token, hot streams framed (the local default; tls+token's "
          "baseline); unix+token = the same with a token checked; tls+token = the hot streams framed over the TLS "
          "streams port and unary RPCs on gRPC over TLS, with a token; unix-grpc and tls-grpc+token = every RPC "
          "and stream on gRPC (as before the framed streams; the second is compared with the first)")
    added: dict[str, list[tuple[float, float]]] = {}
    for index in range(1, runs + 1):
        for label, pair in _print_run(index, _one_run(n)).items():
            added.setdefault(label, []).append(pair)
    print(f"load average at the end {os.getloadavg()[0]:.1f}")
    for label, pairs in added.items():
        latency = statistics.median(p for p, _ in pairs)
        cpu = statistics.median(c for _, c in pairs)
        runs_text = ", ".join(f"{p:+.0f}" for p, _ in pairs)
        if label in WARM_CALLS:
            verdict = "within" if latency <= TARGET_US else "OVER"
            tail = f"{verdict} the {TARGET_US:.0f} µs target"
        else:
            tail = "(control plane: gRPC over TLS against gRPC over the unix socket; not a warm call)"
        print(f"TLS + token, {label:<10} added p50 {latency:+.0f} µs (median of runs: {runs_text}), "
              f"CPU {cpu:+.0f} µs: {tail}")


if __name__ == "__main__":
    main()
