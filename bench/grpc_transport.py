"""The floor under bench/remote.py: a bare gRPC echo (no Nodal code) over a unix socket, plain
TCP and TCP+TLS on loopback, server in another process, as Nodal's server and clients are.

What TLS costs per call here is what any gRPC server pays on this machine; bench/remote.py's
"added by TLS + token" is to be read against it.

    .venv/bin/python bench/grpc_transport.py [--calls N] [--rounds R]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import statistics
import tempfile
import time
from pathlib import Path

import grpc

from nodal.server.tls import server_credentials

PAYLOAD = b"x" * 64


def _identity(data: bytes) -> bytes:
    return data


def _serve(home: str, ports: tuple[int, int], ready) -> None:
    async def echo(request: bytes, context) -> bytes:
        return request

    async def main() -> None:
        credentials, _ = server_credentials(Path(home), [])
        server = grpc.aio.server()
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
            "bench.Echo", {"Echo": grpc.unary_unary_rpc_method_handler(echo, _identity, _identity)}),))
        server.add_insecure_port(f"unix://{home}/echo.sock")
        server.add_insecure_port(f"127.0.0.1:{ports[0]}")
        server.add_secure_port(f"127.0.0.1:{ports[1]}", credentials)
        await server.start()
        ready.set()
        await server.wait_for_termination()

    asyncio.run(main())


async def _p50(target: str, credentials: grpc.ChannelCredentials | None, calls: int) -> float:
    channel = grpc.aio.secure_channel(target, credentials) if credentials else grpc.aio.insecure_channel(target)
    echo = channel.unary_unary("/bench.Echo/Echo", request_serializer=_identity, response_deserializer=_identity)
    for _ in range(200):
        await echo(PAYLOAD)
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        await echo(PAYLOAD)
        times.append(time.perf_counter() - start)
    await channel.close()
    return statistics.median(times) * 1e6


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    home = tempfile.mkdtemp(prefix="nodal-grpc-bench-")
    ports = (_free_port(), _free_port())
    ready = multiprocessing.Event()
    server = multiprocessing.Process(target=_serve, args=(home, ports, ready), daemon=True)
    server.start()
    try:
        if not ready.wait(30):
            raise SystemExit("the echo server did not start within 30 s")
        tls = grpc.ssl_channel_credentials((Path(home) / "tls" / "ca.pem").read_bytes())
        rows = {"unix": [], "tcp": [], "tls": []}
        for _ in range(args.rounds):  # interleaved, so load from other work falls on each alike
            rows["unix"].append(asyncio.run(_p50(f"unix://{home}/echo.sock", None, args.calls)))
            rows["tcp"].append(asyncio.run(_p50(f"127.0.0.1:{ports[0]}", None, args.calls)))
            rows["tls"].append(asyncio.run(_p50(f"localhost:{ports[1]}", tls, args.calls)))
        base = statistics.median(rows["unix"])
        print(f"bare gRPC echo, p50 per call (median of {args.rounds} rounds of {args.calls} calls)")
        for name, values in rows.items():
            mid = statistics.median(values)
            print(f"  {name:5s} {mid:8.0f} µs   +{mid - base:5.0f} µs vs unix   ratio {mid / base:4.2f}")
    finally:
        server.terminate()
        server.join(10)


if __name__ == "__main__":
    main()
