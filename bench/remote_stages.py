"""Where the time TLS + token adds to a warm call goes: each stage of the call timed from both
ends, over the owner's unix socket and over TCP+TLS with a token, against one server.

    .venv/bin/python bench/remote_stages.py                 # 3,000 warm f.remote() per transport
    .venv/bin/python bench/remote_stages.py --measure get   # d.get() on a Dict instead
    .venv/bin/python bench/remote_stages.py -n 500          # quicker

`bench/remote.py` measures what TLS + token add; this says where. The server runs under
`bench/stage_probes.py`, which stamps its client-facing frames; the client stamps its own
writes and reads. Client and server share the host's monotonic clock, so one call splits into:
the client's send (encode, encrypt, socket write: on loopback the kernel delivers the bytes to
the server within it), the hop to the server's read callback, its decryption, the server's work
(for f.remote() the round trip to the container included), the server's encode and encrypt,
its socket write, and the hop back to the client's read returning (wake-up, decryption, decode).
Calls alternate between the transports in rounds, so drift on a shared machine hits both alike.
Prints each stage's p50 per transport and what TLS + token add to it. Stops the server it started.
"""

from __future__ import annotations

import argparse
import bisect
import os
import statistics
import sys
import tempfile
import time
import tomllib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from remote import APP_NAME, _free_port  # noqa: E402 - bench/ is on the path only from here

STAGES = ("client send", "to the server", "server decrypt", "server work", "server encode+encrypt",
          "server socket write", "back to the client", "total")


class ClientStamps:
    """Stamps the blocking streams' writes and reads in this process, per transport."""

    def __init__(self) -> None:
        from nodal.proto import blocking_stream

        self.calls: dict[str, list[tuple[float, float, float]]] = {}
        self.current = ""
        self._cls = blocking_stream.BlockingStream
        self._send, self._read = self._cls.send, self._cls.read
        stamps = self
        pending: list[float] = []

        def send(stream, kind: int, payload: bytes = b"") -> None:
            start = time.perf_counter()
            stamps._send(stream, kind, payload)
            pending[:] = [start, time.perf_counter()]

        def read(stream):
            msg = stamps._read(stream)
            if stamps.current and len(pending) == 2:
                stamps.calls.setdefault(stamps.current, []).append((pending[0], pending[1], time.perf_counter()))
                pending.clear()
            return msg

        self._cls.send, self._cls.read = send, read

    def restore(self) -> None:
        self._cls.send, self._cls.read = self._send, self._read


def _server_events(path: Path) -> dict[str, dict[str, list[float]]]:
    events: dict[str, dict[str, list[float]]] = {}
    for line in path.read_text().splitlines():
        kind, event, t = line.split()
        events.setdefault(kind, {}).setdefault(event, []).append(float(t))
    return events


def _after(times: list[float], t: float) -> float | None:
    i = bisect.bisect_left(times, t)
    return times[i] if i < len(times) else None


def _stages(calls: list[tuple[float, float, float]], events: dict[str, list[float]]) -> dict[str, list[float]]:
    """Each call's stages in seconds, from the client's (send start, send end, read end) and the
    server's events on that transport; calls whose events do not line up are left out."""
    out: dict[str, list[float]] = {name: [] for name in STAGES}
    for c0, c1, c2 in calls:
        arrived = _after(events.get("in", []), c0)
        framed = _after(events.get("frame", []), arrived or c2)
        send = _after(events.get("send", []), framed or c2)
        write = _after(events.get("write", []), send or c2)
        sent = _after(events.get("sent", []), write or c2)
        if None in (arrived, framed, send, write, sent) or not (arrived <= framed <= send <= write <= sent <= c2):
            continue
        for name, value in zip(STAGES, (c1 - c0, arrived - c1, framed - arrived, send - framed, write - send,
                                        sent - write, c2 - sent, c2 - c0)):
            out[name].append(value)
    return out


def run(n: int, measure: str) -> None:
    os.environ["NODAL_HOME"] = tempfile.mkdtemp(prefix="nodal-bench-stages-")
    os.environ["NODAL_LISTEN"] = f"127.0.0.1:{_free_port()}"
    os.environ["NODAL_STREAMS_LISTEN"] = str(_free_port())
    os.environ["NODAL_RATE_LIMIT"] = "1000000"  # still checked per message, never refusing this loop
    import modal
    from modal._utils.async_utils import run_sync
    from modal.client import Client
    from nodal import paths
    from nodal.server import daemon

    probes_out = Path(os.environ["NODAL_HOME"]) / "stage-events.txt"
    daemon.start_daemon([sys.executable, str(Path(__file__).parent / "stage_probes.py"), str(probes_out)])
    stamps = ClientStamps()
    try:
        home = paths.nodal_home()
        creds = tomllib.loads((home / "initial-admin-token").read_text())
        clients = {
            "unix": Client(f"unix://{home / 'server.sock'}"),
            "tls+token": Client(f"https://{os.environ['NODAL_LISTEN']}", server_ca=str(home / "tls" / "ca.pem"),
                                token_id=creds["token_id"], token_secret=creds["token_secret"]),
        }
        for c in clients.values():
            run_sync(c._connect())
        from bench_app import app

        app.deploy(name=APP_NAME, client=clients["unix"])
        if measure == "remote":
            fns = {k: modal.Function.from_name(APP_NAME, "trivial", client=c) for k, c in clients.items()}
            ops = {k: (lambda i, f=f: f.remote(i)) for k, f in fns.items()}
        else:
            dicts = {k: modal.Dict.from_name(APP_NAME, create_if_missing=True, client=c) for k, c in clients.items()}
            dicts["unix"]["k"] = "v"
            ops = {k: (lambda i, d=d: d.get("k")) for k, d in dicts.items()}
        for op in ops.values():  # the container starts here; then every call is warm
            for i in range(100):
                op(i)
        rounds = 30
        for r in range(rounds):
            for name in (list(ops) if r % 2 == 0 else list(ops)[::-1]):
                stamps.current = name
                for i in range(max(1, n // rounds)):
                    ops[name](i)
                stamps.current = ""
        for c in clients.values():
            run_sync(c._close())
    finally:
        stamps.restore()
        daemon.stop_daemon()
    events = _server_events(probes_out)
    table = {name: _stages(stamps.calls.get(name, []), events.get(name.split("+")[0], {})) for name in ("unix", "tls+token")}
    what = "f.remote()" if measure == "remote" else "d.get()"
    print(f"{what}, warm, {n} calls per transport (calls whose stamps line up: "
          f"unix {len(table['unix']['total'])}, tls+token {len(table['tls+token']['total'])})")
    print(f"{'stage, p50 µs':<26}{'unix':>8}{'tls+token':>11}{'added':>8}")
    for stage in STAGES:
        a = statistics.median(table["unix"][stage]) * 1e6
        b = statistics.median(table["tls+token"][stage]) * 1e6
        print(f"{stage:<26}{a:>8.1f}{b:>11.1f}{b - a:>+8.1f}")
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=3000, help="timed calls per transport")
    parser.add_argument("--measure", choices=("remote", "get"), default="remote")
    args = parser.parse_args()
    run(args.n, args.measure)


if __name__ == "__main__":
    main()
