"""Where Nodal keeps its state on this machine.

Everything lives under `$NODAL_HOME` (default `~/.nodal`), so a test or a user
can point a whole server at a fresh directory with one environment variable.
"""

from __future__ import annotations

import os
from pathlib import Path


def nodal_home() -> Path:
    """The root of all server state: socket, database, blobs, images, logs."""
    return Path(os.environ.get("NODAL_HOME") or Path.home() / ".nodal").expanduser().absolute()


def socket_path() -> Path:
    """The unix socket the server listens on (owner-only permissions)."""
    return nodal_home() / "server.sock"


def containers_socket_path() -> Path:
    """The unix socket containers reach the server on: every call there needs a credential."""
    return nodal_home() / "containers.sock"


def streams_socket_for(grpc_socket: Path) -> Path:
    """The framed-stream socket beside a gRPC unix socket (nodal.proto.framing): `server.sock`
    has `server-streams.sock`."""
    return grpc_socket.with_name(f"{grpc_socket.stem}-streams.sock")


def initial_token_path() -> Path:
    """The first admin token, written (owner-only) at the server's first start until shown once."""
    return nodal_home() / "initial-admin-token"


def pid_path() -> Path:
    return nodal_home() / "server.pid"


def server_log_path() -> Path:
    return nodal_home() / "logs" / "server.log"


def database_path() -> Path:
    return nodal_home() / "nodal.db"


def blobs_dir() -> Path:
    """Blob files: `$NODAL_HOME/blobs`, the directory NODAL_BLOB_URL names when it is a path (a
    shared filesystem), or this machine's cache of an s3:// store (see nodal.store.blobs.factory)."""
    from nodal.store.blobs.factory import blob_files_dir

    return blob_files_dir()


def images_dir() -> Path:
    """Image layers (one directory per layer identity) and base root filesystems."""
    return nodal_home() / "images"


def containers_dir() -> Path:
    """Per-container scratch: writable overlay layer, code files, logs."""
    return nodal_home() / "containers"


def logs_dir() -> Path:
    return nodal_home() / "logs"


def ensure_dirs() -> None:
    for d in (nodal_home(), blobs_dir(), images_dir(), containers_dir(), logs_dir()):
        d.mkdir(parents=True, exist_ok=True)
    os.chmod(nodal_home(), 0o700)
