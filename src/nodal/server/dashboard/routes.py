"""The dashboard's HTTP routes, served by the web gateway on the control plane's event loop.

Route space: everything lives under the path prefix `/_nodal/` on hosts that are not web
endpoints. Users' endpoints are reached either by a host name (`{label}.localhost`, a custom
domain), where every path belongs to the endpoint, or by the path form `/_web/{label}/…` on the
gateway's bare address. So `/_nodal/…` on a bare address (an IP literal, `localhost`) can never
be an endpoint's URL; and on an endpoint's host the dashboard steps aside: each handler first
checks the Host and hands the request to the gateway when an endpoint owns that host.

Pages are server-rendered (Jinja2, autoescaped) with a little vanilla JavaScript for live
updates; `/_nodal/api/…` serves the same read models as JSON. Every handler validates its
input: unknown ids → 404, malformed parameters → 400, no session → login page / 401.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import urlsplit

import jinja2
from aiohttp import web

from nodal.server.auth import identity as identity_ctx
from nodal.server.auth.tokens import AuthFailure
from nodal.server.dashboard.auth import COOKIE, SESSION_TTL, DashboardAuth, Session, ensure_secret
from nodal.server.dashboard.charts import calls_chart
from nodal.server.dashboard.history import CallHistory, observe
from nodal.server.dashboard.live import Changes, stream_logs, stream_page
from nodal.server.dashboard.queries import LOG_STREAMS, BadInput, NotFound, Queries, Services
from nodal.server.dashboard.resources import UsageSampler, probes

log = logging.getLogger("nodal.dashboard")

PREFIX = "/_nodal"
HERE = Path(__file__).parent
STATIC_TYPES = {".css": "text/css", ".js": "text/javascript", ".svg": "image/svg+xml"}
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                               "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    # The login URL carries the secret: never send a referrer to another origin. ("no-referrer"
    # would also make browsers send `Origin: null` on the dashboard's own form posts, which the
    # same-origin check must refuse.)
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
}
MAX_FORM_BYTES = 256 * 1024
_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")

Handler = Callable[[web.Request, Session], Awaitable[web.StreamResponse]]


def _ago(ts: float | None) -> str:
    if not ts:
        return "—"
    d = time.time() - ts
    if d < 0:
        d = -d
        for unit, n in (("d", 86400), ("h", 3600), ("min", 60)):
            if d >= n:
                return f"in {d / n:.0f} {unit}"
        return f"in {d:.0f} s"
    for unit, n in (("d", 86400), ("h", 3600), ("min", 60)):
        if d >= n:
            return f"{d / n:.0f} {unit} ago"
    return f"{d:.0f} s ago"


def _dur(s: float | None) -> str:
    if s is None:
        return "—"
    if s < 1:
        return f"{s * 1000:.0f} ms"
    if s < 120:
        return f"{s:.2f} s"
    return f"{s / 60:.1f} min"


def _when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts else "—"


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


async def _form(request: web.Request):
    """The request's form fields; BadInput when the body is too large or not a readable form."""
    if (request.content_length or 0) > MAX_FORM_BYTES:
        raise BadInput("form too large")
    try:
        return await request.post()
    except Exception as exc:  # noqa: BLE001 - malformed multipart, bad encoding, ...: the sender's fault
        raise BadInput(f"the form could not be read ({type(exc).__name__})") from None


def _same_origin(request: web.Request) -> bool:
    """False when the browser says the request comes from another origin (Origin header)."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True  # not a browser's cross-site request (those carry Origin on POST)
    return urlsplit(origin).netloc == (request.host or "")


class Dashboard:
    """The dashboard: construct with the server's services, then `add_routes` on the gateway's app."""

    def __init__(self, services: Services, home: Path | None = None) -> None:
        if services.history is None:
            services.history = CallHistory(services.store)
            observe(services.scheduler, services.history)
        self.services = services
        self.queries = Queries(services)
        self.auth = DashboardAuth(services.tokens, ensure_secret(home))
        self.sampler = UsageSampler()
        self.changes = Changes()  # raised whenever an input finishes: live pages render again
        services.scheduler.input_observers.append(lambda pool, pin, result: self.changes.notify())
        self.templates = jinja2.Environment(
            loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True,
            undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
        self.templates.filters.update(ago=_ago, dur=_dur, when=_when, size=_size)
        self._fallback: Callable[[web.Request], Awaitable[web.StreamResponse]] | None = None

    # ---------- mounting ----------
    def owns(self, request: web.Request) -> bool:
        """Whether this request is for the dashboard rather than for a web endpoint's host."""
        gw = self.services.gateway
        return gw is None or gw.routes.for_host(request.host or "") is None

    def add_routes(self, router: web.UrlDispatcher,
                   fallback: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> None:
        """Register the dashboard's routes (before the gateway's catch-all route)."""
        self._fallback = fallback
        p, a = self._page, self._api
        get = [
            ("", self._root), ("/", self._root),
            ("/apps", p(self.apps_page)), ("/apps/{app_id}", p(self.app_page)),
            ("/apps/{app_id}/logs", p(self.logs_page)), ("/functions/{function_id}", p(self.function_page)),
            ("/calls/{call_id}", p(self.call_page)), ("/api/calls/{call_id}", a(self.api_call)),
            ("/containers", p(self.containers_page)), ("/volumes", p(self.volumes_page)),
            ("/volumes/{object_id}", p(self.volume_page)), ("/volumes/{object_id}/download", p(self.download)),
            ("/dicts", p(self.dicts_page)), ("/dicts/{object_id}", p(self.dict_page)),
            ("/queues", p(self.queues_page)), ("/queues/{object_id}", p(self.queue_page)),
            ("/secrets", p(self.secrets_page)), ("/environments", p(self.environments_page)),
            ("/login", self._open(self.login_page)), ("/static/{name}", self._open(self.static)),
            ("/api/apps", a(self.api_apps)), ("/api/apps/{app_id}", a(self.api_app)),
            ("/api/apps/{app_id}/logs", a(self.api_logs)), ("/api/apps/{app_id}/logs/stream", a(self.api_log_stream)),
            ("/api/functions/{function_id}", a(self.api_function)), ("/api/containers", a(self.api_containers)),
            ("/api/volumes", a(self.api_volumes)), ("/api/volumes/{object_id}", a(self.api_volume)),
            ("/api/volumes/{object_id}/download", a(self.download)),
            ("/api/dicts", a(self.api_dicts)), ("/api/dicts/{object_id}", a(self.api_dict)),
            ("/api/queues", a(self.api_queues)), ("/api/queues/{object_id}", a(self.api_queue)),
            ("/api/secrets", a(self.api_secrets)), ("/api/environments", a(self.api_environments)),
            ("/api/session", a(self.api_session)),
        ]
        for path, handler in get:
            router.add_get(PREFIX + path, handler, allow_head=False)
        post = [
            ("/login", self._open(self.login_submit)), ("/logout", p(self.logout, post=True)),
            ("/secrets", p(self.secret_form, post=True)), ("/secrets/delete", p(self.secret_delete_form, post=True)),
            ("/api/secrets", a(self.api_secret_put, post=True)),
            ("/apps/{app_id}/stop", p(self.stop_form, post=True)),
            ("/apps/{app_id}/rollback", p(self.rollback_form, post=True)),
            ("/api/apps/{app_id}/stop", a(self.api_stop, post=True)),
            ("/api/apps/{app_id}/rollback", a(self.api_rollback, post=True)),
            ("/api/secrets/delete", a(self.api_secret_delete, post=True)),
        ]
        for path, handler in post:
            router.add_post(PREFIX + path, handler)

    # ---------- request plumbing ----------
    def _session(self, request: web.Request) -> Session | None:
        return self.auth.session(request.cookies.get(COOKIE))

    async def _root(self, request: web.Request) -> web.StreamResponse:
        if not self.owns(request):
            return await self._fallback(request)
        raise web.HTTPSeeOther(f"{PREFIX}/apps", headers=SECURITY_HEADERS)

    def _open(self, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]):
        """A route that needs no session (login, static files)."""

        async def wrapped(request: web.Request) -> web.StreamResponse:
            if not self.owns(request):
                return await self._fallback(request)
            try:
                resp = await handler(request)
            except BadInput as exc:
                resp = self._html(request, "error.html", {"title": "Bad request", "message": str(exc)}, None, 400)
            except NotFound as exc:
                resp = self._html(request, "error.html", {"title": "Not found", "message": str(exc)}, None, 404)
            except web.HTTPException:
                raise
            except Exception:  # noqa: BLE001 - e.g. a malformed form body; a bug must not take the gateway down
                log.exception("dashboard request %s failed", request.path)
                resp = self._html(request, "error.html", {"title": "Bad request",
                                                          "message": "the request could not be read"}, None, 400)
            resp.headers.update({k: v for k, v in SECURITY_HEADERS.items() if k not in resp.headers})
            return resp

        return wrapped

    def _guard(self, handler: Handler, post: bool, api: bool):
        async def wrapped(request: web.Request) -> web.StreamResponse:
            if not self.owns(request):
                return await self._fallback(request)
            session = self._session(request)
            if session is None:
                if api:
                    return self._json({"error": "not logged in: open the dashboard login URL "
                                                "(`modal server status`) or log in with an API token"}, 401)
                return self._html(request, "login.html", {"title": "Log in", "error": "",
                                                          "next": request.path_qs}, None, 401)
            if post:
                if not _same_origin(request):
                    return self._error(request, session, api, 403, "cross-site request refused")
                presented = request.headers.get("X-CSRF-Token")
                if presented is None and request.content_type == "application/x-www-form-urlencoded":
                    try:
                        presented = (await _form(request)).get("csrf")
                    except BadInput as exc:
                        return self._error(request, session, api, 400, str(exc))
                if not self.auth.csrf_ok(session, presented if isinstance(presented, str) else None):
                    return self._error(request, session, api, 403,
                                       "missing or wrong anti-CSRF token: reload the page and try again")
            token = identity_ctx.set_current(session.identity)  # audit events name the viewer
            try:
                if not post and not api and request.headers.get("Accept", "").startswith("text/event-stream"):
                    return await self._live(request, session, handler)
                resp = await handler(request, session)
            except NotFound as exc:
                return self._error(request, session, api, 404, str(exc))
            except BadInput as exc:
                return self._error(request, session, api, 400, str(exc))
            except web.HTTPException:
                raise
            except Exception:  # noqa: BLE001 - a bug here must not take the gateway down
                log.exception("dashboard request %s failed", request.path)
                return self._error(request, session, api, 500, "internal error (see the server log)")
            finally:
                identity_ctx._current.reset(token)
            if not resp.prepared:
                resp.headers.update({k: v for k, v in SECURITY_HEADERS.items() if k not in resp.headers})
            return resp

        return wrapped

    async def _live(self, request: web.Request, session: Session, handler: Handler) -> web.StreamResponse:
        """The page's live block over SSE (see live.py): the page's own handler, rendering only
        its `live` block; pages without one answer 406."""
        request["live_block"] = True

        async def render() -> str | None:
            try:
                resp = await handler(request, session)
            except NotFound:
                return None
            return resp.text if _is_block(resp) else None

        def _is_block(resp: web.StreamResponse) -> bool:
            return isinstance(resp, web.Response) and resp.status == 200 and resp.content_type == "text/html"

        resp = await handler(request, session)  # NotFound, BadInput: the usual 404, 400
        if not _is_block(resp):
            return self._json({"error": "this page has no live view"}, 406)
        return await stream_page(request, resp.text, render, self.changes,
                                 lambda: self._session(request) is session, SECURITY_HEADERS)

    def _page(self, handler: Handler, post: bool = False):
        return self._guard(handler, post, api=False)

    def _api(self, handler: Handler, post: bool = False):
        return self._guard(handler, post, api=True)

    def _error(self, request: web.Request, session: Session | None, api: bool, status: int,
               message: str) -> web.Response:
        if api:
            return self._json({"error": message}, status)
        title = {400: "Bad request", 403: "Forbidden", 404: "Not found"}.get(status, "Error")
        return self._html(request, "error.html", {"title": title, "message": message}, session, status)

    @staticmethod
    def _json(data, status: int = 200) -> web.Response:
        return web.Response(status=status, text=json.dumps(data, default=str), content_type="application/json",
                            headers=SECURITY_HEADERS)

    def _html(self, request: web.Request, template: str, context: dict, session: Session | None,
              status: int = 200) -> web.Response:
        ctx = {"prefix": PREFIX, "session": session, "csrf": session.csrf if session else "",
               "who": self._who(session), "path": request.path, **context}
        tmpl = self.templates.get_template(template)
        if request.get("live_block") and status == 200:  # only the live block, for the page's SSE stream
            if "live" not in tmpl.blocks:
                return web.Response(status=406, text="", headers=SECURITY_HEADERS)
            return web.Response(text="".join(tmpl.blocks["live"](tmpl.new_context(ctx))),
                                content_type="text/html", headers=SECURITY_HEADERS)
        body = tmpl.render(**ctx)
        return web.Response(status=status, text=body, content_type="text/html", headers=SECURITY_HEADERS)

    @staticmethod
    def _who(session: Session | None) -> str:
        if session is None:
            return ""
        i = session.identity
        return "owner" if i.kind == "owner" else f"{i.user} · {i.workspace}"

    @staticmethod
    def _ws(session: Session) -> str:
        return session.identity.workspace

    @staticmethod
    def _int(request: web.Request, name: str, default: int, lo: int, hi: int) -> int:
        raw = request.query.get(name)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            raise BadInput(f"{name} must be a whole number, not {raw[:40]!r}") from None
        if not lo <= value <= hi:
            raise BadInput(f"{name} must be between {lo} and {hi}")
        return value

    # ---------- login ----------
    def _logged_in(self, request: web.Request, session: Session, target: str = "") -> web.Response:
        target = target if target.startswith(PREFIX + "/") and not target.startswith(PREFIX + "/login") \
            and "//" not in target and "\\" not in target else f"{PREFIX}/apps"
        resp = web.Response(status=303, headers={**SECURITY_HEADERS, "Location": target})
        resp.set_cookie(COOKIE, session.session_id, max_age=int(SESSION_TTL), path=PREFIX + "/",
                        httponly=True, samesite="Strict", secure=request.secure or None)
        return resp

    async def login_page(self, request: web.Request) -> web.StreamResponse:
        token = request.query.get("token")
        if token is not None:
            session = self.auth.login_owner(token)
            if session is None:
                return self._html(request, "login.html", {"title": "Log in", "next": "",
                                                          "error": "That dashboard link is not valid (the "
                                                                   "server's secret changed?): run `modal server "
                                                                   "status` for the current one."}, None, 401)
            return self._logged_in(request, session)
        return self._html(request, "login.html", {"title": "Log in", "error": "",
                                                  "next": request.query.get("next", "")}, self._session(request))

    async def login_submit(self, request: web.Request) -> web.StreamResponse:
        if not _same_origin(request):  # no login CSRF: another site can't log a browser in as someone else
            return self._html(request, "error.html", {"title": "Forbidden", "message": "cross-site request refused"},
                              None, 403)
        if (request.content_length or 0) > MAX_FORM_BYTES:
            raise BadInput("form too large")
        form = await _form(request)
        token_id, secret = str(form.get("token_id", "")), str(form.get("token_secret", ""))
        try:
            session = self.auth.login_token(token_id, secret)
        except AuthFailure as exc:
            return self._html(request, "login.html", {"title": "Log in", "error": str(exc),
                                                      "next": str(form.get("next", ""))}, None, 401)
        return self._logged_in(request, session, str(form.get("next", "")))

    async def logout(self, request: web.Request, session: Session) -> web.StreamResponse:
        self.auth.logout(session.session_id)
        resp = web.Response(status=303, headers={**SECURITY_HEADERS, "Location": f"{PREFIX}/login"})
        resp.del_cookie(COOKIE, path=PREFIX + "/")
        return resp

    async def static(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        path = HERE / "static" / name
        if "/" in name or name.startswith(".") or path.suffix not in STATIC_TYPES or not path.is_file():
            raise NotFound(f"no static file {name!r}")
        headers = {**SECURITY_HEADERS, "Cache-Control": "max-age=300"}
        return web.Response(body=path.read_bytes(), content_type=STATIC_TYPES[path.suffix], headers=headers)

    # ---------- pages ----------
    async def apps_page(self, request: web.Request, session: Session) -> web.StreamResponse:
        return self._html(request, "apps.html", {"title": "Apps", "groups": self.queries.apps(self._ws(session))},
                          session)

    async def app_page(self, request: web.Request, session: Session) -> web.StreamResponse:
        app = self.queries.app(self._ws(session), request.match_info["app_id"])
        return self._html(request, "app.html", {"title": f"App {app['name']}", "app": app}, session)

    async def function_page(self, request: web.Request, session: Session) -> web.StreamResponse:
        minutes = self._int(request, "minutes", 30, 5, 60)
        fn = self.queries.function(self._ws(session), request.match_info["function_id"], minutes=minutes)
        await self.with_usage(fn["container_list"])
        return self._html(request, "function.html", {"title": f"Function {fn['tag']}", "fn": fn,
                                                     "chart": calls_chart(fn["minutes"]), "minutes": minutes},
                          session)

    async def call_page(self, request: web.Request, session: Session) -> web.StreamResponse:
        call = self.queries.call(self._ws(session), request.match_info["call_id"])
        return self._html(request, "call.html", {"title": f"Call {call['call_id']}", "call": call}, session)

    async def api_call(self, request: web.Request, session: Session) -> web.StreamResponse:
        return self._json(self.queries.call(self._ws(session), request.match_info["call_id"]))

    async def with_usage(self, rows: list[dict]) -> list[dict]:
        """Add each container's CPU, memory and GPU figures (`usage`) to container rows, in place.
        The kernel's files are read in a worker thread; the runtime's handles on the event loop."""
        if not rows:
            return rows
        now = time.monotonic()
        found = probes(self.services.scheduler.runtime, [(c["container_id"], now - c["uptime"]) for c in rows])
        usage = await asyncio.to_thread(self.sampler.snapshot, found)
        for c in rows:
            u = usage.get(c["container_id"])
            c["usage"] = u.as_dict() if u is not None else None
        return rows

    async def containers_page(self, request: web.Request, session: Session) -> web.StreamResponse:
        rows = await self.with_usage(self.queries.containers(self._ws(session)))
        spares = self.queries.spares() if session.identity.kind == "owner" else []
        return self._html(request, "containers.html", {"title": "Containers", "containers": rows,
                                                       "spares": spares}, session)

    def _log_filters(self, request: web.Request):
        q = request.query
        return self.queries.log_filter(q.get("stream"), q.get("function"), q.get("q"), q.get("container"))

    async def logs_page(self, request: web.Request, session: Session) -> web.StreamResponse:
        keep = self._log_filters(request)
        limit = self._int(request, "limit", 500, 1, 2000)
        data = self.queries.logs(self._ws(session), request.match_info["app_id"], keep, limit)
        q = request.query
        filters = {"stream": q.get("stream", ""), "function": q.get("function", ""), "q": q.get("q", ""),
                   "container": q.get("container", "")}
        return self._html(request, "logs.html", {"title": f"Logs of {data['app_name']}", "logs": data,
                                                 "filters": filters, "streams": LOG_STREAMS}, session)

    async def volumes_page(self, request: web.Request, session: Session) -> web.StreamResponse:
        return self._html(request, "objects.html", {"title": "Volumes", "kind": "volumes",
                                                    "objects": self.queries.objects(self._ws(session), "volume")},
                          session)

    async def volume_page(self, request: web.Request, session: Session) -> web.StreamResponse:
        vol = self.queries.volume(self._ws(session), request.match_info["object_id"], request.query.get("path", ""))
        return self._html(request, "volume.html", {"title": f"Volume {vol['name']}", "vol": vol}, session)

    async def download(self, request: web.Request, session: Session) -> web.StreamResponse:
        name, data = self.queries.volume_file(self._ws(session), request.match_info["object_id"],
                                              request.query.get("path", ""))
        safe = re.sub(r"[^A-Za-z0-9._-]", "_", name) or "file"
        return web.Response(body=data, content_type="application/octet-stream",
                            headers={**SECURITY_HEADERS, "Content-Disposition": f'attachment; filename="{safe}"'})

    async def dicts_page(self, request: web.Request, session: Session) -> web.StreamResponse:
        return self._html(request, "objects.html", {"title": "Dicts", "kind": "dicts",
                                                    "objects": self.queries.objects(self._ws(session), "dict")},
                          session)

    async def dict_page(self, request: web.Request, session: Session) -> web.StreamResponse:
        obj = self.queries.dict_peek(self._ws(session), request.match_info["object_id"])
        return self._html(request, "peek.html", {"title": f"Dict {obj['name']}", "kind": "dict", "obj": obj},
                          session)

    async def queues_page(self, request: web.Request, session: Session) -> web.StreamResponse:
        return self._html(request, "objects.html", {"title": "Queues", "kind": "queues",
                                                    "objects": self.queries.objects(self._ws(session), "queue")},
                          session)

    async def queue_page(self, request: web.Request, session: Session) -> web.StreamResponse:
        obj = self.queries.queue_peek(self._ws(session), request.match_info["object_id"])
        return self._html(request, "peek.html", {"title": f"Queue {obj['name']}", "kind": "queue", "obj": obj},
                          session)

    async def secrets_page(self, request: web.Request, session: Session) -> web.StreamResponse:
        env = request.query.get("env", "main")
        done = request.query.get("done", "")
        message = f"Secret {done}." if done in ("created", "updated", "deleted") else ""
        rows = self.queries.secrets(self._ws(session), env)
        envs = [e["name"] for e in self.queries.environments(self._ws(session))]
        return self._html(request, "secrets.html", {"title": "Secrets", "secrets": rows, "env": env, "envs": envs,
                                                    "message": message}, session)

    async def environments_page(self, request: web.Request, session: Session) -> web.StreamResponse:
        return self._html(request, "environments.html",
                          {"title": "Environments", "envs": self.queries.environments(self._ws(session))}, session)

    # ---------- secret forms (POST, CSRF-checked) ----------
    @staticmethod
    def parse_values(text: str) -> dict[str, str]:
        """KEY=VALUE lines (blank lines ignored) → a dict; BadInput names the bad line."""
        values: dict[str, str] = {}
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            key, sep, value = line.partition("=")
            if not sep or not key.strip():
                raise BadInput(f"line {n}: write KEY=VALUE")
            values[key.strip()] = value
        if not values:
            raise BadInput("a secret needs at least one KEY=VALUE")
        return values

    @staticmethod
    def _check_secret_name(name: str) -> str:
        if not _NAME_RE.match(name):
            raise BadInput(f"invalid secret name {name[:70]!r}: use 1 to 64 letters, digits, '-', '_' or '.'")
        return name

    async def secret_form(self, request: web.Request, session: Session) -> web.StreamResponse:
        form = await _form(request)
        env = str(form.get("env", "main"))
        name = self._check_secret_name(str(form.get("name", "")).strip())
        replaced = self.queries.put_secret(self._ws(session), env, name, self.parse_values(str(form.get("values", ""))),
                                           overwrite=form.get("overwrite") == "on")
        raise web.HTTPSeeOther(f"{PREFIX}/secrets?env={env}&done={'updated' if replaced else 'created'}",
                               headers=SECURITY_HEADERS)

    async def secret_delete_form(self, request: web.Request, session: Session) -> web.StreamResponse:
        form = await _form(request)
        env = str(form.get("env", "main"))
        self.queries.delete_secret(self._ws(session), env, self._check_secret_name(str(form.get("name", ""))))
        raise web.HTTPSeeOther(f"{PREFIX}/secrets?env={env}&done=deleted", headers=SECURITY_HEADERS)

    # ---------- app actions (POST, CSRF-checked) ----------
    @staticmethod
    def _version(raw) -> int:
        if isinstance(raw, bool) or not isinstance(raw, int | str):
            raise BadInput("version must be a whole number")
        try:
            return int(str(raw).strip().lstrip("v"))
        except ValueError:
            raise BadInput(f"version must be a whole number, not {str(raw)[:40]!r}") from None

    async def stop_form(self, request: web.Request, session: Session) -> web.StreamResponse:
        done = await self.queries.stop_app(self._ws(session), request.match_info["app_id"])
        raise web.HTTPSeeOther(f"{PREFIX}/apps/{done['app_id']}", headers=SECURITY_HEADERS)

    async def rollback_form(self, request: web.Request, session: Session) -> web.StreamResponse:
        form = await _form(request)
        done = await self.queries.rollback_app(self._ws(session), request.match_info["app_id"],
                                               self._version(form.get("version", "")))
        raise web.HTTPSeeOther(f"{PREFIX}/apps/{done['app_id']}", headers=SECURITY_HEADERS)

    async def api_stop(self, request: web.Request, session: Session) -> web.StreamResponse:
        return self._json(await self.queries.stop_app(self._ws(session), request.match_info["app_id"]))

    async def api_rollback(self, request: web.Request, session: Session) -> web.StreamResponse:
        body = await self._body(request)
        done = await self.queries.rollback_app(self._ws(session), request.match_info["app_id"],
                                               self._version(body.get("version")))
        return self._json(done, 201)

    # ---------- JSON API ----------
    async def _body(self, request: web.Request) -> dict:
        if (request.content_length or 0) > MAX_FORM_BYTES:
            raise BadInput("request body too large")
        try:
            body = await request.json()
        except ValueError:
            raise BadInput("the request body must be a JSON object") from None
        if not isinstance(body, dict):
            raise BadInput("the request body must be a JSON object")
        return body

    async def api_session(self, request: web.Request, session: Session) -> web.StreamResponse:
        i = session.identity
        return self._json({"workspace": i.workspace, "user": i.user, "admin": i.admin, "kind": i.kind})

    async def api_apps(self, request: web.Request, session: Session) -> web.StreamResponse:
        return self._json(self.queries.apps(self._ws(session)))

    async def api_app(self, request: web.Request, session: Session) -> web.StreamResponse:
        return self._json(self.queries.app(self._ws(session), request.match_info["app_id"]))

    async def api_function(self, request: web.Request, session: Session) -> web.StreamResponse:
        minutes = self._int(request, "minutes", 30, 5, 60)
        recent = self._int(request, "recent", 50, 1, 1000)
        fn = self.queries.function(self._ws(session), request.match_info["function_id"], minutes=minutes, recent=recent)
        await self.with_usage(fn["container_list"])
        return self._json(fn)

    async def api_containers(self, request: web.Request, session: Session) -> web.StreamResponse:
        return self._json(await self.with_usage(self.queries.containers(self._ws(session))))

    async def api_logs(self, request: web.Request, session: Session) -> web.StreamResponse:
        keep = self._log_filters(request)
        limit = self._int(request, "limit", 500, 1, 2000)
        return self._json(self.queries.logs(self._ws(session), request.match_info["app_id"], keep, limit))

    async def api_log_stream(self, request: web.Request, session: Session) -> web.StreamResponse:
        keep = self._log_filters(request)
        app = self.queries.app(self._ws(session), request.match_info["app_id"])
        raw = request.query.get("since", "")
        try:
            since = float(raw) if raw else time.time()
        except ValueError:
            raise BadInput(f"since must be a unix time in seconds, not {raw[:40]!r}") from None
        if since != since or since < 0:  # NaN or negative
            raise BadInput("since must be a unix time in seconds")
        alive = app["state"] != "stopped"
        return await stream_logs(request, self.services.logs, app["app_id"], alive, since, keep, SECURITY_HEADERS)

    async def api_volumes(self, request: web.Request, session: Session) -> web.StreamResponse:
        return self._json(self.queries.objects(self._ws(session), "volume"))

    async def api_volume(self, request: web.Request, session: Session) -> web.StreamResponse:
        return self._json(self.queries.volume(self._ws(session), request.match_info["object_id"],
                                              request.query.get("path", "")))

    async def api_dicts(self, request: web.Request, session: Session) -> web.StreamResponse:
        return self._json(self.queries.objects(self._ws(session), "dict"))

    async def api_dict(self, request: web.Request, session: Session) -> web.StreamResponse:
        return self._json(self.queries.dict_peek(self._ws(session), request.match_info["object_id"]))

    async def api_queues(self, request: web.Request, session: Session) -> web.StreamResponse:
        return self._json(self.queries.objects(self._ws(session), "queue"))

    async def api_queue(self, request: web.Request, session: Session) -> web.StreamResponse:
        return self._json(self.queries.queue_peek(self._ws(session), request.match_info["object_id"]))

    async def api_environments(self, request: web.Request, session: Session) -> web.StreamResponse:
        return self._json(self.queries.environments(self._ws(session)))

    async def api_secrets(self, request: web.Request, session: Session) -> web.StreamResponse:
        return self._json(self.queries.secrets(self._ws(session), request.query.get("env", "main")))

    async def api_secret_put(self, request: web.Request, session: Session) -> web.StreamResponse:
        body = await self._body(request)
        name = self._check_secret_name(str(body.get("name", "")))
        values = body.get("values")
        if not isinstance(values, dict) or not values or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in values.items()):
            raise BadInput("values must be a non-empty object of string keys and string values")
        env = body.get("env", "main")
        if not isinstance(env, str):
            raise BadInput("env must be a string")
        replaced = self.queries.put_secret(self._ws(session), env, name, values, overwrite=body.get("overwrite") is True)
        return self._json({"name": name, "environment": env, "updated": replaced}, 200 if replaced else 201)

    async def api_secret_delete(self, request: web.Request, session: Session) -> web.StreamResponse:
        body = await self._body(request)
        env = body.get("env", "main")
        if not isinstance(env, str):
            raise BadInput("env must be a string")
        name = self._check_secret_name(str(body.get("name", "")))
        self.queries.delete_secret(self._ws(session), env, name)
        return self._json({"deleted": name, "environment": env})
