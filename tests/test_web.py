"""Web endpoints over real HTTP through the server's gateway (apps/web_app.py): the asgi_app and
wsgi_app decorators, host and path routing, streaming, server-sent events, WebSockets, errors,
autoscaling from zero and back."""

from __future__ import annotations

import asyncio
import concurrent.futures
import re
import subprocess
import sys
import time
import urllib.parse

import httpx
import pytest
from apps import web_helpers as web


@pytest.fixture(scope="module")
def web_app(nodal_server, require_containers):
    from apps.web_app import app

    with app.run():
        yield app


def _base(url: str) -> str:
    u = urllib.parse.urlsplit(url)
    return f"http://127.0.0.1:{u.port}"


def test_asgi_app_by_host_and_by_path(web_app):
    from apps.web_app import web as endpoint

    url = endpoint.get_web_url()
    assert url.startswith("http://nodal--nodal-test-web-web-dev.localhost:"), url
    assert endpoint.web_url == url
    r = web.get(url)
    assert r.status_code == 200 and r.text == "hello from asgi"
    label = urllib.parse.urlsplit(url).hostname.removesuffix(".localhost")
    r = httpx.get(f"{_base(url)}/_web/{label}/info?a=1&b=2", timeout=60)
    assert r.status_code == 200
    assert r.text.startswith("GET /info?a=1&b=2 "), r.text


def test_unknown_host_and_path_give_404(web_app):
    from apps.web_app import web as endpoint

    base = _base(endpoint.get_web_url())
    r = httpx.get(f"{base}/anything", headers={"Host": "nodal--no-such-app-fn.localhost"}, timeout=30)
    assert r.status_code == 404 and "No web endpoint" in r.text
    r = httpx.get(f"{base}/_web/nodal--nope/x", timeout=30)
    assert r.status_code == 404


def test_not_a_web_function_has_no_url(web_app):
    from apps.web_app import not_web

    assert not_web.get_web_url() is None


def test_request_body_headers_and_lifespan(web_app):
    from apps.web_app import web as endpoint

    url = endpoint.get_web_url()
    r = web.request("POST", url + "/body", content=b"x" * 100_000)
    assert r.text.startswith("got 100000 bytes: xxxx")
    r = web.get(url + "/info")
    assert f"host={urllib.parse.urlsplit(url).netloc}" in r.text  # the app sees the endpoint's Host
    assert web.get(url + "/lifespan").text == "started=True"
    r = web.request("POST", url + "/body", content=(b"y" * 70_000 for _ in range(3)))  # chunked upload
    assert r.text.startswith("got 210000 bytes: yyyy")
    r = web.request("HEAD", url + "/")
    assert r.status_code == 200 and r.content == b""


def test_streaming_response_arrives_as_written(web_app):
    from apps.web_app import web as endpoint

    target, host = web.split(endpoint.get_web_url() + "/stream")
    arrivals = []
    with httpx.stream("GET", target, headers={"Host": host}, timeout=60) as r:
        for line in r.iter_lines():
            if line:
                arrivals.append((time.time(), line))
    assert [line.split()[0] for _, line in arrivals] == ["chunk0", "chunk1", "chunk2"]
    # The first chunk was here before the app even wrote the last one: streamed, not buffered.
    assert arrivals[0][0] < float(arrivals[-1][1].split()[1]), arrivals


def test_server_sent_events(web_app):
    from apps.web_app import web as endpoint

    target, host = web.split(endpoint.get_web_url() + "/sse")
    events = []
    with httpx.stream("GET", target, headers={"Host": host}, timeout=60) as r:
        assert r.headers["content-type"] == "text/event-stream"
        for line in r.iter_lines():
            if line.startswith("data: "):
                events.append((time.time(), line[6:]))
    assert [e.rsplit(" ", 1)[0] for _, e in events] == ["event 0", "event 1", "event 2"]
    assert events[0][0] < float(events[-1][1].rsplit(" ", 1)[1]), "the events were buffered"


def test_websocket_echo(web_app):
    import aiohttp
    from apps.web_app import web as endpoint

    target, host = web.split(endpoint.get_web_url() + "/ws")

    async def talk() -> list:
        async with aiohttp.ClientSession() as s, s.ws_connect(target, headers={"Host": host}) as ws:
            await ws.send_str("hi")
            first = await ws.receive_str(timeout=30)
            await ws.send_bytes(b"abc")
            second = await ws.receive_bytes(timeout=30)
            await ws.close()
            return [first, second]

    assert asyncio.run(talk()) == ["echo: hi", b"cba"]


def test_exception_gives_500_with_traceback_only_in_logs(web_app, wait_until):
    from apps.web_app import flask_like
    from apps.web_app import web as endpoint

    r = web.get(endpoint.get_web_url() + "/boom")
    assert r.status_code == 500
    assert "secret detail" not in r.text
    r = web.get(flask_like.get_web_url() + "/boom")
    assert r.status_code == 500 and "secret detail" not in r.text
    logs = wait_until(lambda: (t := web.app_logs(web_app.app_id)) and "wsgi secret detail" in t and t,
                      30, "the tracebacks in the app logs")
    assert "RuntimeError: the secret detail of this failure" in logs
    assert "Traceback" in logs


def test_wsgi_app(web_app):
    from apps.web_app import flask_like

    r = web.request("PUT", flask_like.get_web_url() + "/path/x", content=b"payload")
    assert r.status_code == 201
    assert r.headers["x-wsgi"] == "yes"
    assert r.text == "wsgi PUT /path/x payload"


def test_concurrency_autoscaling_from_zero_and_back(web_app, wait_until):
    """@modal.concurrent(max_inputs=2): 4 slow requests at once need 2 containers, started from
    zero while the requests wait; after the scaledown window the pool is back to zero."""
    from apps.web_app import scaled

    url = scaled.get_web_url()
    assert url.startswith("http://nodal--nodal-test-scaled-dev.localhost:")  # label= names the host
    wait_until(lambda: scaled.get_current_stats().num_total_runners == 0, 30, "no container before the test")
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        responses = list(pool.map(lambda _: web.get(url + "/sleep?s=5"), range(4)))
    assert [r.status_code for r in responses] == [200] * 4
    tasks = [r.text for r in responses]
    assert len(set(tasks)) == 2 and all(tasks.count(t) == 2 for t in set(tasks)), tasks
    wait_until(lambda: scaled.get_current_stats().num_total_runners == 0, 30,
               "the web containers to scale back to zero after the scaledown window")


def test_stopped_app_gives_a_clear_page(nodal_server, require_containers):
    from apps.web_small_app import app, hello

    with app.run():
        url = hello.get_web_url()
        assert web.get(url).text == "small"
    r = web.get(url)
    assert r.status_code == 410
    assert "stopped" in r.text and "nodal-test-web-small" in r.text


def test_proxy_auth_refuses_then_accepts_a_token(web_app):
    from apps.web_app import private

    url = private.get_web_url()
    r = web.get(url)
    assert r.status_code == 401 and "Modal-Key" in r.text
    proc = subprocess.run([sys.executable, "-m", "modal.cli.entry", "proxy-auth", "create", "--name", "tests"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    fields = dict(line.split(": ", 1) for line in proc.stdout.splitlines() if ": " in line)
    key, secret = fields["Modal-Key"], fields["Modal-Secret"]
    assert key.startswith("wk-") and secret.startswith("ws-")
    assert web.get(url, headers={"Modal-Key": key, "Modal-Secret": secret + "x"}).status_code == 401
    assert web.get(url, headers={"Modal-Key": "wk-nope", "Modal-Secret": secret}).status_code == 401
    r = web.get(url, headers={"Modal-Key": key, "Modal-Secret": secret})
    assert r.status_code == 200 and r.text == "hello from asgi"


def test_custom_domain_routes_by_host(web_app):
    from apps.web_app import domained

    base = _base(domained.get_web_url())
    r = httpx.get(base + "/info?d=1", headers={"Host": "shop.nodal-test.example"}, timeout=120)
    assert r.status_code == 200 and "host=shop.nodal-test.example" in r.text
    r = httpx.get(base + "/", headers={"Host": "other.nodal-test.example"}, timeout=30)
    assert r.status_code == 404


def _cli(*args: str, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "modal.cli.entry", *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


def test_deploy_prints_the_url_and_serves_without_dev_suffix(nodal_server, require_containers):
    from pathlib import Path

    app_file = Path(__file__).parent / "apps" / "web_small_app.py"
    proc = _cli("deploy", str(app_file))
    assert proc.returncode == 0, proc.stderr
    found = re.search(r"hello => (http://\S+)", proc.stdout + proc.stderr)
    assert found, proc.stdout + proc.stderr
    url = found.group(1)
    assert re.match(r"http://nodal--nodal-test-web-small-hello\.localhost:\d+$", url), url
    try:
        assert web.get(url).text == "small"
        import modal

        assert modal.Function.from_name("nodal-test-web-small", "hello").get_web_url() == url
    finally:
        assert _cli("app", "stop", "nodal-test-web-small").returncode == 0
    assert web.get(url).status_code == 410


def test_gateway_port_is_configurable_and_shown_by_status(tmp_path, monkeypatch):
    import os
    import socket

    from conftest import PrivateServer

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = PrivateServer(tmp_path / "home")
    monkeypatch.setenv("NODAL_GATEWAY_PORT", str(port))  # read by the server it starts
    server.start()
    try:
        proc = _cli("server", "status", env={**os.environ, "NODAL_HOME": str(tmp_path / "home")})
        assert proc.returncode == 0, proc.stderr
        assert f"web:        http://127.0.0.1:{port}" in proc.stdout, proc.stdout
        r = httpx.get(f"http://127.0.0.1:{port}/", headers={"Host": "nodal--nothing.localhost"}, timeout=30)
        assert r.status_code == 404
    finally:
        server.stop()


def test_bad_gateway_port_setting_is_refused(monkeypatch):
    from nodal.server.gateway.server import configured_port

    monkeypatch.setenv("NODAL_GATEWAY_PORT", "http")
    with pytest.raises(ValueError, match="NODAL_GATEWAY_PORT"):
        configured_port()
    monkeypatch.setenv("NODAL_GATEWAY_PORT", "0")
    assert configured_port() == 0


def test_request_past_the_function_timeout_gives_504(nodal_server, require_containers):
    from apps.web_small_app import app, slow_short

    with app.run():
        url = slow_short.get_web_url()
        assert web.get(url + "/?s=0").text == "finally done"
        started = time.monotonic()
        r = web.get(url + "/?s=30")
        assert r.status_code == 504 and "timeout" in r.text
        assert time.monotonic() - started < 20


def test_max_inputs_replaces_a_web_container_after_that_many_requests(web_app):
    from apps.web_app import limited

    url = limited.get_web_url()
    tasks = [web.get(url + "/info").text.rsplit("task=", 1)[1] for _ in range(3)]
    assert tasks[0] == tasks[1] != tasks[2], tasks
