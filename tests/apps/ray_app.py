"""Functions for the Ray backend tests: each names the Ray node it ran on (NODAL_NODE_ID).

`gated` marks its input as started (/tmp/started-<i> in its container) and holds it until
the test writes /tmp/go into that container, so a test controls which inputs are in flight.
Each container asks for 1.5 CPUs: on nodes of 2 CPUs, two containers land on two nodes.
"""

import os
import time

import modal
from nodal.ext import host_image

app = modal.App("ray-backend-test")
image = host_image(python="/usr/bin/python3")


@app.function(image=image, cpu=1.5, max_containers=2, retries=modal.Retries(max_retries=3, initial_delay=0.0))
def gated(i: int) -> tuple[int, str]:
    open(f"/tmp/started-{i}", "w").close()
    deadline = time.monotonic() + 120
    while not os.path.exists("/tmp/go") and time.monotonic() < deadline:
        time.sleep(0.02)  # waiting for the test's go-ahead (a file it writes into this container)
    return i, os.environ.get("NODAL_NODE_ID", "")


@app.function(image=image)
def square(x: int) -> int:
    return x * x


@app.function(image=image)
def square_via_another(x: int) -> tuple[int, str]:
    """Calls another function from inside its container: the SDK's client there reaches the
    server over TLS (MODAL_SERVER_URL) with the container's credential."""
    print(f"square_via_another({x}) on node {os.environ.get('NODAL_NODE_ID', '')}")
    return square.remote(x), os.environ.get("NODAL_NODE_ID", "")


@app.function(image=image, cpu=3.0)
def too_big() -> str:
    """No node of the test cluster has 3 CPUs: Ray cannot place its container."""
    return "placed"
