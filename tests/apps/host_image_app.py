"""Functions on `nodal.ext.host_image()`: the host's own root filesystem as the image."""

import os

import modal
from nodal.ext import host_image

app = modal.App("host-image-test")
image = host_image(python="/usr/bin/python3")
layered = image.run_commands("echo layered > /opt/nodal-host-image-test.txt")


@app.function(image=image)
def look(nodal_home: str, probe: str) -> dict:
    with open(probe, "w") as f:  # lands in the container's private layer, not on the host
        f.write("from the container")
    return {
        "os_release": open("/etc/os-release").read(),
        "nodal_home": sorted(os.listdir(nodal_home)),
        "probe": open(probe).read(),
    }


@app.function(image=layered)
def layered_file() -> str:
    return open("/opt/nodal-host-image-test.txt").read().strip()
