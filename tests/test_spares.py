"""Spare containers (nodal.server.spares): a cold start takes a container of the same image that
booted before the call, and the function sees what a container started for it would show."""

from __future__ import annotations

import os
import time

import pytest
from conftest import TESTS_DIR, PrivateServer

pytestmark = pytest.mark.usefixtures("require_containers")

TICK = 0.02  # /proc start times count in clock ticks (10 ms): allow for the rounding


def _called(fn) -> tuple[float, dict]:
    before = time.time()
    return before, fn.remote()


def _served_by_spare(fn, timeout: float = 60.0) -> dict:
    """Call `fn` (single-use containers) until a container that started before the call serves it."""
    deadline = time.monotonic() + timeout
    while True:
        before, report = _called(fn)
        if report["started_at"] < before - 0.05:
            return report
        if time.monotonic() > deadline:
            raise AssertionError(f"no call was served by a pre-started container within {timeout:g}s")


def test_cold_start_takes_a_booted_spare_with_the_functions_own_parts(nodal_server):
    from apps.spare_app import app, single_use, startup_variable

    with app.run():
        fresh = startup_variable.remote()  # never a spare (see below): what a container started for it shows
        report = _served_by_spare(single_use)
        again = _served_by_spare(single_use)
    assert report["env"] == {"SPARE_TEST_VAR": "from-env", "SPARE_SECRET_VAR": "from-secret",
                             "MODAL_ENVIRONMENT": fresh["env"]["MODAL_ENVIRONMENT"]}
    assert report["code"] == fresh["code"]  # the same path; its mode is the local file's
    assert report["code_mode"] == os.stat(TESTS_DIR / "apps" / "spare_app.py").st_mode & 0o777
    assert report["cwd"] == fresh["cwd"]
    assert report["task_id"].startswith("ta-") and report["task_id"] != again["task_id"]


def test_python_startup_variables_get_a_container_of_their_own(nodal_server):
    from apps.spare_app import app, single_use, startup_variable

    with app.run():
        _served_by_spare(single_use)  # a spare of this image is about, and another boots
        for _ in range(3):
            before, report = _called(startup_variable)
            assert report["started_at"] >= before - TICK, "PYTHONHASHSEED must be set when Python starts"
            assert report["hash_seed"] == "7"


def test_adopted_containers_output_reaches_the_apps_logs(nodal_server, wait_until):
    from apps.spare_app import app, single_use
    from test_lifecycle import _log_text

    from modal._utils.async_utils import run_sync
    from modal.client import _default_client

    client = run_sync(_default_client())
    with app.run():
        report = _served_by_spare(single_use)
        wait_until(lambda: "hello from a single-use container" in _log_text(client, app.app_id), 15,
                   "the adopted container's output in the app's logs")
    assert report["task_id"]


def test_spares_can_be_turned_off(tmp_path, require_containers):
    server = PrivateServer(tmp_path / "home")
    os.environ["NODAL_SPARE_CONTAINERS"] = "0"
    try:
        server.start()
    finally:
        del os.environ["NODAL_SPARE_CONTAINERS"]
    try:
        proc = server.python(
            f"import sys, time\nsys.path.insert(0, {str(TESTS_DIR)!r})\n"
            "from apps.spare_app import app, single_use\n"
            "with app.run():\n"
            "    for _ in range(4):\n"
            "        before = time.time()\n"
            "        r = single_use.remote()\n"
            f"        assert r['started_at'] >= before - {TICK}, r\n"
            "print('all fresh')\n"
        )
        assert proc.returncode == 0 and "all fresh" in proc.stdout, proc.stderr[-3000:]
    finally:
        server.stop()


def test_a_web_endpoints_cold_request_takes_a_booted_web_spare(nodal_server):
    from apps import web_helpers as web
    from apps.spare_app import app, web_a, web_b, web_c, web_d

    with app.run():
        served = []
        for endpoint in (web_a, web_b, web_c, web_d):  # each one's first request is a cold start
            before = time.time()
            r = web.get(endpoint.get_web_url())
            assert r.status_code == 200, r.text
            served.append(float(r.text) < before - 0.05)
            if served[-1]:
                break
    assert any(served), "no endpoint's first request was served by a pre-started container"
