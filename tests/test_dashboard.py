"""The dashboard (nodal.server.dashboard), end to end: a real private server with a deployed app
that ran real calls (one failing) in real containers, its web gateway over real HTTP, and a
headless Chromium rendering the pages."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import time
import uuid

import httpx
import pytest
from conftest import PrivateServer

import modal
from modal._utils.async_utils import run_sync
from modal.runner import deploy_app
from nodal.proto import api_pb2

APP_NAME = "nodal-test-dashboard"


def _csrf(page: str) -> str:
    m = re.search(r'<meta name="csrf-token" content="([^"]+)"', page)
    assert m, "every page carries the session's anti-CSRF token"
    return m.group(1)


@pytest.fixture(scope="module")
def dash(require_containers, tmp_path_factory):
    """A private server, the test app deployed on it with real calls, named objects, and an
    owner's HTTP session."""
    from apps import dashboard_app

    server = PrivateServer(tmp_path_factory.mktemp("nodal-dashboard-home"), env={"NODAL_GATEWAY_PORT": "0"})
    server.start()
    try:
        client = server.client()
        result = deploy_app(dashboard_app.app, client=client)
        assert dashboard_app.square.remote(3) == 9
        assert dashboard_app.square.remote(4) == 16
        with pytest.raises(ValueError, match="boom"):
            dashboard_app.fail.remote("boom")
        suffix = uuid.uuid4().hex[:6]
        vol = modal.Volume.from_name(f"dash-vol-{suffix}", create_if_missing=True, client=client)
        with vol.batch_upload() as batch:
            batch.put_file(io.BytesIO(b"hello volume"), "/docs/readme.txt")
            batch.put_file(io.BytesIO(b"\x00\x01"), "/top.bin")
        d = modal.Dict.from_name(f"dash-dict-{suffix}", create_if_missing=True, client=client)
        d["k"] = "v"
        d["n"] = 42
        q = modal.Queue.from_name(f"dash-queue-{suffix}", create_if_missing=True, client=client)
        q.put("item1")
        base = (server.home / "gateway.url").read_text().strip()
        secret = (server.home / "dashboard-secret").read_text().strip()
        http = httpx.Client(base_url=base, follow_redirects=False, timeout=30)
        assert http.get(f"/_nodal/login?token={secret}").status_code == 303
        apps = http.get("/_nodal/api/apps").json()
        app = next(a for a in apps["deployed"] if a["name"] == APP_NAME)
        detail = http.get(f"/_nodal/api/apps/{app['app_id']}").json()
        fns = {f["tag"]: f for f in detail["functions"]}
        yield {"server": server, "client": client, "base": base, "secret": secret, "http": http,
               "app_id": app["app_id"], "fns": fns, "result": result, "vol": vol, "suffix": suffix,
               "dict_name": f"dash-dict-{suffix}", "queue_name": f"dash-queue-{suffix}",
               "vol_name": f"dash-vol-{suffix}", "module": dashboard_app}
        http.close()
    finally:
        server.stop()


def _anon(dash) -> httpx.Client:
    return httpx.Client(base_url=dash["base"], follow_redirects=False, timeout=30)


def _object_id(dash, kind: str, name: str) -> str:
    rows = dash["http"].get(f"/_nodal/api/{kind}").json()
    return next(r["object_id"] for r in rows if r["name"] == name)


def _all_get_paths(dash) -> list[str]:
    vol = _object_id(dash, "volumes", dash["vol_name"])
    dct = _object_id(dash, "dicts", dash["dict_name"])
    que = _object_id(dash, "queues", dash["queue_name"])
    app, fn = dash["app_id"], dash["fns"]["square"]["function_id"]
    pages = ["/apps", f"/apps/{app}", f"/apps/{app}/logs", f"/functions/{fn}", "/containers", "/volumes",
             f"/volumes/{vol}", f"/volumes/{vol}/download?path=top.bin", "/dicts", f"/dicts/{dct}", "/queues",
             f"/queues/{que}", "/secrets", "/environments"]
    api = ["/apps", f"/apps/{app}", f"/apps/{app}/logs", f"/apps/{app}/logs/stream", f"/functions/{fn}",
           "/containers", "/volumes", f"/volumes/{vol}", f"/volumes/{vol}/download?path=top.bin", "/dicts",
           f"/dicts/{dct}", "/queues", f"/queues/{que}", "/secrets", "/environments", "/session"]
    return [f"/_nodal{p}" for p in pages] + [f"/_nodal/api{p}" for p in api]


# ---------- auth ----------
def test_every_endpoint_needs_a_session(dash):
    anon = _anon(dash)
    for path in _all_get_paths(dash):
        resp = anon.get(path)
        assert resp.status_code == 401, path
        # No data: only the login page (which may echo the requested path back as where to go next).
        assert APP_NAME not in resp.text and "dashboard-square" not in resp.text and "hello volume" not in resp.text
        if "/api/" in path:
            assert "not logged in" in resp.json()["error"]
        else:
            assert "Log in" in resp.text and 'name="token_id"' in resp.text
    for path in ("/_nodal/api/secrets", "/_nodal/api/secrets/delete", "/_nodal/secrets", "/_nodal/logout"):
        assert anon.post(path, json={"name": "x", "values": {"A": "1"}}).status_code == 401, path
    anon.cookies.set("nodal_dashboard", "forged")
    assert anon.get("/_nodal/api/apps").status_code == 401


def test_owner_link_gives_a_strict_http_only_cookie(dash):
    mode = stat.S_IMODE(os.stat(dash["server"].home / "dashboard-secret").st_mode)
    assert mode == 0o600
    anon = _anon(dash)
    wrong = anon.get("/_nodal/login?token=not-the-secret")
    assert wrong.status_code == 401 and "not valid" in wrong.text and "set-cookie" not in wrong.headers
    ok = anon.get(f"/_nodal/login?token={dash['secret']}")
    assert ok.status_code == 303 and ok.headers["location"] == "/_nodal/apps"
    cookie = ok.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/_nodal/" in cookie
    assert ok.headers["referrer-policy"] == "same-origin"
    who = anon.get("/_nodal/api/session").json()
    assert who == {"workspace": "default", "user": "owner", "admin": True, "kind": "owner"}

    env = {**os.environ, "NODAL_HOME": str(dash["server"].home)}
    modal_cli = os.path.join(os.path.dirname(sys.executable), "modal")
    status = subprocess.run([modal_cli, "server", "status"], env=env, capture_output=True,
                            text=True, timeout=60)
    assert f"{dash['base']}/_nodal/login?token={dash['secret']}" in status.stdout, status.stdout + status.stderr


def test_post_needs_the_anti_csrf_token(dash):
    http = dash["http"]
    body = {"name": "csrf-probe", "values": {"A": "1"}}
    assert http.post("/_nodal/api/secrets", json=body).status_code == 403
    assert http.post("/_nodal/api/secrets", json=body, headers={"X-CSRF-Token": "wrong"}).status_code == 403
    form = http.post("/_nodal/secrets", data={"name": "csrf-probe", "values": "A=1", "csrf": "wrong"})
    assert form.status_code == 403
    csrf = _csrf(http.get("/_nodal/secrets").text)
    evil = http.post("/_nodal/api/secrets", json=body, headers={"X-CSRF-Token": csrf, "Origin": "http://evil.example"})
    assert evil.status_code == 403
    login = _anon(dash).post("/_nodal/login", data={"token_id": "ak-x", "token_secret": "as-x"},
                             headers={"Origin": "http://evil.example"})
    assert login.status_code == 403
    assert "csrf-probe" not in http.get("/_nodal/api/secrets").text


# ---------- apps, functions, containers ----------
def test_apps_and_app_page(dash):
    http = dash["http"]
    apps = http.get("/_nodal/api/apps").json()
    row = next(a for a in apps["deployed"] if a["app_id"] == dash["app_id"])
    assert row["state"] == "deployed" and row["version"] >= 1 and row["environment"] == "main"
    fns = dash["fns"]
    assert set(fns) == {"square", "fail", "every_six_hours", "web", "hog"}
    assert fns["every_six_hours"]["schedule"]["next_run"] > time.time()
    assert fns["every_six_hours"]["schedule"]["spec"] == "every 6h"
    url = fns["web"]["endpoints"][0]["url"]
    assert url.startswith("http://") and ".localhost:" in url
    # The URL shown is the endpoint's real address: the gateway serves it (by Host).
    host = url.split("//", 1)[1]
    served = httpx.get(dash["base"] + "/", headers={"Host": host}, timeout=120)
    assert served.text == "dashboard endpoint"
    page = http.get(f"/_nodal/apps/{dash['app_id']}")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for text in ("square", "every_six_hours", url, "Live logs"):
        assert text in page.text
    listing = http.get("/_nodal/apps").text
    assert APP_NAME in listing and f"/_nodal/apps/{dash['app_id']}" in listing


def test_function_page_counts_calls_and_failures(dash):
    http = dash["http"]
    sq = http.get(f"/_nodal/api/functions/{dash['fns']['square']['function_id']}").json()
    assert sq["stats"]["success"] >= 2 and sq["stats"]["failures"] == 0
    assert sq["stats"]["p50"] is not None and sq["stats"]["p90"] >= sq["stats"]["p50"]
    assert sum(m["calls"] for m in sq["minutes"]) >= 2
    assert sq["recent"][0]["status"] == "success" and sq["recent"][0]["container_id"].startswith("ta-")
    assert sq["app"]["app_id"] == dash["app_id"]
    bad = http.get(f"/_nodal/api/functions/{dash['fns']['fail']['function_id']}").json()
    assert bad["stats"]["failures"] == 1
    failed = bad["recent"][0]
    assert failed["status"] == "failure" and "boom" in failed["exception"] and "ValueError" in failed["traceback"]
    page = http.get(f"/_nodal/functions/{dash['fns']['fail']['function_id']}")
    assert page.status_code == 200
    assert '<svg class="chart"' in page.text and "ValueError" in page.text
    assert http.get(f"/_nodal/api/functions/{dash['fns']['square']['function_id']}?minutes=0").status_code == 400
    assert http.get(f"/_nodal/api/functions/{dash['fns']['square']['function_id']}?recent=x").status_code == 400


def test_call_page_shows_inputs_results_and_tracebacks(dash):
    http = dash["http"]
    failed = http.get(f"/_nodal/api/functions/{dash['fns']['fail']['function_id']}").json()["recent"][-1]
    streamed = http.get(f"/_nodal/api/calls/{failed['call_id']}").json()
    assert streamed["spawned"] is False and streamed["function"] == "fail"
    assert streamed["inputs"][0]["status"] == "failure" and "ValueError: boom" in streamed["inputs"][0]["traceback"]
    page = http.get(f"/_nodal/calls/{failed['call_id']}")
    assert page.status_code == 200 and "ValueError: boom" in page.text
    call = dash["module"].square.spawn(6)
    assert call.get(timeout=60) == 36
    spawned = http.get(f"/_nodal/api/calls/{call.object_id}").json()
    assert spawned["spawned"] is True and spawned["state"] == "done" and spawned["args"] == "((6,), {})"
    assert spawned["inputs"][0]["status"] == "success" and spawned["inputs"][0]["result"] == "36"
    assert spawned["inputs"][0]["container_id"].startswith("ta-")
    assert http.get("/_nodal/api/calls/fc-0123456789abcdef01234567").status_code == 404
    assert http.get("/_nodal/api/calls/not-a-call").status_code == 404
    assert http.get("/_nodal/calls/fc-0123456789abcdef01234567").status_code == 404


def test_containers_page_lists_the_apps_containers(dash):
    http = dash["http"]
    dash["module"].square.remote(5)  # a warm container, within its scaledown window
    rows = http.get("/_nodal/api/containers").json()
    mine = [c for c in rows if c["app_id"] == dash["app_id"]]
    assert mine and {"square"} <= {c["function"] for c in mine}
    assert all(c["container_id"].startswith("ta-") and c["state"] in ("starting", "ready", "draining") for c in mine)
    page = http.get("/_nodal/containers").text
    assert mine[0]["container_id"] in page
    square = next(c for c in mine if c["function"] == "square")
    assert square["start_reason"].startswith("scale-up: ")  # started because calls were waiting
    assert square["start_reason"] in page


def test_containers_page_shows_the_spare_containers_to_the_owner(dash, wait_until):
    """Spare containers (nodal.server.spares) are no app's: the owner sees them on the page."""
    dash["module"].square.remote(6)  # its image gets a spare once a container of it has started

    def spares_shown() -> str | None:
        text = dash["http"].get("/_nodal/containers").text
        return text if "Spare containers" in text else None

    page = wait_until(spares_shown, 60, "a spare container on the containers page")
    assert "functions" in page and ("ready" in page or "booting" in page)


def test_start_reasons_name_the_backlog_or_the_setting():
    from nodal.proto import api_pb2
    from nodal.server.pool import Pool

    pool = Pool("k", "fu-1", "ap-1", api_pb2.FunctionDef(min_containers=2, buffer_containers=1))
    assert pool.start_reason(0) == "min_containers=2"
    pool.pending.extend([object()] * 3)  # three inputs waiting, none running
    assert pool.start_reason(2) == "scale-up: 3 input(s) waiting"
    assert pool.start_reason(3) == "buffer_containers=1"
    pool.pending.clear()
    pool.web_waiting = 1
    assert pool.start_reason(0) == "scale-up: 1 web request(s) waiting"


def test_containers_show_cpu_and_memory_read_from_the_kernel(dash, wait_until):
    """A busy container with limits (so a cgroup) shows its memory against its limit and its CPU;
    one without limits (no cgroup) shows what its processes use. This host has no GPUs: the GPU
    column stays away (the nvidia-smi parsing is covered by test_gpu_usage_parsing)."""
    http = dash["http"]
    running = dash["module"].hog.spawn(80, 20.0)  # 80 MiB held, one core busy for 20 s
    hog_id = dash["fns"]["hog"]["function_id"]

    def busy():
        for c in http.get("/_nodal/api/containers").json():
            u = c["usage"]
            if c["function_id"] == hog_id and u and (u["memory_bytes"] or 0) >= 80 * 1024 * 1024 \
                    and (u["cpu_seconds"] or 0) >= 1.0:
                return c
        return None

    row = wait_until(busy, timeout=90, what="the hog container's usage")
    u = row["usage"]
    assert u["source"] == "cgroup" and u["memory_limit_bytes"] == 512 * 1024 * 1024, u
    assert u["memory_bytes"] < 512 * 1024 * 1024 and u["gpus"] == []
    # A second reading: the rate since the first one, about one core (the hard cap is 1.0).
    def rated():
        now = next((c["usage"] for c in http.get("/_nodal/api/containers").json()
                    if c["container_id"] == row["container_id"]), None)
        return now if now and now["cpu_window"] == "now" else None

    again = wait_until(rated, timeout=30, what="a CPU rate")
    assert 15 <= again["cpu_percent"] <= 130, again  # (less than a core when the machine is busy)
    assert again["cpu_seconds"] >= u["cpu_seconds"]
    page = http.get("/_nodal/containers").text
    assert row["container_id"] in page and "512.0 MiB" in page and "<th>GPU</th>" not in page
    fn_page = http.get(f"/_nodal/functions/{hog_id}").text
    assert row["container_id"] in fn_page and "of 512.0 MiB" in fn_page
    assert running.get(timeout=120) == 80 * 1024 * 1024
    dash["module"].square.remote(8)  # a container without limits: no cgroup, its processes counted
    plain = [c for c in http.get("/_nodal/api/containers").json()
             if c["function_id"] == dash["fns"]["square"]["function_id"] and c["usage"]]
    assert plain and plain[0]["usage"]["source"] == "processes"
    assert plain[0]["usage"]["memory_bytes"] > 5 * 1024 * 1024 and plain[0]["usage"]["memory_limit_bytes"] is None
    assert plain[0]["usage"]["cpu_seconds"] > 0


def test_gpu_usage_parsing():
    from nodal.server.dashboard.resources import parse_gpu_usage

    found = parse_gpu_usage("0, 87, 40321, 81559\n1, [N/A], [N/A], 81559\nbogus line\n")
    assert found[0] == {"index": 0, "utilization_percent": 87, "memory_used_mb": 40321, "memory_total_mb": 81559}
    assert found[1]["utilization_percent"] is None and found[1]["memory_total_mb"] == 81559
    assert set(found) == {0, 1}


# ---------- logs ----------
def test_logs_with_filters(dash, wait_until):
    http = dash["http"]
    path = f"/_nodal/api/apps/{dash['app_id']}/logs"
    wait_until(lambda: "dashboard-fail boom" in http.get(path).text, timeout=30, what="the app's logs")
    everything = http.get(path).json()
    lines = [e["data"] for e in everything["entries"]]
    assert any("dashboard-square 3" in x for x in lines)
    stderr = [e["data"] for e in http.get(path, params={"stream": "stderr"}).json()["entries"]]
    assert any("dashboard-fail boom" in x for x in stderr) and not any("dashboard-square" in x for x in stderr)
    found = http.get(path, params={"q": "DASHBOARD-SQUARE 4"}).json()["entries"]
    assert found and all("dashboard-square 4" in e["data"] for e in found)
    by_fn = http.get(path, params={"function": "fail"}).json()["entries"]
    assert by_fn and all(e["function"] == "fail" for e in by_fn)
    assert http.get(path, params={"stream": "nope"}).status_code == 400
    assert http.get(path, params={"limit": "abc"}).status_code == 400
    assert http.get(path, params={"limit": "0"}).status_code == 400
    assert http.get(path, params={"q": "x" * 500}).status_code == 400
    assert http.get(path, params={"container": "../x"}).status_code == 400
    one = next(e for e in everything["entries"] if e["container"] and "dashboard-square" in e["data"])
    by_container = http.get(path, params={"container": one["container"]}).json()["entries"]
    assert by_container and all(e["container"] == one["container"] for e in by_container)
    page = http.get(f"/_nodal/apps/{dash['app_id']}/logs", params={"stream": "stderr"})
    assert page.status_code == 200 and "dashboard-fail boom" in page.text and "data-stream=" in page.text


def test_log_stream_follows_new_lines(dash):
    http = dash["http"]
    url = f"/_nodal/api/apps/{dash['app_id']}/logs/stream"
    assert http.get(url, params={"since": "soon"}).status_code == 400
    assert http.get(url, params={"stream": "bogus"}).status_code == 400
    with http.stream("GET", url, params={"since": str(time.time()), "function": "square"},
                     timeout=httpx.Timeout(60)) as resp:
        assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/event-stream")
        dash["module"].square.remote(77)
        dash["module"].fail.spawn("not-followed")  # another function: filtered out of this stream
        deadline = time.monotonic() + 60
        seen = []
        for line in resp.iter_lines():
            if line.startswith("data: ["):
                seen.extend(json.loads(line[6:]))
            if any("dashboard-square 77" in e["data"] for e in seen) or time.monotonic() > deadline:
                break
    assert any("dashboard-square 77" in e["data"] for e in seen)
    assert all(e["function"] == "square" for e in seen)


def _sse_events(resp, deadline: float):
    """(event, data) pairs of a server-sent event stream, until `deadline` (monotonic)."""
    event = None
    for line in resp.iter_lines():
        if time.monotonic() > deadline:
            return
        if line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: ") and event:
            yield event, json.loads(line[6:])
            event = None


def _succeeded(html: str) -> int:
    m = re.search(r'<span class="n">(\d+)</span><span>succeeded</span>', html)
    assert m, html[:500]
    return int(m.group(1))


def test_pages_push_their_live_block_over_sse(dash):
    """A page asked for as an event stream (what the page's script does) sends its live block,
    then a fresh one as soon as an input finishes: no polling, no reload."""
    http = dash["http"]
    fn = dash["fns"]["square"]["function_id"]
    sse = {"Accept": "text/event-stream"}
    with http.stream("GET", f"/_nodal/functions/{fn}", headers=sse, timeout=httpx.Timeout(60)) as resp:
        assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/event-stream")
        events = _sse_events(resp, time.monotonic() + 60)
        kind, first = next(events, (None, ""))
        assert kind == "html" and "<html" not in first and '<svg class="chart"' in first
        before = _succeeded(first)
        dash["module"].square.remote(31)
        newer = next((html for kind, html in events if kind == "html" and _succeeded(html) > before), None)
        assert newer is not None, "no fresher live block within 60 s"
        assert _succeeded(newer) == before + 1
    with http.stream("GET", "/_nodal/containers", headers=sse, timeout=httpx.Timeout(60)) as resp:
        kind, block = next(_sse_events(resp, time.monotonic() + 60))
        assert kind == "html" and ("<table" in block or "No containers" in block)
    assert http.get("/_nodal/functions/fu-0123456789abcdef01234567", headers=sse).status_code == 404
    assert http.get(f"/_nodal/functions/{fn}?minutes=0", headers=sse).status_code == 400
    assert http.get("/_nodal/secrets", headers=sse).status_code == 406  # no live block there
    vol = _object_id(dash, "volumes", dash["vol_name"])
    assert http.get(f"/_nodal/volumes/{vol}/download?path=top.bin", headers=sse).status_code == 406
    assert _anon(dash).get(f"/_nodal/functions/{fn}", headers=sse).status_code == 401
    page = http.get(f"/_nodal/functions/{fn}").text  # the page itself is still the whole page
    assert page.startswith("<!doctype html>") and 'data-live="1"' in page


# ---------- volumes, dicts, queues ----------
def test_volume_browse_and_download(dash):
    http = dash["http"]
    vol = _object_id(dash, "volumes", dash["vol_name"])
    root = http.get(f"/_nodal/api/volumes/{vol}").json()
    assert [d["name"] for d in root["dirs"]] == ["docs"] and [f["name"] for f in root["files"]] == ["top.bin"]
    docs = http.get(f"/_nodal/api/volumes/{vol}", params={"path": "docs"}).json()
    assert docs["files"][0]["path"] == "docs/readme.txt" and docs["files"][0]["size"] == 12
    got = http.get(f"/_nodal/volumes/{vol}/download", params={"path": "/docs/readme.txt"})
    assert got.status_code == 200 and got.content == b"hello volume"
    assert got.headers["content-disposition"] == 'attachment; filename="readme.txt"'
    page = http.get(f"/_nodal/volumes/{vol}", params={"path": "docs"})
    assert page.status_code == 200 and "readme.txt" in page.text
    for bad in ("../../etc/passwd", "docs/../../secret", "/..", "docs/..", "a\\..\\b"):
        for path in (f"/_nodal/api/volumes/{vol}", f"/_nodal/volumes/{vol}/download", f"/_nodal/volumes/{vol}"):
            resp = http.get(path, params={"path": bad})
            assert resp.status_code == 400, (path, bad, resp.status_code)
    raw = http.get(f"/_nodal/volumes/{vol}/download?path=%2e%2e%2f%2e%2e%2fetc%2fpasswd")
    assert raw.status_code == 400
    assert http.get(f"/_nodal/volumes/{vol}/download", params={"path": "docs"}).status_code == 404
    assert http.get(f"/_nodal/volumes/{vol}/download", params={"path": "missing.txt"}).status_code == 404
    assert http.get(f"/_nodal/api/volumes/{vol}", params={"path": "nowhere"}).status_code == 404


def test_dicts_and_queues(dash):
    http = dash["http"]
    dicts = {r["name"]: r for r in http.get("/_nodal/api/dicts").json()}
    assert dicts[dash["dict_name"]]["size"] == 2
    peek = http.get(f"/_nodal/api/dicts/{dicts[dash['dict_name']]['object_id']}").json()
    assert {(i["key"], i["value"]) for i in peek["items"]} == {("'k'", "'v'"), ("'n'", "42")}
    queues = {r["name"]: r for r in http.get("/_nodal/api/queues").json()}
    qrow = queues[dash["queue_name"]]
    assert qrow["size"] == 1
    qpeek = http.get(f"/_nodal/api/queues/{qrow['object_id']}").json()
    assert [i["value"] for i in qpeek["items"]] == ["'item1'"]
    assert "item1" in http.get(f"/_nodal/queues/{qrow['object_id']}").text
    # A dict id is not a queue id, a volume id is not a dict id.
    assert http.get(f"/_nodal/api/queues/{dicts[dash['dict_name']]['object_id']}").status_code == 404
    assert http.get(f"/_nodal/api/dicts/{qrow['object_id']}").status_code == 404


# ---------- secrets ----------
def test_secrets_create_update_delete_never_show_values(dash):
    http = dash["http"]
    csrf = _csrf(http.get("/_nodal/secrets").text)
    h = {"X-CSRF-Token": csrf}
    name = f"dash-secret-{dash['suffix']}"
    made = http.post("/_nodal/api/secrets", json={"name": name, "values": {"DASH_KEY_XYZ": "s3cr3t-value"}}, headers=h)
    assert made.status_code == 201 and made.json()["updated"] is False
    again = http.post("/_nodal/api/secrets", json={"name": name, "values": {"DASH_KEY_XYZ": "x"}}, headers=h)
    assert again.status_code == 400 and "already exists" in again.json()["error"]
    upd = http.post("/_nodal/api/secrets", json={"name": name, "values": {"DASH_KEY_XYZ": "n3w-value"}, "overwrite": True},
                    headers=h)
    assert upd.status_code == 200 and upd.json()["updated"] is True
    listed = http.get("/_nodal/api/secrets").json()
    assert name in [s["name"] for s in listed]
    page = http.get("/_nodal/secrets").text
    for text in (http.get("/_nodal/api/secrets").text, page, upd.text, made.text):
        assert "s3cr3t-value" not in text and "n3w-value" not in text and "DASH_KEY_XYZ" not in text
    # The value really is stored: the SDK finds the key.
    found = run_sync(dash["client"].stub.SecretLookup(api_pb2.SecretLookupRequest(
        name=name, required_keys=["DASH_KEY_XYZ"])))
    assert found.secret_id

    form = http.post("/_nodal/secrets", data={"csrf": csrf, "env": "main", "name": f"{name}-form",
                                              "values": "A=1\nB=two"})
    assert form.status_code == 303 and form.headers["location"].endswith("done=created")
    assert "Secret created." in http.get(form.headers["location"]).text
    bad_form = http.post("/_nodal/secrets", data={"csrf": csrf, "name": "ok-name", "values": "no equals sign"})
    assert bad_form.status_code == 400 and "KEY=VALUE" in bad_form.text

    for body in ({"name": "bad name!", "values": {"A": "1"}}, {"name": "x", "values": []}, {"name": "x", "values": {}},
                 {"name": "x", "values": {"A": 1}}, {"name": "x", "values": {"A": "1"}, "env": "no/slash"},
                 {"name": "x", "values": {"A=B": "1"}}, ["not", "an", "object"]):
        assert http.post("/_nodal/api/secrets", json=body, headers=h).status_code == 400, body
    assert http.post("/_nodal/api/secrets", content=b"{not json", headers=h).status_code == 400
    broken = {"Content-Type": "multipart/form-data; boundary=zz"}
    assert http.post("/_nodal/secrets", content=b"--zz\r\nbroken", headers={**h, **broken}).status_code == 400
    assert _anon(dash).post("/_nodal/login", content=b"--zz\r\nbroken", headers=broken).status_code == 400
    latin = {"Content-Type": "application/x-www-form-urlencoded"}
    assert http.post("/_nodal/secrets", content=b"csrf=\xff", headers=latin).status_code == 400
    assert http.get("/_nodal/api/secrets", params={"env": "../x"}).status_code == 400

    gone = http.post("/_nodal/api/secrets/delete", json={"name": name}, headers=h)
    assert gone.status_code == 200
    assert http.post("/_nodal/api/secrets/delete", json={"name": name}, headers=h).status_code == 404
    deleted = http.post("/_nodal/secrets/delete", data={"csrf": csrf, "env": "main", "name": f"{name}-form"})
    assert deleted.status_code == 303
    assert name not in http.get("/_nodal/api/secrets").text


def test_environments(dash):
    http = dash["http"]
    assert "main" in [e["name"] for e in http.get("/_nodal/api/environments").json()]
    assert "main" in http.get("/_nodal/environments").text


# ---------- bad input everywhere ----------
def test_unknown_ids_are_404_and_never_500(dash):
    http = dash["http"]
    unknown = ["/apps/ap-0123456789abcdef01234567", "/apps/nonsense", "/apps/ap-0123456789abcdef01234567/logs",
               "/functions/fu-0123456789abcdef01234567", "/functions/../../etc", "/volumes/vo-0123456789abcdef",
               "/dicts/di-0123456789abcdef", "/queues/qu-0123456789abcdef", "/volumes/%00"]
    for path in unknown:
        for prefix in ("/_nodal", "/_nodal/api"):
            resp = http.get(prefix + path)
            assert resp.status_code in (404, 400), (prefix + path, resp.status_code)
    assert http.get("/_nodal/api/apps/ap-0123456789abcdef01234567").json()["error"].startswith("app ")
    assert http.get("/_nodal/api/apps/ap-0123456789abcdef01234567/logs/stream").status_code == 404
    assert http.get("/_nodal/static/../routes.py").status_code == 404
    assert http.get("/_nodal/static/missing.css").status_code == 404
    assert http.get("/_nodal/static/dashboard.css").headers["content-type"].startswith("text/css")
    assert http.get("/_nodal/nope").status_code == 404  # the gateway's own 404


def test_dashboard_steps_aside_on_endpoint_hosts(dash):
    """An endpoint's host keeps every path, /_nodal/ included: the dashboard can't shadow it."""
    url = dash["fns"]["web"]["endpoints"][0]["url"]
    host = url.split("//", 1)[1]
    resp = dash["http"].get(dash["base"] + "/_nodal/apps", headers={"Host": host})
    assert resp.text == "dashboard endpoint"


def test_deploy_result_points_into_the_dashboard(dash):
    result = dash["result"]
    assert result.app_page_url == f"{dash['base']}/_nodal/apps/{dash['app_id']}"
    assert result.app_logs_url == f"{dash['base']}/_nodal/apps/{dash['app_id']}/logs"
    path = result.app_logs_url[len(dash["base"]):]
    assert dash["http"].get(path).status_code == 200


# ---------- remote users: API tokens, one workspace each ----------
def test_token_login_sees_only_its_workspace(dash):
    client = dash["client"]
    other = run_sync(client.stub.TokenCreate(api_pb2.TokenCreateRequest(workspace="dash-other", user="olga")))
    anon = _anon(dash)
    refused = anon.post("/_nodal/login", data={"token_id": other.token_id, "token_secret": "as-wrong"})
    assert refused.status_code == 401 and "not valid" in refused.text and "set-cookie" not in refused.headers
    ok = anon.post("/_nodal/login", data={"token_id": other.token_id, "token_secret": other.token_secret,
                                          "next": "/_nodal/containers"})
    assert ok.status_code == 303 and ok.headers["location"] == "/_nodal/containers"
    assert anon.get("/_nodal/api/session").json()["workspace"] == "dash-other"
    apps = anon.get("/_nodal/api/apps").json()
    assert dash["app_id"] not in json.dumps(apps)
    assert anon.get(f"/_nodal/api/apps/{dash['app_id']}").status_code == 404
    assert anon.get(f"/_nodal/api/apps/{dash['app_id']}/logs").status_code == 404
    assert anon.get(f"/_nodal/api/functions/{dash['fns']['square']['function_id']}").status_code == 404
    call_id = dash["http"].get(f"/_nodal/api/functions/{dash['fns']['square']['function_id']}").json()["recent"][0]
    assert anon.get(f"/_nodal/api/calls/{call_id['call_id']}").status_code == 404
    assert dash["app_id"] not in anon.get("/_nodal/api/containers").text
    vol = _object_id(dash, "volumes", dash["vol_name"])
    assert anon.get("/_nodal/api/volumes").json() == []
    assert anon.get(f"/_nodal/api/volumes/{vol}").status_code == 404
    assert anon.get(f"/_nodal/volumes/{vol}/download", params={"path": "top.bin"}).status_code == 404
    assert anon.get("/_nodal/api/dicts").json() == [] and anon.get("/_nodal/api/secrets").json() == []
    # A secret made there lives in that workspace only.
    csrf = _csrf(anon.get("/_nodal/secrets").text)
    made = anon.post("/_nodal/api/secrets", json={"name": "olgas", "values": {"K": "v"}}, headers={"X-CSRF-Token": csrf})
    assert made.status_code == 201
    assert "olgas" not in dash["http"].get("/_nodal/api/secrets").text
    # Revoking the token ends the session.
    run_sync(client.stub.TokenRevoke(api_pb2.TokenRevokeRequest(token_id=other.token_id)))
    assert anon.get("/_nodal/api/apps").status_code == 401


# ---------- a real browser ----------
@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is not installed")
def test_pages_render_in_headless_chromium(dash, tmp_path):
    artifacts = tmp_path / "screenshots"
    artifacts.mkdir()
    profile = tmp_path / "profile"

    def chromium(*args: str) -> subprocess.CompletedProcess:
        proc = subprocess.run(
            ["chromium", "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={profile}",
             # loopback only: nothing else resolves
             "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1", "--window-size=1280,900",
             "--enable-logging=stderr", "--v=0", *args],
            capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr[-2000:]
        console = [ln for ln in proc.stderr.splitlines() if ":CONSOLE" in ln]
        assert not console, console  # no script errors, no CSP refusals
        return proc

    login = f"{dash['base']}/_nodal/login?token={dash['secret']}"
    apps_dom = chromium("--dump-dom", login).stdout  # logs in, lands on the apps page
    assert "<h1>Apps</h1>" in apps_dom and APP_NAME in apps_dom and "Log out" in apps_dom
    app_url = f"{dash['base']}/_nodal/apps/{dash['app_id']}"
    app_dom = chromium("--dump-dom", app_url).stdout  # the session cookie carries over
    assert "every_six_hours" in app_dom and "Functions" in app_dom
    logs_url = f"{dash['base']}/_nodal/apps/{dash['app_id']}/logs"
    logs_dom = chromium("--dump-dom", logs_url).stdout  # server-rendered lines; JS then follows over SSE
    assert "dashboard-square 3" in logs_dom and "Following live" in logs_dom
    for name, url in (("apps", f"{dash['base']}/_nodal/apps"), ("app", app_url), ("logs", logs_url),
                      ("function", f"{dash['base']}/_nodal/functions/{dash['fns']['fail']['function_id']}")):
        shot = artifacts / f"{name}.png"
        chromium(f"--screenshot={shot}", url)
        assert shot.stat().st_size > 5000, name
    if os.environ.get("NODAL_TEST_ARTIFACTS"):  # kept beyond the run when asked
        shutil.copytree(artifacts, os.path.join(os.environ["NODAL_TEST_ARTIFACTS"], "dashboard"), dirs_exist_ok=True)


# ---------- pure logic (no server) ----------
def test_percentiles_buckets_and_schedule_text():
    from nodal.server.dashboard.history import CallHistory, per_minute, percentile
    from nodal.server.dashboard.queries import describe_schedule

    assert percentile([], 0.5) is None
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.5) == 50.0 and percentile(values, 0.9) == 90.0 and percentile([7.0], 0.9) == 7.0
    h = CallHistory()
    now = 1_000_000 * 60.0
    h.record("fu-1", "in-1", "fc-1", "ta-1", api_pb2.RESULT_STATUS_SUCCESS, 0.5, now=now - 120)
    h.record("fu-1", "in-2", "fc-2", "ta-1", api_pb2.RESULT_STATUS_FAILURE, 1.5, "ValueError('x')", "Trace", now=now)
    h.record("fu-1", "in-3", "fc-3", "", api_pb2.RESULT_STATUS_TIMEOUT, None, now=now)
    buckets = per_minute(h.get("fu-1"), 5, now=now)
    assert [b.calls for b in buckets] == [0, 0, 1, 0, 2] and buckets[-1].failures == 2
    assert buckets[-1].latency_n == 1 and h.get("fu-1").totals == {"success": 1, "failure": 1, "timeout": 1}
    assert h.find_input("fu-1", "in-2").traceback == "Trace" and h.find_input("fu-1", "in-1").exception == ""
    assert describe_schedule({"type": "cron", "cron_string": "0 9 * * 1", "timezone": "UTC"}) == "cron: 0 9 * * 1"
    assert describe_schedule({"type": "period", "hours": 6, "minutes": 30, "days": 0}) == "every 6h 30min"


def test_call_history_folds_a_big_batch_exactly():
    """Inputs are folded in batches: a map's thousands of inputs across two minutes come out with
    exact counts, the newest RECENT_PER_FUNCTION kept as records, and the call findable."""
    from nodal.server.dashboard.history import RECENT_PER_FUNCTION, CallHistory, per_minute

    h = CallHistory()
    now = 2_000_000 * 60.0
    for i in range(3000):
        failed = i % 100 == 0
        h.record("fu-m", f"in-{i}", "fc-map", "ta-1",
                 api_pb2.RESULT_STATUS_FAILURE if failed else api_pb2.RESULT_STATUS_SUCCESS,
                 None if i % 3 == 0 else 0.002, now=now - 60 + (i // 1500) * 60)
    h.record("fu-other", "in-x", "fc-x", "ta-2", api_pb2.RESULT_STATUS_SUCCESS, 0.1, now=now)
    got = h.get("fu-m")
    assert got.totals == {"success": 2970, "failure": 30}
    assert len(got.recent) == RECENT_PER_FUNCTION and got.recent[-1].input_id == "in-2999"
    first, second = per_minute(got, 2, now=now)
    assert (first.calls, second.calls) == (1500, 1500) and first.failures + second.failures == 30
    assert first.latency_n == 1000 and abs(first.latency_sum - 2.0) < 1e-9
    assert [r.input_id for r in h.find_call("fc-map")][:1] == ["in-2000"]
    assert h.get("fu-other").totals == {"success": 1}


def test_store_keeps_call_history(metadata_store):
    """The store half of the call history, on SQLite and PostgreSQL alike: rows, added-up minute
    counts and totals, lookups by function and by call, and retention."""
    s = metadata_store
    row = ("in-1", "fc-1", "fu-1", "ta-1", "success", 100.0, 0.5, "", "")
    s.history_append([row, ("in-2", "fc-2", "fu-1", "ta-1", "failure", 101.0, 1.5, "ValueError('x')", "Trace")],
                     [("fu-1", 1, 2, 1, 2.0, 2)], [("fu-1", "success", 1), ("fu-1", "failure", 1)])
    s.history_append([("in-3", "fc-2", "fu-1", "", "timeout", 102.0, None, "", "")],
                     [("fu-1", 1, 1, 1, 0.0, 0), ("fu-1", 2, 0, 0, 0.0, 0)], [("fu-1", "timeout", 1), ("fu-1", "failure", 0)])
    assert [r[0] for r in s.history_recent("fu-1", 10)] == ["in-3", "in-2", "in-1"]
    assert s.history_recent("fu-1", 10)[2] == row and s.history_recent("fu-1", 1)[0][6] is None
    assert [r[0] for r in s.history_call("fc-2", 10)] == ["in-2", "in-3"] and s.history_call("fc-9", 10) == []
    assert [tuple(m) for m in s.history_minutes("fu-1", 0)] == [(1, 3, 2, 2.0, 2), (2, 0, 0, 0.0, 0)]
    assert [m[0] for m in s.history_minutes("fu-1", 2)] == [2]
    assert s.history_totals("fu-1") == {"success": 1, "failure": 1, "timeout": 1} and s.history_totals("fu-2") == {}
    s.history_trim(["fu-1"], 2, before=0.0, minutes_before=2)
    assert [r[0] for r in s.history_recent("fu-1", 10)] == ["in-3", "in-2"]
    assert [m[0] for m in s.history_minutes("fu-1", 0)] == [2]
    s.history_trim([], 10, before=101.5, minutes_before=0)
    assert [r[0] for r in s.history_recent("fu-1", 10)] == ["in-3"]
    assert s.history_totals("fu-1")["failure"] == 1  # totals are never trimmed


def test_call_history_is_read_back_from_the_store(tmp_path):
    """What one CallHistory recorded and flushed, a new one (a restarted server) reads back."""
    from nodal.server.dashboard.history import STORED_PER_FLUSH, CallHistory, per_minute
    from nodal.store.backends.sqlite import SqliteMetadataStore

    store = SqliteMetadataStore(tmp_path / "nodal.db")
    now = time.time()
    first = CallHistory(store)
    first.record("fu-a", "in-1", "fc-1", "ta-1", api_pb2.RESULT_STATUS_SUCCESS, 0.25, now=now - 60)
    first.record("fu-a", "in-2", "fc-2", "ta-1", api_pb2.RESULT_STATUS_FAILURE, 0.75, "ValueError('bad')",
                 "Traceback ... ValueError: bad", now=now)
    for i in range(STORED_PER_FLUSH + 50):  # a burst: only the newest STORED_PER_FLUSH rows are stored
        first.record("fu-b", f"in-b{i}", "fc-map", "ta-2", api_pb2.RESULT_STATUS_SUCCESS, 0.001, now=now)
    assert first.get("fu-a").totals == {"success": 1, "failure": 1}
    first.flush()

    again = CallHistory(store)
    h = again.get("fu-a")
    assert [r.input_id for r in h.recent] == ["in-1", "in-2"] and h.totals == {"success": 1, "failure": 1}
    assert h.recent[1].traceback == "Traceback ... ValueError: bad" and h.recent[0].duration == 0.25
    buckets = per_minute(h, 5, now=now)
    assert sum(b.calls for b in buckets) == 2 and sum(b.failures for b in buckets) == 1
    b = again.get("fu-b")
    assert b.totals == {"success": STORED_PER_FLUSH + 50} and len(b.recent) == STORED_PER_FLUSH
    assert sum(x.calls for x in per_minute(b, 1, now=now)) == STORED_PER_FLUSH + 50  # counts stay exact
    assert [r.input_id for r in again.find_call("fc-2")] == ["in-2"]
    assert again.get("fu-missing") is None and again.find_call("fc-missing") == []
    # Recording after the read-back adds to it (not replaces it).
    again.record("fu-a", "in-3", "fc-3", "ta-1", api_pb2.RESULT_STATUS_SUCCESS, 0.5, now=now)
    again.flush()
    assert CallHistory(store).get("fu-a").totals == {"success": 2, "failure": 1}
    store.close()


def test_call_history_survives_a_restart(require_containers, tmp_path_factory, wait_until):
    """A real server restarted on the same home (and store) still shows a function's recent
    calls, counts and a failed call's traceback on its pages."""
    from apps import dashboard_app

    from nodal.store.factory import open_metadata_store

    server = PrivateServer(tmp_path_factory.mktemp("nodal-dashboard-restart"), env={"NODAL_GATEWAY_PORT": "0"})
    server.start()
    try:
        client = server.client()
        deploy_app(dashboard_app.app, client=client)
        assert dashboard_app.square.remote(12) == 144
        with pytest.raises(ValueError, match="kept-over-restart"):
            dashboard_app.fail.remote("kept-over-restart")
        store = open_metadata_store(server.env.get("NODAL_DATABASE_URL"), server.home / "nodal.db")
        try:
            app = next(a for a in store.list_apps() if a.name == APP_NAME)
            fail_id = next(f.function_id for f in store.list_functions(app.app_id) if f.tag == "fail")
            wait_until(lambda: store.history_totals(fail_id).get("failure") == 1, timeout=30,
                       what="the finished inputs to be written to the store")
        finally:
            store.close()
        server.restart()
        base = (server.home / "gateway.url").read_text().strip()
        secret = (server.home / "dashboard-secret").read_text().strip()
        with httpx.Client(base_url=base, follow_redirects=False, timeout=30) as http:
            assert http.get(f"/_nodal/login?token={secret}").status_code == 303
            fn = http.get(f"/_nodal/api/functions/{fail_id}").json()
            assert fn["stats"]["failures"] == 1 and sum(m["failures"] for m in fn["minutes"]) == 1
            failed = fn["recent"][0]
            assert failed["status"] == "failure" and "kept-over-restart" in failed["exception"]
            call = http.get(f"/_nodal/api/calls/{failed['call_id']}").json()
            assert "ValueError: kept-over-restart" in call["inputs"][0]["traceback"]
            page = http.get(f"/_nodal/functions/{fail_id}").text
            assert "kept-over-restart" in page and "No inputs finished" not in page
    finally:
        server.stop()


def test_log_tail_reads_newest_lines_from_the_end(tmp_path):
    from nodal.server.dashboard.logtail import tail

    path = tmp_path / "ap-1.jsonl"
    with open(path, "w") as f:
        for i in range(20_000):  # several read blocks
            f.write(json.dumps({"t": i, "f": "fn", "c": "", "s": "stdout", "d": f"line {i} " + "x" * (i % 40)}) + "\n")
        f.write('{"t": 1, "f"')  # a line cut by a crash
    newest = tail(path, "ap-1", lambda e: True, 300)
    assert [int(e.data.split()[1]) for e in newest] == list(range(19_700, 20_000))
    assert [e.data.split()[1] for e in tail(path, "ap-1", lambda e: e.data.startswith("line 3 "), 5)] == ["3"]
    assert len(tail(path, "ap-1", lambda e: True, 50_000)) == 20_000
    assert tail(tmp_path / "missing.jsonl", "ap-2", lambda e: True, 10) == []


def test_chart_is_plain_svg():
    from nodal.server.dashboard.charts import calls_chart

    minutes = [{"minute": 60 * m, "calls": m % 3, "failures": int(m == 2), "mean_latency": 0.01 * m if m % 3 else None}
               for m in range(30)]
    svg = calls_chart(minutes)
    assert svg.startswith('<svg class="chart"') and svg.endswith("</svg>") and "<script" not in svg
    assert svg.count('class="fail"') == 30 and "<polyline" in svg
    assert calls_chart([]).endswith("</svg>")


# ---------- actions (last: they replace and stop the deployed app) ----------
def test_rollback_and_stop_from_the_dashboard(dash):
    http = dash["http"]
    csrf = _csrf(http.get(f"/_nodal/apps/{dash['app_id']}").text)
    h = {"X-CSRF-Token": csrf}
    deploy_app(dash["module"].app, client=dash["client"])  # v2 replaces v1
    v2 = next(a for a in http.get("/_nodal/api/apps").json()["deployed"] if a["name"] == APP_NAME)
    assert v2["version"] == 2 and v2["app_id"] != dash["app_id"]
    page = http.get(f"/_nodal/apps/{v2['app_id']}").text
    assert "Roll back to v1" in page and "Stop app" in page
    for body in ({"version": "latest"}, {"version": 0}, {"version": True}, {}):
        assert http.post(f"/_nodal/api/apps/{v2['app_id']}/rollback", json=body, headers=h).status_code == 400, body
    assert http.post(f"/_nodal/api/apps/{v2['app_id']}/rollback", json={"version": 99}, headers=h).status_code == 404
    assert http.post(f"/_nodal/api/apps/{v2['app_id']}/rollback", json={"version": 1}).status_code == 403  # no CSRF
    assert http.post("/_nodal/api/apps/ap-0123456789abcdef01234567/stop", headers=h).status_code == 404
    back = http.post(f"/_nodal/apps/{v2['app_id']}/rollback", data={"csrf": csrf, "version": "1"})
    assert back.status_code == 303
    v3 = next(a for a in http.get("/_nodal/api/apps").json()["deployed"] if a["name"] == APP_NAME)
    assert v3["version"] == 3 and back.headers["location"] == f"/_nodal/apps/{v3['app_id']}"
    assert v3["tag"] == "rollback to v1"
    assert modal.Function.from_name(APP_NAME, "square", client=dash["client"]).remote(9) == 81
    events = run_sync(dash["client"].stub.AuditList(api_pb2.AuditListRequest(limit=20)))
    assert any(e.action == "app.rollback" and "dashboard" in e.detail for e in events.events)

    stopped = http.post(f"/_nodal/api/apps/{v3['app_id']}/stop", headers=h)
    assert stopped.status_code == 200 and stopped.json()["state"] == "stopped"
    assert http.post(f"/_nodal/api/apps/{v3['app_id']}/stop", headers=h).status_code == 400  # already stopped
    apps = http.get("/_nodal/api/apps").json()
    assert not any(a["name"] == APP_NAME for a in apps["deployed"])
    assert any(a["app_id"] == v3["app_id"] for a in apps["stopped"])
    assert http.get(f"/_nodal/apps/{v3['app_id']}/logs").status_code == 200
