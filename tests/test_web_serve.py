"""`modal serve`: an ephemeral -dev app that swaps in new code on file changes without dropping
in-flight requests, stopped by Ctrl-C or --timeout (the CLI in a subprocess, real HTTP)."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest
from apps import web_helpers as web

TEMPLATE = Path(__file__).parent / "apps" / "web_serve_app.py"


def _serve(tmp_path: Path, *extra: str) -> tuple[subprocess.Popen, Path, Path]:
    app_file = tmp_path / "served_app.py"
    app_file.write_text(TEMPLATE.read_text())
    log = tmp_path / "serve.log"
    proc = subprocess.Popen([sys.executable, "-m", "modal.cli.entry", "serve", str(app_file), *extra],
                            stdout=log.open("w"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=tmp_path)
    return proc, app_file, log


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait(30)


def test_serve_reloads_without_dropping_requests(nodal_server, require_containers, tmp_path, wait_until):
    proc, app_file, log = _serve(tmp_path, "--timeout", "240")
    try:
        found = wait_until(lambda: re.search(r"=> (http://\S+)", log.read_text()), 120, "the endpoint URL")
        url = found.group(1)
        assert re.match(r"http://nodal--nodal-test-web-serve-page-dev\.localhost:\d+$", url), url
        assert web.get(url).text == "v1"

        started, body = threading.Event(), []

        def slow_request() -> None:
            target, host = web.split(url + "/slow")
            with httpx.stream("GET", target, headers={"Host": host}, timeout=120) as r:
                for chunk in r.iter_text():
                    body.append(chunk)
                    started.set()
                body.append(f" status={r.status_code}")

        t = threading.Thread(target=slow_request)
        t.start()
        assert started.wait(120), "the slow request never started"
        app_file.write_text(TEMPLATE.read_text().replace('VERSION = "v1"', 'VERSION = "v2"'))
        wait_until(lambda: web.get(url).text == "v2", 120, "the edited version to serve")
        t.join(120)
        assert "".join(body) == "started v1 status=200", body  # the old version finished its request
        app_file.write_text("this is not python (\n")  # a broken edit: the last good version keeps serving
        wait_until(lambda: "Reload failed" in log.read_text(), 120, "the failed reload to be reported")
        assert web.get(url).text == "v2"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) == 0, log.read_text()[-3000:]
        assert "Stopped serving" in log.read_text()
        assert web.get(url).status_code == 410  # the app stopped with the command
    finally:
        _stop(proc)


def test_serve_timeout_stops_by_itself(nodal_server, require_containers, tmp_path):
    proc, _, log = _serve(tmp_path, "--timeout", "3")
    try:
        assert proc.wait(120) == 0, log.read_text()[-3000:]
        assert "Stopped serving" in log.read_text()
    finally:
        _stop(proc)


@pytest.mark.parametrize("bad", ["0", "-1"])
def test_serve_refuses_a_bad_timeout(tmp_path, bad):
    proc = subprocess.run([sys.executable, "-m", "modal.cli.entry", "serve", str(TEMPLATE), "--timeout", bad],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "--timeout" in proc.stderr
