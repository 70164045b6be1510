"""LocalRuntime end to end: real containers (overlay + bubblewrap) from a real Debian image."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import statistics
import time
import uuid
from pathlib import Path

import pytest

from nodal.runtime.backend import Bind, ContainerSpec, ContainerState
from nodal.runtime.launcher import DEFAULT_ENV
from nodal.runtime.local import LocalRuntime

pytest_plugins = ["conftest_images"]

pytestmark = pytest.mark.slow


class Collector:
    """Records what a container reports through the backend's callbacks."""

    def __init__(self) -> None:
        self.logs: list[tuple[str, str]] = []
        self.exits: list[int] = []
        self.exited = asyncio.Event()

    def on_log(self, cid: str, stream: str, line: str) -> None:
        self.logs.append((stream, line))

    async def on_exit(self, cid: str, code: int) -> None:
        self.exits.append(code)
        self.exited.set()

    def lines(self, stream: str = "stdout") -> list[str]:
        return [line for s, line in self.logs if s == stream]

    async def wait(self, timeout: float = 30.0) -> int:
        await asyncio.wait_for(self.exited.wait(), timeout)
        return self.exits[0]

    async def wait_for_line(self, predicate, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for _, line in self.logs:
                if predicate(line):
                    return line
            await asyncio.sleep(0.01)  # ok: polling under the deadline above
        raise AssertionError(f"no matching line in {self.logs}")


def make_spec(image, command: list[str], **kw) -> ContainerSpec:
    return ContainerSpec(
        container_id=kw.pop("container_id", f"ta-{uuid.uuid4().hex[:10]}"),
        layers=image.layers,
        command=command,
        env=kw.pop("env", dict(image.env)),
        workdir=kw.pop("workdir", image.workdir),
        **kw,
    )


async def run_to_exit(runtime: LocalRuntime, spec: ContainerSpec, timeout: float = 30.0) -> Collector:
    collector = Collector()
    await runtime.start(spec, collector.on_log, collector.on_exit)
    await collector.wait(timeout)
    return collector


def py(code: str) -> list[str]:
    return ["python3", "-c", code]


def test_own_root_private_writes_and_tmp(base_image, scratch_root: Path, tmp_path: Path):
    host_marker = tmp_path / f"host-only-{uuid.uuid4().hex}"
    host_marker.write_text("x")
    code = f"""
import os, json
os.makedirs('/data', exist_ok=True); open('/data/out.txt', 'w').write('data')
os.makedirs('/root/.cache', exist_ok=True); open('/root/.cache/c.txt', 'w').write('cache')
open('/tmp/t.txt', 'w').write('tmp')
print(json.dumps({{
  'root': sorted(os.listdir('/')),
  'host_path_visible': os.path.exists('/work') or os.path.exists({str(host_marker)!r}),
  'tmp_mode': oct(os.stat('/tmp').st_mode & 0o7777),
  'tmp_listing': sorted(os.listdir('/tmp')),
  'hostname': open('/etc/hostname').read().strip(),
  'pid': os.getpid(),
}}))
"""

    async def body() -> dict:
        runtime = LocalRuntime(scratch_root=scratch_root)
        c = await run_to_exit(runtime, make_spec(base_image, py(code), hostname="box"))
        assert c.exits == [0], c.logs
        return json.loads(c.lines()[-1])

    info = asyncio.run(body())
    assert {"usr", "etc", "proc", "tmp", "root"} <= set(info["root"])
    assert not info["host_path_visible"]
    assert info["tmp_mode"] == "0o1777" and info["tmp_listing"] == ["t.txt"]
    assert info["hostname"] == "box"
    assert info["pid"] < 10  # its own pid namespace
    for host_path in ("/data/out.txt", "/root/.cache/c.txt"):
        assert not Path(host_path).exists(), f"{host_path} leaked onto the host"
    assert not any(p.name == "t.txt" for p in Path("/tmp").iterdir())
    for layer in base_image.layers:  # the image itself is untouched
        assert not (layer / "data").exists()


def test_env_is_exactly_the_spec(base_image, scratch_root: Path):
    env = {"FOO": "bar", "EMPTY": "", "WITH_SPACE": "a b=c"}
    spec = make_spec(base_image, py("import os, json; print(json.dumps(dict(os.environ)))"), env=env)

    async def body() -> Collector:
        return await run_to_exit(LocalRuntime(scratch_root=scratch_root), spec)

    c = asyncio.run(body())
    seen = json.loads(c.lines()[-1])
    seen.pop("PWD", None)  # set by the chdir into the workdir, as a shell would
    assert seen == {**DEFAULT_ENV, **env}


def test_file_bind_and_workdir(base_image, scratch_root: Path, tmp_path: Path):
    app = tmp_path / "app.py"
    app.write_text("print('hello from app', __import__('os').getcwd())\n")
    spec = make_spec(
        base_image, ["python3", "/root/app.py"], binds=[Bind(app, "/root/app.py")], workdir="/srv/work"
    )

    async def body() -> Collector:
        return await run_to_exit(LocalRuntime(scratch_root=scratch_root), spec)

    c = asyncio.run(body())
    assert c.exits == [0], c.logs
    assert c.lines() == ["hello from app /srv/work"]


def test_block_network_has_no_route(base_image, scratch_root: Path):
    code = """
import socket, json
routes = open('/proc/net/route').read().splitlines()[1:]
devs = [l.split(':')[0].strip() for l in open('/proc/net/dev').read().splitlines()[2:]]
print(json.dumps({'routes': routes, 'ifaces': [n for _, n in socket.if_nameindex()], 'devs': devs}))
"""

    async def body() -> Collector:
        return await run_to_exit(
            LocalRuntime(scratch_root=scratch_root), make_spec(base_image, py(code), block_network=True)
        )

    info = json.loads(asyncio.run(body()).lines()[-1])
    assert info["routes"] == []
    assert info["ifaces"] == ["lo"] and info["devs"] == ["lo"]


def test_default_network_is_nat_without_host_loopback(base_image, scratch_root: Path):
    from nodal.runtime.network import slirp4netns_path

    if slirp4netns_path() is None:
        pytest.skip("slirp4netns is not installed")
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    code = f"""
import socket, json
def reach(host):
    try:
        socket.create_connection((host, {port}), timeout=1).close(); return True
    except OSError:
        return False
own = socket.socket(); own.bind(('127.0.0.1', 0)); own.listen()
own_port = own.getsockname()[1]
socket.create_connection(('127.0.0.1', own_port), timeout=1).close()  # its own loopback works
routes = [l.split()[0] for l in open('/proc/net/route').read().splitlines()[1:]]
print(json.dumps({{'routes': routes, 'loopback': reach('127.0.0.1'), 'gateway': reach('10.0.2.2'),
                   'resolv': open('/etc/resolv.conf').read()}}))
"""
    try:

        async def body() -> Collector:
            return await run_to_exit(LocalRuntime(scratch_root=scratch_root), make_spec(base_image, py(code)))

        info = json.loads(asyncio.run(body()).lines()[-1])
    finally:
        server.close()
    assert "tap0" in info["routes"]
    assert not info["loopback"] and not info["gateway"]
    assert "10.0.2.3" in info["resolv"]


def test_exit_codes_reach_on_exit(base_image, scratch_root: Path):
    async def body() -> tuple[int, int, int]:
        runtime = LocalRuntime(scratch_root=scratch_root)
        ok = await run_to_exit(runtime, make_spec(base_image, ["sh", "-c", "exit 0"]))
        failed = await run_to_exit(runtime, make_spec(base_image, ["sh", "-c", "exit 3"]))
        killed = await run_to_exit(runtime, make_spec(base_image, ["sh", "-c", "kill -9 $$"]))
        return ok.exits[0], failed.exits[0], killed.exits[0]

    assert asyncio.run(body()) == (0, 3, 137)


def test_logs_stream_line_by_line(base_image, scratch_root: Path, tmp_path: Path):
    shared = tmp_path / "shared"
    shared.mkdir()
    code = """
import os, sys
print('first', flush=True)
print('err-line', file=sys.stderr, flush=True)
while not os.path.exists('/shared/go'):
    pass
print('second'); print('third', flush=True)
"""

    async def body() -> Collector:
        runtime = LocalRuntime(scratch_root=scratch_root)
        c = Collector()
        await runtime.start(
            make_spec(base_image, py(code), binds=[Bind(shared, "/shared", read_only=False)]),
            c.on_log,
            c.on_exit,
        )
        await c.wait_for_line(lambda line: line == "first")
        assert not c.exited.is_set()  # the first line arrived while the container was still running
        (shared / "go").write_text("")
        await c.wait()
        return c

    c = asyncio.run(body())
    assert c.lines("stdout") == ["first", "second", "third"]
    assert c.lines("stderr") == ["err-line"]
    assert c.exits == [0]


def test_stop_kills_the_whole_tree(base_image, scratch_root: Path):
    # Every process ignores SIGTERM, which forces the SIGKILL path after the grace period.
    command = ["sh", "-c", "trap '' TERM; sh -c 'sleep 1000' & sleep 1000 & echo started; wait"]

    async def body() -> tuple[Collector, list[int], float]:
        runtime = LocalRuntime(scratch_root=scratch_root)
        spec = make_spec(base_image, command)
        c = Collector()
        await runtime.start(spec, c.on_log, c.on_exit)
        await c.wait_for_line(lambda line: line == "started")
        container = runtime._running[spec.container_id].container
        deadline = time.monotonic() + 10
        while len(container.namespace_pids()) < 5 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)  # ok: polling under the deadline above
        pids = container.namespace_pids()
        assert runtime.status(spec.container_id).state is ContainerState.RUNNING
        started = time.monotonic()
        await runtime.stop(spec.container_id, grace_seconds=0.5)
        took = time.monotonic() - started
        assert runtime.status(spec.container_id).state is ContainerState.EXITED
        return c, pids, took

    c, pids, took = asyncio.run(body())
    assert c.exits and len(c.exits) == 1
    assert len(pids) >= 5, pids  # init, sh, sh (TERM-ignoring), 2x sleep
    assert 0.4 < took < 5
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists()


def test_stop_is_quick_for_a_cooperative_container(base_image, scratch_root: Path):
    async def body() -> tuple[int, float]:
        runtime = LocalRuntime(scratch_root=scratch_root)
        spec = make_spec(base_image, py("import time; print('up', flush=True); time.sleep(1000)"))
        c = Collector()
        await runtime.start(spec, c.on_log, c.on_exit)
        await c.wait_for_line(lambda line: line == "up")
        started = time.monotonic()
        await runtime.stop(spec.container_id, grace_seconds=10)
        return c.exits[0], time.monotonic() - started

    code, took = asyncio.run(body())
    assert code == 128 + 15  # SIGTERM
    assert took < 2


def test_exec_runs_inside_the_container(base_image, scratch_root: Path):
    async def body() -> tuple[int, bytes]:
        runtime = LocalRuntime(scratch_root=scratch_root)
        spec = make_spec(
            base_image,
            ["sh", "-c", "echo inside > /root/marker; echo ready; exec sleep 1000"],
            env={"ANSWER": "42"},
            hostname="exec-box",
        )
        c = Collector()
        await runtime.start(spec, c.on_log, c.on_exit)
        await c.wait_for_line(lambda line: line == "ready")
        proc = await runtime.exec(
            spec.container_id, ["sh", "-c", "cat /root/marker; hostname; echo $ANSWER; pwd"]
        )
        out = await proc.stdout.read()
        code = await proc.wait()
        await runtime.shutdown(grace_seconds=1)
        assert c.exited.is_set()
        return code, out

    code, out = asyncio.run(body())
    assert code == 0
    assert out.decode().split() == ["inside", "exec-box", "42", "/root"]


def test_status_and_resources(base_image, scratch_root: Path):
    async def body() -> None:
        runtime = LocalRuntime(scratch_root=scratch_root, total_cpu=4, total_memory_mb=8000)
        assert runtime.resources_left().cpu == 4
        spec = make_spec(base_image, ["sh", "-c", "echo up; exec sleep 1000"], cpu=1.5, memory_mb=1000)
        c = Collector()
        await runtime.start(spec, c.on_log, c.on_exit)
        left = runtime.resources_left()
        assert (left.cpu, left.memory_mb) == (2.5, 7000)
        assert runtime.status(spec.container_id).state in (ContainerState.STARTING, ContainerState.RUNNING)
        assert runtime.status("nope") is None
        await c.wait_for_line(lambda line: line == "up")
        await runtime.shutdown(grace_seconds=2)
        assert runtime.resources_left().cpu == 4
        assert runtime.status(spec.container_id).exit_code == c.exits[0]

    asyncio.run(body())


def test_cgroup_limits_are_enforced(base_image, scratch_root: Path):
    runtime = LocalRuntime(scratch_root=scratch_root)
    if not runtime.cgroups.available:
        pytest.skip("no writable cgroup hierarchy with cpu and memory controllers")
    code = "b = bytearray(400 * 1024 * 1024); print('allocated', flush=True)"
    limited_spec = make_spec(base_image, py(code), memory_limit_mb=100, cpu_limit=0.5)
    cgroup_spec = make_spec(base_image, ["cat", "/proc/self/cgroup"], cpu_limit=0.5)

    async def body() -> tuple[Collector, Collector, Collector]:
        limited = await run_to_exit(runtime, limited_spec)
        free = await run_to_exit(runtime, make_spec(base_image, py(code)))
        placed = await run_to_exit(runtime, cgroup_spec)
        return limited, free, placed

    limited, free, placed = asyncio.run(body())
    assert free.exits == [0] and free.lines() == ["allocated"]
    assert limited.exits[0] != 0 and "allocated" not in limited.lines()
    assert any(line.endswith(f"/nodal/{cgroup_spec.container_id}") for line in placed.lines()), placed.lines()


def test_sdk_site_is_available_but_not_on_the_default_path(base_image, scratch_root: Path, sdk_site_binds):
    from nodal.runtime.sdk_site import SITE_DEST

    probe = "import grpc, google.protobuf, cloudpickle, modal, nodal; print(grpc.__file__, modal.__file__)"

    async def body() -> tuple[Collector, Collector]:
        runtime = LocalRuntime(scratch_root=scratch_root)
        plain = await run_to_exit(runtime, make_spec(base_image, py("import grpc"), binds=sdk_site_binds))
        with_site = await run_to_exit(
            runtime,
            make_spec(
                base_image, py(f"import sys; sys.path.append({SITE_DEST!r}); {probe}"), binds=sdk_site_binds
            ),
        )
        return plain, with_site

    plain, with_site = asyncio.run(body())
    assert plain.exits[0] != 0  # the image's own environment stays clean
    assert with_site.exits == [0], with_site.logs
    assert with_site.lines() == [f"{SITE_DEST}/grpc/__init__.py {SITE_DEST}/modal/__init__.py"]


def test_start_latency(base_image, scratch_root: Path):
    """Spawn to the first line printed by Python, with a cached image (p50 over 10 runs)."""

    async def body() -> list[float]:
        runtime = LocalRuntime(scratch_root=scratch_root)
        times = []
        for _ in range(10):
            c = Collector()
            started = time.perf_counter()
            await runtime.start(make_spec(base_image, py("print('up', flush=True)")), c.on_log, c.on_exit)
            await c.wait_for_line(lambda line: line == "up")
            times.append(time.perf_counter() - started)
            await c.wait()
        return times

    times = asyncio.run(body())
    p50 = statistics.median(times) * 1000
    print(f"container start to python running: p50 {p50:.1f} ms")
    assert p50 < 150


def test_scratch_dirs_are_removed(base_image, scratch_root: Path):
    async def body() -> None:
        runtime = LocalRuntime(scratch_root=scratch_root)
        await run_to_exit(
            runtime, make_spec(base_image, ["sh", "-c", "dd if=/dev/zero of=/big bs=1M count=5"])
        )

    asyncio.run(body())
    assert list(scratch_root.iterdir()) == []
    assert os.listdir(scratch_root) == []
