"""Web endpoints inside a container: the servers the gateway's requests arrive at.

Each web endpoint of the function listens on its own unix socket in the directory the
server binds at `$NODAL_WEB_DIR` (`ep{i}.sock`); the gateway connects to it from the host.
- `asgi_app`, `fastapi_endpoint`, `wsgi_app`: uvicorn (h11, wsproto) on that socket, in the
  worker's event loop; uvicorn and its dependencies come from the SDK site, FastAPI from the
  user's image, as on Modal.
- `web_server(port)`: the user's own server in this container's network namespace; a relay
  on the socket forwards each connection to 127.0.0.1:port, so replicas never share a port.
The container reports ready only once every endpoint accepts connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import io
import os
import sys
import threading
import time
import traceback
from collections.abc import Awaitable, Callable
from typing import Any

from nodal.proto import api_pb2

PORT_POLL = 0.02  # seconds between checks that a web_server's port listens
UVICORN_KEEP_ALIVE = 75  # seconds; longer than the gateway keeps idle connections


def prefetch_server_modules(background: bool = True) -> None:
    """Import uvicorn, in the background while the worker connects and loads the user's code:
    it is most of a web container's extra cold start (a spare container imports it at once)."""

    def load() -> None:
        with contextlib.suppress(Exception):
            import uvicorn.protocols.http.h11_impl  # noqa: F401
            import uvicorn.server  # noqa: F401

    if background:
        threading.Thread(target=load, name="nodal-web-prefetch", daemon=True).start()
    else:
        load()


def socket_path(index: int) -> str:
    return os.path.join(os.environ.get("NODAL_WEB_DIR", "/run/nodal/web"), f"ep{index}.sock")


RunInThread = Callable[..., Awaitable[Any]]


async def _call_factory(fn: Callable[[], Any], in_thread: RunInThread) -> Any:
    """Call the user's app factory (sync ones off the event loop) and return what it made."""
    if inspect.iscoroutinefunction(fn):
        return await fn()
    value = await in_thread(fn)
    if inspect.isawaitable(value):
        value = await value
    return value


def fastapi_app(fn: Callable[..., Any], ep: api_pb2.WebEndpoint) -> Any:
    """A FastAPI app serving `fn` at "/" with the endpoint's method, CORS on, /docs if asked."""
    try:
        from fastapi import FastAPI
        from fastapi.middleware.cors import CORSMiddleware
    except ImportError:
        raise ImportError(
            "@modal.fastapi_endpoint needs FastAPI installed in the function's image: use e.g. "
            "`modal.Image.debian_slim().pip_install(\"fastapi[standard]\")`"
        ) from None
    docs = ep.docs
    app = FastAPI(docs_url="/docs" if docs else None, redoc_url="/redoc" if docs else None,
                  openapi_url="/openapi.json" if docs else None)
    app.add_api_route("/", fn, methods=[ep.http_method or "GET"])
    app.add_middleware(CORSMiddleware, allow_origins=["*"], allow_credentials=True, allow_methods=["*"],
                       allow_headers=["*"])
    return app


class WsgiAdapter:
    """Runs a WSGI app (Flask, Django, ...) for an ASGI server: each request in a worker thread,
    its response body streamed back as the app yields it."""

    def __init__(self, wsgi: Callable[..., Any], in_thread: RunInThread) -> None:
        self.wsgi = wsgi
        self.in_thread = in_thread

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] == "lifespan":
            while True:
                msg = await receive()
                if msg["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif msg["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return  # WebSockets need ASGI: uvicorn refuses the handshake
        body = bytearray()
        while True:
            msg = await receive()
            body += msg.get("body", b"")
            if not msg.get("more_body"):
                break
        loop = asyncio.get_running_loop()
        events: asyncio.Queue = asyncio.Queue()
        environ = self._environ(scope, bytes(body))
        emit = lambda *e: loop.call_soon_threadsafe(events.put_nowait, e)  # noqa: E731

        def run() -> None:
            state: dict[str, Any] = {}

            def start_response(status: str, headers: list, exc_info: Any = None) -> Callable[[bytes], None]:
                state["start"] = (int(status.split(" ", 1)[0]), headers)
                return write

            def write(data: bytes) -> None:
                flush_start()
                if data:
                    emit("body", bytes(data))

            def flush_start() -> None:
                if "start" in state and not state.get("sent"):
                    state["sent"] = True
                    emit("start", *state["start"])

            try:
                result = self.wsgi(environ, start_response)
                try:
                    for chunk in result:
                        write(chunk)
                finally:
                    if hasattr(result, "close"):
                        result.close()
                flush_start()
                emit("end")
            except BaseException:  # noqa: BLE001 - the traceback goes to the logs, a 500 to the caller
                traceback.print_exc()
                emit("error", bool(state.get("sent")))

        task = asyncio.ensure_future(self.in_thread(run))
        while True:
            kind, *rest = await events.get()
            if kind == "start":
                status, headers = rest
                await send({"type": "http.response.start", "status": status,
                            "headers": [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]})
            elif kind == "body":
                await send({"type": "http.response.body", "body": rest[0], "more_body": True})
            elif kind == "end":
                await send({"type": "http.response.body", "body": b""})
                break
            else:
                if not rest[0]:
                    await send({"type": "http.response.start", "status": 500,
                                "headers": [(b"content-type", b"text/plain; charset=utf-8")]})
                    await send({"type": "http.response.body", "body": b"Internal Server Error"})
                break
        await task

    @staticmethod
    def _environ(scope: dict, body: bytes) -> dict[str, Any]:
        server = scope.get("server") or ("localhost", 80)
        environ: dict[str, Any] = {
            "REQUEST_METHOD": scope["method"],
            "SCRIPT_NAME": scope.get("root_path", ""),
            "PATH_INFO": scope["path"],
            "QUERY_STRING": scope["query_string"].decode("latin-1"),
            "SERVER_NAME": str(server[0]),
            "SERVER_PORT": str(server[1] or 80),
            "SERVER_PROTOCOL": f"HTTP/{scope.get('http_version', '1.1')}",
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": scope.get("scheme", "http"),
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": True,
            "wsgi.run_once": False,
            "CONTENT_LENGTH": str(len(body)),
        }
        for name, value in scope["headers"]:
            key = name.decode("latin-1").upper().replace("-", "_")
            val = value.decode("latin-1")
            if key == "CONTENT_TYPE":
                environ["CONTENT_TYPE"] = val
            elif key != "CONTENT_LENGTH":
                key = f"HTTP_{key}"
                environ[key] = f"{environ[key]},{val}" if key in environ else val
        return environ


class _Uvicorn:
    """uvicorn serving one ASGI app on a unix socket, inside the worker's running event loop
    (its own `run()` would take over signals and the loop)."""

    def __init__(self, app: Any, path: str) -> None:
        import uvicorn

        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        self.config = uvicorn.Config(
            app, uds=path, http="h11", ws="wsproto", lifespan="auto", log_level="warning", access_log=False,
            proxy_headers=False, server_header=False, timeout_keep_alive=UVICORN_KEEP_ALIVE,
            log_config=None,  # no logging setup: errors reach stderr (the app's logs) through logging's default
        )
        self.server = uvicorn.Server(self.config)
        self.task: asyncio.Task | None = None

    async def start(self) -> None:
        self.config.load()
        self.server.lifespan = self.config.lifespan_class(self.config)
        try:
            await self.server.startup()
        except SystemExit:
            raise RuntimeError("the app's lifespan startup failed (see the traceback above)") from None
        self.task = asyncio.get_running_loop().create_task(self.server.main_loop())

    async def stop(self) -> None:
        self.server.should_exit = True
        if self.task is not None:
            await self.task
            await self.server.shutdown()


class _Relay:
    """Forwards each connection on a unix socket to 127.0.0.1:port in this container."""

    def __init__(self, path: str, port: int) -> None:
        self.path, self.port = path, port
        self.server: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        self.server = await asyncio.start_unix_server(self._handle, path=self.path)
        os.chmod(self.path, 0o666)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer), return_exceptions=True)

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        pass
    finally:
        if reader.at_eof():
            with contextlib.suppress(Exception):
                await writer.drain()


async def wait_for_port(port: int, timeout: float) -> None:
    """Return once 127.0.0.1:port accepts a connection; TimeoutError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            _, w = await asyncio.open_connection("127.0.0.1", port)
            w.close()
            return
        except OSError:
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"@modal.web_server({port}): nothing listened on port {port} within {timeout:g}s of the "
                    f"function returning. Start the server in the function (e.g. with subprocess.Popen), "
                    f"listening on 0.0.0.0:{port}, or raise startup_timeout="
                ) from None
            await asyncio.sleep(PORT_POLL)


class WebServers:
    """The web endpoints of one container, started before it reports ready."""

    def __init__(self) -> None:
        self.servers: list[_Uvicorn | _Relay] = []

    async def start(self, definition: api_pb2.FunctionDef, service: Any, in_thread: RunInThread) -> None:
        for index, ep in enumerate(definition.web_endpoints):
            if ep.method_name:
                fn = getattr(service.instance, ep.method_name)
            else:
                fn = service.target("")
            path = socket_path(index)
            if ep.kind == "web_server":
                await _call_factory(fn, in_thread)
                await wait_for_port(ep.port, ep.startup_timeout or 5.0)
                server: _Uvicorn | _Relay = _Relay(path, ep.port)
            elif ep.kind == "fastapi":
                server = _Uvicorn(fastapi_app(fn, ep), path)
            elif ep.kind == "wsgi":
                server = _Uvicorn(WsgiAdapter(await _call_factory(fn, in_thread), in_thread), path)
            elif ep.kind == "asgi":
                app = await _call_factory(fn, in_thread)
                if not callable(app):
                    raise TypeError(f"@modal.asgi_app() function {getattr(fn, '__name__', fn)} must return an "
                                    f"ASGI app, got {type(app).__name__}")
                server = _Uvicorn(app, path)
            else:
                raise ValueError(f"unknown web endpoint kind {ep.kind!r}")
            await server.start()
            self.servers.append(server)

    async def stop(self) -> None:
        for server in self.servers:
            with contextlib.suppress(Exception):
                await server.stop()
