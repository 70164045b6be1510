"""The hello-world web app `bench/web.py` measures (also served by plain uvicorn as the peer)."""

import modal

app = modal.App("nodal-bench-web")

_HELLO = b"Hello, world!"


async def asgi(scope, receive, send):
    """A minimal ASGI app: the same object runs under plain uvicorn and behind the gateway."""
    if scope["type"] == "lifespan":
        while True:
            msg = await receive()
            await send({"type": msg["type"] + ".complete"})
            if msg["type"] == "lifespan.shutdown":
                return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(_HELLO)).encode())]})
    await send({"type": "http.response.body", "body": _HELLO})


@app.function(min_containers=1)
@modal.concurrent(max_inputs=1000)
@modal.asgi_app()
def hello():
    return asgi


@app.function(scaledown_window=2)
@modal.asgi_app()
def cold():
    return asgi
