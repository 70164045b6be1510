"""Requests longer than the gateway's redirect limit (Modal: 150 s) get a 303 to a URL that waits
for the result, as Modal documents; here on a server started with a 1 s limit."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
from apps import web_helpers as web


def test_long_request_redirects_until_the_result_is_in(require_containers, tmp_path, monkeypatch):
    from conftest import PrivateServer

    monkeypatch.setenv("NODAL_WEB_REDIRECT_AFTER", "1")
    monkeypatch.setenv("NODAL_GATEWAY_PORT", "0")
    home = tmp_path / "home"
    server = PrivateServer(home)
    server.start()
    tests_dir = os.path.dirname(os.path.abspath(__file__))
    code = (
        f"import sys; sys.path.insert(0, {tests_dir!r})\n"
        "from apps.web_small_app import app, slow, slow_short\n"
        "with app.run():\n"
        "    print('URL', slow.get_web_url(), flush=True)\n"
        "    sys.stdin.readline()\n"
        "    print('URL', slow_short.get_web_url(), flush=True)\n"
        "    sys.stdin.readline()\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], env={**os.environ, "NODAL_HOME": str(home)},
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("URL "), line
        url = line.split()[1]
        target, host = web.split(url + "/?s=3.5")
        with httpx.Client(timeout=60, headers={"Host": host}) as client:
            hops = []
            r = client.get(target)
            while r.status_code == 303:
                hops.append(r.headers["location"])
                r = client.get(f"{target.split('/?')[0]}{r.headers['location']}")
            assert r.status_code == 200 and r.text == "finally done"
        assert hops and all("__modal_function_call_id=fc-" in h for h in hops), hops
        assert len(hops) >= 2  # 3.5 s with a 1 s limit: redirected more than once
        r = httpx.get(f"{target.split('/?')[0]}/?__modal_function_call_id=fc-unknown", headers={"Host": host})
        assert r.status_code == 404
        # Past the function's timeout (2 s) while redirected: the last hop answers 504.
        proc.stdin.write("next\n")
        proc.stdin.flush()
        line = proc.stdout.readline()
        target, host = web.split(line.split()[1] + "/?s=30")
        with httpx.Client(timeout=60, headers={"Host": host}, follow_redirects=False) as client:
            r = client.get(target)
            while r.status_code == 303:
                r = client.get(f"{target.split('/?')[0]}{r.headers['location']}")
        assert r.status_code == 504
    finally:
        proc.stdin.close()
        proc.wait(120)
        server.stop()
