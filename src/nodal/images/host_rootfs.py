"""The `host_rootfs` base: an image whose root filesystem is this host's own `/`, read-only.

For on-prem GPU machines whose CUDA stack and Python environment are installed on the host
(`nodal.ext.host_image`). The host's `/` is the image's only layer: each container still
gets its private writable layer on top (so writes never reach the host), its own
namespaces, and its own /tmp; mounts nested under the host's `/` are not part of it.
"""

from __future__ import annotations

import asyncio
import os
import time

from nodal.images.builder import Step
from nodal.images.errors import ImageBuildError
from nodal.images.layers import LayerRecord

_VERSION = "import sys; print('%d.%d' % sys.version_info[:2])"


async def host_rootfs_layer(step: Step, lid: str, log) -> LayerRecord:
    """A layer record for the host's `/` with the interpreter `step.spec["python"]`."""
    python = step.spec.get("python")
    if not isinstance(python, str) or not os.path.isabs(python):
        raise ImageBuildError(f"host_image: python must be an absolute path on the host, got {python!r}")
    if not os.access(python, os.X_OK):
        raise ImageBuildError(f"host_image: {python} is not an executable on this host; pass python=<path>.")
    started = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        python, "-c", _VERSION, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 60)
    except TimeoutError:
        proc.kill()
        raise ImageBuildError(f"host_image: {python} did not answer within 60 s") from None
    if proc.returncode != 0:
        raise ImageBuildError(f"host_image: {python} failed: {err.decode(errors='replace').strip()[-500:]}")
    version = out.decode().strip()
    bin_dir = os.path.dirname(python)
    env = {"PATH": f"{bin_dir}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
    if os.path.exists(os.path.join(bin_dir, "..", "pyvenv.cfg")):
        env["VIRTUAL_ENV"] = os.path.normpath(os.path.join(bin_dir, ".."))
    log(f"Using the host's root filesystem with {python} (Python {version})")
    return LayerRecord(
        layer_id=lid,
        kind=step.kind,
        dir="/",
        env=env,
        workdir="/root",
        python=python,
        python_version=version,
        build_seconds=round(time.monotonic() - started, 3),
    )
