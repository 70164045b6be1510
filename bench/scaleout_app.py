"""The app bench/scaleout.py calls on both runtimes (no benchmark imports: containers import it).

Every image is the host's own root (`nodal.ext.host_image`), so both runtimes run the same
containers without building a Debian base; `layered` adds one layer of its own, which a Ray
node must fetch from the blob store before its first container of it starts.
"""

import os

import modal
from nodal.ext import host_image

app = modal.App("nodal-bench-scaleout")
image = host_image(python="/usr/bin/python3")
layered_image = image.run_commands("mkdir -p /opt/bench && head -c 4000000 /dev/urandom > /opt/bench/blob")


@app.function(image=image, max_containers=1)
def trivial(x: int) -> int:
    return x


@app.function(image=image, max_containers=4)
def trivial_wide(x: int) -> int:
    """The map's function: up to 4 containers (on Ray, spread over both nodes)."""
    return x


@app.function(image=layered_image, max_inputs=1)
def cold_layered(x: int) -> str:
    """A single-use container of an image with a layer of its own: every call is a cold start."""
    return os.environ.get("NODAL_NODE_ID", "local")
