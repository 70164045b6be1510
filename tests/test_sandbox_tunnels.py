"""Tunnels: sandbox encrypted/unencrypted ports and modal.forward, reached with real TCP/TLS clients."""

from __future__ import annotations

import socket
import ssl
import urllib.request
from pathlib import Path

import pytest

import modal
from modal.exception import InvalidError

ECHO_SERVER = (
    "import socket\n"
    "s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
    "s.bind(('127.0.0.1', 7000)); s.listen(8); print('listening', flush=True)\n"
    "while True:\n"
    "    c, _ = s.accept(); c.sendall(b'echo:' + c.recv(1024)); c.close()\n"
)


@pytest.fixture(scope="module")
def app(nodal_server, require_containers):
    return modal.App.lookup("tunnel-tests", create_if_missing=True)


def _ca_file() -> str:
    from nodal import paths

    return str(Path(paths.nodal_home()) / "tunnels" / "ca.pem")


def _wait_listening(sb: modal.Sandbox) -> None:
    assert next(iter(sb.stdout)).startswith("listening")


def _tcp_round_trip(host: str, port: int, payload: bytes, wait_until) -> bytes:
    """Connect until the service inside answers (it may still be starting)."""

    def attempt():
        try:
            with socket.create_connection((host, port), timeout=5) as s:
                s.sendall(payload)
                return s.recv(1024)
        except OSError:
            return b""

    return wait_until(attempt, timeout=20, what="the service behind the tunnel")


def test_unencrypted_port_reached_with_a_tcp_client(app, wait_until):
    sb = modal.Sandbox.create("python3", "-c", ECHO_SERVER, app=app, unencrypted_ports=[7000])
    try:
        _wait_listening(sb)
        tunnel = sb.tunnels()[7000]
        host, port = tunnel.tcp_socket
        assert _tcp_round_trip(host, port, b"ping", wait_until) == b"echo:ping"
    finally:
        sb.terminate()


def test_encrypted_port_speaks_tls_with_the_server_ca(app, wait_until):
    sb = modal.Sandbox.create(
        "python3", "-m", "http.server", "8000", "--bind", "127.0.0.1", app=app, encrypted_ports=[8000], workdir="/etc"
    )
    try:
        tunnel = sb.tunnels()[8000]
        assert tunnel.url.startswith("https://")
        with pytest.raises(InvalidError):
            tunnel.tcp_socket
        ctx = ssl.create_default_context(cafile=_ca_file())

        def fetch():
            try:
                with urllib.request.urlopen(tunnel.url + "/hostname", context=ctx, timeout=5) as resp:
                    return resp.read()
            except OSError:
                return b""

        assert wait_until(fetch, timeout=20, what="the HTTPS tunnel").strip() == b"modal"
        # Without the server's CA the certificate is not trusted.
        with pytest.raises(ssl.SSLError):
            with socket.create_connection(tunnel.tls_socket, timeout=5) as raw:
                ssl.create_default_context().wrap_socket(raw, server_hostname=tunnel.host)
    finally:
        sb.terminate()


def test_two_sandboxes_can_use_the_same_port(app, wait_until):
    boxes = [modal.Sandbox.create("python3", "-c", ECHO_SERVER, app=app, unencrypted_ports=[7000]) for _ in range(2)]
    try:
        for sb in boxes:
            _wait_listening(sb)
        addresses = {sb.tunnels()[7000].tcp_socket for sb in boxes}
        assert len(addresses) == 2
        for host, port in addresses:
            assert _tcp_round_trip(host, port, b"x", wait_until) == b"echo:x"
    finally:
        for sb in boxes:
            sb.terminate()


def test_tunnels_close_with_the_sandbox(app, wait_until):
    sb = modal.Sandbox.create("python3", "-c", ECHO_SERVER, app=app, unencrypted_ports=[7000])
    _wait_listening(sb)
    host, port = sb.tunnels()[7000].tcp_socket
    sb.terminate()
    sb.wait(raise_on_termination=False)

    def refused():
        try:
            socket.create_connection((host, port), timeout=2).close()
            return False
        except OSError:
            return True

    wait_until(refused, timeout=10, what="the tunnel listener to close")


def test_modal_forward_from_a_function(nodal_server, require_containers, wait_until):
    import uuid

    from apps.forward_app import app as fwd_app
    from apps.forward_app import serve_and_forward

    queue_name = f"forward-{uuid.uuid4().hex[:8]}"
    q = modal.Queue.from_name(queue_name, create_if_missing=True)
    with fwd_app.run():
        call = serve_and_forward.spawn(queue_name, True)
        address = q.get(partition="address", timeout=60)
        assert _tcp_round_trip(address["host"], address["port"], b"fwd", wait_until) == b"echo:fwd"
        q.put("done", partition="done")
        assert call.get(timeout=60) == "closed"
    modal.Queue.delete(queue_name)


def test_forward_outside_a_container_is_an_error():
    with pytest.raises(InvalidError, match="inside"):
        with modal.forward(8000):
            pass
