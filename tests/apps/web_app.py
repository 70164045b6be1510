"""Web endpoints the web tests call over real HTTP (no test-only imports here)."""

import asyncio
import os
import time

import modal

app = modal.App("nodal-test-web")

_lifespan = {"started": False}


async def _send_text(send, text: str, status: int = 200, content_type: bytes = b"text/plain") -> None:
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", content_type)]})
    await send({"type": "http.response.body", "body": text.encode()})


async def asgi(scope, receive, send):
    """A plain ASGI app (no framework): every feature the gateway has to carry."""
    if scope["type"] == "lifespan":
        while True:
            msg = await receive()
            if msg["type"] == "lifespan.startup":
                _lifespan["started"] = True
                await send({"type": "lifespan.startup.complete"})
            elif msg["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] == "websocket":
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        while True:
            msg = await receive()
            if msg["type"] == "websocket.disconnect":
                return
            if msg.get("text") is not None:
                await send({"type": "websocket.send", "text": "echo: " + msg["text"]})
            else:
                await send({"type": "websocket.send", "bytes": msg["bytes"][::-1]})
    path = scope["path"]
    if path == "/":
        await _send_text(send, "hello from asgi")
    elif path == "/info":
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        await _send_text(send, f"{scope['method']} {path}?{scope['query_string'].decode()} "
                               f"host={headers.get('host')} task={os.environ.get('MODAL_TASK_ID')}")
    elif path == "/body":
        body = b""
        while True:
            msg = await receive()
            body += msg.get("body", b"")
            if not msg.get("more_body"):
                break
        await _send_text(send, f"got {len(body)} bytes: {body[:20].decode(errors='replace')}")
    elif path == "/lifespan":
        await _send_text(send, f"started={_lifespan['started']}")
    elif path == "/stream":
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        for i in range(3):
            await send({"type": "http.response.body", "body": f"chunk{i} {time.time()}\n".encode(), "more_body": True})
            await asyncio.sleep(0.5)  # ok: the app streams slowly on purpose
        await send({"type": "http.response.body", "body": b""})
    elif path == "/sse":
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]})
        for i in range(3):
            await send({"type": "http.response.body", "body": f"data: event {i} {time.time()}\n\n".encode(),
                        "more_body": True})
            await asyncio.sleep(0.3)  # ok: events spaced out on purpose
        await send({"type": "http.response.body", "body": b""})
    elif path == "/boom":
        raise RuntimeError("the secret detail of this failure")
    elif path == "/sleep":
        await asyncio.sleep(float(dict(p.split("=") for p in scope["query_string"].decode().split("&"))["s"]))
        await _send_text(send, os.environ.get("MODAL_TASK_ID", ""))
    else:
        await _send_text(send, "no such page", status=404)


@app.function()
@modal.asgi_app()
def web():
    return asgi


def _wsgi(environ, start_response):
    if environ["PATH_INFO"] == "/boom":
        raise ValueError("wsgi secret detail")
    body = environ["wsgi.input"].read()
    start_response("201 Created", [("Content-Type", "text/plain"), ("X-Wsgi", "yes")])
    return [f"wsgi {environ['REQUEST_METHOD']} {environ['PATH_INFO']} ".encode(), body]


@app.function()
@modal.wsgi_app()
def flask_like():
    return _wsgi


@app.function(scaledown_window=2)
@modal.concurrent(max_inputs=2)
@modal.asgi_app(label="nodal-test-scaled")
def scaled():
    return asgi


@app.function()
def not_web() -> int:
    return 1


@app.function()
@modal.asgi_app(requires_proxy_auth=True)
def private():
    return asgi


@app.function()
@modal.asgi_app(custom_domains=["shop.nodal-test.example"])
def domained():
    return asgi


@app.function(max_inputs=2)
@modal.asgi_app()
def limited():
    return asgi
