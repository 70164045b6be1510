"""Scale-out benchmark: the local runtime next to the Ray runtime on a two-node Ray cluster.

    .venv/bin/python bench/scaleout.py            # ~3 minutes
    .venv/bin/python bench/scaleout.py --quick    # ~1.5 minutes

Starts a two-node Ray cluster on this machine (`ray start --head` plus a second `ray start`
joining it, 2 CPUs each, as tests/conftest_ray.py does) and two Nodal servers, each on a fresh
NODAL_HOME: one with the local runtime, one with NODAL_RUNTIME=ray on that cluster (TLS
listener on this machine's outward address, which containers on the nodes call back to).
The same client code (bench/scaleout_app.py) runs against each, in one run, and prints:

- warm `.remote()` round trip of a trivial function (one warm container), p50 and p90;
- `.map` throughput over trivial inputs (up to 4 containers; on Ray, over both nodes);
- cold start of a single-use container whose image has a layer of its own: the first call
  (on Ray: the layer is packed into the blob store and fetched by the node first) and the
  p50 of the following calls;

with Ray/local ratios, the server's CPU per input, the memory of a container's actor process,
and as a peer, a bare Ray actor's start on the same cluster (what every Ray container pays
before its own start). Everything it started (servers, raylets) is stopped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).parent))


def _quantile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds a process has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _actor_processes() -> list[int]:
    """RSS (KiB) of each Ray worker process holding a container's actor."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if b"ContainerActor" not in (entry / "cmdline").read_bytes():
                continue
            for line in (entry / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    out.append(int(line.split()[1]))
        except OSError:
            continue
    return out


def measure(n_remote: int, n_map: int, n_cold: int) -> dict:
    """Run in a child process whose NODAL_HOME is one of the servers: the figures as a dict."""
    from scaleout_app import app, cold_layered, trivial, trivial_wide

    out: dict = {}
    with app.run():
        for i in range(20):  # warm: the container is up, the paths are hot
            trivial.remote(i)
        samples = []
        for i in range(n_remote):
            t = time.perf_counter()
            trivial.remote(i)
            samples.append(time.perf_counter() - t)
        out["remote_p50_ms"] = statistics.median(samples) * 1000
        out["remote_p90_ms"] = _quantile(samples, 0.9)
        sum(1 for _ in trivial_wide.map(range(200)))  # its containers up
        from nodal.server import daemon

        server_pid = daemon.server_pid()
        cpu0 = _cpu_s(server_pid)
        t = time.perf_counter()
        count = sum(1 for _ in trivial_wide.map(range(n_map)))
        out["map_per_s"] = count / (time.perf_counter() - t)
        out["server_cpu_us_per_input"] = (_cpu_s(server_pid) - cpu0) / count * 1e6
        actors = _actor_processes()
        out["actor_processes"] = len(actors)
        out["actor_rss_mb_each"] = statistics.median(actors) / 1024 if actors else 0.0
        cold, nodes = [], []
        for i in range(n_cold):
            t = time.perf_counter()
            nodes.append(cold_layered.remote(i))
            cold.append(time.perf_counter() - t)
        out["cold_first_ms"] = cold[0] * 1000
        out["cold_rest_p50_ms"] = statistics.median(cold[1:]) * 1000 if len(cold) > 1 else float("nan")
        out["cold_ms"] = [round(c * 1000, 1) for c in cold]
        out["cold_nodes"] = [n[:8] for n in nodes]
    return out


_BARE_ACTOR = """
import json, statistics, sys, time, ray
ray.init(address=sys.argv[1], log_to_driver=False, logging_level="ERROR")

class Bare:
    def ping(self):
        return 1

Bare = ray.remote(Bare)
samples = []
for _ in range(int(sys.argv[2])):
    t = time.perf_counter()
    actor = Bare.options(num_cpus=0.125, max_restarts=0).remote()
    ray.get(actor.ping.remote())
    samples.append(time.perf_counter() - t)
    ray.kill(actor, no_restart=True)
print("BARE", json.dumps({"p50_ms": statistics.median(samples) * 1000, "all_ms": [round(x * 1000) for x in samples]}))
"""


def _bare_actor_start(cluster, n: int) -> dict:
    """The peer of a Ray container's cold start in the same cluster: create a trivial actor
    (a fresh Ray worker process), call it once, kill it; p50 of `n`."""
    env = {**os.environ, **cluster.env}
    env.pop("RAY_ADDRESS", None)
    proc = subprocess.run([sys.executable, "-c", _BARE_ACTOR, cluster.address, str(n)], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=600, check=False)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("BARE ")]
    if proc.returncode != 0 or not lines:
        return {"p50_ms": float("nan"), "error": proc.stderr[-1000:]}
    return json.loads(lines[-1][len("BARE "):])


def _run_child(home: Path, args: argparse.Namespace) -> dict:
    env = {**os.environ, "NODAL_HOME": str(home)}
    env.pop("MODAL_SERVER_URL", None)
    proc = subprocess.run(
        [sys.executable, __file__, "--measure", "--remote", str(args.remote), "--map", str(args.map),
         "--cold", str(args.cold)],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=900, check=False,
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("FIGURES ")]
    if proc.returncode != 0 or not lines:
        raise SystemExit(f"the measurement against {home} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
    return json.loads(lines[-1][len("FIGURES "):])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--remote", type=int, default=0)
    parser.add_argument("--map", type=int, default=0)
    parser.add_argument("--cold", type=int, default=0)
    args = parser.parse_args()
    if args.measure:
        print("FIGURES " + json.dumps(measure(args.remote, args.map, args.cold)), flush=True)
        return
    args.remote = args.remote or (300 if args.quick else 1000)
    args.map = args.map or (5_000 if args.quick else 20_000)
    args.cold = args.cold or (4 if args.quick else 8)

    sys.path.insert(0, str(ROOT / "tests"))
    from conftest import PrivateServer
    from conftest_ray import free_port, outward_ip, start_cluster, stop_cluster

    ip = outward_ip()
    if ip is None:
        raise SystemExit("needs a non-loopback address: containers on Ray nodes call the server back over it")
    work = Path(tempfile.mkdtemp(prefix="nodal-bench-scaleout-"))
    t = time.perf_counter()
    (work / "ray").mkdir()
    cluster = start_cluster(work / "ray", ip)
    print(f"two-node Ray cluster up in {time.perf_counter() - t:.1f}s at {cluster.address}", flush=True)
    servers: dict[str, PrivateServer] = {}
    try:
        servers["local"] = PrivateServer(work / "home-local")
        servers["ray"] = PrivateServer(work / "home-ray", env={
            "NODAL_RUNTIME": "ray", "NODAL_RAY_ADDRESS": cluster.address, "NODAL_LISTEN": f"{ip}:{free_port(ip)}",
            "NODAL_RAY_SCRATCH": str(work / "ray" / "containers"),
            "NODAL_RAY_LAYER_CACHE": str(work / "ray" / "layers"), **cluster.env,
        })
        results = {}
        for name, server in servers.items():
            server.home.mkdir(parents=True, exist_ok=True)
            server.start()
            results[name] = _run_child(server.home, args)
            server.stop()  # one server at a time: the other's containers do not share the cores
            print(f"{name}: {json.dumps(results[name])}", flush=True)
        bare = _bare_actor_start(cluster, args.cold)
    finally:
        for server in servers.values():
            try:
                server.stop()
            except Exception:  # noqa: BLE001 - already stopped
                pass
        stop_cluster(cluster)
    local, ray_ = results["local"], results["ray"]
    print(f"\n{'metric':<36}{'local':>12}{'ray (2 nodes)':>15}{'ray/local':>11}")
    for key, label in (("remote_p50_ms", "warm .remote() p50 (ms)"), ("remote_p90_ms", "warm .remote() p90 (ms)"),
                       ("map_per_s", f".map throughput (/s), n={args.map}"),
                       ("cold_first_ms", "cold start, first (ms)"), ("cold_rest_p50_ms", "cold start, later p50 (ms)")):
        a, b = local[key], ray_[key]
        print(f"{label:<36}{a:>12.2f}{b:>15.2f}{b / a:>11.2f}")
    print(f"server CPU per input during the map (µs): local {local['server_cpu_us_per_input']:.0f}, "
          f"ray {ray_['server_cpu_us_per_input']:.0f}")
    print(f"ray: {ray_['actor_processes']} container actors alive after the map, RSS p50 "
          f"{ray_['actor_rss_mb_each']:.0f} MB each (the Ray worker process, not the container)")
    print(f"ray cold starts (ms): {ray_['cold_ms']} on nodes {ray_['cold_nodes']}")
    print(f"peer: a bare Ray actor created and called once, p50 {bare['p50_ms']:.0f} ms "
          f"(all: {bare.get('all_ms')}); a Ray container's cold start minus it: "
          f"{ray_['cold_rest_p50_ms'] - bare['p50_ms']:.0f} ms")


if __name__ == "__main__":
    main()
