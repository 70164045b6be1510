"""Spare containers (nodal.server.spares): a cold start takes a container of the same image that
booted before the call, and the function sees what a container started for it would show.

The tests run on a server of their own and look only at its containers."""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

import pytest
from conftest import TESTS_DIR, PrivateServer

pytestmark = pytest.mark.usefixtures("require_containers")

TICK = 0.02  # /proc start times count in clock ticks (10 ms): allow for the rounding


def _environ(pid: int) -> list[bytes]:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return []


def _idle_spare(server, host_containers, used: set[str], web: bool = False) -> str | None:
    """A spare container (booting or booted) of `server` no call has used yet, as the host sees
    it (other servers' spares, the session server's among them, may be about too)."""
    ours = {d.name for d in (server.home / "containers").iterdir()}
    for task_id, pids in host_containers.by_task().items():
        if task_id in used or task_id not in ours:
            continue
        for pid in pids:
            env = _environ(pid)
            if b"NODAL_SPARE=1" in env and any(v.startswith(b"NODAL_WEB_DIR=") for v in env) == web:
                return task_id
    return None


def test_cold_start_takes_a_booted_spare_with_the_functions_own_parts(private_server, host_containers,
                                                                      wait_until):
    from apps.spare_app import app, single_use, startup_variable

    with app.run(client=private_server.client()):
        fresh = startup_variable.remote()  # never a spare (see below): what a container started for it shows
        used = {fresh["task_id"], single_use.remote()["task_id"]}
        spare = wait_until(lambda: _idle_spare(private_server, host_containers, used), 60, "a spare container")
        before = time.time()
        report = single_use.remote()
    assert report["task_id"] == spare
    assert report["started_at"] < before  # it was up before the call
    assert report["env"] == {"SPARE_TEST_VAR": "from-env", "SPARE_SECRET_VAR": "from-secret",
                             "MODAL_ENVIRONMENT": fresh["env"]["MODAL_ENVIRONMENT"]}
    assert report["code"] == fresh["code"]  # the same path; its mode is the local file's
    assert report["code_mode"] == os.stat(TESTS_DIR / "apps" / "spare_app.py").st_mode & 0o777
    assert report["cwd"] == fresh["cwd"]
    assert report["utc_offset"] == 9 * 3600  # TZ from env= applies to the running interpreter too


def test_python_startup_variables_get_a_container_of_their_own(private_server, host_containers, wait_until):
    from apps.spare_app import app, single_use, startup_variable

    with app.run(client=private_server.client()):
        used = {single_use.remote()["task_id"]}
        wait_until(lambda: _idle_spare(private_server, host_containers, used), 60, "a spare container")
        for _ in range(2):
            before = time.time()
            report = startup_variable.remote()
            assert report["started_at"] >= before - TICK, "PYTHONHASHSEED must be set when Python starts"
            assert report["hash_seed"] == "7"


def test_adopted_containers_output_reaches_the_apps_logs(private_server, host_containers, wait_until):
    from apps.spare_app import app, single_use
    from test_lifecycle import _log_text

    client = private_server.client()
    with app.run(client=client):
        used = {single_use.remote()["task_id"]}
        spare = wait_until(lambda: _idle_spare(private_server, host_containers, used), 60, "a spare container")
        assert single_use.remote()["task_id"] == spare
        wait_until(lambda: "hello from a single-use container" in _log_text(client, app.app_id), 15,
                   "the adopted container's output in the app's logs")


def test_a_web_endpoints_cold_request_takes_a_booted_web_spare(private_server, host_containers, wait_until):
    from apps import web_helpers as web
    from apps.spare_app import app, web_a, web_b

    with app.run(client=private_server.client()):
        assert web.get(web_a.get_web_url()).status_code == 200  # a web container, and a web spare after it
        wait_until(lambda: _idle_spare(private_server, host_containers, set(), web=True), 60, "a web spare container")
        before = time.time()
        r = web.get(web_b.get_web_url())
        assert r.status_code == 200, r.text
        assert float(r.text) < before, "the first request should be served by the pre-started container"


def test_spares_can_be_turned_off(tmp_path, host_containers):
    server = PrivateServer(tmp_path / "home")
    os.environ["NODAL_SPARE_CONTAINERS"] = "0"
    try:
        server.start()
    finally:
        del os.environ["NODAL_SPARE_CONTAINERS"]
    try:
        proc = server.python(  # a process of its own: the app's objects are this server's alone
            f"import sys, time\nsys.path.insert(0, {str(TESTS_DIR)!r})\n"
            "from apps.spare_app import app, single_use\n"
            "with app.run():\n"
            "    for _ in range(3):\n"
            "        before = time.time()\n"
            f"        assert single_use.remote()['started_at'] >= before - {TICK}\n"
            "print('all fresh')\n"
        )
        assert proc.returncode == 0 and "all fresh" in proc.stdout, proc.stderr[-3000:]
        # With spares on, one would have booted beside the first container and be waiting now.
        ours = {d.name for d in (server.home / "containers").iterdir()}
        assert not [t for t in ours if any(b"NODAL_SPARE=1" in _environ(p) for p in host_containers.pids(t))]
    finally:
        server.stop()
