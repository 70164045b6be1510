"""What TLS and token authentication cost per call: the same warm calls over the owner's unix
socket and over TCP+TLS with a token, in one run against one server.

    .venv/bin/python bench/remote.py            # 2,000 timed calls per transport and measure
    .venv/bin/python bench/remote.py --quick    # 300

Starts a private server (its own NODAL_HOME, a temp dir) listening on the unix socket and on
NODAL_LISTEN=127.0.0.1:<free port> with its generated CA, deploys bench_app.py, then times
`trivial.remote()` on a warm container and two unary RPCs (Hello, and a Dict get, which the
server scopes to the caller's workspace) through two clients: the owner's (unix socket, no
token) and a remote one (https://127.0.0.1:<port>, the initial admin token, the server's CA).
The owner's calls are timed twice: with every stream on gRPC and with the hot streams framed
(nodal.proto.framing, the local default); so are the remote client's: with its hot streams
framed over the server's TLS streams port (the default since 2026-11-23) and on gRPC over TLS
(as before; `tls-grpc+token`). Each TLS transport is compared with the unix transport of the
same protocol: tls-grpc+token against unix-grpc, tls+token against unix (framed). Rounds
alternate between the transports so drift on a shared machine hits all alike. Prints p50/p90
per transport, the difference per call in µs against its baseline and the ratio; the target is
that TLS + auth add at most 100 µs per warm call. Stops the server it started.
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
    dict_id = run_sync(_make_dict(clients["unix"]))
    for f in fns.values():  # the container starts here; every handle then calls the same warm one
        for i in range(warmup):
            f.remote(i)

    hello = api_pb2.HelloRequest(client_version="bench")
    get = api_pb2.DictGetRequest(dict_id=dict_id, key=b"k", want_value=True)
    results = [("f.remote()", _interleaved({k: _time_remote(f) for k, f in fns.items()}, n, rounds, server_pid))]
    for label, make in (("Hello RPC", lambda s: s.Hello(hello)), ("Dict get RPC", lambda s: s.DictGet(get))):
        runs = {name: _time_rpc(c, make) for name, c in clients.items()}
        for run in runs.values():
            run(warmup)
        results.append((label, _interleaved(runs, n, rounds, server_pid)))
    for c in clients.values():
        run_sync(c._close())
    return results


async def _make_dict(client) -> str:
    """A named Dict holding one entry, for the Dict get measure; its id."""
    from nodal.proto import api_pb2

    resp = await client.stub.DataObjectGetOrCreate(api_pb2.DataObjectGetOrCreateRequest(
        kind=api_pb2.DATA_OBJECT_KIND_DICT, name="nodal-bench-remote", create_if_missing=True))
    await client.stub.DictPut(api_pb2.DictPutRequest(
        dict_id=resp.object_id, entries=[api_pb2.DictEntry(key=b"k", value=b"v")]))
    return resp.object_id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="300 timed calls per transport instead of 2,000")
    parser.add_argument("-n", type=int, default=0, help="timed calls per transport and measure")
    args = parser.parse_args()
    n = args.n or (300 if args.quick else 2000)
    os.environ["NODAL_HOME"] = tempfile.mkdtemp(prefix="nodal-bench-remote-")
    os.environ["NODAL_LISTEN"] = f"127.0.0.1:{_free_port()}"
    os.environ["NODAL_STREAMS_LISTEN"] = str(_free_port())  # the framed TLS streams (default: listen port + 1)
    for var in ("MODAL_SERVER_URL", "MODAL_TOKEN_ID", "MODAL_TOKEN_SECRET", "MODAL_SERVER_CA"):
        os.environ.pop(var, None)
    from nodal.server import daemon

    server_pid = daemon.start_daemon()
    try:
        results = bench(n, rounds=50, warmup=50, server_pid=server_pid)
    finally:
        daemon.stop_daemon()
    load = os.getloadavg()[0]
    print(f"warm calls, {n} per transport and measure, one server on this machine ({os.cpu_count()} CPUs, "
          f"load average {load:.1f}): unix-grpc = the owner's socket, no token, every RPC and stream on gRPC "
          "(tls-grpc+token's baseline); unix = the same with the hot streams framed (the local default; "
          "tls+token's baseline); unix+token = framed, with a token checked; tls-grpc+token = every stream on "
          "gRPC over TCP+TLS on 127.0.0.1 with a token; tls+token = the hot streams framed over the TLS streams "
          "port, unary RPCs on gRPC over TLS, with a token")
    print(f"{'':<14}{'transport':<16}{'p50 µs':>8}{'p90 µs':>8}{'+p50':>7}{'ratio':>7}"
          f"{'CPU µs client':>15}{'server':>8}{'+CPU':>7}")
    worst = worst_cpu = 0.0
    baseline_of = {"tls+token": "unix"}  # the same protocol without TLS or a token; else unix-grpc
    for label, by_transport in results:
        for name, m in by_transport.items():
            base = by_transport[baseline_of.get(name, "unix-grpc")]
            b50, _ = _quantiles(base.latency)
            bcpu = sum(base.cpu_us())
            p50, p90 = _quantiles(m.latency)
            client, server = m.cpu_us()
            if name == "tls+token":
                worst, worst_cpu = max(worst, p50 - b50), max(worst_cpu, client + server - bcpu)
            print(f"{label if name == 'unix-grpc' else '':<14}{name:<16}{p50:>8.0f}{p90:>8.0f}{p50 - b50:>7.0f}"
                  f"{p50 / b50:>7.2f}{client:>15.0f}{server:>8.0f}{client + server - bcpu:>7.0f}")
    for what, value in (("p50 latency", worst), ("CPU (client + server)", worst_cpu)):
        verdict = "within" if value <= TARGET_US else "OVER"
        print(f"TLS + token (framed TLS streams): largest added {what} {value:.0f} µs per call, {verdict} the "
              f"{TARGET_US:.0f} µs target")


if __name__ == "__main__":
    main()
