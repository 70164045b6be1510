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

    def __init__(self, server: PrivateServer, n: int) -> None:
        code = (
            "import json, sys\nsys.path.insert(0, 'tests')\nfrom apps import ray_app as r\n"
            "with r.app.run():\n"
            f"    print('RESULT', json.dumps(list(r.gated.map(range({n})))))\n"
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
