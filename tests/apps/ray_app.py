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


@app.function(image=image, cpu=0.25)
def held() -> str:
    """Waits (up to 120 s) for /tmp/go in its container, so a test can exec into it meanwhile."""
    open("/tmp/held-started", "w").close()
    deadline = time.monotonic() + 120
    while not os.path.exists("/tmp/go") and time.monotonic() < deadline:
        time.sleep(0.02)  # waiting for the test's go-ahead (a file it writes into this container)
    return os.environ.get("NODAL_NODE_ID", "")


def _probe(host: str, port: int) -> str:
    import socket

    try:
        with socket.create_connection((host, port), timeout=5):
            return "connected"
    except OSError as exc:
        return f"refused: {exc}"


@app.function(image=image, cpu=0.25)
def open_probe(host: str, port: int) -> tuple[str, str]:
    """Tries a TCP connection to host:port from a container with a network."""
    return _probe(host, port), os.environ.get("NODAL_NODE_ID", "")


@app.function(image=image, cpu=0.25, block_network=True)
def blocked_probe(host: str, port: int) -> tuple[str, str, int]:
    """The same probe with block_network=True; then a call to another function (through the
    server, the one peer such a container keeps)."""
    return _probe(host, port), os.environ.get("NODAL_NODE_ID", ""), square.remote(4)


# Two layers of its own on top of the host's root: the second deletes a file of the first (an
# overlay whiteout), so shipping the layers to a node must keep device nodes and xattrs.
layered_image = image.run_commands(
    "mkdir -p /opt/shipped && echo layer-$((6*7)) > /opt/shipped/marker && echo x > /opt/shipped/gone"
).run_commands("rm /opt/shipped/gone")


@app.function(image=layered_image, cpu=1.5, max_containers=2)
def layered(i: int) -> tuple[int, str, bool, str]:
    """Holds its input until /tmp/go (like `gated`), then reports what its image layers hold."""
    open(f"/tmp/started-{i}", "w").close()
    deadline = time.monotonic() + 120
    while not os.path.exists("/tmp/go") and time.monotonic() < deadline:
        time.sleep(0.02)  # waiting for the test's go-ahead (a file it writes into this container)
    marker = open("/opt/shipped/marker").read().strip()
    return i, marker, os.path.exists("/opt/shipped/gone"), os.environ.get("NODAL_NODE_ID", "")


volume = modal.Volume.from_name("ray-cross-node", create_if_missing=True)


@app.function(image=image, cpu=1.5, max_containers=2, volumes={"/vol": volume})
def volume_step(i: int) -> tuple[int, str, str, str]:
    """Holds its input until /tmp/go, which says what to do: `write:TEXT` writes TEXT to the
    volume and commits; `read` reloads the volume and reads it back. Returns (i, what it did,
    the text, its node)."""
    open(f"/tmp/started-{i}", "w").close()
    deadline = time.monotonic() + 120
    while not os.path.exists("/tmp/go") and time.monotonic() < deadline:
        time.sleep(0.02)  # waiting for the test's go-ahead (a file it writes into this container)
    order = open("/tmp/go").read()
    node = os.environ.get("NODAL_NODE_ID", "")
    if order.startswith("write:"):
        with open("/vol/cross-node.txt", "w") as f:
            f.write(order[len("write:"):])
        volume.commit()
        open("/tmp/committed", "w").close()  # the test lets the reader go once it sees this
        return i, "wrote", order[len("write:"):], node
    volume.reload()
    with open("/vol/cross-node.txt") as f:
        return i, "read", f.read(), node


@app.function(image=image)
def parked() -> str:
    """Asks for nothing (the default shape: it may take a warm actor); waits for /tmp/go."""
    open("/tmp/parked-started", "w").close()
    deadline = time.monotonic() + 120
    while not os.path.exists("/tmp/go") and time.monotonic() < deadline:
        time.sleep(0.02)  # waiting for the test's go-ahead (a file it writes into this container)
    return os.environ.get("NODAL_NODE_ID", "")
