"""The secret encryption key: rotation over the SecretKeyRotate RPC on a real server (secrets keep
working in containers and across restarts), crash-safety of rotation at each step, refusing an
exposed key file or a malformed NODAL_SECRET_KEY, and rotating a key that comes from the environment."""

from __future__ import annotations

import contextlib
import json
import os
import stat
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from conftest import PrivateServer
from conftest_postgres import read_rows, server_database_url, stored_bytes
from cryptography.fernet import Fernet, InvalidToken

ROOT = Path(__file__).parent.parent
TESTS = Path(__file__).parent
MODAL = [sys.executable, "-m", "modal.cli.entry"]


def _cli(home: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    full = {**os.environ, "NODAL_HOME": str(home), "PYTHONUNBUFFERED": "1", **(env or {})}
    return subprocess.run([*MODAL, *args], cwd=ROOT, env=full, capture_output=True, text=True, timeout=180,
                          stdin=subprocess.DEVNULL, check=False)


def _rows(home: Path, database_url: str | None = None) -> dict[str, str]:
    """The secrets table as stored (ciphertext), read while the server runs: through SQLite in
    `home`, or the server's PostgreSQL database (`database_url`, NODAL_TEST_STORE=postgres)."""
    return dict(read_rows(home, database_url, "SELECT secret_id, env_json FROM secrets"))


def _db_bytes(home: Path, database_url: str | None = None) -> bytes:
    return stored_bytes(home, database_url)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _read_env_in_container(server: PrivateServer, secret_name: str, keys: list[str]) -> dict:
    code = (
        f"import os, sys, json; os.environ['NODAL_TEST_SECRET_NAME'] = {secret_name!r}\n"
        f"sys.path.insert(0, {str(TESTS)!r})\n"
        "from apps.secret_env_app import app, read_env\n"
        "with app.run():\n"
        f"    print('RESULT=' + json.dumps(read_env.remote({keys!r})))\n"
    )
    proc = server.python(code, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT=")][-1]
    return json.loads(line.removeprefix("RESULT="))


def _rotate(client):
    from modal._utils.async_utils import run_sync
    from nodal.proto import api_pb2

    return run_sync(client.stub.SecretKeyRotate(api_pb2.Empty()))


def test_rotation_over_rpc_keeps_secrets_working(private_server, wait_until):
    home = private_server.home
    key_file, previous = home / "secret.key", home / "secret.key.previous"
    old_key = key_file.read_bytes().strip()
    name, other = f"rot-{uuid.uuid4().hex[:8]}", f"rot2-{uuid.uuid4().hex[:8]}"
    canary, second, third = (f"{p}-{uuid.uuid4().hex}" for p in ("canary", "second", "third"))
    for args in ((name, f"LEAK_CANARY={canary}", f"SECOND={second}"), (other, f"THIRD={third}")):
        created = _cli(home, "secret", "create", *args)
        assert created.returncode == 0, created.stderr
    db_url = server_database_url(private_server)
    before = _rows(home, db_url)
    assert len(before) >= 2

    resp = _rotate(private_server.client())  # over the owner's unix socket: a server admin
    assert resp.key_path == str(key_file)
    assert resp.secrets_reencrypted == len(before)

    new_key = key_file.read_bytes().strip()
    assert new_key != old_key
    assert _mode(key_file) == 0o600 and _mode(previous) == 0o600
    assert previous.read_bytes().strip() == old_key  # kept for decryption until the next rotation
    assert not (home / "secret.key.next").exists()
    assert not list(home.glob("secret.key*.tmp-*"))

    after = _rows(home, db_url)
    assert after.keys() == before.keys()
    for secret_id, sealed in after.items():
        assert sealed != before[secret_id]
        json.loads(Fernet(new_key).decrypt(sealed.encode()))  # every row is under the new key
        with pytest.raises(InvalidToken):
            Fernet(old_key).decrypt(sealed.encode())
    data = _db_bytes(home, db_url)
    for value in (canary, second, third):
        assert value.encode() not in data

    # containers get the values, before and after a restart (which reads the new key file)
    got = _read_env_in_container(private_server, name, ["LEAK_CANARY", "SECOND"])
    assert got == {"LEAK_CANARY": canary, "SECOND": second}
    private_server.restart()
    assert _read_env_in_container(private_server, other, ["THIRD"]) == {"THIRD": third}

    # a second rotation (from the CLI this time) drops the first key entirely
    rotated = _cli(home, "server", "rotate-key")
    assert rotated.returncode == 0, rotated.stderr
    assert f"Re-encrypted {len(after)} secret(s)" in rotated.stdout and str(key_file) in rotated.stdout
    assert previous.read_bytes().strip() == new_key
    assert key_file.read_bytes().strip() not in (old_key, new_key)

    # the audit log has the rotations and the creations, with names but no values
    from modal._utils.async_utils import run_sync
    from nodal.proto import api_pb2

    events = run_sync(private_server.client().stub.AuditList(api_pb2.AuditListRequest(limit=1000))).events
    actions = [(e.action, e.target) for e in events]
    assert ("secret.key_rotate", str(key_file)) in actions
    assert ("secret.create", name) in actions
    for e in events:
        for value in (canary, second, third):
            assert value not in f"{e.target} {e.detail}"


def test_containers_cannot_read_the_key_files(private_server):
    home = private_server.home  # after the rotation above: secret.key.previous exists
    assert (home / "secret.key.previous").exists()
    paths = [str(home / "secret.key"), str(home / "secret.key.previous"), str(home / "nodal.db")]
    created = _cli(home, "secret", "create", "nodal-test-secret-env", "LEAK_CANARY=x", "--force")  # the app's
    assert created.returncode == 0, created.stderr
    code = (
        f"import sys, json; sys.path.insert(0, {str(TESTS)!r})\n"
        "from apps.secret_env_app import app, readable\n"
        "with app.run():\n"
        f"    print('RESULT=' + json.dumps(readable.remote({paths!r})))\n"
    )
    proc = private_server.python(code, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads([ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT=")][-1][len("RESULT="):])
    assert got == dict.fromkeys(paths, False)


def test_rotation_needs_a_server_admin(private_server):
    import grpc

    from modal._utils.async_utils import run_sync
    from nodal.proto import api_pb2
    from nodal.proto.lazy_stub import LazyNodalStub

    owner = private_server.client()
    token = run_sync(owner.stub.TokenCreate(api_pb2.TokenCreateRequest(user="alice", label="not an admin")))
    key_before = (private_server.home / "secret.key").read_bytes()

    async def rotate_as_alice():
        metadata = (("x-modal-token-id", token.token_id), ("x-modal-token-secret", token.token_secret))
        async with grpc.aio.insecure_channel(f"unix://{private_server.home / 'server.sock'}") as channel:
            stub = LazyNodalStub(channel, metadata=metadata)
            assert not (await stub.WhoAmI(api_pb2.Empty())).admin
            await stub.SecretKeyRotate(api_pb2.Empty())

    with pytest.raises(grpc.aio.AioRpcError) as info:
        run_sync(rotate_as_alice())
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "server admin" in info.value.details()
    assert (private_server.home / "secret.key").read_bytes() == key_before


# ---------- refusing to start ----------


def _start_fails(server: PrivateServer) -> str:
    """Start `server`, expect it to exit, and return its log."""
    with pytest.raises(RuntimeError, match="exited"):
        server.start()
    assert server.pid() is None
    return (server.home / "logs" / "server.log").read_text()


def test_exposed_key_file_refuses_to_start(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    key_file = home / "secret.key"
    key = Fernet.generate_key()
    key_file.write_bytes(key + b"\n")
    os.chmod(key_file, 0o644)
    server = PrivateServer(home)
    try:
        log = _start_fails(server)
        assert f"chmod 600 {key_file}" in log
        assert key.decode() not in log
        assert _mode(key_file) == 0o644  # not fixed behind the operator's back

        os.chmod(key_file, 0o600)
        server.start()
        assert server.pid() is not None
        assert key_file.read_bytes().strip() == key
    finally:
        server.stop()


def test_symlinked_key_file_refuses_to_start(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    real = tmp_path / "elsewhere.key"
    real.write_bytes(Fernet.generate_key())
    os.chmod(real, 0o600)
    (home / "secret.key").symlink_to(real)
    log = _start_fails(PrivateServer(home))
    assert "is a symlink" in log


@pytest.fixture
def env_key(monkeypatch):
    """Set NODAL_SECRET_KEY (and optionally the previous keys) for servers started by the test."""

    def set_keys(key: str, previous: str | None = None) -> None:
        monkeypatch.setenv("NODAL_SECRET_KEY", key)
        if previous is None:
            monkeypatch.delenv("NODAL_SECRET_KEY_PREVIOUS", raising=False)
        else:
            monkeypatch.setenv("NODAL_SECRET_KEY_PREVIOUS", previous)

    return set_keys


def test_malformed_env_key_refuses_to_start(tmp_path, env_key):
    bad = "not-a-fernet-key-" + uuid.uuid4().hex
    env_key(bad)
    home = tmp_path / "home"
    home.mkdir()
    log = _start_fails(PrivateServer(home))
    assert "$NODAL_SECRET_KEY is not a valid secret key" in log
    assert "Fernet.generate_key()" in log  # how to make a good one
    assert bad not in log
    assert not (home / "secret.key").exists()  # an environment key never falls back to a file


def test_env_key_is_rotated_by_restarting_with_the_previous_one(tmp_path, env_key):
    from modal._utils.async_utils import run_sync
    from modal.exception import InvalidError
    from nodal.proto import api_pb2

    home = tmp_path / "home"
    home.mkdir()
    k1, k2 = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    env_key(k1)
    server = PrivateServer(home)
    value = f"envkey-{uuid.uuid4().hex}"
    name = "env-keyed"
    try:
        server.start()
        created = _cli(home, "secret", "create", name, f"V={value}")
        assert created.returncode == 0, created.stderr
        with pytest.raises(InvalidError, match="NODAL_SECRET_KEY_PREVIOUS") as info:
            _rotate(server.client())
        assert "restart" in str(info.value)
        assert not (home / "secret.key").exists()
        (secret_id, sealed), = _rows(home, server_database_url(server)).items()
        Fernet(k1.encode()).decrypt(sealed.encode())

        # the documented procedure: restart with the new key and the old one as previous
        server.stop()
        env_key(k2, previous=k1)
        server.start()
        sealed = _rows(home, server_database_url(server))[secret_id]
        assert json.loads(Fernet(k2.encode()).decrypt(sealed.encode())) == {"V": value}
        with pytest.raises(InvalidToken):
            Fernet(k1.encode()).decrypt(sealed.encode())
        lookup = api_pb2.SecretLookupRequest(name=name, required_keys=["V"])  # decrypts on the server
        assert run_sync(server.client().stub.SecretLookup(lookup)).secret_id == secret_id

        # ... after which the previous key can go
        server.stop()
        env_key(k2)
        server.start()
        assert run_sync(server.client().stub.SecretLookup(lookup)).secret_id == secret_id
        log = (home / "logs" / "server.log").read_text()
        assert value not in log and k1 not in log and k2 not in log
    finally:
        server.stop()


# ---------- crash safety of rotation, on the service and the store (no server) ----------


@pytest.fixture
def service_home(tmp_path, monkeypatch):
    monkeypatch.setenv("NODAL_HOME", str(tmp_path))
    monkeypatch.delenv("NODAL_SECRET_KEY", raising=False)
    monkeypatch.delenv("NODAL_SECRET_KEY_PREVIOUS", raising=False)
    return tmp_path


def _service(home: Path):
    from nodal.server.secrets import SecretService, load_key
    from nodal.store.backends.sqlite import SqliteMetadataStore

    store = SqliteMetadataStore(home / "nodal.db")
    return SecretService(store, load_key()), store  # as main.py builds it


class Crash(BaseException):
    """Stands for the process dying at a given point."""


def _fill(service, n: int = 3) -> dict[str, dict]:
    made = {}
    for i in range(n):
        env = {"V": f"value-{i}-{uuid.uuid4().hex}"}
        made[service.create_anonymous(env)] = env
    return made


def _all_open(service, made: dict) -> None:
    for secret_id, env in made.items():
        assert service.env_for([secret_id]) == env


def test_crash_before_the_commit_loses_nothing(service_home, monkeypatch):
    from nodal.server import secret_keys

    service, store = _service(service_home)
    made = _fill(service)
    old_key = (service_home / "secret.key").read_bytes().strip()
    calls = {"n": 0}
    real_update = store.update_secret_env

    def crash_midway(secret_id, env_json):
        calls["n"] += 1
        if calls["n"] == 2:
            raise Crash()
        return real_update(secret_id, env_json)

    monkeypatch.setattr(store, "update_secret_env", crash_midway)
    with pytest.raises(Crash):
        service.rotate_key()
    store.close()
    # the transaction rolled back: every row is still under the old key, the new one is staged
    rows = _rows(service_home)
    for sealed in rows.values():
        Fernet(old_key).decrypt(sealed.encode())
    staged = secret_keys.next_path(service_home / "secret.key")
    assert staged.exists() and _mode(staged) == 0o600

    restarted, store = _service(service_home)  # the next start finishes the rotation
    _all_open(restarted, made)
    assert not staged.exists()
    assert (service_home / "secret.key.previous").read_bytes().strip() == old_key
    new_key = (service_home / "secret.key").read_bytes().strip()
    for sealed in _rows(service_home).values():
        Fernet(new_key).decrypt(sealed.encode())
    store.close()


def test_crash_between_commit_and_key_switch_loses_nothing(service_home, monkeypatch):
    from nodal.server import secret_keys

    service, store = _service(service_home)
    made = _fill(service)
    old_key = (service_home / "secret.key").read_bytes().strip()

    def crash(path, old_primary):
        raise Crash()

    with monkeypatch.context() as patched:
        patched.setattr(secret_keys, "promote_next", crash)
        with pytest.raises(Crash):
            service.rotate_key()
    store.close()
    # committed under the staged key while secret.key still holds the old one
    assert (service_home / "secret.key").read_bytes().strip() == old_key
    staged = (service_home / "secret.key.next").read_bytes().strip()
    for sealed in _rows(service_home).values():
        Fernet(staged).decrypt(sealed.encode())

    restarted, store = _service(service_home)
    _all_open(restarted, made)
    assert (service_home / "secret.key").read_bytes().strip() == staged
    assert not (service_home / "secret.key.next").exists()
    store.close()


def test_previous_key_still_opens_and_other_instances_follow(service_home):
    from nodal.server.secrets import SecretService

    service, store = _service(service_home)
    made = _fill(service)
    old_key = (service_home / "secret.key").read_bytes().strip()
    other = SecretService(store, old_key)  # a second service of the same process (images.py has one)
    # a row sealed under the old key after rotation (e.g. restored from a backup) still opens
    restored = Fernet(old_key).encrypt(json.dumps({"R": "restored"}).encode()).decode()
    count, path = service.rotate_key()
    assert count == len(made) and path == service_home / "secret.key"
    store.put_secret("st-restored", restored)
    _all_open(service, made)
    _all_open(other, made)  # re-reads the key files when its key no longer opens a row
    assert service.env_for(["st-restored"]) == {"R": "restored"}
    store.close()


def test_key_file_checks(service_home):
    from nodal.server import secret_keys

    path = service_home / "secret.key"
    key = secret_keys.load_key()
    assert _mode(path) == 0o600
    for mode in (0o640, 0o604, 0o660):
        os.chmod(path, mode)
        with pytest.raises(secret_keys.SecretKeyError, match=f"chmod 600 {path}"):
            secret_keys.load_key()
    os.chmod(path, 0o600)
    path.write_bytes(b"garbage\n")
    with pytest.raises(secret_keys.SecretKeyError, match="not a valid secret key") as info:
        secret_keys.load_key()
    assert "garbage" not in str(info.value)
    path.write_bytes(key)
    assert secret_keys.load_key() == key
    (service_home / "secret.key.previous").write_bytes(key)
    os.chmod(service_home / "secret.key.previous", 0o644)
    with pytest.raises(secret_keys.SecretKeyError, match="secret.key.previous"):
        secret_keys.load_keyring()
    with contextlib.suppress(FileNotFoundError):
        (service_home / "secret.key.previous").unlink()


def test_rotating_again_after_a_failed_switch_finishes_the_first(service_home, monkeypatch):
    from nodal.server import secret_keys

    service, store = _service(service_home)
    made = _fill(service)

    def fail(path, old_primary):
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as patched:
        patched.setattr(secret_keys, "promote_next", fail)
        with pytest.raises(OSError):
            service.rotate_key()
    staged = (service_home / "secret.key.next").read_bytes().strip()
    _all_open(service, made)  # the running service already uses the new key
    count, path = service.rotate_key()  # finishes the staged key first, then stages a new one
    assert count == len(made)
    assert (service_home / "secret.key.previous").read_bytes().strip() == staged
    assert path.read_bytes().strip() not in (staged,)
    assert not (service_home / "secret.key.next").exists()
    _all_open(service, made)
    store.close()
    restarted, store = _service(service_home)
    _all_open(restarted, made)
    store.close()
