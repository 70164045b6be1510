"""The app `modal serve` runs in the web tests; they copy it and edit VERSION (no test-only
imports here)."""

import asyncio

import modal

app = modal.App("nodal-test-web-serve")
VERSION = "v1"


async def asgi(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    if scope["path"] == "/slow":
        await send({"type": "http.response.body", "body": b"started ", "more_body": True})
        await asyncio.sleep(4)  # ok: a long request that a reload must not drop
    await send({"type": "http.response.body", "body": VERSION.encode()})


@app.function()
@modal.asgi_app()
def page():
    return asgi
