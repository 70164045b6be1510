"""The framed streams over TLS: a remote client's hot streams without gRPC.

A server with a TLS listener (NODAL_LISTEN) also serves CallStream, DataStream and WorkerStream
framed (nodal.proto.framing) on a TCP+TLS port of their own (NODAL_STREAMS_LISTEN, by default
the listen port + 1), with the same certificate and the same token checks as the gRPC TLS
port. These tests run a real server on loopback and check what a remote user relies on: calls,
maps and Dict/Queue ops ride that port (gRPC's stream path is disabled in the client to prove
it), a missing or wrong token is refused with the same error as over gRPC, a client that does
not trust the server's CA fails with an error that says what to set, and with the port turned
off everything still works over gRPC.
"""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from test_framed_streams import _frame, _status

from nodal.proto import api_pb2
from nodal.proto.blocking_stream import BlockingStream
from nodal.proto.framed_calls import FramedCall
from nodal.proto.framing import OPEN, StreamError, TlsEndpoint, client_tls_context
from nodal.server.framed_streams import tls_streams_address


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(tmp_path_factory, name: str, streams_listen: str):
    from conftest import PrivateServer

    listen = f"127.0.0.1:{_free_port()}"
    server = PrivateServer(tmp_path_factory.mktemp(name),
                           env={"NODAL_LISTEN": listen, "NODAL_STREAMS_LISTEN": streams_listen})
    server.start()
    server.url = f"https://{listen}"
    server.ca = server.home / "tls" / "ca.pem"
    creds = tomllib.loads((server.home / "initial-admin-token").read_text())
    server.token = (creds["token_id"], creds["token_secret"])
    return server


@pytest.fixture(scope="module")
def tls_server(require_containers, tmp_path_factory):
    """A server with a TLS listener and the framed streams on a TLS port of its own."""
    server = _start(tmp_path_factory, "nodal-framed-tls", str(_free_port()))
    server.streams_port = int(server.env["NODAL_STREAMS_LISTEN"])
    yield server
    server.stop()


def _remote_python(server, code: str, token: tuple[str, str] | None = None, timeout: float = 180.0) -> str:
    """Run `code` in a fresh process whose SDK reaches `server` only over TLS with a token."""
    token_id, token_secret = token or server.token
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODAL_", "NODAL_"))}
    env.update(MODAL_SERVER_URL=server.url, MODAL_SERVER_CA=str(server.ca), MODAL_TOKEN_ID=token_id,
               MODAL_TOKEN_SECRET=token_secret, NODAL_HOME=str(server.home.parent / "client-home"),
               HOME=str(server.home.parent))
    proc = subprocess.run([sys.executable, "-c", "import sys; sys.path.insert(0, 'tests')\n" + code], env=env,
                          capture_output=True, text=True, timeout=timeout, check=False)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return proc.stdout.strip()


_NO_GRPC_STREAMS = """
from nodal.proto.lazy_stub import LazyNodalStub
def _over_grpc(self):
    raise AssertionError("a hot stream went over gRPC, not the framed TLS port")
LazyNodalStub.CallStream = property(_over_grpc)
LazyNodalStub.DataStream = property(_over_grpc)
"""


def test_a_remote_clients_calls_maps_and_data_ops_ride_the_framed_tls_port(tls_server):
    out = _remote_python(tls_server, _NO_GRPC_STREAMS + """
import asyncio
import os
import modal
from apps.framed_app import app, square
from modal.client import Client
from nodal.proto.framed_calls import FramedCall
from nodal.proto.framing import TlsEndpoint

with app.run() as running:
    client = Client._default
    assert isinstance(client._streams_socket, TlsEndpoint), client._streams_socket
    assert [square.remote(i) for i in range(5)] == [0, 1, 4, 9, 16]
    assert list(square.map(range(200))) == [i * i for i in range(200)]
    assert asyncio.run(square.remote.aio(7)) == 49
    assert isinstance(client._call_stream._rpc, FramedCall)
    try:
        square.remote("not a number")
        raise SystemExit("no error")
    except TypeError as exc:
        print("remote error:", type(exc).__name__)
    d = modal.Dict.from_name("framed-tls", create_if_missing=True)
    d.put("k", {"v": 1})
    assert d.get("k") == {"v": 1} and d.contains("k") and not d.contains("nope")
    big = os.urandom(3 << 20)  # frames larger than one TLS record, both ways
    d.put("big", big)
    assert d.get("big") == big
    q = modal.Queue.from_name("framed-tls-q", create_if_missing=True)
    q.put_many([1, 2, 3])
    assert [q.get(timeout=10) for _ in range(3)] == [1, 2, 3]
    async def aio_ops():
        await d.put.aio("a", 2)
        return await d.get.aio("a")
    assert asyncio.run(aio_ops()) == 2
    print("framed", client._streams_socket.host, client._streams_socket.port)
""")
    assert "remote error: TypeError" in out
    assert out.splitlines()[-1] == f"framed 127.0.0.1 {tls_server.streams_port}"  # the gRPC URL's host


def _raw_tls(server, context: ssl.SSLContext | None = None) -> ssl.SSLSocket:
    context = context or client_tls_context(server.ca.read_bytes())
    raw = socket.create_connection(("127.0.0.1", server.streams_port), timeout=20)
    return context.wrap_socket(raw, server_hostname="127.0.0.1")


@pytest.mark.parametrize("metadata", [
    {},
    {"x-modal-token-id": "ak-nope", "x-modal-token-secret": "as-nope"},
    {"x-nodal-container-id": "ta-nope", "x-nodal-container-token": "bad"},
])
def test_a_missing_or_wrong_token_is_refused_on_the_framed_tls_port(tls_server, metadata):
    """The port is guarded like the gRPC TLS port: no owner trust, a credential on every stream."""
    with _raw_tls(tls_server) as sock:
        sock.sendall(_frame(OPEN, api_pb2.StreamOpen(method="CallStream", metadata=metadata).SerializeToString()))
        status = _status(sock)
    assert status.code == "UNAUTHENTICATED", (metadata, status)
    assert status.error_kind == "AuthError"


def test_a_wrong_token_is_the_same_error_over_both_transports(tls_server):
    """A client with a wrong token gets AuthError from gRPC, and the SDK's translation of the
    framed port's refusal is that same AuthError."""
    from modal.client import translate_stream_error
    from modal.exception import AuthError

    token = tls_server.token[0], "as-wrong"
    env_err = subprocess.run(
        [sys.executable, "-c", "import modal\nmodal.Dict.from_name('x', create_if_missing=True).put('k', 1)"],
        env={**{k: v for k, v in os.environ.items() if not k.startswith(("MODAL_", "NODAL_"))},
             "MODAL_SERVER_URL": tls_server.url, "MODAL_SERVER_CA": str(tls_server.ca),
             "MODAL_TOKEN_ID": token[0], "MODAL_TOKEN_SECRET": token[1], "HOME": str(tls_server.home.parent)},
        capture_output=True, text=True, timeout=60, check=False)
    assert env_err.returncode != 0 and "modal.exception.AuthError" in env_err.stderr, env_err.stderr[-2000:]
    endpoint = TlsEndpoint("127.0.0.1", tls_server.streams_port, client_tls_context(tls_server.ca.read_bytes()))
    stream = BlockingStream(endpoint, "DataStream", {"x-modal-token-id": token[0], "x-modal-token-secret": token[1]})
    try:
        with pytest.raises(StreamError) as info:
            stream.read()
    finally:
        stream.close()
    err = translate_stream_error(info.value)
    assert isinstance(err, AuthError), err


def test_a_client_that_does_not_trust_the_servers_ca_fails_clearly(tls_server, tmp_path):
    from modal.client import translate_stream_error
    from modal.exception import AuthError

    # The framed port itself: a client trusting only the system's roots.
    endpoint = TlsEndpoint("127.0.0.1", tls_server.streams_port, client_tls_context(None))
    with pytest.raises(StreamError) as info:
        BlockingStream(endpoint, "CallStream", {})
    assert "certificate verify failed" in info.value.details
    err = translate_stream_error(info.value)
    assert isinstance(err, AuthError) and "server_ca" in str(err), err

    async def read_async():  # the event-loop stream (.map, .remote.aio) does its own handshake
        return await FramedCall(endpoint, "CallStream", {}).read()

    with pytest.raises(StreamError) as info:
        asyncio.run(read_async())
    assert info.value.code == "UNAVAILABLE" and "certificate verify failed" in info.value.details
    # And the SDK as a whole, with a CA that is not the server's.
    from nodal.server.tunnel_tls import ensure_certificate

    other = tmp_path / "other-ca"
    other.mkdir()
    ensure_certificate(other, ["localhost"])
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODAL_", "NODAL_"))}
    env.update(MODAL_SERVER_URL=tls_server.url, MODAL_SERVER_CA=str(other / "ca.pem"),
               MODAL_TOKEN_ID=tls_server.token[0], MODAL_TOKEN_SECRET=tls_server.token[1], HOME=str(tmp_path))
    proc = subprocess.run([sys.executable, "-c", "import modal\nmodal.Queue.from_name('q', create_if_missing=True).len()"],
                          env=env, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode != 0
    assert "modal.exception.AuthError" in proc.stderr and "server_ca" in proc.stderr, proc.stderr[-2000:]


def test_the_framed_tls_port_checks_the_host_name(tls_server):
    """The client checks the certificate for the name it reaches the server by: the server's
    certificate does not carry an arbitrary one."""
    context = client_tls_context(tls_server.ca.read_bytes())
    raw = socket.create_connection(("127.0.0.1", tls_server.streams_port), timeout=20)
    with pytest.raises(ssl.SSLCertVerificationError, match="match"):
        context.wrap_socket(raw, server_hostname="not-this-server.example")
    raw.close()
    with context.wrap_socket(socket.create_connection(("127.0.0.1", tls_server.streams_port), timeout=20),
                             server_hostname="127.0.0.1"):
        pass


def test_with_the_port_off_remote_streams_stay_on_grpc(require_containers, tmp_path_factory):
    server = _start(tmp_path_factory, "nodal-framed-tls-off", "off")
    try:
        out = _remote_python(server, """
from apps.framed_app import app, square
from modal.client import Client
with app.run():
    assert [square.remote(i) for i in range(3)] == [0, 1, 4]
    assert list(square.map(range(50))) == [i * i for i in range(50)]
    print(repr(Client._default._streams_socket), type(Client._default._call_stream._rpc).__module__)
""")
    finally:
        server.stop()
    streams, module = out.splitlines()[-1].split()
    assert streams == "''" and module.startswith("grpc"), out


def test_streams_listen_forms():
    assert tls_streams_address("0.0.0.0:8443", "") == ("0.0.0.0", 8444, False)
    assert tls_streams_address("10.0.0.5:8443", "9000") == ("10.0.0.5", 9000, True)
    assert tls_streams_address("[::]:8443", "127.0.0.1:9001") == ("127.0.0.1", 9001, True)
    for off in ("off", "0", "OFF"):
        assert tls_streams_address("0.0.0.0:8443", off) is None
    with pytest.raises(ValueError, match="PORT, HOST:PORT or off"):
        tls_streams_address("0.0.0.0:8443", "nine-thousand")


def test_server_status_shows_the_framed_tls_port(tls_server):
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "modal.cli.entry", "server", "status"], capture_output=True,
                          text=True, timeout=60, env={**os.environ, "NODAL_HOME": str(tls_server.home)})
    assert proc.returncode == 0, proc.stderr
    assert f"TLS port {tls_server.streams_port}" in proc.stdout


def test_the_owners_unix_socket_is_unchanged(tls_server):
    """The local owner's client keeps its unix framed socket (not the TLS port)."""
    client = tls_server.client()
    assert isinstance(client._streams_socket, str) and Path(client._streams_socket).name == "server-streams.sock"


_WORKER_STREAM = """
import asyncio
from nodal.proto import framing
from nodal.worker.main import _ServerStub

async def main():
    stub = _ServerStub((("x-nodal-container-id", "ta-nope"), ("x-nodal-container-token", "bad")))
    stream = stub.worker_stream()
    try:
        await stream.read()
    except framing.grpc_errors() as err:
        print(type(stream._active).__module__, err.code().name)
    except framing.StreamError as err:
        print(type(stream._active).__module__, err.code)
    await stub.close()

asyncio.run(main())
"""


@pytest.mark.parametrize("reachable", [True, False])
def test_a_ray_node_workers_stream_rides_the_framed_tls_port_or_falls_back(tls_server, reachable):
    """A worker configured as on a Ray node (the server's URL, CA and framed TLS port) opens its
    WorkerStream framed over TLS, where the guarded gate refuses a bad container credential; with
    the port unreachable (a confined container's relay passes only gRPC) it uses gRPC instead."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODAL_", "NODAL_"))}
    env.update(NODAL_SERVER_URL=tls_server.url, NODAL_SERVER_CA=str(tls_server.ca),
               NODAL_STREAMS_TLS_PORT=str(tls_server.streams_port if reachable else _free_port()))
    proc = subprocess.run([sys.executable, "-c", _WORKER_STREAM], env=env, capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    module, code = proc.stdout.split()
    assert code == "UNAUTHENTICATED"
    assert (module == "nodal.proto.framed_calls") if reachable else module.startswith("grpc"), proc.stdout
