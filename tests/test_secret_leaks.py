"""Secret values never leak: after a secret is used by a function that succeeds, one that fails,
an image build step and a refused creation, its value appears in no file under NODAL_HOME (server
log, app and build logs, the database, image layers, container scratch), no CLI output, no
exception message and no audit event."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
TESTS = Path(__file__).parent
MODAL = [sys.executable, "-m", "modal.cli.entry"]
APP_FILE = TESTS / "apps" / "secret_env_app.py"


@pytest.fixture(scope="module")
def leak(private_server):
    """A named secret with a distinctive value, and every output the test collects."""
    value = f"CANARY{uuid.uuid4().hex}VALUE"
    name = f"leak-{uuid.uuid4().hex[:8]}"
    return {"server": private_server, "value": value, "name": name, "outputs": []}


def _cli(leak, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "NODAL_HOME": str(leak["server"].home), "PYTHONUNBUFFERED": "1",
           "NODAL_TEST_SECRET_NAME": leak["name"]}
    proc = subprocess.run([*MODAL, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
                          input=stdin, stdin=None if stdin is not None else subprocess.DEVNULL, check=False)
    leak["outputs"].append((f"modal {' '.join(args)}", proc.stdout + proc.stderr))
    return proc


def _python(leak, code: str) -> subprocess.CompletedProcess:
    prelude = (
        f"import os, sys; os.environ['NODAL_TEST_SECRET_NAME'] = {leak['name']!r}\n"
        f"sys.path.insert(0, {str(TESTS)!r})\n"
    )
    proc = leak["server"].python(prelude + code, timeout=400)
    leak["outputs"].append((code.splitlines()[0], proc.stdout + proc.stderr))
    return proc


def test_create_and_list(leak):
    created = _cli(leak, "secret", "create", leak["name"], f"LEAK_CANARY={leak['value']}")
    assert created.returncode == 0, created.stderr
    assert "LEAK_CANARY" in created.stdout
    listing = _cli(leak, "secret", "list")
    assert listing.returncode == 0 and leak["name"] in listing.stdout
    as_json = _cli(leak, "secret", "list", "--json")
    assert as_json.returncode == 0 and leak["name"] in as_json.stdout
    forced = _cli(leak, "secret", "create", leak["name"], f"LEAK_CANARY={leak['value']}", "--force")
    assert forced.returncode == 0, forced.stderr
    refused = _cli(leak, "secret", "create", leak["name"], f"LEAK_CANARY={leak['value']}")  # exists
    assert refused.returncode == 1 and "already exists" in refused.stderr


def test_refused_creations_do_not_echo_the_value(leak, tmp_path):
    bad_json = tmp_path / "bad.json"
    bad_json.write_text(json.dumps({"BAD=KEY": leak["value"]}))
    proc = _cli(leak, "secret", "create", f"bad-{uuid.uuid4().hex[:6]}", "--from-json", str(bad_json))
    assert proc.returncode == 1 and "invalid environment variable name 'BAD=KEY'" in proc.stderr
    proc = _cli(leak, "secret", "create", "bad name!", f"K={leak['value']}")
    assert proc.returncode == 1 and "invalid secret name" in proc.stderr
    proc = _cli(leak, "secret", "create", f"bad-{uuid.uuid4().hex[:6]}", leak["value"])  # a value without a key
    assert proc.returncode == 2

    # the same through the SDK: anonymous secrets with a bad key or a NUL in the value
    code = (
        "import modal\n"
        "from modal.exception import InvalidError\n"
        f"value = {leak['value']!r}\n"
        "for env in ({'BAD=KEY': value}, {'NUL_IN_VALUE': value + chr(0)}):\n"
        "    app = modal.App('nodal-test-bad-secret')\n"
        "    @app.function(secrets=[modal.Secret.from_dict(env)], serialized=True)\n"
        "    def f():\n"
        "        return 1\n"
        "    try:\n"
        "        with app.run():\n"
        "            f.remote()\n"
        "    except InvalidError as exc:\n"
        "        print('REFUSED', type(exc).__name__, exc)\n"
        "    else:\n"
        "        print('ACCEPTED')\n"
    )
    proc = _python(leak, code)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("REFUSED InvalidError") == 2, proc.stdout
    assert "NUL byte" in proc.stdout and "BAD=KEY" in proc.stdout


def test_functions_and_build_step_use_it(leak):
    expected = hashlib.sha256(leak["value"].encode()).hexdigest()
    code = (
        "import traceback\n"
        "import modal\n"
        "from apps.secret_env_app import app, digest, fail_with_secret, built_length\n"
        "with modal.enable_output(), app.run():\n"
        f"    print('DIGEST_OK', digest.remote() == {expected!r})\n"
        f"    print('BUILT', built_length.remote() == {{'length_at_build': {len(leak['value'])}, "
        f"'length_now': {len(leak['value'])}}})\n"
        "    try:\n"
        "        fail_with_secret.remote()\n"
        "    except Exception as exc:\n"
        "        print('FAILED', type(exc).__name__, exc)\n"
        "        traceback.print_exc()\n"
    )
    proc = _python(leak, code)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "DIGEST_OK True" in proc.stdout
    assert "BUILT True" in proc.stdout
    assert "FAILED RuntimeError failing on purpose" in proc.stdout
    assert "build step saw a value of" in proc.stdout + proc.stderr  # the build log reached the client

    run = _cli(leak, "run", f"{APP_FILE}::fail_with_secret")  # the CLI prints the remote traceback
    assert run.returncode != 0
    assert "failing on purpose" in run.stdout + run.stderr


def test_the_value_is_nowhere(leak):
    from modal._utils.async_utils import run_sync
    from nodal.proto import api_pb2

    value = leak["value"].encode()
    server = leak["server"]
    assert leak["outputs"], "run the tests of this module in order"

    events = run_sync(server.client().stub.AuditList(api_pb2.AuditListRequest(limit=1000))).events
    created = [e for e in events if e.action in ("secret.create", "secret.update") and e.target == leak["name"]]
    assert [e.action for e in created] == ["secret.create", "secret.update"]
    assert "LEAK_CANARY" in created[0].detail  # key names are recorded, values never
    for e in events:
        assert leak["value"] not in f"{e.action} {e.target} {e.detail} {e.actor}"

    for what, text in leak["outputs"]:
        assert leak["value"] not in text, f"the secret's value is in the output of {what}"

    # every regular file under NODAL_HOME: logs, database, layers, container scratch, blobs
    scanned, found = 0, []
    for dirpath, dirnames, filenames in os.walk(server.home):
        for fname in filenames:
            path = Path(dirpath) / fname
            if path.is_symlink() or not path.is_file():
                continue
            try:
                data = path.read_bytes()
            except OSError:
                continue
            scanned += 1
            if value in data:
                found.append(str(path.relative_to(server.home)))
    assert scanned > 10

    logs = list((server.home / "logs").rglob("*"))
    assert any(p.name == "server.log" for p in logs) and any("apps" in p.parts for p in logs)
    assert not found, f"the secret's value is stored in plaintext in: {found}"
