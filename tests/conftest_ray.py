"""A real two-node Ray cluster on this machine, and a Nodal server that places containers on it.

`ray_cluster` (module scope) starts a head node (`node_a` resource) and a second node joining
it (`node_b`), 2 CPUs each, with token authentication on a private token (never the user's
~/.ray token), logs in a temporary directory. Each `ray start` runs in a process group of its
own; teardown SIGTERMs, then SIGKILLs, those groups, so no Ray process outlives the module
(other Ray clusters on the machine are left alone: no `ray stop`, which stops all of them).

`ray_server` is a private Nodal server with NODAL_RUNTIME=ray on that cluster, its TLS
listener on this machine's non-loopback address (containers reach the server through NAT,
which has no route to the host's loopback).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

_RAY = Path(sys.executable).with_name("ray")
_START_TIMEOUT = 120


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def outward_ip() -> str | None:
    """This machine's address on its default route (None if it has only loopback)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # no packet is sent: this only picks the route
            ip = s.getsockname()[0]
        except OSError:
            return None
    return None if ip.startswith("127.") else ip


@dataclass
class RayNode:
    name: str
    pgid: int
    log: Path


@dataclass
class RayCluster:
    root: Path
    address: str
    env: dict[str, str]
    nodes: dict[str, RayNode] = field(default_factory=dict)
    temp_dir: Path | None = None
    ip: str = ""
    node_args: list[str] = field(default_factory=list)  # what every node starts with
    start_env: dict[str, str] = field(default_factory=dict)  # the environment `ray start` runs in

    def join(self, name: str, resources: dict[str, float] | None = None, extra_args: list[str] = (),
             num_cpus: int | None = None) -> RayNode:
        """Start another node (custom resource `name`, plus `resources`; `num_cpus` instead of
        the cluster's usual count) and join it to the cluster."""
        args = list(self.node_args)
        if num_cpus is not None:
            args[args.index("--num-cpus") + 1] = str(num_cpus)
        node = _ray_start(name, ["--address", self.address, "--node-ip-address", self.ip,
                                 "--resources", json.dumps({name: 1, **(resources or {})}),
                                 *args, *extra_args], self.root, self.start_env)
        self.nodes[name] = node
        return node

    def stop_node(self, name: str, timeout: float = 5.0) -> None:
        """Kill one node's processes (its raylet, workers and the containers they hold)."""
        node = self.nodes.pop(name, None)
        if node is not None:
            _kill_group(node.pgid, timeout)

    def node_ids(self) -> dict[str, str]:
        """Ray node id → our node name, read from the cluster (by each node's custom resource)."""
        code = (
            "import json, ray\n"
            f"ray.init(address={self.address!r}, logging_level='ERROR', log_to_driver=False)\n"
            "print('NODES', json.dumps({n['NodeID']: [r for r in n['Resources'] if r.startswith('node_')]"
            " for n in ray.nodes() if n['Alive']}))\n"
        )
        done = subprocess.run([sys.executable, "-c", code], env={**os.environ, **self.env}, capture_output=True,
                              text=True, timeout=60, check=False, stdin=subprocess.DEVNULL)
        assert done.returncode == 0, done.stderr[-3000:]
        found = json.loads(done.stdout.split("NODES ", 1)[1].splitlines()[0])
        return {node_id: names[0] for node_id, names in found.items() if names}


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # Zombies of the group count as gone: only live processes matter.
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def _kill_group(pgid: int, timeout: float) -> None:
    """SIGTERM the process group, SIGKILL it if anything is left after `timeout` s."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 10.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and _group_alive(pgid):
            time.sleep(0.1)
        if not _group_alive(pgid):
            return


def _ray_start(name: str, args: list[str], root: Path, env: dict[str, str]) -> RayNode:
    log = root / f"ray-start-{name}.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen([str(_RAY), "start", *args], stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=env, start_new_session=True)
    node = RayNode(name, proc.pid, log)  # its daemons stay in this process group
    try:
        code = proc.wait(timeout=_START_TIMEOUT)
    except subprocess.TimeoutExpired:
        _kill_group(node.pgid, 5.0)
        raise RuntimeError(f"`ray start` for {name} did not finish in {_START_TIMEOUT}s; see {log}") from None
    if code != 0:
        _kill_group(node.pgid, 5.0)
        raise RuntimeError(f"`ray start` for {name} failed (code {code}):\n{log.read_text()[-3000:]}")
    return node


def start_cluster(root: Path, ip: str, cpus_per_node: int = 2) -> RayCluster:
    """A head node (`node_a` resource) and a second node joining it (`node_b`), with token
    authentication on a private token and logs under `root`; stop it with `stop_cluster`.
    (Also used by bench/scaleout.py.)"""
    temp_dir = Path(f"/tmp/nodal-ray-{secrets.token_hex(4)}")  # Ray's socket paths must stay short
    token = root / "auth_token"
    token.write_text(secrets.token_hex(32))
    token.chmod(0o600)
    env = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token)}
    full_env = {**os.environ, **env, "RAY_USAGE_STATS_ENABLED": "0"}
    full_env.pop("RAY_ADDRESS", None)
    port = free_port(ip)
    common = ["--num-cpus", str(cpus_per_node), "--disable-usage-stats", "--object-store-memory",
              str(100 * 1024 * 1024), "--temp-dir", str(temp_dir)]
    cluster = RayCluster(root, f"{ip}:{port}", env, temp_dir=temp_dir, ip=ip, node_args=common,
                         start_env=full_env)
    try:
        cluster.nodes["node_a"] = _ray_start(
            "node_a", ["--head", "--port", str(port), "--node-ip-address", ip, "--include-dashboard", "false",
                       "--resources", '{"node_a": 1}', *common], root, full_env)
        cluster.join("node_b")
    except BaseException:
        stop_cluster(cluster)
        raise
    return cluster


def stop_cluster(cluster: RayCluster) -> None:
    """Stop every node of the cluster (its process groups: nothing of it outlives this)."""
    for name in list(cluster.nodes)[::-1]:
        cluster.stop_node(name)
    if cluster.temp_dir is not None:
        shutil.rmtree(cluster.temp_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory):
    if importlib.util.find_spec("ray") is None or not _RAY.exists():
        pytest.skip("ray is not installed in this Python (the `bench` extra)")
    ip = outward_ip()
    if ip is None:
        pytest.skip("needs a non-loopback address (containers reach the server through NAT)")
    cluster = start_cluster(Path(tmp_path_factory.mktemp("ray")), ip)
    try:
        yield cluster
    finally:
        stop_cluster(cluster)


@pytest.fixture(scope="module")
def ray_server(require_containers, ray_cluster, tmp_path_factory):
    """A private Nodal server whose containers run on `ray_cluster`."""
    from conftest import PrivateServer

    ip = ray_cluster.address.rsplit(":", 1)[0]
    server = PrivateServer(tmp_path_factory.mktemp("nodal-ray-home"), env={
        "NODAL_RUNTIME": "ray",
        "NODAL_RAY_ADDRESS": ray_cluster.address,
        "NODAL_LISTEN": f"{ip}:{free_port(ip)}",
        "NODAL_RAY_SCRATCH": str(ray_cluster.root / "containers"),
        "NODAL_RAY_LAYER_CACHE": str(ray_cluster.root / "layers"),  # one directory per node under it
        **ray_cluster.env,
    })
    server.start()
    try:
        yield server
    finally:
        server.stop()
