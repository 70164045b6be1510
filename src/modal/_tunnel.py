"""`modal.Tunnel` and `modal.forward`: reach a port of a running container from outside.

On Nodal a tunnel is a listener on the server host relayed into the container's own
network namespace (`nodal.server.sandbox_tunnels`). TLS tunnels use a certificate
signed by the server's private CA: trust `$NODAL_HOME/tunnels/ca.pem`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

from modal._utils.async_utils import run_aio, run_sync
from modal.exception import InvalidError
from nodal.proto import api_pb2


@dataclass(frozen=True)
class Tunnel:
    """A port forwarded from within a running container (`modal.forward`, `Sandbox.tunnels`)."""

    host: str
    port: int
    unencrypted_host: str
    unencrypted_port: int

    @property
    def url(self) -> str:
        """The HTTPS URL of the forwarded port."""
        return f"https://{self.host}" + ("" if self.port == 443 else f":{self.port}")

    @property
    def tls_socket(self) -> tuple[str, int]:
        """(host, port) of the TLS endpoint."""
        return (self.host, self.port)

    @property
    def tcp_socket(self) -> tuple[str, int]:
        """(host, port) of the plain TCP endpoint (only with `unencrypted=True` / `unencrypted_ports`)."""
        if not self.unencrypted_host:
            raise InvalidError(
                "this tunnel has no unencrypted endpoint: use modal.forward(port, unencrypted=True) or "
                "Sandbox.create(unencrypted_ports=[port])"
            )
        return (self.unencrypted_host, self.unencrypted_port)


def tunnel_from_proto(info: api_pb2.TunnelInfo) -> Tunnel:
    return Tunnel(info.host, info.port, info.unencrypted_host, info.unencrypted_port)


def _container_identity() -> tuple[str, str]:
    cid, token = os.environ.get("NODAL_CONTAINER_ID"), os.environ.get("NODAL_CONTAINER_TOKEN")
    if not cid or not token:
        raise InvalidError("modal.forward only works inside a Modal container (a running function)")
    return cid, token


@contextlib.asynccontextmanager
async def _forward(port: int, unencrypted: bool = False, client=None) -> AsyncIterator[Tunnel]:
    from modal.client import _default_client

    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise InvalidError(f"modal.forward needs a TCP port number (1-65535), not {port!r}")
    cid, token = _container_identity()
    c = client or await _default_client()
    info = await c.stub.TunnelOpen(api_pb2.TunnelOpenRequest(container_id=cid, token=token, port=port,
                                                             unencrypted=bool(unencrypted)))
    try:
        yield tunnel_from_proto(info)
    finally:
        await c.stub.TunnelClose(api_pb2.TunnelCloseRequest(container_id=cid, token=token, port=port))


class _ForwardFactory:
    """`with modal.forward(port) as tunnel:` (and `async with modal.forward.aio(port)`)."""

    @contextlib.contextmanager
    def __call__(self, port: int, *, unencrypted: bool = False, client=None) -> Iterator[Tunnel]:
        cm = _forward(port, unencrypted, client)
        tunnel = run_sync(cm.__aenter__())
        try:
            yield tunnel
        finally:
            run_sync(cm.__aexit__(None, None, None))

    @contextlib.asynccontextmanager
    async def aio(self, port: int, *, unencrypted: bool = False, client=None) -> AsyncIterator[Tunnel]:
        cm = _forward(port, unencrypted, client)
        tunnel = await run_aio(cm.__aenter__())
        try:
            yield tunnel
        finally:
            await run_aio(cm.__aexit__(None, None, None))


forward = _ForwardFactory()

__all__ = ["Tunnel", "forward"]
