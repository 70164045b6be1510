"""Functions for the Ray layer-cache test: three images (A, B, C), each with a layer of its own
of about 1 MiB, so that a node cache with a budget of 1.5 MiB holds one of them.

`hold_a` and `hold_c` mark their input as started (/tmp/started-<i>) and hold it until the
test writes /tmp/go into their container (1.1 CPUs each: on nodes of 2 CPUs, two inputs
land one container on each node). `name_*` report their image's marker and their node.
"""

import os
import time

import modal
from nodal.ext import host_image

app = modal.App("ray-layer-cache-test")
base = host_image(python="/usr/bin/python3")


def _image(name: str) -> modal.Image:
    return base.run_commands(
        f"mkdir -p /opt/img && echo {name} > /opt/img/name && head -c 1048576 /dev/urandom > /opt/img/data")


image_a, image_b, image_c = _image("A"), _image("B"), _image("C")


def _marker() -> tuple[str, str]:
    return open("/opt/img/name").read().strip(), os.environ.get("NODAL_NODE_ID", "")


def _hold(i: int) -> tuple[str, str]:
    open(f"/tmp/started-{i}", "w").close()
    deadline = time.monotonic() + 180
    while not os.path.exists("/tmp/go") and time.monotonic() < deadline:
        time.sleep(0.02)  # waiting for the test's go-ahead (a file it writes into this container)
    return _marker()


@app.function(image=image_a, cpu=1.1, max_containers=2, scaledown_window=2)
def hold_a(i: int) -> tuple[str, str]:
    return _hold(i)


@app.function(image=image_c, cpu=1.1, max_containers=2, scaledown_window=2)
def hold_c(i: int) -> tuple[str, str]:
    return _hold(i)


@app.function(image=image_a, cpu=0.25, scaledown_window=2)
def name_a() -> tuple[str, str]:
    return _marker()


@app.function(image=image_b, cpu=0.25, scaledown_window=2)
def name_b() -> tuple[str, str]:
    return _marker()


@app.function(image=image_c, cpu=0.25, scaledown_window=2)
def name_c() -> tuple[str, str]:
    return _marker()
