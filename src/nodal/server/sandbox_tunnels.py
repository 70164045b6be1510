"""Tunnels: ports on the server host relayed into a container's network namespace.

`Sandbox.create(encrypted_ports=..., unencrypted_ports=...)` and `modal.forward(port)`
give a container port a listener on the server host (`NODAL_TUNNEL_HOST`, default
127.0.0.1, a free port each). Every accepted connection is relayed to
`127.0.0.1:<port>` *inside* the container's own network namespace: the relay's
socket is created by a server thread that has entered that namespace with
`setns(2)` for the moment of the `socket()`/`connect()` calls, so the service
needs no published port, no NAT rule, and many containers can all listen on 8000.

Encrypted tunnels terminate TLS at the listener with a certificate the server
makes (`tunnel_tls.py`): clients trust `$NODAL_HOME/tunnels/ca.pem`.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import socket
import ssl
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from nodal.proto import api_pb2

log = logging.getLogger("nodal.tunnels")

_CLONE_NEWNET = 0x40000000
_CONNECT_TIMEOUT = 5.0


@dataclass
class _Tunnel:
    container_id: str
    port: int
    servers: list[asyncio.base_events.Server] = field(default_factory=list)
    info: api_pb2.TunnelInfo = field(default_factory=api_pb2.TunnelInfo)
    connections: set[asyncio.Task] = field(default_factory=set)


class NetnsConnector:
    """Opens TCP connections from inside other network namespaces (one dedicated thread)."""

    def __init__(self) -> None:
        self._libc = ctypes.CDLL(None, use_errno=True)
        self._home = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nodal-netns")

    def _setns(self, fd: int) -> None:
        if self._libc.setns(fd, _CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns: {os.strerror(err)}")

    def _connect(self, pid: int, port: int) -> socket.socket:
        target = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            self._setns(target)
            try:
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            finally:
                try:
                    self._setns(self._home)
                except OSError:  # this thread is stuck in the container's namespace: never reuse it
                    log.critical("could not leave a container's network namespace; exiting the server")
                    os._exit(70)
        finally:
            os.close(target)
        # The socket belongs to the namespace it was created in; connect can happen from here.
        try:
            sock.settimeout(_CONNECT_TIMEOUT)
            sock.connect(("127.0.0.1", port))
            sock.setblocking(False)
        except BaseException:
            sock.close()
            raise
        return sock

    async def connect(self, pid: int, port: int) -> socket.socket:
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._connect, pid, port)

    def close(self) -> None:
        self._executor.shutdown(wait=False)
        with contextlib.suppress(OSError):
            os.close(self._home)


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError, ssl.SSLError):
        pass
    finally:
        with contextlib.suppress(Exception):
            if writer.can_write_eof():
                writer.write_eof()
            else:
                writer.close()


class TunnelService:
    """The tunnels of every container, by container id and port."""

    def __init__(self, runtime, state_dir: Path, host: str | None = None) -> None:
        self.runtime = runtime  # nodal.runtime.local.LocalRuntime
        self.state_dir = state_dir
        self.host = host or os.environ.get("NODAL_TUNNEL_HOST") or "127.0.0.1"
        self._tunnels: dict[str, dict[int, _Tunnel]] = {}
        self._connector: NetnsConnector | None = None
        self._tls: ssl.SSLContext | None = None
        self._sweeper: asyncio.Task | None = None

    @property
    def ca_path(self) -> Path:
        return self.state_dir / "ca.pem"

    def _tls_context(self) -> ssl.SSLContext:
        if self._tls is None:
            from nodal.server.tunnel_tls import ensure_certificate

            cert, key = ensure_certificate(self.state_dir, [self.host, "127.0.0.1", "localhost"])
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.load_cert_chain(cert, key)
            self._tls = ctx
        return self._tls

    def tunnels_of(self, container_id: str) -> list[api_pb2.TunnelInfo]:
        return [t.info for _, t in sorted(self._tunnels.get(container_id, {}).items())]

    async def open(self, container_id: str, port: int, *, tls: bool = True, plain: bool = False) -> api_pb2.TunnelInfo:
        """Listeners for `port` of the container (TLS and/or plain TCP); returns where they are."""
        existing = self._tunnels.get(container_id, {}).get(port)
        if existing is not None:
            return existing.info
        if self._connector is None:
            self._connector = NetnsConnector()
        tunnel = _Tunnel(container_id=container_id, port=port)
        tunnel.info.container_port = port

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            tunnel.connections.add(task)
            try:
                await self._relay(tunnel, reader, writer)
            finally:
                tunnel.connections.discard(task)

        try:
            if tls:
                server = await asyncio.start_server(handle, self.host, 0, ssl=self._tls_context())
                tunnel.servers.append(server)
                tunnel.info.host, tunnel.info.port = self.host, server.sockets[0].getsockname()[1]
            if plain:
                server = await asyncio.start_server(handle, self.host, 0)
                tunnel.servers.append(server)
                tunnel.info.unencrypted_host = self.host
                tunnel.info.unencrypted_port = server.sockets[0].getsockname()[1]
        except BaseException:
            for server in tunnel.servers:
                server.close()
            raise
        self._tunnels.setdefault(container_id, {})[port] = tunnel
        if self._sweeper is None or self._sweeper.done():
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep())
        log.info("tunnel for %s:%d at %s", container_id, port, tunnel.info)
        return tunnel.info

    async def _relay(self, tunnel: _Tunnel, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        pid = self.runtime.init_pid(tunnel.container_id)
        try:
            if pid is None:
                return
            assert self._connector is not None
            try:
                sock = await self._connector.connect(pid, tunnel.port)
            except OSError as exc:
                log.info("tunnel %s:%d: nothing accepts the connection (%s)", tunnel.container_id, tunnel.port, exc)
                return
            inner_reader, inner_writer = await asyncio.open_connection(sock=sock)
            try:
                await asyncio.gather(_pump(reader, inner_writer), _pump(inner_reader, writer))
            finally:
                inner_writer.close()
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    def close(self, container_id: str, port: int) -> None:
        tunnel = self._tunnels.get(container_id, {}).pop(port, None)
        if tunnel is not None:
            for server in tunnel.servers:
                server.close()
            for task in list(tunnel.connections):
                task.cancel()
        if not self._tunnels.get(container_id, True):
            self._tunnels.pop(container_id, None)

    def close_container(self, container_id: str) -> None:
        for port in list(self._tunnels.get(container_id, {})):
            self.close(container_id, port)

    async def _sweep(self) -> None:
        """Close the tunnels of containers that ended (function containers have no exit hook here)."""
        while self._tunnels:
            await asyncio.sleep(1.0)  # housekeeping period
            for cid in list(self._tunnels):
                if self.runtime.init_pid(cid) is None:
                    self.close_container(cid)

    async def shutdown(self) -> None:
        for cid in list(self._tunnels):
            self.close_container(cid)
        if self._sweeper is not None:
            self._sweeper.cancel()
        if self._connector is not None:
            self._connector.close()
