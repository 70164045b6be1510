"""Nodal extensions to the Modal API: things a self-hosted server can do that hosted Modal
cannot. They live here, not in `modal`, so code that uses them says so by its imports."""

from __future__ import annotations

import modal


def host_image(python: str = "/usr/bin/python3", force_build: bool = False) -> modal.Image:
    """An image whose root filesystem is the server host's own `/` (read-only), run with the
    host interpreter `python`.

    For on-prem GPU machines whose CUDA stack and Python packages (torch, ...) are installed
    on the host: functions use them as they are, without building an image. Containers keep
    their isolation (own namespaces, private writable layer, own /tmp); the Nodal server's
    own state directory is hidden from them. Further build steps (`.pip_install()`, ...) add
    layers on top as for any image. Mounts nested under the host's `/` (other file systems)
    are not part of the image: bind what you need with volumes.
    """
    from modal._image_specs import _force_build_default
    from nodal.images.builder import Step

    if not isinstance(python, str) or not python.startswith("/"):
        raise modal.exception.InvalidError(f"host_image: python must be an absolute path, got {python!r}")
    force = bool(force_build) or _force_build_default()
    return modal.Image._from_steps([Step("host_rootfs", {"python": python}, force)], [()])
