"""The app the dashboard tests deploy: a plain function, a failing one, a schedule and a web
endpoint (no test-only imports here)."""

import sys

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
