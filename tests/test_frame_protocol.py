"""The framed-stream protocols on their own, over real sockets: frames come out whole and in
order however the bytes are split, and larger than one read buffer, over a unix socket and
over TLS (the event-loop client's `TlsFrameProtocol` against the server's)."""

from __future__ import annotations

import asyncio
import random
import socket
import ssl
from pathlib import Path

import pytest

from nodal.proto.framing import (
    HEADER,
    MESSAGE,
    READ_SIZE,
    STATUS,
    FrameProtocol,
    StreamError,
    TlsFrameProtocol,
    client_tls_context,
)
from nodal.server.tls import server_certificate_files, server_ssl_context

# Small, empty, and larger than the read buffer (and than a TLS record): each must arrive whole.
PAYLOADS = [b"x", b"", bytes(range(256)) * 3, random.Random(7).randbytes(3 * READ_SIZE + 17), b"end"]


def _wire(frames: list[tuple[int, bytes]]) -> bytes:
    return b"".join(HEADER.pack(len(p), kind) + p for kind, p in frames)


async def _read_all(protocol: FrameProtocol, count: int) -> list[tuple[int, bytes]]:
    return [await asyncio.wait_for(protocol.next_frame(), 20) for _ in range(count)]


def test_frames_survive_any_split_of_the_byte_stream(tmp_path: Path) -> None:
    frames = [(MESSAGE, p) for p in PAYLOADS] + [(STATUS, b"done")]
    wire = _wire(frames)
    path = str(tmp_path / "s")

    async def main() -> None:
        accepted: asyncio.Future = asyncio.get_running_loop().create_future()
        server = await asyncio.get_running_loop().create_unix_server(
            lambda: _Accepted(accepted), path)
        sender = socket.socket(socket.AF_UNIX)
        sender.connect(path)
        protocol = await asyncio.wait_for(accepted, 20)
        rng = random.Random(1)
        pos = 0
        while pos < len(wire):  # 1 byte to 100 KiB at a time, each sent as its own write
            step = rng.choice([1, 2, 4, 5, 6, 100, 4096, 100_000])
            await asyncio.get_running_loop().sock_sendall(sender, wire[pos:pos + step])
            pos += step
        assert await _read_all(protocol, len(frames)) == frames
        sender.close()
        with pytest.raises(StreamError):  # then the end of the connection, once every frame was read
            await asyncio.wait_for(protocol.next_frame(), 20)
        server.close()

    asyncio.run(main())


def test_tls_frame_protocols_exchange_frames_both_ways(tmp_path: Path) -> None:
    chain, key, ca = server_certificate_files(tmp_path, ["127.0.0.1"])
    server_context = server_ssl_context(chain, key)
    client_context = client_tls_context(ca.read_bytes())

    async def main() -> None:
        loop = asyncio.get_running_loop()
        accepted: asyncio.Future = loop.create_future()
        server = await loop.create_server(lambda: _AcceptedTls(server_context, accepted), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        _, client = await loop.create_connection(
            lambda: TlsFrameProtocol(client_context, server_side=False, server_hostname="127.0.0.1"),
            "127.0.0.1", port)
        await asyncio.wait_for(client.connected, 20)  # the handshake, certificate checked
        peer = await asyncio.wait_for(accepted, 20)
        await asyncio.wait_for(peer.connected, 20)
        for p in PAYLOADS:
            client.send(MESSAGE, p)
        assert await _read_all(peer, len(PAYLOADS)) == [(MESSAGE, p) for p in PAYLOADS]
        for p in reversed(PAYLOADS):
            peer.send(MESSAGE, p)
        assert await _read_all(client, len(PAYLOADS)) == [(MESSAGE, p) for p in reversed(PAYLOADS)]
        peer.close()  # a clean close_notify: the client reads the end of the stream
        with pytest.raises(StreamError):
            await asyncio.wait_for(client.next_frame(), 20)
        server.close()

    asyncio.run(main())


def test_a_tls_client_refuses_a_server_it_does_not_trust(tmp_path: Path) -> None:
    chain, key, _ca = server_certificate_files(tmp_path / "server", ["127.0.0.1"])
    _, _, other_ca = server_certificate_files(tmp_path / "other", ["127.0.0.1"])
    server_context = server_ssl_context(chain, key)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            lambda: TlsFrameProtocol(server_context, server_side=True), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        _, client = await loop.create_connection(
            lambda: TlsFrameProtocol(client_tls_context(other_ca.read_bytes()), server_side=False,
                                     server_hostname="127.0.0.1"),
            "127.0.0.1", port)
        with pytest.raises(StreamError):
            await asyncio.wait_for(client.connected, 20)
        assert isinstance(client.tls_error, ssl.SSLCertVerificationError)
        server.close()

    asyncio.run(main())


class _Accepted(FrameProtocol):
    def __init__(self, accepted: asyncio.Future) -> None:
        super().__init__()
        self._accepted = accepted

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._accepted.set_result(self)


class _AcceptedTls(TlsFrameProtocol):
    def __init__(self, context: ssl.SSLContext, accepted: asyncio.Future) -> None:
        super().__init__(context, server_side=True)
        self._accepted = accepted

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # the TCP connection: `connected` waits for the handshake
        self._accepted.set_result(self)
