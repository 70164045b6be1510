"""Runs the Nodal server with timing probes on its client-facing framed streams (for
`bench/remote_stages.py`): `python bench/stage_probes.py OUT`.

On every connection whose stream is a client's CallStream or DataStream (not a container's
WorkerStream), it records when bytes arrive (the read callback, before any decryption), when
they are read as frames (after decryption), when a response frame is handed to `send` (before encoding and encryption), and when the socket write
starts and returns. At exit the events go to OUT, one per line: transport (unix or tls), event,
time.perf_counter() (CLOCK_MONOTONIC: comparable with the client's clock on the same host).
"""

from __future__ import annotations

import asyncio.selector_events
import atexit
import runpy
import sys
import time

from nodal.proto import api_pb2, framing
from nodal.server import framed_streams

_events: list[tuple[str, str, float]] = []
_CLIENT_STREAMS = ("CallStream", "DataStream")


def _transport_of(protocol: framing.FrameProtocol) -> str | None:
    """"unix" or "tls" for a probed connection; None for the others."""
    return getattr(protocol, "_probe", None)


def _probe_reads(cls: type) -> None:
    read = cls.buffer_updated

    def buffer_updated(self, nbytes: int) -> None:
        kind = _transport_of(self)
        if kind is not None and nbytes:
            _events.append((kind, "in", time.perf_counter()))
        read(self, nbytes)

    cls.buffer_updated = buffer_updated


def _probe_frames(cls: type) -> None:
    received = cls.data_received

    def data_received(self, data) -> None:
        kind = _transport_of(self)
        if kind is not None:
            _events.append((kind, "frame", time.perf_counter()))
        received(self, data)

    cls.data_received = data_received


def _probe_sends(cls: type) -> None:
    send = cls.send

    def probed_send(self, kind: int, payload: bytes = b"") -> None:
        transport = _transport_of(self)
        if transport is None:
            return send(self, kind, payload)
        _events.append((transport, "send", time.perf_counter()))
        send(self, kind, payload)
        _events.append((transport, "sent", time.perf_counter()))

    cls.send = probed_send


def _probe_socket_writes() -> None:
    transport_cls = asyncio.selector_events._SelectorSocketTransport
    write = transport_cls.write

    def probed_write(self, data) -> None:
        kind = _transport_of(self._protocol)
        if kind is not None:
            _events.append((kind, "write", time.perf_counter()))
        write(self, data)

    transport_cls.write = probed_write


def _tag_client_streams() -> None:
    serve = framed_streams.FramedStreamServer._serve

    async def tagged(self, protocol) -> None:
        first = protocol.next_frame

        async def next_frame():
            kind, payload = await first()
            protocol.next_frame = first
            if kind == framing.OPEN and api_pb2.StreamOpen.FromString(payload).method in _CLIENT_STREAMS:
                protocol._probe = "tls" if isinstance(protocol, framing.TlsFrameProtocol) else "unix"
            return kind, payload

        protocol.next_frame = next_frame
        await serve(self, protocol)

    framed_streams.FramedStreamServer._serve = tagged


def _dump(path: str) -> None:
    with open(path, "w") as out:
        out.writelines(f"{kind} {event} {t:.9f}\n" for kind, event, t in _events)


def main() -> None:
    _probe_reads(framing.FrameProtocol)
    _probe_reads(framing.TlsFrameProtocol)
    _probe_frames(framing.FrameProtocol)
    _probe_sends(framing.FrameProtocol)
    _probe_sends(framing.TlsFrameProtocol)
    _probe_socket_writes()
    _tag_client_streams()
    atexit.register(_dump, sys.argv[1])
    runpy.run_module("nodal.server", run_name="__main__")


if __name__ == "__main__":
    main()
