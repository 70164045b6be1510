"""Sandboxes with GPUs, on a host with an NVIDIA H100 (skipped elsewhere, with the reason).

The image is the host's own root filesystem (`nodal.ext.host_image`), so this runs on GPU
machines that cannot build a Debian image (no network)."""

from __future__ import annotations

import pytest

from nodal.runtime.gpus import discover_gpus

_GPUS = discover_gpus()
pytestmark = pytest.mark.skipif(not any(d.gpu_type == "H100" for d in _GPUS), reason="needs an NVIDIA H100")

CODE = """
import modal, os, sys
from nodal.ext import host_image
app = modal.App.lookup("sandbox-gpu", create_if_missing=True)
image = host_image(python=os.environ.get("NODAL_TEST_GPU_PYTHON", sys.executable))
sb = modal.Sandbox.create("nvidia-smi", "-L", app=app, image=image, gpu="H100")
sb.wait(raise_on_termination=False)
print("WITH", sb.returncode, sb.stdout.read().strip().replace(chr(10), " | "))
box = modal.Sandbox.create(app=app, image=image, gpu="any")
p = box.exec("sh", "-c", "ls /dev | grep -c '^nvidia[0-9]'; echo CVD=$CUDA_VISIBLE_DEVICES")
print("EXEC", p.stdout.read().strip().replace(chr(10), " "))
box.terminate()
plain = modal.Sandbox.create("sh", "-c", "ls /dev | grep -c '^nvidia[0-9]' || true", app=app, image=image)
plain.wait(raise_on_termination=False)
print("WITHOUT", plain.stdout.read().strip())
"""


@pytest.fixture(scope="module")
def gpu_server(host_root_server):
    return host_root_server


def test_sandbox_gets_exactly_its_gpu(gpu_server):
    proc = gpu_server.python(f"import sys; sys.path.insert(0, 'tests')\n{CODE}", timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    lines = {line.split(" ", 1)[0]: line.split(" ", 1)[1] for line in proc.stdout.splitlines() if " " in line}
    assert lines["WITH"].startswith("0 ") and "H100" in lines["WITH"], proc.stdout
    assert lines["EXEC"].split()[0] == "1" and "CVD=" in lines["EXEC"], proc.stdout
    assert lines["WITHOUT"] == "0", proc.stdout
