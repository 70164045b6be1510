"""Chooses the server's runtime backend from its environment, and checks it at start.

NODAL_RUNTIME: `local` (the default: containers on this host) or `ray` (containers placed
on the Ray cluster at NODAL_RAY_ADDRESS, HOST:PORT of its head). The Ray backend needs the
server's TLS listener (NODAL_LISTEN), since containers on other nodes reach the server over
TCP: at the address NODAL_SERVER_ADVERTISE (https://HOST:PORT) when set, else the
NODAL_LISTEN address. Image layers reach the nodes through the server's blob store
(NODAL_BLOB_URL) into each node's layer cache under NODAL_RAY_LAYER_CACHE (default
/var/tmp/nodal-ray-layers). Every misconfiguration is a SystemExit whose message says what to set.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from pathlib import Path

from nodal import paths
from nodal.runtime.backend import RuntimeBackend

RUNTIMES = ("local", "ray")


def runtime_kind() -> str:
    kind = os.environ.get("NODAL_RUNTIME", "local").strip().lower() or "local"
    if kind not in RUNTIMES:
        raise SystemExit(f"NODAL_RUNTIME must be one of {', '.join(RUNTIMES)}, not {kind!r}")
    return kind


def advertised_server_url() -> str:
    """The https:// URL containers on Ray nodes use to reach this server."""
    advertised = os.environ.get("NODAL_SERVER_ADVERTISE", "").strip()
    if advertised:
        if not advertised.startswith("https://"):
            raise SystemExit(f"NODAL_SERVER_ADVERTISE must be https://HOST:PORT, not {advertised!r}")
        return advertised.rstrip("/")
    listen = os.environ.get("NODAL_LISTEN", "").strip()
    if not listen:
        raise SystemExit(
            "NODAL_RUNTIME=ray needs the server's TLS listener: containers on Ray nodes reach the server "
            "over TCP. Set NODAL_LISTEN=HOST:PORT to an address of this machine the nodes can reach "
            "(e.g. its LAN address, 10.0.0.5:8443)"
        )
    host, _, port = listen.rpartition(":")
    host = host.strip("[]")
    if host in ("0.0.0.0", "::", ""):
        host = socket.gethostname()  # reachable by name from the nodes, and in the certificate
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if loopback:
        raise SystemExit(
            f"NODAL_LISTEN={listen} is a loopback address, which containers on Ray nodes cannot reach "
            "(their network goes through NAT): listen on an address of this machine the nodes reach, "
            "or set NODAL_SERVER_ADVERTISE=https://HOST:PORT"
        )
    return f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}"


def server_ca_file() -> Path:
    """The certificate file containers must trust: the operator's (NODAL_TLS_CERT) or the
    server's own CA (written by the TLS listener at start)."""
    cert = os.environ.get("NODAL_TLS_CERT", "").strip()
    return Path(cert) if cert else paths.nodal_home() / "tls" / "ca.pem"


def open_runtime() -> RuntimeBackend:
    """The runtime backend this server is configured for (SystemExit naming the fix if it cannot)."""
    if runtime_kind() == "local":
        from nodal.runtime.local import LocalRuntime

        return LocalRuntime(paths.containers_dir())
    address = os.environ.get("NODAL_RAY_ADDRESS", "").strip()
    if not address:
        raise SystemExit("NODAL_RUNTIME=ray needs NODAL_RAY_ADDRESS=HOST:PORT, the address of the Ray cluster's head")
    try:
        import ray  # noqa: F401
    except ImportError:
        raise SystemExit(
            "NODAL_RUNTIME=ray needs Ray installed in the server's Python (`pip install 'nodal[bench]'`)"
        ) from None
    from nodal.runtime.ray_backend import (
        DEFAULT_WARM_ACTORS,
        RayConfigError,
        RayRuntime,
        RemoteServer,
        node_local_scratch,
    )
    from nodal.store.blobs.factory import open_blob_store

    remote = RemoteServer(advertised_server_url(), server_ca_file())
    blobs = open_blob_store()  # image layers reach the nodes through it (SystemExit when unusable)
    layer_cache = os.environ.get("NODAL_RAY_LAYER_CACHE", "").strip()
    warm = os.environ.get("NODAL_RAY_WARM_ACTORS", "").strip()
    if warm and not warm.isdigit():
        raise SystemExit(f"NODAL_RAY_WARM_ACTORS must be a whole number (0 turns the pool off), not {warm!r}")
    try:
        return RayRuntime(address, remote, node_local_scratch(), paths.containers_dir(), blobs=blobs,
                          layer_cache=layer_cache, warm_actors=int(warm) if warm else DEFAULT_WARM_ACTORS)
    except RayConfigError as exc:
        raise SystemExit(str(exc)) from None
