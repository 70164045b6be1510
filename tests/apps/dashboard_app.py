"""The app the dashboard tests deploy: a plain function, a failing one, a schedule, a web
endpoint and a busy function with cpu/memory limits (no test-only imports here)."""

import sys
import time

import modal

app = modal.App("nodal-test-dashboard")


@app.function()
def square(x: int) -> int:
    print(f"dashboard-square {x}")
    return x * x


@app.function()
def fail(message: str) -> None:
    print(f"dashboard-fail {message}", file=sys.stderr)
    raise ValueError(message)


@app.function(cpu=(0.25, 1.0), memory=(64, 512))
def hog(megabytes: int, seconds: float) -> int:
    """Hold `megabytes` of touched memory and keep one core busy for `seconds`."""
    block = bytearray(megabytes * 1024 * 1024)
    for i in range(0, len(block), 4096):
        block[i] = 1
    print(f"dashboard-hog holding {megabytes} MiB", flush=True)
    spins = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        spins += 1
    return len(block) + spins * 0


@app.function(schedule=modal.Period(hours=6))
def every_six_hours() -> None:
    print("scheduled run")


async def _asgi(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"dashboard endpoint"})


@app.function()
@modal.asgi_app()
def web():
    return _asgi
