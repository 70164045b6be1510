"""The gateway's HTTP server: routes each request to a container of the right function.

Built on aiohttp: one well-kept library gives the server (with a C HTTP parser), a
unix-socket client with keep-alive pooling for the containers, and WebSockets on both
sides, all on the control plane's own asyncio loop, so routing and autoscaling state is
read directly, without locks or extra hops.
"""

from __future__ import annotations

import asyncio
import html
import logging
import os
import secrets
import shutil
from pathlib import Path

import aiohttp
from aiohttp import web

from nodal import paths
from nodal.proto import api_pb2
from nodal.server.apps import AppService
from nodal.server.auth.scope import workspace_of_env
from nodal.server.errors import ApiError
from nodal.server.gateway import sockets
from nodal.server.gateway.auth import ProxyTokens
from nodal.server.gateway.dispatch import NoContainer, WebDispatcher
from nodal.server.gateway.proxy import (
    UpstreamPool,
    buffer_response,
    forward_websocket,
    relay_response,
    send_request,
)
from nodal.server.gateway.routes import Route, RouteTable
from nodal.server.scheduler import Scheduler

log = logging.getLogger("nodal.gateway")

DEFAULT_PORT = 8420
REQUEST_WAIT = 150.0  # seconds a request may wait for a container (Modal's request timeout)
REDIRECT_AFTER = 150.0  # seconds before a caller still waiting gets a 303 to wait again (as Modal)
RESULT_PARAM = "__modal_function_call_id"
RESULT_TTL = 600.0  # seconds a long request's result stays fetchable


def gateway_url_path() -> Path:
    """Where the running server writes its gateway's base URL (read by `modal server status`)."""
    return paths.nodal_home() / "gateway.url"


def configured_port() -> int | None:
    """NODAL_GATEWAY_PORT (0 = any free port), or None for the default."""
    raw = os.environ.get("NODAL_GATEWAY_PORT", "").strip()
    if not raw:
        return None
    try:
        port = int(raw)
    except ValueError:
        raise ValueError(f"NODAL_GATEWAY_PORT must be a port number, got {raw!r}") from None
    if not 0 <= port <= 65535:
        raise ValueError(f"NODAL_GATEWAY_PORT must be between 0 and 65535, got {port}")
    return port


def _copy(resp: web.Response) -> web.Response:
    """A fresh response with the same status, headers and body (a response is sent only once)."""
    return web.Response(status=resp.status, reason=resp.reason, body=resp.body, headers=resp.headers.copy())


def _timed_out(pool) -> web.Response:
    return _page(504, "Gateway timeout", f"The endpoint did not answer within its function's timeout "
                 f"({pool.timeout:g}s); raise timeout= on the function.")


def _page(status: int, title: str, message: str) -> web.Response:
    body = (f"<!doctype html><html><head><title>{html.escape(title)}</title></head><body>"
            f"<h1>{html.escape(title)}</h1><p>{html.escape(message)}</p></body></html>\n")
    return web.Response(status=status, text=body, content_type="text/html")


class Gateway:
    def __init__(self, apps: AppService, scheduler: Scheduler, host: str | None = None,
                 port: int | None = None) -> None:
        self.apps = apps
        self.scheduler = scheduler
        self.host = host or os.environ.get("NODAL_GATEWAY_HOST") or "127.0.0.1"
        self.requested_port = port if port is not None else configured_port()
        self.port = 0
        self.routes = RouteTable(apps.store)
        self.dispatcher = WebDispatcher(scheduler)
        self.upstreams = UpstreamPool()
        self.tokens = ProxyTokens()
        self._runner: web.AppRunner | None = None
        self._socket_paths: dict[tuple[str, int], str] = {}
        self._results: dict[str, asyncio.Future] = {}  # long requests' results, by redirect id
        self.redirect_after = float(os.environ.get("NODAL_WEB_REDIRECT_AFTER") or REDIRECT_AFTER)
        self.dashboard = None  # nodal.server.dashboard.Dashboard, mounted under /_nodal/ by start()

    # ---------- lifecycle ----------
    async def start(self) -> None:
        app = web.Application(client_max_size=0)
        if self.dashboard is not None:  # its routes first; it hands endpoint hosts back to handle()
            self.dashboard.add_routes(app.router, fallback=self.handle)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        port = self.requested_port
        try:
            site = web.TCPSite(self._runner, self.host, DEFAULT_PORT if port is None else port)
            await site.start()
        except OSError:
            if port is not None:
                raise
            log.warning("gateway port %d is taken; using a free port (set NODAL_GATEWAY_PORT)", DEFAULT_PORT)
            site = web.TCPSite(self._runner, self.host, 0)
            await site.start()
        self.port = self._runner.addresses[-1][1]  # the one site's (host, port)
        shutil.rmtree(sockets.web_root(), ignore_errors=True)  # left by a server that crashed: no
        sockets.web_root().mkdir(parents=True, exist_ok=True, mode=0o700)  # container outlives its server
        gateway_url_path().write_text(self.base_url + "\n")
        log.info("web gateway listening on %s", self.base_url)

    async def stop(self) -> None:
        gateway_url_path().unlink(missing_ok=True)
        if self._runner is not None:
            await self._runner.cleanup()
        await self.upstreams.close()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def routes_changed(self) -> None:
        self.routes.invalidate()

    def url_for(self, route: Route) -> str:
        return f"http://{route.label}.localhost:{self.port}"

    def web_info(self, req: api_pb2.WebInfoRequest) -> api_pb2.WebInfoResponse:
        self.apps.function_def(req.function_id)  # validates the id
        route = self.routes.for_function(req.function_id, req.method_name)
        if route is None:  # not a web endpoint: no URL
            return api_pb2.WebInfoResponse(gateway_url=self.base_url)
        return api_pb2.WebInfoResponse(url=self.url_for(route), gateway_url=self.base_url)

    async def container_gone(self, container_id: str) -> None:
        """Close the connections to a container that exited and remove its socket directory."""
        d = sockets.container_socket_dir(container_id)
        await self.upstreams.forget_prefix(str(d) + "/")
        shutil.rmtree(d, ignore_errors=True)

    # ---------- requests ----------
    def _resolve(self, request: web.Request) -> tuple[Route, str] | None:
        route = self.routes.for_host(request.host or "")
        if route is not None:
            return route, request.raw_path
        found = self.routes.for_path(request.raw_path)
        return found

    async def handle(self, request: web.Request) -> web.StreamResponse:
        found = self._resolve(request)
        if found is None:
            return _page(404, "Not found", f"No web endpoint is served at {request.host}{request.path}.")
        route, path_qs = found
        if not route.live:
            return _page(410, "App stopped", f"The app {route.app_name or route.app_id!r} serving this "
                         "endpoint has stopped. Run or deploy it again to serve requests.")
        if route.endpoint.requires_proxy_auth and not self._authorized(request, route.function_id):
            return _page(401, "Unauthorized", "This endpoint requires proxy auth: send the Modal-Key and "
                         "Modal-Secret headers of a proxy auth token (`modal proxy-auth create`).")
        if RESULT_PARAM in request.query:
            return await self._result(request)
        try:
            pool = self.apps.pool(route.function_id)
        except ApiError as err:
            return _page(410, "App stopped", err.message)
        try:
            slot = await self.dispatcher.acquire(pool, REQUEST_WAIT)
        except NoContainer as exc:
            return _page(503, "Service unavailable", str(exc))
        handed_off = False
        head: asyncio.Future | None = None
        try:
            socket_path = self._socket_path(slot.container_id, route.index)
            if request.headers.get("Upgrade", "").lower() == "websocket":
                return await forward_websocket(request, self.upstreams.session(socket_path), path_qs)
            head = asyncio.ensure_future(send_request(request, self.upstreams.http(socket_path), path_qs))
            deadline = asyncio.get_running_loop().time() + pool.timeout  # the function's timeout
            done, _ = await asyncio.wait({head}, timeout=min(self.redirect_after, pool.timeout))
            if not done:
                if pool.timeout <= self.redirect_after:
                    return _timed_out(pool)
                # A long request: the caller follows a redirect and waits again (as Modal).
                handed_off = True
                return self._redirect_later(request, head, pool, slot, deadline)
            return await relay_response(request, head.result())
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, ConnectionError) as exc:
            log.warning("web request to %s failed: %r", slot.container_id, exc)
            return _page(502, "Bad gateway", "The endpoint's container closed the connection.")
        finally:
            if not handed_off:
                if head is not None and not head.done():
                    head.cancel()  # the caller went away
                self.dispatcher.release(pool, slot)

    # ---------- requests longer than the redirect limit ----------
    def _redirect_later(self, request: web.Request, head: asyncio.Future, pool, slot,
                        deadline: float) -> web.Response:
        """Finish the request in the background (until the function's timeout); send the caller a
        303 to a URL that waits for it."""
        call_id = f"fc-{secrets.token_hex(16)}"

        async def finish() -> web.Response:
            try:
                remaining = deadline - asyncio.get_running_loop().time()
                return await buffer_response(await asyncio.wait_for(head, max(remaining, 0.0)))
            except TimeoutError:
                return _timed_out(pool)
            except ConnectionError as exc:
                log.warning("web request to %s failed: %r", slot.container_id, exc)
                return _page(502, "Bad gateway", "The endpoint's container closed the connection.")
            finally:
                self.dispatcher.release(pool, slot)
                asyncio.get_running_loop().call_later(RESULT_TTL, self._results.pop, call_id, None)

        self._results[call_id] = asyncio.ensure_future(finish())
        return self._see_other(request, call_id)

    @staticmethod
    def _see_other(request: web.Request, call_id: str) -> web.Response:
        location = str(request.rel_url.update_query({RESULT_PARAM: call_id}))
        return web.Response(status=303, headers={"Location": location},
                            text=f"The request is still running; its result will be at {location}\n")

    async def _result(self, request: web.Request) -> web.Response:
        call_id = request.query[RESULT_PARAM]
        task = self._results.get(call_id)
        if task is None:
            return _page(404, "Not found", f"No pending or recent web request {call_id}.")
        done, _ = await asyncio.wait({task}, timeout=self.redirect_after)  # never cancels the request
        if not done:
            return self._see_other(request, call_id)
        return _copy(task.result())

    def _socket_path(self, container_id: str, index: int) -> str:
        key = (container_id, index)
        path = self._socket_paths.get(key)
        if path is None:
            if len(self._socket_paths) > 10_000:
                self._socket_paths.clear()
            path = self._socket_paths[key] = str(sockets.host_socket_path(container_id, index))
        return path

    def _authorized(self, request: web.Request, function_id: str) -> bool:
        key, secret = request.headers.get("Modal-Key", ""), request.headers.get("Modal-Secret", "")
        if not (key and secret):
            return False
        fn = self.apps.store.get_function(function_id.split("/", 1)[0])
        app = self.apps.store.get_app(fn.app_id) if fn else None
        return app is not None and self.tokens.check(key, secret, workspace_of_env(app.environment))
