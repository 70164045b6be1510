"""Where a web container's unix sockets live on the host, and their names inside it."""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

from nodal import paths

CONTAINER_WEB_DIR = "/run/nodal/web"  # bound read-write into every web container
MAX_SOCKET_PATH = 100  # AF_UNIX paths are limited to 107 bytes on Linux


def endpoint_socket_name(index: int) -> str:
    """The socket file of the `index`-th web endpoint of a function (same on host and in container)."""
    return f"ep{index}.sock"


def web_root() -> Path:
    """The host directory holding one socket directory per web container.

    Under NODAL_HOME when the paths fit the AF_UNIX limit, else a short directory in the
    system temp dir, unique to this NODAL_HOME."""
    root = paths.nodal_home() / "web"
    if len(str(root)) + 40 > MAX_SOCKET_PATH:
        digest = hashlib.sha256(str(paths.nodal_home()).encode()).hexdigest()[:12]
        root = Path(tempfile.gettempdir()) / f"nodal-web-{digest}"
    return root


def container_socket_dir(container_id: str) -> Path:
    return web_root() / container_id


def host_socket_path(container_id: str, index: int) -> Path:
    return container_socket_dir(container_id) / endpoint_socket_name(index)
