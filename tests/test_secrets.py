"""modal.Secret against a real server: named secrets from the CLI, containers, errors, encryption at rest."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

import modal
from modal.exception import InvalidError, NotFoundError

ROOT = Path(__file__).parent.parent
MODAL = [sys.executable, "-m", "modal.cli.entry"]


def modal_cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}  # NODAL_HOME: the session server's
    return subprocess.run([*MODAL, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
                          input=stdin, stdin=None if stdin is not None else subprocess.DEVNULL, check=False)


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def _db_bytes() -> bytes:
    """What the session server's metadata store holds: SQLite's database and write-ahead log,
    or (NODAL_TEST_STORE=postgres) every row of its PostgreSQL database."""
    from conftest_postgres import server_database_url, stored_bytes

    return stored_bytes(Path(os.environ["NODAL_HOME"]), server_database_url())


def _env_app(secrets: list[modal.Secret], app_name: str):
    app = modal.App(app_name)

    @app.function(secrets=secrets, serialized=True)
    def read_env(keys: list[str]) -> dict:
        import os

        return {k: os.environ.get(k) for k in keys}

    return app, read_env


def test_named_secret_from_cli_reaches_containers_encrypted(nodal_server):
    name = _name("cli-secret")
    token = f"tok-{uuid.uuid4().hex}"
    other = f"other-{uuid.uuid4().hex}"
    anon = f"anon-{uuid.uuid4().hex}"
    created = modal_cli("secret", "create", name, f"API_TOKEN={token}", f"OTHER={other}")
    assert created.returncode == 0, created.stderr
    assert "API_TOKEN" in created.stdout and token not in created.stdout + created.stderr

    # a second create without --force is refused; with --force it overwrites
    again = modal_cli("secret", "create", name, "API_TOKEN=x")
    assert again.returncode == 1 and "already exists" in again.stderr and "x" not in again.stdout

    app, read_env = _env_app(
        [modal.Secret.from_name(name, required_keys=["API_TOKEN"]), modal.Secret.from_dict({"ANON": anon})],
        "nodal-test-secrets",
    )
    with app.run():
        got = read_env.remote(["API_TOKEN", "OTHER", "ANON"])
    assert got == {"API_TOKEN": token, "OTHER": other, "ANON": anon}

    # encrypted at rest: neither the named nor the anonymous values are in the store's files
    data = _db_bytes()
    assert data, "no database files found"
    for value in (token, other, anon):
        assert value.encode() not in data
    # and never logged by the server
    log_file = Path(os.environ["NODAL_HOME"]) / "logs" / "server.log"
    logged = log_file.read_bytes()
    for value in (token, other, anon):
        assert value.encode() not in logged

    listing = modal_cli("secret", "list")
    assert listing.returncode == 0, listing.stderr
    assert name in listing.stdout
    assert token not in listing.stdout and other not in listing.stdout and "API_TOKEN" not in listing.stdout
    as_json = json.loads(modal_cli("secret", "list", "--json").stdout)
    assert [s for s in as_json if s["name"] == name][0]["created_at"]

    new_token = f"new-{uuid.uuid4().hex}"
    forced = modal_cli("secret", "create", name, f"API_TOKEN={new_token}", "--force")
    assert forced.returncode == 0, forced.stderr
    assert new_token not in forced.stdout
    with app.run():
        assert read_env.remote(["API_TOKEN", "OTHER"]) == {"API_TOKEN": new_token, "OTHER": None}


def test_secret_create_from_dotenv_on_stdin_and_json(nodal_server, tmp_path):
    name = _name("dotenv-secret")
    proc = modal_cli("secret", "create", name, "--from-dotenv", "-", stdin="# c\nexport A='1'\nB=two\n")
    assert proc.returncode == 0, proc.stderr
    jname = _name("json-secret")
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"J": "v"}))
    proc = modal_cli("secret", "create", jname, "--from-json", str(path), "K=w")
    assert proc.returncode == 0, proc.stderr
    app, read_env = _env_app([modal.Secret.from_name(name), modal.Secret.from_name(jname)], "nodal-test-dotenv")
    with app.run():
        assert read_env.remote(["A", "B", "J", "K"]) == {"A": "1", "B": "two", "J": "v", "K": "w"}


def test_secret_create_usage_errors_do_not_echo_values(nodal_server):
    proc = modal_cli("secret", "create", _name("bad"), "JUST-A-VALUE-123")
    assert proc.returncode == 2 and "JUST-A-VALUE-123" not in proc.stderr
    assert modal_cli("secret", "create", _name("empty")).returncode == 2
    bad_name = modal_cli("secret", "create", "bad name!", "A=1")
    assert bad_name.returncode == 1 and "invalid secret name" in bad_name.stderr


def test_missing_named_secret_is_not_found(nodal_server):
    missing = _name("no-such-secret")
    secret = modal.Secret.from_name(missing)  # lazy: nothing happens yet
    assert not secret.is_hydrated
    with pytest.raises(NotFoundError, match=missing) as info:
        secret.hydrate()
    assert "modal secret create" in str(info.value)

    app, _ = _env_app([modal.Secret.from_name(missing)], "nodal-test-missing-secret")
    with pytest.raises(NotFoundError, match=missing):
        with app.run():
            pass


def test_required_keys(nodal_server):
    name = _name("req-secret")
    value = f"val-{uuid.uuid4().hex}"
    assert modal_cli("secret", "create", name, f"PRESENT={value}").returncode == 0
    assert modal.Secret.from_name(name, required_keys=["PRESENT"]).hydrate().object_id
    with pytest.raises(NotFoundError, match="ABSENT") as info:
        modal.Secret.from_name(name, required_keys=["PRESENT", "ABSENT"]).hydrate()
    assert value not in str(info.value)
    app, _ = _env_app([modal.Secret.from_name(name, required_keys=["ABSENT"])], "nodal-test-req-keys")
    with pytest.raises(NotFoundError, match="ABSENT"):
        with app.run():
            pass
    with pytest.raises(InvalidError):
        modal.Secret.from_name(name, required_keys="PRESENT")  # type: ignore[arg-type]


def test_delete(nodal_server):
    name = _name("del-secret")
    assert modal_cli("secret", "create", name, "A=1").returncode == 0
    assert modal.Secret.from_name(name).hydrate().object_id
    deleted = modal_cli("secret", "delete", name)
    assert deleted.returncode == 0, deleted.stderr
    assert name not in modal_cli("secret", "list").stdout
    with pytest.raises(NotFoundError):
        modal.Secret.from_name(name).hydrate()
    again = modal_cli("secret", "delete", name)
    assert again.returncode == 1 and "not found" in again.stderr
    assert modal_cli("secret", "delete", name, "--allow-missing").returncode == 0
    # the name can be used again
    assert modal_cli("secret", "create", name, "A=2").returncode == 0


def test_key_file_is_owner_only(nodal_server):
    if os.environ.get("NODAL_SECRET_KEY"):
        pytest.skip("the server takes its key from NODAL_SECRET_KEY")
    key = Path(os.environ["NODAL_HOME"]) / "secret.key"
    assert key.exists()
    assert stat.S_IMODE(key.stat().st_mode) == 0o600


# ---------- the service and the store, without a server ----------


def test_plaintext_rows_are_reencrypted_at_start(tmp_path, monkeypatch):
    from cryptography.fernet import Fernet

    from nodal.server.secrets import SecretService
    from nodal.store.backends.sqlite import SqliteMetadataStore

    store = SqliteMetadataStore(tmp_path / "nodal.db")
    store.put_secret("st-old", json.dumps({"OLD": "plain-old-value"}))  # as servers before encryption did
    key = Fernet.generate_key()
    service = SecretService(store, key)
    raw = store.get_secret("st-old")
    assert "plain-old-value" not in raw
    assert json.loads(Fernet(key).decrypt(raw.encode())) == {"OLD": "plain-old-value"}
    assert service.env_for(["st-old", "st-gone"]) == {"OLD": "plain-old-value"}
    assert service.reencrypt_plaintext() == 0  # idempotent
    store.close()
    for p in tmp_path.glob("nodal.db*"):
        assert b"plain-old-value" not in p.read_bytes()

    # a different key cannot open it, and says so without the contents
    from nodal.server.errors import ApiError

    other = SecretService(SqliteMetadataStore(tmp_path / "nodal.db"), Fernet.generate_key())
    with pytest.raises(ApiError, match="cannot be decrypted") as info:
        other.env_for(["st-old"])
    assert raw not in info.value.message


def test_key_loading(tmp_path, monkeypatch):
    from cryptography.fernet import Fernet

    from nodal.server import secrets

    monkeypatch.setenv("NODAL_HOME", str(tmp_path))
    monkeypatch.delenv("NODAL_SECRET_KEY", raising=False)
    key = secrets.load_key()
    path = tmp_path / "secret.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert secrets.load_key() == key  # stable across starts
    os.chmod(path, 0o644)  # exposed: refused (not silently fixed), with the command that fixes it
    with pytest.raises(secrets.SecretKeyError, match=f"chmod 600 {path}"):
        secrets.load_key()
    os.chmod(path, 0o600)
    assert secrets.load_key() == key

    env_key = Fernet.generate_key().decode()
    monkeypatch.setenv("NODAL_SECRET_KEY", env_key)
    assert secrets.load_key() == env_key.encode()
    monkeypatch.setenv("NODAL_SECRET_KEY", "not-a-key")
    with pytest.raises(secrets.SecretKeyError, match="NODAL_SECRET_KEY") as info:
        secrets.load_key()
    assert "not-a-key" not in str(info.value)
