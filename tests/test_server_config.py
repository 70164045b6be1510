"""Server settings from $NODAL_HOME/server.toml (or --config), under the environment variables."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import PrivateServer

from nodal.server.config import SETTINGS, ServerConfigError, apply_server_config, load_server_config

DOCS = Path(__file__).parent.parent / "docs" / "server-config.md"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def home(tmp_path):
    """NODAL_HOME at tmp_path, no setting in the environment; the environment is restored after."""
    import logging

    saved, level = dict(os.environ), logging.getLogger().level
    os.environ["NODAL_HOME"] = str(tmp_path)
    for name in ("NODAL_SERVER_CONFIG", *(s.env for s in SETTINGS)):
        os.environ.pop(name, None)
    yield tmp_path
    os.environ.clear()
    os.environ.update(saved)
    logging.getLogger().setLevel(level)


def test_file_values_are_checked_and_exported_unless_the_env_has_them(home, monkeypatch):
    (home / "server.toml").write_text(
        'database_url = "postgresql://nodal:pw@db:5432/nodal"\n'
        'blob_url = "s3://bucket/prefix"\n'
        "max_streams = 64\n"
        "rate_limit = 12.5\n"
        'tls_san = ["nodal.example.com", "10.0.0.5"]\n'
        'runtime = "ray"\n'
        'log_level = "debug"\n')
    monkeypatch.setenv("NODAL_MAX_STREAMS", "8")  # the environment wins over the file
    applied = apply_server_config()
    assert os.environ["NODAL_DATABASE_URL"] == "postgresql://nodal:pw@db:5432/nodal"
    assert os.environ["NODAL_BLOB_URL"] == "s3://bucket/prefix"
    assert os.environ["NODAL_RATE_LIMIT"] == "12.5"
    assert os.environ["NODAL_TLS_SAN"] == "nodal.example.com,10.0.0.5"
    assert os.environ["NODAL_RUNTIME"] == "ray" and os.environ["NODAL_LOG_LEVEL"] == "DEBUG"
    assert os.environ["NODAL_MAX_STREAMS"] == "8" and "NODAL_MAX_STREAMS" not in applied


def test_no_file_is_fine_but_an_asked_for_file_must_exist(home, monkeypatch):
    assert load_server_config() == (None, {})
    monkeypatch.setenv("NODAL_SERVER_CONFIG", str(home / "nope.toml"))
    with pytest.raises(ServerConfigError, match=r"nope\.toml does not exist"):
        load_server_config()


@pytest.mark.parametrize(("text", "message"), [
    ('bogus = 1\nlisten = "0.0.0.0:7443"\n', r"unknown setting 'bogus' in .*; valid settings: listen, tls_cert,"),
    ("max_streams = \"many\"\n", r"'max_streams' in .* must be an integer, not 'many'"),
    ("max_streams = true\n", r"must be an integer"),
    ("rate_limit = \"fast\"\n", r"'rate_limit' .* must be a number"),
    ("listen = 7443\n", r"'listen' .* must be a string, not 7443"),
    ('runtime = "kubernetes"\n', r"'runtime' .* must be one of local, ray, not 'kubernetes'"),
    ("tls_san = [1, 2]\n", r"'tls_san' .* must be a list of strings"),
    ("[database]\nurl = 'x'\n", r"unknown setting 'database'"),
    ("listen = \n", r"server\.toml is not valid TOML"),
])
def test_bad_files_are_refused_with_what_to_change(home, text, message):
    (home / "server.toml").write_text(text)
    with pytest.raises(ServerConfigError, match=message):
        load_server_config()
    with pytest.raises(SystemExit, match=message):
        apply_server_config()


def test_every_setting_is_documented():
    docs = DOCS.read_text()
    for s in SETTINGS:
        assert f"`{s.env}`" in docs and f"`{s.key}`" in docs, s.key
        if s.flag:
            assert f"`{s.flag}" in docs, s.flag


# ---------- a real server ----------


def _gateway_port(home: Path) -> int:
    return int(re.search(r":(\d+)", (home / "gateway.url").read_text()).group(1))


def test_a_server_reads_its_file_and_the_env_overrides_it(require_containers, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    from_file, from_env = _free_port(), _free_port()
    (home / "server.toml").write_text(f"gateway_port = {from_file}\nblob_url = \"{tmp_path / 'shared-blobs'}\"\n")
    server = PrivateServer(home)
    server.start()
    try:
        assert _gateway_port(home) == from_file
        client = server.client()
        from modal._utils.async_utils import run_sync
        from nodal.proto import api_pb2

        data = b"stored where the file says"
        async def put() -> None:
            await client.stub.BlobPut(api_pb2.BlobPutRequest(data=data))

        run_sync(put())
        assert [p.read_bytes() for p in (tmp_path / "shared-blobs").rglob("*") if p.is_file()] == [data]
    finally:
        server.stop()

    server = PrivateServer(home, env={"NODAL_GATEWAY_PORT": str(from_env)})
    server.start()
    try:
        assert _gateway_port(home) == from_env
    finally:
        server.stop()


def test_a_server_with_an_unknown_setting_does_not_start(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "server.toml").write_text('databse_url = "postgresql://x@y/z"\n')
    server = PrivateServer(home)
    with pytest.raises(RuntimeError, match="exited with code 1; see ") as err:
        server.start()
    log = open(str(err.value).rsplit("see ", 1)[1].strip()).read()
    assert "unknown setting 'databse_url'" in log and "valid settings: listen," in log and "database_url" in log


def _modal(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("NODAL_SERVER_CONFIG", "MODAL_SERVER_URL")}
    env["NODAL_HOME"] = str(home)
    return subprocess.run([str(Path(sys.executable).parent / "modal"), *args], env=env, capture_output=True, text=True,
                          timeout=120, check=False)


def test_modal_server_start_checks_the_config_file_and_takes_flags(require_containers, tmp_path):
    home = tmp_path / "home"
    bad = tmp_path / "bad.toml"
    bad.write_text("max_streams = 'lots'\n")
    proc = _modal(home, "server", "start", "--config", str(bad))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "'max_streams' in" in proc.stderr and "must be an integer" in proc.stderr
    assert not (home / "server.pid").exists()

    port = _free_port()
    good = tmp_path / "good.toml"
    good.write_text(f'gateway_port = {port}\nblob_url = "{tmp_path / "from-file"}"\n')
    proc = _modal(home, "server", "start", "--config", str(good), "--blob-url", str(tmp_path / "from-flag"))
    try:
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert f":{port}" in _modal(home, "server", "status").stdout  # from the file
        assert (tmp_path / "from-flag").is_dir() and not (tmp_path / "from-file").exists()  # the flag wins
    finally:
        _modal(home, "server", "stop")


def test_the_documented_cluster_example_is_valid(home):
    example = DOCS.read_text().split("```toml\n", 1)[1].split("```", 1)[0]
    (home / "server.toml").write_text(example)
    _file, values = load_server_config()
    assert values["NODAL_RUNTIME"] == "ray" and values["NODAL_BLOB_URL"].startswith("s3://")
    assert values["NODAL_DATABASE_URL"].startswith("postgresql://")
