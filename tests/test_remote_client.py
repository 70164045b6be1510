"""The client side of remote access: the server's TLS material, the TLS channel and the
credentials every call carries, and the `modal token | profile | config` commands.

The TLS handshakes are real (Python's ssl module, and gRPC over loopback TCP). Where a server
is needed before the real server's TLS listener is involved, a small gRPC server on loopback
answers `Hello`/`WhoAmI` with the certificates `nodal.server.tls` made, and records the
credentials each call carried.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import socket
import ssl
import stat
import subprocess
import sys
import threading
from concurrent import futures
from pathlib import Path

import grpc
import pytest

from modal._utils.async_utils import run_sync
from modal.client import Client, parse_server_url
from modal.exception import AuthError, InvalidError, RequestSizeError
from nodal.proto import api_pb2
from nodal.server import tls

MODAL = str(Path(sys.executable).parent / "modal")
TOKEN_ID, TOKEN_SECRET = "ak-" + "1" * 32, "as-" + "f00d" * 8


# ---------- server TLS material ----------


def _handshake(ca: Path, chain: Path, key: Path, server_hostname: str) -> None:
    """A real TLS handshake on loopback: a server presenting `chain`, a client trusting only `ca`
    and checking the certificate against `server_hostname`. Raises the client's ssl error."""
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(chain, key)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(10)
    port = listener.getsockname()[1]

    def serve() -> None:
        try:
            conn, _ = listener.accept()
            conn.settimeout(10)
            with server_ctx.wrap_socket(conn, server_side=True) as tls_conn:
                tls_conn.recv(1)
        except (OSError, ssl.SSLError):
            pass  # the client refused the certificate: its side raises

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    client_ctx = ssl.create_default_context(cafile=str(ca))
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            with client_ctx.wrap_socket(raw, server_hostname=server_hostname) as conn:
                conn.sendall(b"x")
    finally:
        thread.join(timeout=10)
        listener.close()


def test_generated_ca_signs_a_certificate_for_the_loopback_names(tmp_path):
    creds, ca = tls.server_credentials(tmp_path, ["nodal.test"])
    assert isinstance(creds, grpc.ServerCredentials)
    tls_dir = tmp_path / "tls"
    assert ca == tls_dir / "ca.pem"
    chain, key = tls_dir / "server.pem", tls_dir / "server-key.pem"
    for name in ("localhost", "127.0.0.1", "nodal.test", socket.gethostname()):
        _handshake(ca, chain, key, name)
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(ca, chain, key, "elsewhere.example")
    # Private material is the owner's only.
    assert stat.S_IMODE(tls_dir.stat().st_mode) == 0o700
    for private in (tls_dir / "ca-key.pem", key):
        assert stat.S_IMODE(private.stat().st_mode) == 0o600
    # The fingerprint users compare out of band is the SHA-256 of the CA's DER form.
    der = ssl.PEM_cert_to_DER_cert(ca.read_text())
    assert tls.ca_fingerprint(ca) == hashlib.sha256(der).hexdigest()


def test_certificates_are_reused_and_reissued_when_the_names_change(tmp_path):
    tls.server_credentials(tmp_path, ["a.test"])
    tls_dir = tmp_path / "tls"
    ca_before, leaf_before = (tls_dir / "ca.pem").read_bytes(), (tls_dir / "server.pem").read_bytes()
    tls.server_credentials(tmp_path, ["a.test"])
    assert (tls_dir / "server.pem").read_bytes() == leaf_before  # a restart keeps what clients trust
    _, ca = tls.server_credentials(tmp_path, ["a.test", "b.test"])
    assert (tls_dir / "server.pem").read_bytes() != leaf_before
    assert ca.read_bytes() == ca_before  # the CA stays: clients need not be told anything new
    _handshake(ca, tls_dir / "server.pem", tls_dir / "server-key.pem", "b.test")


def test_a_certificate_near_expiry_is_reissued(tmp_path):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    tls.server_credentials(tmp_path)
    tls_dir = tmp_path / "tls"
    ca_cert = x509.load_pem_x509_certificate((tls_dir / "ca.pem").read_bytes())
    ca_key = serialization.load_pem_private_key((tls_dir / "ca-key.pem").read_bytes(), None)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    old = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=10))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    (tls_dir / "server.pem").write_bytes(old.public_bytes(serialization.Encoding.PEM))
    tls.server_credentials(tmp_path)
    renewed = x509.load_pem_x509_certificates((tls_dir / "server.pem").read_bytes())[0]
    assert renewed.not_valid_after_utc - now > datetime.timedelta(days=300)


def test_operator_certificate_is_used_as_given(tmp_path):
    from nodal.server.tunnel_tls import ensure_certificate

    operator = tmp_path / "operator"
    chain, key = ensure_certificate(operator, ["localhost", "127.0.0.1"])  # an operator's own PKI
    home = tmp_path / "home"
    creds, trusted = tls.server_credentials(home, cert_file=chain, key_file=key)
    assert isinstance(creds, grpc.ServerCredentials) and trusted == chain
    assert not (home / "tls").exists()  # no CA of the server's own

    other_key = ensure_certificate(tmp_path / "other", ["localhost"])[1]
    with pytest.raises(tls.TlsConfigError, match=f"{other_key}.*does not belong.*{chain}"):
        tls.server_credentials(home, cert_file=chain, key_file=other_key)
    with pytest.raises(tls.TlsConfigError, match=str(tmp_path / "missing.pem")):
        tls.server_credentials(home, cert_file=tmp_path / "missing.pem", key_file=key)
    with pytest.raises(tls.TlsConfigError, match="not a PEM certificate"):
        tls.server_credentials(home, cert_file=key, key_file=key)
    with pytest.raises(tls.TlsConfigError, match="both"):
        tls.server_credentials(home, cert_file=chain)


# ---------- the client's address, TLS channel and credentials ----------


def test_server_url_forms():
    assert parse_server_url("/tmp/x.sock") == ("unix:///tmp/x.sock", False)
    assert parse_server_url("unix:///tmp/x.sock") == ("unix:///tmp/x.sock", False)
    assert parse_server_url("https://nodal.example:7443") == ("nodal.example:7443", True)
    assert parse_server_url("grpcs://10.0.0.1:7443/") == ("10.0.0.1:7443", True)
    assert parse_server_url("https://nodal.example") == ("nodal.example:443", True)
    assert parse_server_url("https://[::1]:7443") == ("[::1]:7443", True)
    for bad in ("http://nodal.example:80", "nodal.example:7443", "https://", "https://h:1/path"):
        with pytest.raises(InvalidError, match="https://HOST:PORT"):
            parse_server_url(bad)


class _LoopbackServer:
    """A gRPC server on 127.0.0.1 with the TLS credentials `nodal.server.tls` made: answers Hello
    and WhoAmI (only for TOKEN_ID/TOKEN_SECRET) and records each call's metadata."""

    def __init__(self, home: Path, max_request: int = 64 * 1024, host: str = "127.0.0.1") -> None:
        creds, self.ca = tls.server_credentials(home)
        self.metadata: list[dict[str, str]] = []
        handlers = {
            "Hello": grpc.unary_unary_rpc_method_handler(
                self._hello, api_pb2.HelloRequest.FromString, api_pb2.HelloResponse.SerializeToString
            ),
            "WhoAmI": grpc.unary_unary_rpc_method_handler(
                self._whoami, api_pb2.Empty.FromString, api_pb2.WhoAmIResponse.SerializeToString
            ),
        }
        self._server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=4),
            options=[("grpc.max_receive_message_length", max_request)],
        )
        self._server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler("nodal.api.v1.Nodal", handlers)])
        self.port = self._server.add_secure_port(f"{host}:0", creds)
        self._server.start()
        self.url = f"https://{host}:{self.port}"

    def _hello(self, request, context):
        self.metadata.append(dict(context.invocation_metadata()))
        return api_pb2.HelloResponse(server_version="test", pid=os.getpid())

    def _whoami(self, request, context):
        md = dict(context.invocation_metadata())
        self.metadata.append(md)
        if (md.get("x-modal-token-id"), md.get("x-modal-token-secret")) != (TOKEN_ID, TOKEN_SECRET):
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "token not accepted: run `modal token set`")
        return api_pb2.WhoAmIResponse(workspace="team-a", user="alice", admin=True, token_id=TOKEN_ID, kind="token")

    def stop(self) -> None:
        self._server.stop(grace=None).wait(10)


@pytest.fixture
def loopback(tmp_path):
    server = _LoopbackServer(tmp_path / "server-home")
    yield server
    server.stop()


@pytest.fixture
def clean_env(tmp_path, monkeypatch):
    """No MODAL_* / NODAL_* settings from outside, and an empty config file location."""
    for var in list(os.environ):
        if var.startswith("MODAL_") or var in ("NODAL_CONTAINER_ID", "NODAL_CONTAINER_TOKEN", "NODAL_SERVER_SOCKET"):
            monkeypatch.delenv(var)
    monkeypatch.setenv("MODAL_CONFIG_PATH", str(tmp_path / "modal.toml"))
    return tmp_path


def _connect(client: Client) -> Client:
    try:
        run_sync(client._connect())
    finally:
        run_sync(client._close())
    return client


def test_tls_client_sends_the_token_on_every_call(loopback, clean_env):
    client = Client(loopback.url, token_id=TOKEN_ID, token_secret=TOKEN_SECRET, server_ca=str(loopback.ca))
    try:
        run_sync(client._connect())
        who = run_sync(client.stub.WhoAmI(api_pb2.Empty()))
    finally:
        run_sync(client._close())
    assert (who.workspace, who.user) == ("team-a", "alice")
    assert len(loopback.metadata) == 2  # Hello and WhoAmI both carried it
    for md in loopback.metadata:
        assert md["x-modal-token-id"] == TOKEN_ID and md["x-modal-token-secret"] == TOKEN_SECRET
    assert TOKEN_SECRET not in repr(client)


def test_token_and_ca_come_from_the_environment(loopback, clean_env, monkeypatch):
    monkeypatch.setenv("MODAL_SERVER_URL", loopback.url)
    monkeypatch.setenv("MODAL_SERVER_CA", str(loopback.ca))
    monkeypatch.setenv("MODAL_TOKEN_ID", TOKEN_ID)
    monkeypatch.setenv("MODAL_TOKEN_SECRET", TOKEN_SECRET)
    client = run_sync(Client.from_credentials.aio("ak-explicit", "as-explicit"))  # explicit wins
    run_sync(client._close())
    assert loopback.metadata[-1]["x-modal-token-id"] == "ak-explicit"
    from modal.client import _socket_for_env

    _connect(Client(_socket_for_env()[0]))
    assert loopback.metadata[-1]["x-modal-token-id"] == TOKEN_ID


def test_container_credentials_are_sent_inside_a_container(loopback, clean_env, monkeypatch):
    monkeypatch.setenv("NODAL_CONTAINER_ID", "ta-123")
    monkeypatch.setenv("NODAL_CONTAINER_TOKEN", "ct-secret")
    _connect(Client(loopback.url, server_ca=str(loopback.ca)))
    md = loopback.metadata[-1]
    assert md["x-nodal-container-id"] == "ta-123" and md["x-nodal-container-token"] == "ct-secret"
    assert "x-modal-token-id" not in md


def test_a_remote_server_without_a_token_fails_before_connecting(loopback, clean_env):
    with pytest.raises(AuthError, match="modal token set.*MODAL_TOKEN_ID"):
        _connect(Client(loopback.url, server_ca=str(loopback.ca)))
    with pytest.raises(AuthError, match="token_secret"):
        _connect(Client(loopback.url, token_id=TOKEN_ID, server_ca=str(loopback.ca)))
    assert loopback.metadata == []


def test_an_untrusted_server_certificate_is_an_auth_error_that_says_what_to_do(loopback, clean_env, tmp_path):
    _, other_ca = tls.server_credentials(tmp_path / "another-server")
    for ca in (str(other_ca), None):  # a different CA, and the system roots
        with pytest.raises(AuthError, match="certificate is not trusted.*server_ca.*MODAL_SERVER_CA") as info:
            _connect(Client(loopback.url, token_id=TOKEN_ID, token_secret=TOKEN_SECRET, server_ca=ca))
        assert TOKEN_SECRET not in str(info.value)
    assert loopback.metadata == []  # the token never reached a server it did not trust
    with pytest.raises(InvalidError, match="cannot read server_ca"):
        _connect(Client(loopback.url, token_id=TOKEN_ID, token_secret=TOKEN_SECRET, server_ca=str(tmp_path / "no")))


def test_an_address_the_certificate_does_not_name_is_an_auth_error(clean_env, tmp_path):
    server = _LoopbackServer(tmp_path / "server-home", host="127.0.0.2")  # loopback, but not in the SANs
    try:
        with pytest.raises(AuthError, match="does not name the address.*--tls-san"):
            _connect(Client(server.url, token_id=TOKEN_ID, token_secret=TOKEN_SECRET, server_ca=str(server.ca)))
        assert server.metadata == []
    finally:
        server.stop()


def test_a_refused_token_is_an_auth_error(loopback, clean_env):
    client = Client(loopback.url, token_id=TOKEN_ID, token_secret="as-wrong", server_ca=str(loopback.ca))
    try:
        run_sync(client._connect())
        with pytest.raises(AuthError, match="token not accepted"):
            run_sync(client.stub.WhoAmI(api_pb2.Empty()))
    finally:
        run_sync(client._close())


def test_an_oversized_request_is_a_request_size_error(loopback, clean_env):
    client = Client(loopback.url, token_id=TOKEN_ID, token_secret=TOKEN_SECRET, server_ca=str(loopback.ca))
    try:
        run_sync(client._connect())
        with pytest.raises(RequestSizeError, match="too large"):
            run_sync(client.stub.Hello(api_pb2.HelloRequest(client_version="x" * 200_000)))
    finally:
        run_sync(client._close())


# ---------- the CLI: config show, profiles, token set ----------


def _modal(home: Path, *args: str, extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODAL_")}
    env.update(HOME=str(home), MODAL_CONFIG_PATH=str(home / ".modal.toml"), NODAL_HOME=str(home / "nodal"))
    env.update(extra_env or {})
    return subprocess.run([MODAL, *args], env=env, capture_output=True, text=True, timeout=60, check=False)


def test_config_show_masks_the_token_secret(tmp_path):
    (tmp_path / ".modal.toml").write_text(
        f'[default]\nactive = true\ntoken_id = "{TOKEN_ID}"\ntoken_secret = "{TOKEN_SECRET}"\n'
        'server_url = "https://nodal.example:7443"\n'
    )
    out = _modal(tmp_path, "config", "show")
    assert out.returncode == 0, out.stderr
    shown = json.loads(out.stdout)
    assert shown["token_id"] == TOKEN_ID and shown["server_url"] == "https://nodal.example:7443"
    assert shown["token_secret"] == "as-…****"
    assert TOKEN_SECRET not in out.stdout and TOKEN_SECRET[3:] not in out.stdout + out.stderr
    # The environment's secret (it wins over the file) is masked just the same.
    out = _modal(tmp_path, "config", "show", extra_env={"MODAL_TOKEN_SECRET": "as-fromenv123"})
    assert json.loads(out.stdout)["token_secret"] == "as-…****" and "fromenv123" not in out.stdout


def test_token_set_without_verification_writes_an_owner_only_profile(tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    out = _modal(tmp_path, "token", "set", "--token-id", TOKEN_ID, "--token-secret", TOKEN_SECRET,
                 "--profile", "remote", "--server-url", "https://nodal.example:7443", "--server-ca", str(ca),
                 "--no-verify")
    assert out.returncode == 0, out.stderr
    assert TOKEN_SECRET not in out.stdout + out.stderr
    path = tmp_path / ".modal.toml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    import tomllib

    saved = tomllib.loads(path.read_text())
    assert saved["remote"] == {
        "token_id": TOKEN_ID, "token_secret": TOKEN_SECRET, "server_url": "https://nodal.example:7443",
        "server_ca": str(ca), "active": True,
    }
    bad = _modal(tmp_path, "token", "set", "--token-id", TOKEN_ID, "--no-verify")
    assert bad.returncode == 2 and "--token-secret" in bad.stderr
    bad = _modal(tmp_path, "token", "set", "--server-url", "nodal.example:7443", "--no-verify")
    assert bad.returncode == 1 and "https://HOST:PORT" in bad.stderr


def test_profiles_list_activate_and_current(tmp_path):
    (tmp_path / ".modal.toml").write_text(
        f'[default]\nactive = true\n\n[remote]\ntoken_id = "{TOKEN_ID}"\ntoken_secret = "{TOKEN_SECRET}"\n'
        'server_url = "https://nodal.example:7443"\n'
    )
    assert _modal(tmp_path, "profile", "current").stdout.strip() == "default"
    out = _modal(tmp_path, "profile", "list", "--json")
    listed = {p["name"]: p for p in json.loads(out.stdout)}
    assert listed["default"]["active"] and not listed["remote"]["active"]
    assert listed["remote"]["server_url"] == "https://nodal.example:7443" and listed["remote"]["token_id"] == TOKEN_ID
    assert TOKEN_SECRET not in out.stdout
    table = _modal(tmp_path, "profile", "list").stdout
    assert "remote" in table and TOKEN_SECRET not in table

    assert _modal(tmp_path, "profile", "activate", "remote").returncode == 0
    assert _modal(tmp_path, "profile", "current").stdout.strip() == "remote"
    assert json.loads(_modal(tmp_path, "config", "show").stdout)["server_url"] == "https://nodal.example:7443"
    assert _modal(tmp_path, "profile", "current", extra_env={"MODAL_PROFILE": "default"}).stdout.strip() == "default"
    missing = _modal(tmp_path, "profile", "activate", "nope")
    assert missing.returncode == 1 and "No profile named 'nope'" in missing.stderr


def test_token_set_verifies_with_the_server_and_names_the_profile_after_the_workspace(loopback, tmp_path):
    args = ["token", "set", "--server-url", loopback.url, "--server-ca", str(loopback.ca)]
    refused = _modal(tmp_path, *args, "--token-id", TOKEN_ID, "--token-secret", "as-wrong")
    assert refused.returncode == 1 and "token not accepted" in refused.stderr
    assert not (tmp_path / ".modal.toml").exists()  # nothing saved

    out = _modal(tmp_path, *args, "--token-id", TOKEN_ID, "--token-secret", TOKEN_SECRET)
    assert out.returncode == 0, out.stderr
    assert "alice@team-a" in out.stdout
    assert _modal(tmp_path, "profile", "current").stdout.strip() == "team-a"
    shown = json.loads(_modal(tmp_path, "config", "show").stdout)
    assert (shown["server_url"], shown["server_ca"], shown["token_id"]) == (loopback.url, str(loopback.ca), TOKEN_ID)

    untrusted = _modal(tmp_path, "token", "set", "--server-url", loopback.url, "--token-id", TOKEN_ID,
                       "--token-secret", TOKEN_SECRET, "--profile", "x")
    assert untrusted.returncode == 1 and "--server-ca" in untrusted.stderr


# ---------- end to end: a real server listening on loopback TCP with TLS ----------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _TlsServer:
    """A real Nodal server of its own NODAL_HOME, started by `modal server start --listen`."""

    def __init__(self, root: Path) -> None:
        self.home, self.user_home = root / "nodal", root / "user"
        self.user_home.mkdir(parents=True)
        self.url = f"https://127.0.0.1:{_free_port()}"
        self.ca = self.home / "tls" / "ca.pem"
        self.start_output = ""

    def modal(self, *args: str, profile: str | None = None, extra_env: dict[str, str] | None = None):
        env = {"NODAL_HOME": str(self.home), **({"MODAL_PROFILE": profile} if profile else {}), **(extra_env or {})}
        return _modal(self.user_home, *args, extra_env=env)

    def start(self) -> None:
        out = self.modal("server", "start", "--listen", self.url.removeprefix("https://"))
        assert out.returncode == 0, out.stdout + out.stderr
        self.start_output = out.stdout

    def stop(self) -> None:
        self.modal("server", "stop")


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory):
    server = _TlsServer(tmp_path_factory.mktemp("nodal-tls"))
    try:
        server.start()
        yield server
    finally:
        server.stop()


def _printed_token(output: str) -> tuple[str, str]:
    fields = dict(
        line.strip().split(":", 1) for line in output.splitlines() if line.strip().startswith(("token_id:", "token_secret:"))
    )
    return fields["token_id"].strip(), fields["token_secret"].strip()


@pytest.fixture(scope="module")
def admin_token(tls_server) -> tuple[str, str]:
    """The initial admin token `modal server start` printed (once)."""
    return _printed_token(tls_server.start_output)


def test_server_start_prints_the_initial_admin_token_once(tls_server, admin_token):
    out = tls_server.start_output
    assert f"TLS listener: {tls_server.url}" in out
    assert tls.ca_fingerprint(tls_server.ca) in out
    token_id, token_secret = admin_token
    assert token_id.startswith("ak-") and token_secret.startswith("as-")
    assert f"--server-ca {tls_server.ca}" in out
    assert not (tls_server.home / "initial-admin-token").exists()  # printed, then gone from disk
    again = tls_server.modal("server", "start")
    assert again.returncode == 0 and "already running" in again.stdout and token_secret not in again.stdout


def test_tokens_made_listed_and_revoked_through_the_cli_over_tls(tls_server, admin_token):
    token_id, token_secret = admin_token
    saved = tls_server.modal("token", "set", "--token-id", token_id, "--token-secret", token_secret,
                             "--server-url", tls_server.url, "--server-ca", str(tls_server.ca), "--profile", "admin")
    assert saved.returncode == 0, saved.stderr
    assert "admin@default (admin)" in saved.stdout

    # A token handed to a teammate (--print), who saves it in a profile of their own.
    made = tls_server.modal("token", "new", "--workspace", "team-e2e", "--user", "bob", "--label", "bob's laptop",
                            "--print", profile="admin")
    assert made.returncode == 0, made.stderr
    bob_id, bob_secret = _printed_token(made.stdout)
    assert f"--server-url {tls_server.url}" in made.stdout
    saved = tls_server.modal("token", "set", "--token-id", bob_id, "--token-secret", bob_secret,
                             "--server-url", tls_server.url, "--server-ca", str(tls_server.ca))
    assert saved.returncode == 0, saved.stderr
    assert tls_server.modal("profile", "current").stdout.strip() == "team-e2e"  # named after the workspace

    # bob makes a token for himself, saved straight into a profile.
    own = tls_server.modal("token", "new", "--label", "ci", "--profile", "bob-ci", "--no-activate")
    assert own.returncode == 0, own.stderr
    assert bob_secret not in own.stdout
    listed = json.loads(tls_server.modal("token", "list", "--json").stdout)
    assert {t["label"] for t in listed} == {"bob's laptop", "ci"}  # his workspace only
    assert all(t["workspace"] == "team-e2e" for t in listed)
    refused = tls_server.modal("token", "list", "--all")
    assert refused.returncode == 1 and "admin" in refused.stderr

    everyone = json.loads(tls_server.modal("token", "list", "--all", "--json", profile="admin").stdout)
    assert {bob_id, token_id} <= {t["token_id"] for t in everyone}
    assert not any(bob_secret in json.dumps(t) for t in everyone)

    revoked = tls_server.modal("token", "revoke", bob_id, profile="admin")
    assert revoked.returncode == 0, revoked.stderr
    after = tls_server.modal("app", "list")
    assert after.returncode == 1 and "revoked" in after.stderr and "modal token" in after.stderr
    assert tls_server.modal("app", "list", profile="bob-ci").returncode == 0  # his other token still works
    shown = json.loads(tls_server.modal("token", "list", "--all", "--include-revoked", "--json", profile="admin").stdout)
    assert next(t for t in shown if t["token_id"] == bob_id)["revoked_at"]

    audit = tls_server.modal("server", "audit", "--json", profile="admin")
    actions = [(e["action"], e["target"]) for e in json.loads(audit.stdout)]
    assert ("token.create", bob_id) in actions and ("token.revoke", bob_id) in actions


def test_a_client_that_does_not_trust_the_servers_ca_gets_an_auth_error(tls_server, admin_token, tmp_path):
    token_id, token_secret = admin_token
    _, other_ca = tls.server_credentials(tmp_path / "impostor")
    with pytest.raises(AuthError, match="certificate is not trusted.*server_ca"):
        _connect(Client(tls_server.url, token_id=token_id, token_secret=token_secret, server_ca=str(other_ca)))
    out = tls_server.modal("app", "list", profile="admin", extra_env={"MODAL_SERVER_CA": str(other_ca)})
    assert out.returncode == 1 and "not trusted" in out.stderr and token_secret not in out.stderr


def test_python_clients_reach_the_tls_server_with_their_credentials(tls_server, admin_token, clean_env, monkeypatch):
    token_id, token_secret = admin_token
    monkeypatch.setenv("MODAL_SERVER_URL", tls_server.url)
    monkeypatch.setenv("MODAL_SERVER_CA", str(tls_server.ca))
    with pytest.raises(AuthError, match="needs a token"):
        _connect(Client(tls_server.url))
    client = Client.from_credentials(token_id, token_secret)
    try:
        who = run_sync(client.stub.WhoAmI(api_pb2.Empty()))
        assert (who.workspace, who.admin, who.kind) == ("default", True, "token")
    finally:
        run_sync(client._close())
    with pytest.raises(AuthError, match="not valid") as info:
        Client.from_credentials(token_id, "as-" + "0" * 48)  # refused at its first call
    assert token_secret not in str(info.value) and "0" * 48 not in str(info.value)


def test_a_workspace_token_runs_an_app_over_tls_and_sees_only_its_workspace(require_containers, tls_server, admin_token,
                                                                            tmp_path):
    # Made by the owner over the local socket (a profile with no server_url: the local server).
    made = tls_server.modal("token", "new", "--workspace", "team-run", "--user", "carol", "--print", profile="local")
    assert made.returncode == 0, made.stderr
    carol_id, carol_secret = _printed_token(made.stdout)
    saved = tls_server.modal("token", "set", "--token-id", carol_id, "--token-secret", carol_secret,
                             "--server-url", tls_server.url, "--server-ca", str(tls_server.ca), "--profile", "carol")
    assert saved.returncode == 0, saved.stderr
    app_file = tmp_path / "tls_remote_app.py"
    app_file.write_text(
        "import modal\n"
        "app = modal.App('tls-remote')\n"
        "@app.function()\n"
        "def square(x: int) -> int:\n"
        "    return x * x\n"
        "@app.local_entrypoint()\n"
        "def main():\n"
        "    print('RESULT', square.remote(7), sum(square.map(range(5))))\n"
    )
    run = tls_server.modal("run", str(app_file), profile="carol")
    assert run.returncode == 0, run.stderr[-2000:]
    assert "RESULT 49 30" in run.stdout
    assert carol_secret not in run.stdout + run.stderr
    mine = json.loads(tls_server.modal("app", "list", "--json", profile="carol").stdout)
    assert "tls-remote" in {a["name"] for a in mine}
    owner = tls_server.modal("app", "list", "--json", profile="local")  # the owner: workspace "default"
    assert owner.returncode == 0, owner.stderr
    assert "tls-remote" not in {a["name"] for a in json.loads(owner.stdout)}  # another workspace's app


def test_the_local_default_server_ignores_profile_tokens_but_a_named_socket_checks_them(tls_server):
    bogus = {"MODAL_TOKEN_ID": "ak-" + "9" * 24, "MODAL_TOKEN_SECRET": "as-" + "9" * 48}
    # No server_url: the owner's local server, trusted by its socket's permissions; a token meant
    # for some other server (e.g. a CI's MODAL_TOKEN_ID) is not sent there.
    local = tls_server.modal("app", "list", profile="local", extra_env=bogus)
    assert local.returncode == 0, local.stderr
    # server_url naming the socket: the profile's token is sent, and checked.
    named = tls_server.modal("app", "list", profile="local",
                             extra_env={**bogus, "MODAL_SERVER_URL": str(tls_server.home / "server.sock")})
    assert named.returncode == 1 and "not valid" in named.stderr and "9" * 48 not in named.stderr


def test_a_token_made_on_the_local_server_is_saved_with_its_socket(tls_server):
    made = tls_server.modal("token", "new", "--user", "dave", "--profile", "dave", "--no-activate", profile="local")
    assert made.returncode == 0, made.stderr
    import tomllib

    saved = tomllib.loads((tls_server.user_home / ".modal.toml").read_text())["dave"]
    assert saved["server_url"] == str(tls_server.home / "server.sock")
    assert saved["token_id"].startswith("ak-") and "active" not in saved
    who = tls_server.modal("token", "list", "--json", profile="dave")
    assert who.returncode == 0, who.stderr
    assert saved["token_id"] in {t["token_id"] for t in json.loads(who.stdout)}


def test_server_start_checks_the_operators_certificate_first(tmp_path):
    from nodal.server.tunnel_tls import ensure_certificate

    chain = ensure_certificate(tmp_path / "operator", ["localhost"])[0]
    other_key = ensure_certificate(tmp_path / "other", ["localhost"])[1]
    out = _modal(tmp_path, "server", "start", "--listen", "127.0.0.1:1", "--tls-cert", str(chain),
                 "--tls-key", str(other_key))
    assert out.returncode == 2 and "does not belong" in out.stderr and str(other_key) in out.stderr
    assert not (tmp_path / "nodal" / "server.pid").exists()  # no server was started
