"""`block_network=True` for a container on a Ray node: no network but the Nodal server.

On one machine a blocked container gets a network namespace with only loopback and talks to
the server over a unix socket bound into it. On a Ray node it reaches the server over TCP+TLS
(`NODAL_SERVER_URL`), so an empty namespace would cut it off. Instead the container starts
with the NAT namespace, whose command is held until the network is set up, and `confine`
(run as the launcher's `on_network` hook, before the command is released):

1. takes the NAT's interface down (`tap0`: its routes, default included, go with it), so no
   address outside the namespace is reachable;
2. adds the server's IP address to the namespace's loopback and opens a listener there, at
   the server's own address and port, inside the container's namespace (a thread that joined
   it: a socket stays in the namespace it was made in);
3. relays each connection to that listener to the real server, from the node's namespace.

The container keeps the server URL (and TLS, end to end: the relay sees only ciphertext)
and can reach nothing else: not the internet, not the node, not the server's other ports.
A server URL naming a host (not an IP) is resolved on the node and written to the
container's /etc/hosts (its DNS forwarder is gone with the NAT).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import shutil
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from nodal.runtime.backend import ContainerSpec

log = logging.getLogger(__name__)

_CLONE_NEWNET = 0x40000000
_RELAY_BUFFER = 1 << 16


class ConfinementError(RuntimeError):
    """A blocked container's network could not be confined (its command is never released)."""


def server_address(spec: ContainerSpec) -> tuple[str, int]:
    """(host, port) of the server URL a Ray container is given (NODAL_SERVER_URL)."""
    url = spec.env.get("NODAL_SERVER_URL", "")
    parts = urlsplit(url)
    if parts.scheme not in ("https", "grpcs") or not parts.hostname:
        raise ConfinementError(f"block_network on a Ray node needs the server's https:// URL, not {url!r}")
    return parts.hostname, parts.port or 443


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


async def _ip_in(pid: int, *args: str) -> None:
    """Run `ip ARGS` in the network namespace of `pid` (ConfinementError with its output if it fails)."""
    nsenter, ip = shutil.which("nsenter"), shutil.which("ip")
    if nsenter is None or ip is None:
        raise ConfinementError("block_network on a Ray node needs `nsenter` and `ip` (iproute2) on the node")
    proc = await asyncio.create_subprocess_exec(
        nsenter, "-t", str(pid), "-n", "--", ip, *args,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate()
    if proc.returncode != 0:
        raise ConfinementError(f"ip {' '.join(args)}: {out.decode(errors='replace').strip()}")


def _setns(fd: int, nstype: int) -> None:
    """setns(2) for the calling thread (os.setns where Python has it, else libc's)."""
    if hasattr(os, "setns"):
        os.setns(fd, nstype)
        return
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, nstype) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def listen_in_namespace(pid: int, host: str, port: int) -> socket.socket:
    """A listening TCP socket at host:port inside the network namespace of `pid`.

    Made by a short-lived thread that joins the namespace (setns affects only the calling
    thread); the socket stays in that namespace after the thread ends."""
    result: list[socket.socket | BaseException] = []

    def make() -> None:
        try:
            fd = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
            try:
                _setns(fd, _CLONE_NEWNET)
            finally:
                os.close(fd)
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
            sock.listen(128)
            sock.setblocking(False)
            result.append(sock)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            result.append(exc)

    thread = threading.Thread(target=make, name=f"netns-listen-{pid}", daemon=True)
    thread.start()
    thread.join(10.0)
    if not result:
        raise ConfinementError("opening the server's listener in the container's namespace timed out")
    if isinstance(result[0], BaseException):
        raise ConfinementError(f"cannot listen at {host}:{port} in the container's namespace: {result[0]}")
    return result[0]


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(_RELAY_BUFFER):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        pass


class Confinement:
    """The server-only network of one blocked container (see the module docstring)."""

    def __init__(self, host: str, port: int, upper_dir: Callable[[], Path | None]) -> None:
        self.host, self.port = host, port
        self._upper_dir = upper_dir
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task] = set()

    @classmethod
    def for_spec(cls, spec: ContainerSpec, upper_dir: Callable[[], Path | None]) -> Confinement:
        host, port = server_address(spec)
        return cls(host, port, upper_dir)

    async def confine(self, pid: int) -> None:
        """Set up the container's network (its command is held until this returns; a failure
        keeps it from ever running unconfined)."""
        ip = _ip(self.host)
        if ip is None:  # a name: resolved here, pinned in the container's /etc/hosts
            infos = await asyncio.get_running_loop().getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM)
            if not infos:
                raise ConfinementError(f"cannot resolve the server's host {self.host!r} on this node")
            ip = ipaddress.ip_address(infos[0][4][0])
            upper = self._upper_dir()
            if upper is None:
                raise ConfinementError("the container's /etc is not there to name the server in")
            with open(upper / "etc" / "hosts", "a") as hosts:
                hosts.write(f"{ip}\t{self.host}\n")
        upper = self._upper_dir()
        if upper is not None:
            with contextlib.suppress(OSError):
                (upper / "etc" / "resolv.conf").write_text("")  # the NAT's DNS forwarder is gone
        await _ip_in(pid, "link", "set", "tap0", "down")
        await _ip_in(pid, "addr", "flush", "dev", "tap0")
        await _ip_in(pid, "link", "set", "lo", "up")
        if not ip.is_loopback:
            await _ip_in(pid, "addr", "add", f"{ip}/{ip.max_prefixlen}", "dev", "lo")
        listener = listen_in_namespace(pid, str(ip), self.port)
        self._server = await asyncio.start_server(self._relay, sock=listener)
        self._target = str(ip)

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One connection from the container, spliced to the real server."""
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        upstream: asyncio.StreamWriter | None = None
        try:
            up_reader, upstream = await asyncio.wait_for(asyncio.open_connection(self._target, self.port), 10.0)
            await asyncio.gather(_pipe(reader, upstream), _pipe(up_reader, writer))
        except (OSError, TimeoutError) as exc:
            log.info("relay to the server %s:%s failed: %s", self._target, self.port, exc)
        finally:
            self._connections.discard(task)
            for w in (writer, upstream):
                if w is not None:
                    w.close()

    def close(self) -> None:
        """Stop the listener and every relayed connection (the container has ended)."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for task in list(self._connections):
            task.cancel()
