"""A one-endpoint app the web tests start and stop (no test-only imports here)."""

import modal

app = modal.App("nodal-test-web-small")


async def _asgi(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"small"})


@app.function()
@modal.asgi_app()
def hello():
    return _asgi


async def _slow_asgi(scope, receive, send):
    import asyncio

    if scope["type"] != "http":
        return
    await asyncio.sleep(float(scope["query_string"].decode().partition("=")[2] or 0))  # ok: a long request
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"finally done"})


@app.function()
@modal.asgi_app()
def slow():
    return _slow_asgi


@app.function(timeout=2)
@modal.asgi_app()
def slow_short():
    return _slow_asgi
