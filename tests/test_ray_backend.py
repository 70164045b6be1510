"""The `ray` runtime backend: containers placed by a real two-node Ray cluster on this machine.

Pure logic first (actor options from a container's request, GPU fit from Ray's resources,
configuration checks), then a real cluster (tests/conftest_ray.py) and a Nodal server on it:
a map whose containers land on both nodes, a node stopped mid-map with every input still
answered exactly once, and an unreachable Ray address failing at server start.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import PrivateServer, _wait_until
from conftest_ray import free_port, outward_ip

from nodal.runtime.backend import ContainerSpec
from nodal.runtime.gpus import GpuFit

pytestmark = pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="ray is not installed (the `bench` extra)")

TESTS_DIR = Path(__file__).parent


def _spec(**kw) -> ContainerSpec:
    return ContainerSpec(container_id="c-1", layers=[], command=["true"], **kw)


# ---------- pure logic ----------


def test_actor_options_carry_cpu_memory_and_gpu_type():
    from nodal.runtime.ray_backend import DEFAULT_CPU, actor_options

    assert actor_options(_spec()) == {"num_cpus": DEFAULT_CPU}
    assert actor_options(_spec(cpu=1.5, memory_mb=512)) == {"num_cpus": 1.5, "memory": 512 * 1024 * 1024}
    assert actor_options(_spec(gpu="H100:2")) == {"num_cpus": DEFAULT_CPU, "num_gpus": 2, "accelerator_type": "H100"}
    assert actor_options(_spec(gpu="A100-80GB"))["accelerator_type"] == "A100-80G"
    any_gpu = actor_options(_spec(gpu="ANY:1"))
    assert any_gpu["num_gpus"] == 1 and "accelerator_type" not in any_gpu
    assert actor_options(_spec(gpu="L4,T4:2"))["accelerator_type"] == "L4"  # the preferred option


def test_gpu_fit_from_cluster_resources():
    from nodal.runtime.ray_backend import gpu_fit_of

    total = {"CPU": 8.0, "GPU": 2.0, "accelerator_type:H100": 1.0}
    assert gpu_fit_of("H100:2", total, {"GPU": 2.0}) is GpuFit.NOW
    assert gpu_fit_of("H100:2", total, {"GPU": 1.0}) is GpuFit.BUSY
    assert gpu_fit_of("H100:4", total, {"GPU": 2.0}) is GpuFit.NEVER
    assert gpu_fit_of("A10G", total, {"GPU": 2.0}) is GpuFit.NEVER
    assert gpu_fit_of("A10G,H100", total, {"GPU": 1.0}) is GpuFit.NOW
    assert gpu_fit_of("ANY:1", {"CPU": 4.0}, {}) is GpuFit.NEVER


def test_cluster_gpu_entries_from_ray_and_from_the_node():
    from nodal.runtime.gpus import GpuDevice
    from nodal.runtime.ray_gpus import declared_gpus, node_entries

    declared = declared_gpus({"CPU": 8.0, "GPU": 2.0, "accelerator_type:A100-80G": 1.0})
    assert [(d.index, d.gpu_type) for d in declared] == [(0, "A100-80GB"), (1, "A100-80GB")]
    assert declared_gpus({"CPU": 4.0}) == []
    node = {"NodeID": "f00dfeed" * 7, "NodeManagerAddress": "10.1.2.3", "Alive": True}
    found = [GpuDevice(0, "NVIDIA H100 80GB HBM3", "GPU-aaa", 81559, 0),
             GpuDevice(1, "NVIDIA H100 80GB HBM3", "GPU-bbb", 81559, 1)]
    entries = node_entries(node, found, {(node["NodeID"], "1"): "ta-one", ("other-node", "0"): "ta-two"})
    assert [(e.node, e.device.index, e.device.gpu_type, e.container_id) for e in entries] == [
        ("10.1.2.3 (f00dfeed)", 0, "H100", None), ("10.1.2.3 (f00dfeed)", 1, "H100", "ta-one")]
    by_uuid = node_entries(node, found, {(node["NodeID"], "GPU-aaa"): "ta-three"})
    assert [e.container_id for e in by_uuid] == ["ta-three", None]


def test_ray_configuration_errors_name_the_fix(monkeypatch):
    from nodal.runtime import factory

    monkeypatch.setenv("NODAL_RUNTIME", "kubernetes")
    with pytest.raises(SystemExit, match="NODAL_RUNTIME must be one of local, ray"):
        factory.open_runtime()
    monkeypatch.setenv("NODAL_RUNTIME", "ray")
    monkeypatch.delenv("NODAL_RAY_ADDRESS", raising=False)
    with pytest.raises(SystemExit, match="needs NODAL_RAY_ADDRESS"):
        factory.open_runtime()
    monkeypatch.setenv("NODAL_RAY_ADDRESS", "127.0.0.1:1")
    monkeypatch.delenv("NODAL_LISTEN", raising=False)
    monkeypatch.delenv("NODAL_SERVER_ADVERTISE", raising=False)
    with pytest.raises(SystemExit, match="Set NODAL_LISTEN"):
        factory.open_runtime()
    monkeypatch.setenv("NODAL_LISTEN", "127.0.0.1:8443")
    with pytest.raises(SystemExit, match="loopback address"):
        factory.open_runtime()
    monkeypatch.setenv("NODAL_LISTEN", "10.1.2.3:8443")
    assert factory.advertised_server_url() == "https://10.1.2.3:8443"
    monkeypatch.setenv("NODAL_RAY_ADDRESS", "ray://head:10001")
    with pytest.raises(SystemExit, match="Ray Client address"):
        factory.open_runtime()


def test_unreachable_ray_address_fails_at_server_start(tmp_path):
    ip = outward_ip()
    if ip is None:
        pytest.skip("needs a non-loopback address")
    dead = f"127.0.0.1:{free_port()}"  # nothing listens there
    server = PrivateServer(tmp_path / "home", env={
        "NODAL_RUNTIME": "ray", "NODAL_RAY_ADDRESS": dead, "NODAL_LISTEN": f"{ip}:{free_port(ip)}"})
    with pytest.raises(RuntimeError, match="exited with code"):
        server.start()
    log = (tmp_path / "home" / "logs" / "server.log").read_text()
    assert f"cannot reach the Ray cluster at {dead}" in log


# ---------- on a two-node cluster ----------


class _Map:
    """`gated.map(range(n))` in a client process of its own; the test steers its inputs."""

    def __init__(self, server: PrivateServer, n: int, function: str = "gated") -> None:
        code = (
            "import json, sys\nsys.path.insert(0, 'tests')\nfrom apps import ray_app as r\n"
            "with r.app.run():\n"
            f"    print('RESULT', json.dumps(list(r.{function}.map(range({n})))))\n"
        )
        env = {**os.environ, "NODAL_HOME": str(server.home)}
        env.pop("MODAL_SERVER_URL", None)
        self.proc = subprocess.Popen([sys.executable, "-c", code], env=env, cwd=TESTS_DIR.parent,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def result(self, timeout: float = 240) -> list[tuple[int, str]]:
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate()
            raise AssertionError(f"the map did not finish in {timeout}s:\n{out[-2000:]}\n{err[-4000:]}") from None
        assert self.proc.returncode == 0, out[-2000:] + err[-4000:]
        return [tuple(x) for x in json.loads(out.split("RESULT ", 1)[1].splitlines()[0])]


def _containers_of(host_containers) -> dict[str, tuple[int, str]]:
    """Containers of the test app: task id → (a pid, its NODAL_NODE_ID)."""
    found = {}
    for task, pids in host_containers.by_task().items():
        for pid in pids:
            try:
                env = dict(v.split(b"=", 1) for v in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0") if b"=" in v)
            except OSError:
                continue
            if b"NODAL_NODE_ID" in env:
                found[task] = (pid, env[b"NODAL_NODE_ID"].decode())
                break
    return found


def _started(host_containers, task: str) -> bool:
    for pid in host_containers.pids(task):
        try:
            if any(p.name.startswith("started-") for p in host_containers.path(pid, "/tmp").iterdir()):
                return True
        except OSError:
            continue
    return False


def _two_busy_containers(host_containers, exclude: set[str] = frozenset()) -> dict[str, str]:
    """Wait until two containers (not in `exclude`) each hold an input; task id → Ray node id."""

    def look():
        busy = {t: node for t, (_pid, node) in _containers_of(host_containers).items()
                if t not in exclude and _started(host_containers, t)}
        return busy if len(busy) >= 2 else None

    return _wait_until(look, 180, "two containers holding an input")


def test_map_lands_on_both_nodes(ray_cluster, ray_server, host_containers):
    names = ray_cluster.node_ids()
    assert sorted(names.values()) == ["node_a", "node_b"]
    run = _Map(ray_server, 6)
    busy = _two_busy_containers(host_containers)
    assert {names[node] for node in busy.values()} == {"node_a", "node_b"}  # one container per node
    for task in busy:
        host_containers.write_file(task, "/tmp/go")
    results = run.result()
    assert sorted(i for i, _ in results) == list(range(6))
    assert {names[node] for _, node in results} == {"node_a", "node_b"}
    for task in busy:  # the app has stopped: so have its containers, on both nodes
        host_containers.wait_gone(task, timeout=60)


def test_container_on_a_node_calls_another_function_and_its_logs_come_back(ray_cluster, ray_server):
    names = ray_cluster.node_ids()
    proc = ray_server.python(
        "import json, sys, modal\nsys.path.insert(0, 'tests')\nfrom apps import ray_app as r\n"
        "with modal.enable_output(), r.app.run():\n"
        "    print('RESULT', json.dumps(r.square_via_another.remote(7)), flush=True)\n",
        timeout=240,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    value, node = json.loads(proc.stdout.split("RESULT ", 1)[1].splitlines()[0])
    assert value == 49 and node in names
    assert f"square_via_another(7) on node {node}" in proc.stdout + proc.stderr  # its log, relayed by Ray


def test_input_waits_while_ray_cannot_place_its_container(ray_server):
    proc = ray_server.python(
        "import sys, time, modal\nsys.path.insert(0, 'tests')\nfrom apps import ray_app as r\n"
        "with r.app.run():\n"
        "    call = r.too_big.spawn()\n"
        "    deadline = time.monotonic() + 60\n"
        "    while r.too_big.get_current_stats().backlog != 1 and time.monotonic() < deadline:\n"
        "        time.sleep(0.1)\n"
        "    print('BACKLOG', r.too_big.get_current_stats().backlog, flush=True)\n"
        "    try:\n"
        "        print('DONE', call.get(timeout=3))\n"
        "    except modal.exception.TimeoutError:\n"
        "        print('WAITING', flush=True)\n",
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    assert "BACKLOG 1" in proc.stdout and "WAITING" in proc.stdout, proc.stdout


def _gpu_list(server) -> list[dict]:
    done = subprocess.run([sys.executable, "-m", "modal.cli.entry", "gpu", "list", "--json"],
                          env={**os.environ, "NODAL_HOME": str(server.home)}, capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def test_gpu_list_shows_each_ray_nodes_gpus(ray_cluster, ray_server):
    """`modal gpu list` on a Ray server lists the GPUs of every node of the cluster, and drops a
    node's GPUs when the node leaves. The node here declares two H100s to Ray (`--num-gpus`,
    `accelerator_type:H100`) and has no NVIDIA driver, so its entries are Ray's own figures. It
    has no CPUs, so none of the server's actors (the other tests' containers) land on it."""
    assert _gpu_list(ray_server) == []  # the two CPU-only nodes
    ray_cluster.join("node_gpu", {"accelerator_type:H100": 1}, ["--num-gpus", "2"], num_cpus=0)
    try:
        node_id = _wait_until(lambda: next((i for i, n in ray_cluster.node_ids().items() if n == "node_gpu"), None),
                              timeout=60, what="the GPU node to join")
        listed = _wait_until(lambda: _gpu_list(ray_server), timeout=30, what="the GPU node's GPUs in the list")
        assert [(g["index"], g["type"], g["container_id"]) for g in listed] == [(0, "H100", None), (1, "H100", None)]
        assert {g["node"] for g in listed} == {f"{ray_cluster.ip} ({node_id[:8]})"}
    finally:
        ray_cluster.stop_node("node_gpu")
    _wait_until(lambda: _gpu_list(ray_server) == [], timeout=90, what="the stopped node's GPUs to leave the list")


def test_sandboxes_of_a_ray_server_run_on_its_host(ray_server):
    """Sandboxes (stdin, raw output, exec) stay on the server's host with the Ray backend."""
    proc = ray_server.python(
        "import sys, modal\nsys.path.insert(0, 'tests')\nfrom apps import ray_app as r\n"
        "with r.app.run():\n"
        "    sb = modal.Sandbox.create('sh', '-c', 'echo from-sandbox', app=r.app, image=r.image)\n"
        "    sb.wait()\n"
        "    print('OUT', sb.stdout.read().strip(), sb.returncode, flush=True)\n"
        "    sb = modal.Sandbox.create(app=r.app, image=r.image)\n"
        "    p = sb.exec('echo', 'exec-ok')\n"
        "    print('EXEC', p.stdout.read().strip(), flush=True)\n"
        "    sb.terminate()\n",
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    assert "OUT from-sandbox 0" in proc.stdout and "EXEC exec-ok" in proc.stdout, proc.stdout


# ---------- exec into a container on a node, and block_network ----------

MODAL_CLI = [sys.executable, "-m", "modal.cli.entry"]


def _cli(server: PrivateServer, *args: str, stdin: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "NODAL_HOME": str(server.home)}
    env.pop("MODAL_SERVER_URL", None)
    return subprocess.run([*MODAL_CLI, *args], cwd=TESTS_DIR.parent, env=env, capture_output=True, text=True,
                          timeout=timeout, input=stdin, stdin=None if stdin is not None else subprocess.DEVNULL,
                          check=False)


class _Held:
    """`held.remote()` in a client process of its own: a container that waits for /tmp/go."""

    def __init__(self, server: PrivateServer) -> None:
        code = (
            "import sys\nsys.path.insert(0, 'tests')\nfrom apps import ray_app as r\n"
            "with r.app.run():\n"
            "    print('RESULT', r.held.remote(), flush=True)\n"
        )
        env = {**os.environ, "NODAL_HOME": str(server.home)}
        env.pop("MODAL_SERVER_URL", None)
        self.proc = subprocess.Popen([sys.executable, "-c", code], env=env, cwd=TESTS_DIR.parent,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def result(self, timeout: float = 120) -> str:
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate()
            raise AssertionError(f"held() did not finish in {timeout}s:\n{out[-2000:]}\n{err[-4000:]}") from None
        assert self.proc.returncode == 0, out[-2000:] + err[-4000:]
        return out.split("RESULT ", 1)[1].splitlines()[0].strip()


def test_exec_into_a_container_on_a_ray_node(ray_cluster, ray_server, host_containers, monkeypatch):
    """`modal container exec` (pipes, stdin, exit code) and `modal shell <container>` (a terminal
    of the requested size) run in a function container placed on a Ray node, through its actor."""
    from test_sandbox_shell import MODAL, PtySession

    names = ray_cluster.node_ids()
    run = _Held(ray_server)
    task = host_containers.find_file("/tmp/held-started", timeout=180)
    node = _containers_of(host_containers)[task][1]
    assert node in names
    try:
        out = _cli(ray_server, "container", "exec", task, "sh", "-c",
                   "echo exec-on-$NODAL_NODE_ID; echo to-stderr >&2; ls /tmp")
        assert out.returncode == 0, out.stdout + out.stderr
        assert f"exec-on-{node}" in out.stdout and "held-started" in out.stdout
        assert "to-stderr" in out.stdout + out.stderr
        piped = _cli(ray_server, "container", "exec", "--no-pty", task, "sh", "-c",
                     "read first; echo got-$first; cat; exit 7", stdin="hello\nrest-of-input\n")
        assert piped.returncode == 7, piped.stdout + piped.stderr
        assert "got-hello" in piped.stdout and "rest-of-input" in piped.stdout
        missing = _cli(ray_server, "container", "exec", task, "no-such-command-here")
        assert missing.returncode == 127, missing.stdout + missing.stderr

        monkeypatch.setenv("NODAL_HOME", str(ray_server.home))
        monkeypatch.delenv("MODAL_SERVER_URL", raising=False)
        shell = PtySession([*MODAL, "shell", task, "--cmd", "tty; stty size; echo shell-on-$NODAL_NODE_ID; exit 3"],
                           rows=33, cols=91)
        try:
            shell.expect(f"shell-on-{node}")
            assert shell.wait() == 3
            text = shell.output.decode(errors="replace")
            assert "/dev/pts/" in text and "33 91" in text, text
        finally:
            shell.close()
    finally:
        host_containers.write_file(task, "/tmp/go")
    assert run.result() == node


def test_block_network_on_a_ray_node_leaves_only_the_server(ray_server):
    """A blocked container on a node reaches the server (its input arrives, its result and a call
    to another function go back) but nothing else: not even another port of the server's own
    address, which a container with a network reaches."""
    import socket

    ip = ray_server.env["NODAL_LISTEN"].rsplit(":", 1)[0]
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind((ip, 0))
        listener.listen(16)
        port = listener.getsockname()[1]
        proc = ray_server.python(
            "import json, sys\nsys.path.insert(0, 'tests')\nfrom apps import ray_app as r\n"
            "with r.app.run():\n"
            f"    print('OPEN', json.dumps(r.open_probe.remote({ip!r}, {port})), flush=True)\n"
            f"    print('BLOCKED', json.dumps(r.blocked_probe.remote({ip!r}, {port})), flush=True)\n",
            timeout=240,
        )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    opened, _node = json.loads(proc.stdout.split("OPEN ", 1)[1].splitlines()[0])
    assert opened == "connected"
    blocked, node, squared = json.loads(proc.stdout.split("BLOCKED ", 1)[1].splitlines()[0])
    assert blocked.startswith("refused:") and node and squared == 16, blocked


# ---------- image layers shipped to the nodes by content identity ----------


def test_image_layers_reach_each_node_through_the_blob_store(ray_cluster, ray_server, host_containers):
    """Each node keeps its own layer cache (their directories differ): a container on either
    node stacks its image's layers from that node's cache, fetched from the blob store by the
    layers' content identity (whiteouts kept), not from the server's image directory."""
    from nodal.runtime.ray_node_cache import node_layer_cache_root

    names = ray_cluster.node_ids()
    before = set(_containers_of(host_containers))
    run = _Map(ray_server, 2, function="layered")
    busy = _two_busy_containers(host_containers, exclude=before)
    assert {names[node] for node in busy.values()} == {"node_a", "node_b"}
    caches = {node: node_layer_cache_root(ray_server.env["NODAL_RAY_LAYER_CACHE"], node) for node in busy.values()}
    assert len(set(caches.values())) == 2  # two nodes, two layer directories
    blob_dir = ray_server.home / "blobs"
    shipped: dict[str, set[str]] = {}
    for task, node in busy.items():
        layers = {p.name for p in caches[node].iterdir() if not p.name.startswith(".")}
        assert len(layers) == 2, layers  # the image's two layers (the host root is each node's own)
        for sha in layers:
            assert (blob_dir / sha[:2] / sha).is_file()  # the identity names a blob in the store
        shipped[node] = layers
        pid = _containers_of(host_containers)[task][0]
        mounts = Path(f"/proc/{pid}/mountinfo").read_text()
        assert all(sha in mounts for sha in layers)  # its overlay stacks the node's copies
        assert "images/layers" not in mounts  # not the server's own layer directories
    assert len({frozenset(v) for v in shipped.values()}) == 1  # the same layers, by identity, on both
    for task in busy:
        host_containers.write_file(task, "/tmp/go")
    results = run.result()
    assert sorted(r[0] for r in results) == [0, 1]
    assert all(marker == "layer-42" and not gone for _i, marker, gone, _node in results), results


def test_node_volume_directory_scans_uploads_and_syncs(tmp_path):
    """A node's volume directory on real files and a real blob directory: written from the
    blobs (a corrupted blob refused), its changes found and their contents stored, a failed
    commit's scan restored, and a reload applied."""
    from nodal.runtime.node_volumes import NodeVolume, NodeVolumeError, NodeVolumes, sweep_stale
    from nodal.store.blobs.local_dir import LocalDirBlobStore

    blobs = LocalDirBlobStore(tmp_path / "blobs")
    keep, gone = blobs.put(b"keep"), blobs.put(b"gone")
    manifest = {"keep.txt": [keep, 4, 0o644, 1.0], "d/gone.txt": [gone, 4, 0o600, 2.0]}
    vols = NodeVolumes(tmp_path / "node", "ta-1", blobs)
    [bind] = vols.materialise([NodeVolume("vo-1", "/vol", 3, manifest)])
    d = bind.source
    assert d == tmp_path / "node" / "volume-views" / "ta-1" / "vo-1" and not bind.read_only
    assert (d / "keep.txt").read_bytes() == b"keep" and ((d / "d" / "gone.txt").stat().st_mode & 0o777) == 0o600
    assert vols.scan("vo-1") == ({}, [])

    (d / "new.txt").write_bytes(b"new")
    (d / "d" / "gone.txt").unlink()
    os.utime(d / "keep.txt")  # touched, same bytes: not a change
    changed, deleted = vols.scan("vo-1")
    new = blobs.put(b"new")
    assert {p: e[0] for p, e in changed.items()} == {"new.txt": new} and deleted == ["d/gone.txt"]
    vols.restore("vo-1")  # the server did not record it: the next scan reports it again
    assert vols.scan("vo-1") == (changed, deleted)
    assert vols.scan("vo-1") == ({}, [])  # recorded: the scan is the new base

    other = blobs.put(b"from another node")
    vols.sync("vo-1", {"new.txt": [new, 3, 0o644, 3.0], "other.txt": [other, 17, 0o644, 4.0]})
    assert sorted(p.name for p in d.rglob("*") if p.is_file()) == ["new.txt", "other.txt"]
    assert (d / "other.txt").read_bytes() == b"from another node"

    blobs.path(other).write_bytes(b"tampered")  # a blob that no longer matches its sha256
    with pytest.raises(NodeVolumeError, match="does not match"):
        NodeVolumes(tmp_path / "node", "ta-2", blobs).materialise([NodeVolume("vo-1", "/v", 4, {"o": [other, 1, 0o644, 0]})])

    # the directory of a container whose actor died (its owner lock free) goes; a live one stays
    stale = NodeVolumes(tmp_path / "node", "ta-dead", blobs)
    stale.materialise([NodeVolume("vo-1", "/vol", 3, manifest)])
    stale._owner.close()  # what the actor's death does to its lock
    os.utime(tmp_path / "node" / "volume-views" / "ta-dead" / ".owner", (0, 0))
    os.utime(tmp_path / "node" / "volume-views" / "ta-1" / ".owner", (0, 0))
    assert sweep_stale(tmp_path / "node") == ["ta-dead"]
    assert (d / "new.txt").exists() and not (tmp_path / "node" / "volume-views" / "ta-dead").exists()
    vols.remove()
    assert not (tmp_path / "node" / "volume-views" / "ta-1").exists()


def test_caches_of_nodes_gone_from_the_cluster_are_removed(tmp_path):
    """A raylet restarted on a machine gets a new node id and a new cache; the old one goes once
    a node sees it is not in the cluster, unless something still holds its collection lock."""
    import fcntl
    import os

    from nodal.runtime.ray_cache_gc import sweep_departed_nodes
    from nodal.runtime.ray_node_cache import GC_LOCK

    alive, departed, busy = "a" * 56, "b" * 56, "c" * 56
    for node_id in (alive, departed, busy):
        cache = tmp_path / node_id[:16]
        (cache / ("d" * 64)).mkdir(parents=True)
        (cache / ("d" * 64) / "file").write_text("layer contents")
        (cache / GC_LOCK).touch()
    (tmp_path / "notes").mkdir()  # not a node cache: left alone
    (tmp_path / ("e" * 16)).mkdir()  # named like one but holding no cache: left alone
    held = os.open(tmp_path / busy[:16] / GC_LOCK, os.O_RDWR)
    fcntl.flock(held, fcntl.LOCK_EX)
    try:
        assert sweep_departed_nodes(tmp_path, set()) == []  # no answer from the cluster: nothing goes
        assert sweep_departed_nodes(tmp_path, {alive + "0" * 8}) == [departed[:16]]
    finally:
        os.close(held)
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == sorted(
        [alive[:16], busy[:16], "notes", "e" * 16])
    assert sweep_departed_nodes(tmp_path, {alive}) == []  # swept a moment ago: not again so soon


def test_layer_packed_once_and_fetched_once_per_node_cache(tmp_path):
    """Pure shipping logic (no cluster): a layer directory is packed into the blob store once,
    and concurrent starts on one node fetch it once, with owners, modes and a whiteout kept."""
    import asyncio
    import stat
    import threading

    from nodal.runtime.ray_layers import BlobSource, LayerPacker
    from nodal.runtime.ray_node_cache import NodeLayerCache
    from nodal.store.blobs.local_dir import LocalDirBlobStore

    layer = tmp_path / "layer"
    (layer / "etc").mkdir(parents=True)
    (layer / "etc" / "conf").write_text("shipped")
    os.chmod(layer / "etc" / "conf", 0o640)
    if os.geteuid() == 0:
        os.mknod(layer / "etc" / "deleted", stat.S_IFCHR | 0o000, os.makedev(0, 0))  # an overlay whiteout
        os.setxattr(layer / "etc", "trusted.overlay.opaque", b"y")  # an opaque directory
    blobs = LocalDirBlobStore(tmp_path / "blobs")
    packer = LayerPacker(blobs, tmp_path / "state")
    first = asyncio.run(packer.refs([Path("/"), layer]))
    again = asyncio.run(LayerPacker(blobs, tmp_path / "state").refs([layer]))
    assert [r.index for r in first] == [1] and first[0].sha256 == again[0].sha256  # "/" is not shipped
    assert len(list((tmp_path / "blobs").glob("??/*"))) == 1  # packed once

    caches = [NodeLayerCache(tmp_path / "node", BlobSource.of_server(blobs)) for _ in range(4)]
    threads = [threading.Thread(target=c.ensure, args=(first[0],)) for c in caches]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sum(len(c.fetched) for c in caches) == 1  # one fetch; the others found it
    got = caches[0].path(first[0].sha256)
    assert (got / "etc" / "conf").read_text() == "shipped"
    assert stat.S_IMODE((got / "etc" / "conf").stat().st_mode) == 0o640
    if os.geteuid() == 0:
        assert stat.S_ISCHR((got / "etc" / "deleted").lstat().st_mode)
        assert os.getxattr(got / "etc", "trusted.overlay.opaque") == b"y"


# ---------- a volume across nodes ----------


def test_volume_committed_on_one_node_is_read_on_the_other(ray_cluster, ray_server, host_containers):
    """A container on node A writes and commits a volume file; a container on node B, already
    running with the volume mounted, sees it after reload()."""
    import secrets

    names = ray_cluster.node_ids()
    before = set(_containers_of(host_containers))
    run = _Map(ray_server, 2, function="volume_step")
    busy = _two_busy_containers(host_containers, exclude=before)
    by_name = {names[node]: task for task, node in busy.items()}
    assert set(by_name) == {"node_a", "node_b"}
    for task in busy:  # each node wrote the volume's files itself, from the blob store
        assert not (ray_server.home / "volume-views" / task).exists()
    text = f"from-node-a-{secrets.token_hex(4)}"
    host_containers.write_file(by_name["node_a"], "/tmp/go", f"write:{text}")
    writer = by_name["node_a"]
    _wait_until(lambda: any(host_containers.path(pid, "/tmp/committed").exists()
                            for pid in host_containers.pids(writer)), 120, "the volume commit on node_a")
    host_containers.write_file(by_name["node_b"], "/tmp/go", "read")
    results = {r[1]: r for r in run.result()}
    assert results["wrote"][2] == text and names[results["wrote"][3]] == "node_a"
    assert results["read"][2] == text and names[results["read"][3]] == "node_b"


class _Orders:
    """Steers one `ray_volume_app.volume_orders` container: an order in, its report back."""

    def __init__(self, host_containers, task: str) -> None:
        self.host_containers, self.task, self.n = host_containers, task, 0

    def __call__(self, op: str, **kw: str) -> dict[str, str]:
        n = self.send(op, **kw)

        def report():
            for p in self.host_containers.pids(self.task):
                try:
                    return json.loads(self.host_containers.path(p, f"/tmp/done-{n}").read_text())
                except (OSError, ValueError):
                    continue
            return None

        got = _wait_until(report, 120, f"order {n} ({op}) in container {self.task}")
        assert "error" not in got, got
        return got["files"]

    def send(self, op: str, **kw: str) -> int:
        """Hand the container its next order (not waiting for it to be carried out); its number."""
        n, self.n = self.n, self.n + 1
        self.host_containers.write_file(self.task, f"/tmp/.order-{n}", json.dumps({"op": op, **kw}))
        pid = self.host_containers.pids(self.task)[0]
        os.rename(self.host_containers.path(pid, f"/tmp/.order-{n}"), self.host_containers.path(pid, f"/tmp/order-{n}"))
        return n


def test_node_volume_views_come_from_the_blob_store_and_reload_shows_other_nodes_commits(
        ray_cluster, ray_server, host_containers):
    """Each container's volume is a directory its node wrote from the blob store (not a view of
    the server's), bound at the mount path. Node A writes, deletes and commits; a container on
    node B that mounted the older version sees none of it until reload(), then all of it."""
    from nodal.runtime.ray_node_cache import node_layer_cache_root

    names = ray_cluster.node_ids()
    before = set(_containers_of(host_containers))
    code = (
        "import io, json, sys\nsys.path.insert(0, 'tests')\nfrom apps import ray_volume_app as r\n"
        "with r.app.run():\n"
        "    with r.volume.batch_upload(force=True) as b:\n"
        "        b.put_file(io.BytesIO(b'old'), '/old.txt')\n"
        "        b.put_file(io.BytesIO(b'bye'), '/sub/gone.txt')\n"
        "    print('RESULT', json.dumps(list(r.volume_orders.map(range(2)))), flush=True)\n"
        "    print('AFTER', json.dumps(sorted(e.path for e in r.volume.listdir('/', recursive=True))), flush=True)\n"
    )
    env = {**os.environ, "NODAL_HOME": str(ray_server.home)}
    env.pop("MODAL_SERVER_URL", None)
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, cwd=TESTS_DIR.parent,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        busy = _two_busy_containers(host_containers, exclude=before)
        by_name = {names[node]: task for task, node in busy.items()}
        assert set(by_name) == {"node_a", "node_b"}
        node_of = dict(busy)
        for task in busy:
            pid = host_containers.pids(task)[0]
            views = node_layer_cache_root(ray_server.env["NODAL_RAY_LAYER_CACHE"], node_of[task]) / "volume-views"
            [on_node] = [p for p in (views / task).iterdir() if p.is_dir()]  # .../volume-views/<container>/<volume>
            mounted = os.stat(host_containers.path(pid, "/vol"))
            assert (mounted.st_dev, mounted.st_ino) == (on_node.stat().st_dev, on_node.stat().st_ino)
            assert (on_node / "old.txt").read_text() == "old"
            assert not (ray_server.home / "volume-views" / task).exists()  # the server keeps no view of it
        a, b = _Orders(host_containers, by_name["node_a"]), _Orders(host_containers, by_name["node_b"])
        assert b("list") == {"old.txt": "old", "sub/gone.txt": "bye"}
        a("write", path="new.txt", text="fresh")
        a("delete", path="sub/gone.txt")
        assert a("commit") == {"old.txt": "old", "new.txt": "fresh"}
        assert b("list") == {"old.txt": "old", "sub/gone.txt": "bye"}  # mounted before the commit
        assert b("reload_while_open", path="old.txt") == {"old.txt": "old", "sub/gone.txt": "bye"}
        assert b("reload") == {"old.txt": "old", "new.txt": "fresh"}  # the new file, the deleted one gone
        b("write", path="from-b.txt", text="b")  # no commit: the worker commits after the input
        assert a("reload") == {"old.txt": "old", "new.txt": "fresh"}  # not committed yet
        a.send("done")  # the input returns: the app may end (and its containers with it) at once
        b.send("done")
        out, err = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, out[-2000:] + err[-4000:]
    results = json.loads(out.split("RESULT ", 1)[1].splitlines()[0])
    assert {names[node] for _i, node, _files in results} == {"node_a", "node_b"}
    assert json.loads(out.split("AFTER ", 1)[1].splitlines()[0]) == ["from-b.txt", "new.txt", "old.txt"]
    for task, node in node_of.items():  # each node removes its container's directory when it ends
        views = node_layer_cache_root(ray_server.env["NODAL_RAY_LAYER_CACHE"], node) / "volume-views"
        _wait_until(lambda d=views / task: not d.exists(), 60, f"the volume directory of {task} to go")


# ---------- warm actors ----------


def _actor_processes() -> set[int]:
    """Pids of the Ray worker processes holding a container actor (idle warm ones included)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if b"ContainerActor" in (entry / "cmdline").read_bytes():
                    found.add(int(entry.name))
            except OSError:
                continue
    return found


def _ancestors(pid: int) -> list[int]:
    out = []
    while pid > 1:
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except OSError:
            break
        out.append(pid)
    return out


def test_a_default_container_starts_in_an_actor_started_before_it(ray_server, host_containers):
    """A container that asks for no cpu, memory or GPU takes one of the actors the server keeps
    started (Ray's ~1 s worker start is not on its path), and the pool is refilled."""
    warm = _wait_until(lambda: _actor_processes() or None, 60, "the server's warm actors")
    code = (
        "import sys\nsys.path.insert(0, 'tests')\nfrom apps import ray_app as r\n"
        "with r.app.run():\n"
        "    print('RESULT', r.parked.remote(), flush=True)\n"
    )
    env = {**os.environ, "NODAL_HOME": str(ray_server.home)}
    env.pop("MODAL_SERVER_URL", None)
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, cwd=TESTS_DIR.parent,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    task = None
    try:
        task = host_containers.find_file("/tmp/parked-started", timeout=120)
        pid = host_containers.pids(task)[0]
        holder = [p for p in _ancestors(pid) if p in _actor_processes()]
        assert holder and holder[0] in warm, (holder, warm)  # an actor that was up before the call
        # the pool is refilled: as many idle actors as before, besides the one now holding it
        _wait_until(lambda: len(_actor_processes() - {holder[0]}) >= len(warm), 60, "the pool to refill")
    finally:
        if task is not None:
            host_containers.write_file(task, "/tmp/go")
        else:
            proc.kill()
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, out[-2000:] + err[-3000:]


# ---------- an s3:// blob store: the nodes fetch code blobs from the bucket ----------


@pytest.fixture(scope="module")
def ray_s3_server(require_containers, ray_cluster, tmp_path_factory):
    """A second Ray server on the same cluster, its blob store a bucket on a local S3 server."""
    from conftest_s3 import MotoS3

    s3 = MotoS3.start(tmp_path_factory.mktemp("moto"))
    try:
        s3.client().create_bucket(Bucket="nodal-ray-blobs")
        ip = ray_cluster.address.rsplit(":", 1)[0]
        server = PrivateServer(tmp_path_factory.mktemp("nodal-ray-s3-home"), env={
            "NODAL_RUNTIME": "ray", "NODAL_RAY_ADDRESS": ray_cluster.address,
            "NODAL_LISTEN": f"{ip}:{free_port(ip)}",
            "NODAL_RAY_SCRATCH": str(ray_cluster.root / "containers-s3"),
            "NODAL_RAY_LAYER_CACHE": str(ray_cluster.root / "layers-s3"),
            **ray_cluster.env, **s3.env("s3://nodal-ray-blobs/cluster"),
        })
        server.start()
        try:
            yield server
        finally:
            server.stop()
    finally:
        s3.stop()


def test_with_a_bucket_nodes_fetch_the_app_code_by_its_sha256(ray_s3_server):
    """The app's code is bound into a container on a node from that node's blob cache, fetched
    from the bucket by sha256, not from the server's own cache of the bucket."""
    import hashlib

    proc = ray_s3_server.python(
        "import json, sys\nsys.path.insert(0, 'tests')\nfrom apps import ray_app as r\n"
        "with r.app.run():\n"
        "    print('RESULT', json.dumps(r.square_via_another.remote(5)), flush=True)\n",
        timeout=240,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    value, node = json.loads(proc.stdout.split("RESULT ", 1)[1].splitlines()[0])
    assert value == 25
    from nodal.runtime.ray_node_cache import node_layer_cache_root

    code_sha = hashlib.sha256((TESTS_DIR / "apps" / "ray_app.py").read_bytes()).hexdigest()
    node_cache = node_layer_cache_root(ray_s3_server.env["NODAL_RAY_LAYER_CACHE"], node) / ".blobs"
    assert (node_cache / code_sha[:2] / code_sha).is_file()  # fetched on the node that ran it
    assert (node_cache / code_sha[:2] / code_sha).read_bytes() == (TESTS_DIR / "apps" / "ray_app.py").read_bytes()


def test_with_a_bucket_volume_files_travel_between_node_and_server_through_it(ray_s3_server):
    """A volume file uploaded by a client reaches the node's blob cache from the bucket; a file
    the container writes is put into the bucket from the node and read back by the client."""
    import hashlib
    import secrets

    from nodal.runtime.ray_node_cache import node_layer_cache_root

    text = f"written-on-a-node-{secrets.token_hex(4)}"
    proc = ray_s3_server.python(
        "import io, json, sys\nsys.path.insert(0, 'tests')\nfrom apps import ray_volume_app as r\n"
        "with r.app.run():\n"
        "    with r.volume.batch_upload(force=True) as b:\n"
        "        b.put_file(io.BytesIO(b'seed-from-client'), '/seed.txt')\n"
        f"    node, found = r.write_volume_file.remote('written.txt', {text!r})\n"
        "    back = b''.join(r.volume.read_file('written.txt')).decode()\n"
        "    print('RESULT', json.dumps([node, found, back]), flush=True)\n",
        timeout=240,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    node, found, back = json.loads(proc.stdout.split("RESULT ", 1)[1].splitlines()[0])
    assert found == {"seed.txt": "seed-from-client"} and back == text
    node_cache = node_layer_cache_root(ray_s3_server.env["NODAL_RAY_LAYER_CACHE"], node) / ".blobs"
    for data in (b"seed-from-client", text.encode()):  # fetched from, and put into, the bucket by the node
        sha = hashlib.sha256(data).hexdigest()
        assert (node_cache / sha[:2] / sha).read_bytes() == data


# ---------- a node's layer cache kept within its budget ----------

_CACHE_CLIENT = """
import json, sys
sys.path.insert(0, 'tests')
from apps import ray_cache_app as r
def say(tag, value):
    print(tag, json.dumps(value), flush=True)
with r.app.run():
    held_a = [r.hold_a.spawn(i) for i in range(2)]
    say('SPAWNED', 'a')
    sys.stdin.readline()
    say('B', r.name_b.remote())
    say('C', r.name_c.remote())
    sys.stdin.readline()
    say('A', [c.get() for c in held_a])
    held_c = [r.hold_c.spawn(i) for i in range(2)]
    say('SPAWNED', 'c')
    say('C2', [c.get() for c in held_c])
    say('A2', r.name_a.remote())
"""


def test_node_layer_cache_keeps_to_its_budget_and_never_drops_a_layer_in_use(ray_cluster, host_containers,
                                                                               tmp_path_factory):
    """A server whose nodes keep 1.5 MiB of layers (one image's): with a container of image A
    running on each node, containers of B and C start and A's layer stays; once A's
    containers are gone and C's start on both nodes, A's layer is removed from both; a later
    start of A fetches it again and works."""
    from nodal.runtime.ray_node_cache import node_layer_cache_root

    ip = ray_cluster.address.rsplit(":", 1)[0]
    server = PrivateServer(tmp_path_factory.mktemp("nodal-ray-cache-home"), env={
        "NODAL_RUNTIME": "ray", "NODAL_RAY_ADDRESS": ray_cluster.address,
        "NODAL_LISTEN": f"{ip}:{free_port(ip)}",
        "NODAL_RAY_SCRATCH": str(ray_cluster.root / "containers-cache"),
        "NODAL_RAY_LAYER_CACHE": str(ray_cluster.root / "layers-cache"),
        "NODAL_RAY_LAYER_CACHE_GB": str(1.5 / 1024),
        "NODAL_RAY_WARM_ACTORS": "0",  # CPU left for the containers: other servers share the cluster
        **ray_cluster.env,
    })
    server.start()
    env = {**os.environ, "NODAL_HOME": str(server.home)}
    env.pop("MODAL_SERVER_URL", None)
    errors = server.home / "cache-client.err"
    with open(errors, "w") as err:
        client = subprocess.Popen([sys.executable, "-c", _CACHE_CLIENT], env=env, cwd=TESTS_DIR.parent, text=True,
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err)
    caches = {}

    def said(tag: str):
        line = client.stdout.readline()  # the client says each step (or ends: its errors are in the file)
        assert line.startswith(tag + " "), f"{line!r}\n{errors.read_text()[-4000:]}"
        return json.loads(line.split(" ", 1)[1])

    def layers(node: str) -> set[str]:
        return {p.name for p in caches[node].iterdir() if len(p.name) == 64}

    try:
        before = set(_containers_of(host_containers))
        assert said("SPAWNED") == "a"
        holding_a = _two_busy_containers(host_containers, exclude=before)  # one on each node
        assert len(set(holding_a.values())) == 2
        for node in holding_a.values():
            caches[node] = node_layer_cache_root(server.env["NODAL_RAY_LAYER_CACHE"], node)
        [a_layer] = set.intersection(*(layers(node) for node in caches))  # image A's own layer, on both

        client.stdin.write("go\n")
        client.stdin.flush()
        b_marker, b_node = said("B")
        c_marker, c_node = said("C")
        assert (b_marker, c_marker) == ("B", "C")
        assert b_node in caches and c_node in caches
        for node in caches:  # over budget, but A is in use on both nodes: it stays
            assert a_layer in layers(node)
        assert len(layers(c_node)) >= 2

        for task in holding_a:
            host_containers.write_file(task, "/tmp/go")
        client.stdin.write("go\n")
        client.stdin.flush()
        assert sorted(said("A")) == sorted(["A", node] for node in caches)
        assert said("SPAWNED") == "c"
        holding_c = _two_busy_containers(host_containers, exclude=before | set(holding_a))
        assert set(holding_c.values()) == set(caches)
        # C started on both nodes; A's containers are gone: A's layer goes from both caches
        _wait_until(lambda: all(a_layer not in layers(node) for node in caches), 60,
                    "image A's layer to be removed from both node caches")
        for node in caches:
            assert not (caches[node] / ".leases" / f"layer-{a_layer}").exists()
        for task in holding_c:
            host_containers.write_file(task, "/tmp/go")
        assert sorted(said("C2")) == sorted(["C", node] for node in caches)
        a_marker, a_node = said("A2")  # A again: fetched again, and it works
        assert a_marker == "A" and a_layer in layers(a_node)
        assert client.wait(120) == 0, errors.read_text()[-4000:]
    finally:
        if client.poll() is None:
            client.kill()
            client.wait(30)
        server.stop()


# ---------- last: it stops node_b for good (the module's cluster has one node after it) ----------


def test_node_stopped_mid_map_answers_every_input_once(ray_cluster, ray_server, host_containers):
    names = ray_cluster.node_ids()
    before = set(_containers_of(host_containers))
    run = _Map(ray_server, 6)
    busy = _two_busy_containers(host_containers, exclude=before)
    on_b = [t for t, node in busy.items() if names[node] == "node_b"]
    on_a = [t for t, node in busy.items() if names[node] == "node_a"]
    assert on_b and on_a, busy
    ray_cluster.stop_node("node_b")  # its raylet, its workers and the container they hold
    host_containers.wait_gone(on_b[0])
    host_containers.write_file(on_a[0], "/tmp/go")
    results = run.result()
    assert sorted(i for i, _ in results) == list(range(6))  # each input answered, exactly once
    assert {names.get(node) for _, node in results} == {"node_a"}  # node_b's input was retried on node_a
