"""GPUs for real, on a host with an NVIDIA GPU and torch installed (skipped elsewhere, with the
reason): a container sees exactly the GPUs it asked for, through torch; a second request waits
for a busy GPU; a crashed container gives its GPU back; a container without `gpu=` sees none.

The image is the host's own Python environment (`nodal.ext.host_image`), so this runs on GPU
machines that cannot build a Debian image (no network). Run it there with the interpreter
that has torch, e.g. `/opt/torch/.venv/bin/python -m pytest tests/test_gpu_host.py`.
"""

from __future__ import annotations

import importlib.util
import time

import pytest
from conftest import PrivateServer

from nodal.runtime.gpus import discover_gpus

_GPUS = discover_gpus()
pytestmark = [
    pytest.mark.skipif(not any(d.gpu_type == "H100" for d in _GPUS), reason="needs an NVIDIA H100 on this host"),
    pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="needs torch in this Python"),
]


@pytest.fixture(scope="module")
def gpu_server(host_root_server):
    return host_root_server


def _run(server: PrivateServer, body: str, timeout: float = 300) -> str:
    code = "import sys, json\nsys.path.insert(0, 'tests')\nfrom apps import gpu_host_app as g\n"
    code += "with g.app.run():\n" + "".join(f"    {line}\n" for line in body.strip().splitlines())
    proc = server.python(code, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    return proc.stdout


def test_function_sees_exactly_its_h100_through_torch(gpu_server):
    out = _run(gpu_server, "print('RESULT', json.dumps(g.torch_view.remote()))")
    result = __import__("json").loads(out.split("RESULT ", 1)[1].splitlines()[0])
    assert result["count"] == 1
    assert "H100" in result["names"][0]
    assert result["sum"] == 1024.0 ** 3
    assert result["cuda_visible_devices"] == _GPUS[0].uuid or result["cuda_visible_devices"] in {d.uuid for d in _GPUS}
    assert sum(n.startswith("nvidia") and n[6:].isdigit() for n in result["nodes"]) == 1


def test_second_request_waits_for_the_busy_gpu(gpu_server):
    if len([d for d in _GPUS if d.gpu_type == "H100"]) != 1:
        pytest.skip("needs exactly one H100 to show the wait")
    out = _run(
        gpu_server,
        "calls = [g.hold.spawn(3.0), g.hold.spawn(3.0)]\n"
        "print('RESULT', json.dumps([c.get(timeout=240) for c in calls]))",
    )
    (s1, e1, d1), (s2, e2, d2) = __import__("json").loads(out.split("RESULT ", 1)[1].splitlines()[0])
    first, second = sorted([(s1, e1), (s2, e2)])
    assert second[0] >= first[1] - 0.05, "two containers held the only H100 at once"
    assert d1 == d2


def test_gpu_is_returned_after_a_crash(gpu_server):
    out = _run(
        gpu_server,
        "try:\n"
        "    g.crash.remote()\n"
        "except Exception as e:\n"
        "    print('CRASHED', type(e).__name__)\n"
        "print('RESULT', json.dumps(g.torch_view.remote()))",
    )
    assert "CRASHED" in out
    assert '"count": 1' in out
    deadline = time.monotonic() + 30
    while True:  # the holder is shown until the crashed container's exit is processed
        listed = gpu_server.python(
            "import json; from modal.client import Client; from nodal.proto import api_pb2\n"
            "from modal._utils.async_utils import run_sync\n"
            "c = Client.from_env()\n"
            "print(json.dumps([g.container_id for g in run_sync(c.stub.GpuList(api_pb2.GpuListRequest())).gpus]))"
        )
        if listed.stdout.strip() == '[""]' or time.monotonic() > deadline:
            break
    assert listed.stdout.strip() == '[""]', listed.stdout + listed.stderr


def test_function_without_gpu_sees_none(gpu_server):
    out = _run(gpu_server, "print('RESULT', json.dumps(g.no_gpu.remote()))")
    result = __import__("json").loads(out.split("RESULT ", 1)[1].splitlines()[0])
    assert not [n for n in result["nodes"] if n[6:].isdigit()]
    assert result["cuda_visible_devices"] is None


def test_image_build_step_with_gpu_sees_it(gpu_server):
    out = _run(gpu_server, "print('RESULT', json.dumps(g.build_saw.remote()))")
    assert "H100" in out.split("RESULT ", 1)[1]


def test_with_options_gpu_gives_a_class_its_gpu(gpu_server):
    out = _run(
        gpu_server,
        "print('RESULT', g.Model().devices.remote(), g.Model.with_options(gpu='h100')().devices.remote())",
    )
    assert out.split("RESULT ", 1)[1].split()[:2] == ["0", "1"]
