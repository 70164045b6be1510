"""Functions that report how their container came to be, for the spare-container tests: when its
process started (a pre-started container started before the call), what it sees of its
function's own variables and code, and its container id."""

import os
import time

import modal

app = modal.App("nodal-test-spares")
HERE = os.path.abspath(__file__)


def _process_started_at() -> float:
    """Wall-clock time this process started (from /proc, in clock ticks since boot)."""
    with open("/proc/self/stat") as f:
        ticks = int(f.read().rsplit(")", 1)[1].split()[19])
    with open("/proc/uptime") as f:
        uptime = float(f.read().split()[0])
    return time.time() - uptime + ticks / os.sysconf("SC_CLK_TCK")


def _report() -> dict:
    return {
        "started_at": _process_started_at(),
        "task_id": os.environ.get("MODAL_TASK_ID"),
        "env": {k: os.environ.get(k) for k in ("SPARE_TEST_VAR", "SPARE_SECRET_VAR", "MODAL_ENVIRONMENT")},
        "code": HERE,
        "code_mode": os.stat(HERE).st_mode & 0o777,
        "cwd": os.getcwd(),
        "utc_offset": time.localtime().tm_gmtoff,
    }


@app.function(max_inputs=1, env={"SPARE_TEST_VAR": "from-env", "TZ": "XST-9"},
              secrets=[modal.Secret.from_dict({"SPARE_SECRET_VAR": "from-secret"})])
def single_use() -> dict:
    print("spare-test: hello from a single-use container")
    return _report()


@app.function(max_inputs=1, env={"PYTHONHASHSEED": "7"})
def startup_variable() -> dict:
    """Its variable is read when Python starts: a spare (already started) must not serve it."""
    return {**_report(), "hash_seed": os.environ.get("PYTHONHASHSEED")}


def _web_report():
    async def asgi(scope, receive, send):
        if scope["type"] != "http":
            return
        body = repr(_process_started_at()).encode()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": body})

    return asgi


# Four endpoints of one image: each one's first request is a cold start of its own.
@app.function()
@modal.asgi_app()
def web_a():
    return _web_report()


@app.function()
@modal.asgi_app()
def web_b():
    return _web_report()


@app.function()
@modal.asgi_app()
def web_c():
    return _web_report()


@app.function()
@modal.asgi_app()
def web_d():
    return _web_report()
