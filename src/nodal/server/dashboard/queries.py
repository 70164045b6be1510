"""Read models for the dashboard, built straight from the control plane's in-process services.

Every query takes the viewer's workspace and sees only that workspace's objects: an object of
another workspace is reported exactly like one that does not exist (NotFound). Results are plain
dicts and lists, ready for a template or for JSON.
"""

from __future__ import annotations

import io
import json
import pickle
import re
import time
from dataclasses import dataclass
from typing import Any

from nodal.proto import api_pb2
from nodal.server.auth.identity import DEFAULT_WORKSPACE
from nodal.server.auth.scope import env_key, env_name, workspace_of_env
from nodal.server.dashboard.history import STATUS_NAMES, CallHistory, per_minute, percentile
from nodal.server.dashboard.logtail import tail
from nodal.server.errors import ApiError

LIVE = (api_pb2.APP_STATE_EPHEMERAL, api_pb2.APP_STATE_DETACHED)
STATE_NAMES = {
    api_pb2.APP_STATE_EPHEMERAL: "running",
    api_pb2.APP_STATE_DETACHED: "running (detached)",
    api_pb2.APP_STATE_DEPLOYED: "deployed",
    api_pb2.APP_STATE_STOPPED: "stopped",
}
MAX_STOPPED_SHOWN = 100
MAX_LOG_LINES = 2000
PEEK_LIMIT = 50
_ENV_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_OBJECT_ID_RE = re.compile(r"^[a-z]{2}-[0-9a-f]{8,64}$")
_CALL_ID_RE = re.compile(r"^fc-[0-9a-f]{8,64}$")
# modal.call_graph.InputStatus values
GRAPH_STATUS = {0: "pending", 1: "success", 2: "failure", 3: "terminated", 4: "timeout", 5: "init failure"}
_KINDS = {"dict": api_pb2.DATA_OBJECT_KIND_DICT, "queue": api_pb2.DATA_OBJECT_KIND_QUEUE,
          "volume": api_pb2.DATA_OBJECT_KIND_VOLUME}
LOG_STREAMS = ("stdout", "stderr", "system")


class NotFound(Exception):
    """No such object in the viewer's workspace (→ 404)."""


class BadInput(Exception):
    """A malformed parameter (→ 400); the message says what to change."""


@dataclass
class Services:
    """What the dashboard reads (and, for secrets, writes): the server's own service objects."""

    store: Any
    apps: Any  # AppService
    scheduler: Any  # Scheduler
    logs: Any  # LogHub
    volumes: Any  # VolumeService
    blobs: Any  # BlobStore
    secrets: Any  # SecretService
    tokens: Any = None  # TokenService
    gateway: Any = None  # Gateway (endpoint URLs)
    schedules: Any = None  # ScheduleRunner (next run times)
    history: CallHistory | None = None
    calls: Any = None  # CallService (spawned calls' call graphs)
    audit: Any = None  # AuditLog (the dashboard's actions are recorded like the API's)


def _safe_repr(raw: bytes, limit: int = 200) -> str:
    """A readable preview of a pickled value, without ever running pickled code: only plain
    builtin values (str, numbers, bytes, lists, dicts, ...) are decoded; anything that needs a
    class or function is shown as its size."""

    class _NoGlobals(pickle.Unpickler):
        def find_class(self, module: str, name: str):  # noqa: ANN201
            raise pickle.UnpicklingError(f"{module}.{name}")

    try:
        text = repr(_NoGlobals(io.BytesIO(raw)).load())
    except Exception:  # noqa: BLE001 - anything beyond plain values is summarised
        return f"<object, {len(raw)} bytes pickled>"
    return text if len(text) <= limit else text[: limit - 1] + "…"


class Queries:
    def __init__(self, services: Services) -> None:
        self.s = services

    # ---------- environments ----------
    def environments(self, ws: str) -> list[dict]:
        found = {k: v for k, v in self.s.store.list_environments().items() if workspace_of_env(k) == ws}
        if ws == DEFAULT_WORKSPACE:
            found.setdefault("main", 0.0)
        return [{"name": env_name(k), "created_at": v} for k, v in sorted(found.items())]

    def env_key(self, ws: str, name: str | None) -> str:
        name = (name or "main").strip()
        if not _ENV_RE.match(name):
            raise BadInput(f"invalid environment name {name!r}: use letters, digits, '-', '_' or '.'")
        return env_key(ws, name)

    # ---------- apps ----------
    def _app(self, ws: str, app_id: str):
        if not _OBJECT_ID_RE.match(app_id or "") or not app_id.startswith("ap-"):
            raise NotFound(f"app {app_id!r} not found")
        app = self.s.store.get_app(app_id)
        if app is None or workspace_of_env(app.environment) != ws:
            raise NotFound(f"app {app_id!r} not found")
        return app

    def _containers_of(self, app_id: str) -> int:
        return sum(len(p.live_containers()) for p in self._pools() if p.app_id == app_id)

    def _pools(self) -> list:
        sched = self.s.scheduler
        return [*sched.pools.values(), *getattr(sched, "draining", ())]

    def _app_row(self, app) -> dict:
        return {"app_id": app.app_id, "name": app.name or "(unnamed)", "environment": env_name(app.environment),
                "state": STATE_NAMES.get(app.state, "unknown"), "version": app.version,
                "created_at": app.created_at, "stopped_at": app.stopped_at, "tag": app.tag,
                "containers": self._containers_of(app.app_id)}

    def apps(self, ws: str) -> dict[str, list[dict]]:
        """Apps of the workspace: running, deployed, and the most recently stopped."""
        groups: dict[str, list] = {"running": [], "deployed": [], "stopped": []}
        for app in self.s.store.list_apps():
            if workspace_of_env(app.environment) != ws:
                continue
            key = "running" if app.state in LIVE else "deployed" if app.state == api_pb2.APP_STATE_DEPLOYED \
                else "stopped"
            groups[key].append(app)
        out = {}
        for key, rows in groups.items():
            rows.sort(key=lambda a: a.stopped_at if key == "stopped" else a.created_at, reverse=True)
            out[key] = [self._app_row(a) for a in rows[: MAX_STOPPED_SHOWN if key == "stopped" else None]]
        return out

    def app(self, ws: str, app_id: str) -> dict:
        app = self._app(ws, app_id)
        row = self._app_row(app)
        functions = []
        for rec in sorted(self.s.store.list_functions(app.app_id), key=lambda r: r.tag):
            d = api_pb2.FunctionDef.FromString(rec.definition)
            functions.append(self._function_summary(rec, d, live=app.state in (*LIVE, api_pb2.APP_STATE_DEPLOYED)))
        row["functions"] = functions
        if app.name:
            row["versions"] = [
                {"app_id": v.app_id, "version": v.version, "state": STATE_NAMES.get(v.state, "unknown"),
                 "created_at": v.created_at, "tag": v.tag}
                for v in self.s.store.app_versions(app.name, app.environment)
            ] if app.state in (api_pb2.APP_STATE_DEPLOYED, api_pb2.APP_STATE_STOPPED) and app.version else []
        else:
            row["versions"] = []
        return row

    def _endpoints(self, rec, d) -> list[dict]:
        out = []
        gw = self.s.gateway
        for ep in d.web_endpoints:
            url = ""
            if gw is not None:
                route = gw.routes.for_function(rec.function_id, ep.method_name)
                if route is not None:
                    url = gw.url_for(route)
            out.append({"kind": ep.kind, "method": ep.method_name, "url": url,
                        "requires_proxy_auth": ep.requires_proxy_auth})
        return out

    def _schedule(self, rec, d) -> dict | None:
        if not d.schedule_json:
            return None
        try:
            spec = json.loads(d.schedule_json)
        except ValueError:
            spec = d.schedule_json
        entry = self.s.schedules.entries.get(rec.function_id) if self.s.schedules is not None else None
        return {"spec": describe_schedule(spec),
                "next_run": entry.due if entry is not None else None,
                "last_run": entry.last_fire if entry is not None else None}

    def _stats(self, function_id: str) -> dict:
        h = self.s.history.get(function_id) if self.s.history is not None else None
        totals = dict(h.totals) if h is not None else {}
        durations = sorted(r.duration for r in h.recent if r.duration is not None) if h is not None else []
        ok = totals.get("success", 0)
        return {"success": ok, "failures": sum(v for k, v in totals.items() if k != "success"),
                "timeouts": totals.get("timeout", 0), "by_status": totals,
                "p50": percentile(durations, 0.5), "p90": percentile(durations, 0.9),
                "sampled": len(durations)}

    def _function_summary(self, rec, d, live: bool) -> dict:
        pools = [p for p in self._pools() if p.function_id == rec.function_id]
        return {"function_id": rec.function_id, "tag": rec.tag, "is_class": d.is_class,
                "methods": list(d.method_names), "gpu": d.gpu, "endpoints": self._endpoints(rec, d),
                "schedule": self._schedule(rec, d), "live": live,
                "backlog": sum(len(p.pending) for p in pools),
                "containers": sum(len(p.live_containers()) for p in pools),
                "stats": self._stats(rec.function_id)}

    def _function(self, ws: str, function_id: str):
        if not _OBJECT_ID_RE.match(function_id or "") or not function_id.startswith("fu-"):
            raise NotFound(f"function {function_id!r} not found")
        rec = self.s.store.get_function(function_id)
        if rec is None:
            raise NotFound(f"function {function_id!r} not found")
        app = self._app(ws, rec.app_id)  # NotFound for other workspaces' functions too
        return rec, app

    def function(self, ws: str, function_id: str, minutes: int = 30, recent: int = 50) -> dict:
        rec, app = self._function(ws, function_id)
        d = api_pb2.FunctionDef.FromString(rec.definition)
        row = self._function_summary(rec, d, live=app.state in (*LIVE, api_pb2.APP_STATE_DEPLOYED))
        row["app"] = {"app_id": app.app_id, "name": app.name or "(unnamed)", "state": STATE_NAMES.get(app.state)}
        row["config"] = {"timeout": d.timeout or 300.0, "cpu": d.cpu, "memory_mb": d.memory_mb,
                         "min_containers": d.min_containers, "max_containers": d.max_containers,
                         "max_inputs": d.max_inputs, "retries": d.retries.max_retries,
                         "max_concurrent_inputs": d.max_concurrent_inputs}
        h = self.s.history.get(function_id) if self.s.history is not None else None
        row["minutes"] = [
            {"minute": b.minute * 60, "calls": b.calls, "failures": b.failures,
             "mean_latency": (b.latency_sum / b.latency_n) if b.latency_n else None}
            for b in per_minute(h, minutes)
        ]
        rows = list(h.recent)[-recent:][::-1] if h is not None else []
        row["recent"] = [
            {"input_id": r.input_id, "call_id": r.call_id, "container_id": r.container_id, "status": r.status,
             "finished_at": r.finished_at, "duration": r.duration, "exception": r.exception,
             "traceback": r.traceback}
            for r in rows
        ]
        row["container_list"] = [c for c in self.containers(ws) if c["function_id"] == function_id]
        return row

    # ---------- app actions ----------
    def _record(self, action: str, target: str, detail: str = "") -> None:
        if self.s.audit is not None:
            self.s.audit.record(action, target, detail)

    async def stop_app(self, ws: str, app_id: str) -> dict:
        app = self._app(ws, app_id)
        if app.state == api_pb2.APP_STATE_STOPPED:
            raise BadInput(f"app {app.name or app.app_id} is stopped already")
        await self.s.apps.stop(api_pb2.AppStopRequest(app_id=app.app_id))
        self._record("app.stop", app.app_id, "from the dashboard")
        return {"app_id": app.app_id, "state": "stopped"}

    async def rollback_app(self, ws: str, app_id: str, version: int) -> dict:
        """Deploy version `version` of this app's name again, as a new version (as `modal app rollback`)."""
        app = self._app(ws, app_id)
        if not app.name or not app.version:
            raise BadInput("only deployed apps have versions to roll back to")
        if version < 1:
            raise BadInput(f"version must be a positive number, not {version}")
        try:
            resp = await self.s.apps.rollback(api_pb2.AppRollbackRequest(
                name=app.name, environment_name=app.environment, version=version))
        except ApiError as err:
            raise (NotFound if err.kind == "NotFoundError" else BadInput)(err.message) from None
        self._record("app.rollback", f"{env_name(app.environment)}/{app.name}", f"version={version} from the dashboard")
        return {"app_id": resp.app_id, "version": resp.version}

    # ---------- calls ----------
    def call(self, ws: str, call_id: str) -> dict:
        """One call: its inputs (status, duration, error and traceback), its arguments and result
        when they are plain values, and the calls it spawned (the call graph)."""
        if not _CALL_ID_RE.match(call_id or ""):
            raise NotFound(f"call {call_id!r} not found")
        rec = self.s.store.get_call(call_id)
        inputs: list[dict] = []
        if rec is not None:
            function_id = rec.function_id.split("/", 1)[0]
            fn, app = self._function(ws, function_id)
            args = _payload_preview(api_pb2.Input.FromString(rec.input).args)
            created = rec.created_at
            if rec.done and rec.outputs:
                for out in api_pb2.CallGetOutputsResponse.FromString(rec.outputs).outputs:
                    if out.result.gen_item:
                        continue
                    inputs.append({"input_id": out.input_id, "status": STATUS_NAMES.get(out.result.status, "unknown"),
                                   "exception": out.result.exception, "traceback": out.result.traceback,
                                   "result": _payload_preview(out.result.data)
                                   if out.result.status == api_pb2.RESULT_STATUS_SUCCESS else ""})
            state = "done" if rec.done else "pending"
        else:  # a streamed call (.remote/.map): only the dashboard's history saw its inputs
            found = self.s.history.find_call(call_id) if self.s.history is not None else []
            if not found:
                raise NotFound(f"call {call_id!r} not found (streamed calls keep their newest 1,000 inputs per function for 30 days)")
            fn, app = self._function(ws, found[0].function_id)
            args, created, state = "", None, "done"
        seen = {r.input_id: r for r in (self.s.history.find_call(call_id) if self.s.history is not None else [])}
        for row in inputs:
            r = seen.pop(row["input_id"], None)
            row["duration"], row["container_id"] = (r.duration, r.container_id) if r else (None, "")
        for r in seen.values():
            inputs.append({"input_id": r.input_id, "status": r.status, "exception": r.exception,
                           "traceback": r.traceback, "result": "", "duration": r.duration,
                           "container_id": r.container_id})
        graph = []
        if self.s.calls is not None:
            try:
                nodes = self.s.calls.graph(call_id).nodes
            except ApiError:
                nodes = []
            graph = [{"input_id": n.input_id, "call_id": n.call_id, "function": n.function_name,
                      "status": GRAPH_STATUS.get(n.status, "unknown"), "parent_input_id": n.parent_input_id}
                     for n in nodes]
        return {"call_id": call_id, "function_id": fn.function_id, "function": fn.tag, "app_id": app.app_id,
                "app_name": app.name or "(unnamed)", "spawned": rec is not None, "state": state,
                "created_at": created, "args": args, "inputs": inputs, "graph": graph}

    # ---------- containers ----------
    def containers(self, ws: str) -> list[dict]:
        out = []
        now = time.monotonic()
        names: dict[str, Any] = {}
        for pool in self._pools():
            app = names.get(pool.app_id)
            if app is None:
                app = names[pool.app_id] = self.s.store.get_app(pool.app_id)
            if app is None or workspace_of_env(app.environment) != ws:
                continue
            for slot in pool.containers.values():
                out.append({"container_id": slot.container_id, "state": slot.state, "app_id": pool.app_id,
                            "app_name": app.name or "(unnamed)", "function_id": pool.function_id,
                            "function": pool.name, "inflight": len(slot.inflight), "handled": slot.handled,
                            "uptime": max(0.0, now - slot.started_at), "start_reason": slot.start_reason})
        out.sort(key=lambda c: (c["app_name"], c["function"], c["container_id"]))
        return out

    def spares(self) -> list[dict]:
        """The spare containers booted ahead of cold starts (nodal.server.spares): not any
        workspace's, so shown to the owner only."""
        spares = getattr(self.s.scheduler.launcher, "spares", None)
        if spares is None:
            return []
        now = time.monotonic()
        return [{"container_id": sp.container_id, "image_id": sp.image_id, "web": sp.web,
                 "state": "booting" if sp.booting else "ready", "age": max(0.0, now - sp.started_at)}
                for kind in spares.by_image.values() for sp in kind]

    # ---------- logs ----------
    @staticmethod
    def log_filter(stream: str | None, function: str | None, search: str | None, container: str | None = None):
        """A predicate over LogEntry for the given filters (BadInput for an unknown stream)."""
        stream = (stream or "").strip()
        if stream and stream not in LOG_STREAMS:
            raise BadInput(f"stream must be one of {', '.join(LOG_STREAMS)}, not {stream!r}")
        container = (container or "").strip()
        if container and not _OBJECT_ID_RE.match(container):
            raise BadInput(f"container must be a container id (ta-…), not {container[:70]!r}")
        function = (function or "").strip()
        search = (search or "").strip().lower()
        if len(search) > 200 or len(function) > 200:
            raise BadInput("filters must be at most 200 characters")

        def keep(e) -> bool:
            if stream and (e.stream if e.stream in ("stdout", "stderr") else "system") != stream:
                return False
            if function and e.function_name != function:
                return False
            if container and e.container_id != container:
                return False
            return not search or search in e.data.lower()

        return keep

    def logs(self, ws: str, app_id: str, keep, limit: int = 500) -> dict:
        app = self._app(ws, app_id)
        if not 1 <= limit <= MAX_LOG_LINES:
            raise BadInput(f"limit must be between 1 and {MAX_LOG_LINES}")
        entries = tail(self.s.logs.root / f"{app.app_id}.jsonl", app.app_id, keep, limit)
        return {"app_id": app.app_id, "app_name": app.name or "(unnamed)",
                "live": app.state in (*LIVE, api_pb2.APP_STATE_DEPLOYED),
                "functions": sorted({f.tag for f in self.s.store.list_functions(app.app_id)}),
                "entries": [log_row(e) for e in entries]}

    # ---------- volumes, dicts, queues ----------
    def _object(self, ws: str, kind: str, object_id: str):
        if not _OBJECT_ID_RE.match(object_id or ""):
            raise NotFound(f"{kind} {object_id!r} not found")
        obj = self.s.store.get_data_object(object_id)
        if obj is None or obj.kind != _KINDS[kind] or workspace_of_env(obj.environment) != ws:
            raise NotFound(f"{kind} {object_id!r} not found")
        return obj

    def objects(self, ws: str, kind: str) -> list[dict]:
        out = []
        for env in self.environments(ws):
            key = env_key(ws, env["name"])
            for obj in self.s.store.list_data_objects(_KINDS[kind], key):
                row = {"object_id": obj.object_id, "name": obj.name, "environment": env["name"],
                       "created_at": obj.created_at}
                if kind == "dict":
                    row["size"] = self.s.store.dict_len(obj.object_id)
                elif kind == "queue":
                    row["size"] = self.s.store.queue_len(obj.object_id, None)
                    row["partitions"] = self.s.store.queue_partition_count(obj.object_id)
                out.append(row)
        return out

    def volume(self, ws: str, volume_id: str, path: str) -> dict:
        obj = self._object(ws, "volume", volume_id)
        prefix = volume_path(path)
        version, manifest = self.s.volumes.latest(obj.object_id)
        dirs: dict[str, int] = {}
        files = []
        base = prefix + "/" if prefix else ""
        for p, entry in manifest.items():
            if not p.startswith(base):
                continue
            rest = p[len(base):]
            head, sep, _ = rest.partition("/")
            if sep:
                dirs[head] = dirs.get(head, 0) + 1
            else:
                files.append({"name": rest, "path": p, "size": entry[1], "mtime": entry[3]})
        if prefix and not dirs and not files:
            raise NotFound(f"no directory {prefix!r} in volume {obj.name or obj.object_id}")
        return {"object_id": obj.object_id, "name": obj.name or "(unnamed)", "version": version, "path": prefix,
                "parent": prefix.rpartition("/")[0] if prefix else None,
                "dirs": [{"name": n, "path": f"{base}{n}", "files": c} for n, c in sorted(dirs.items())],
                "files": sorted(files, key=lambda f: f["name"])}

    def volume_file(self, ws: str, volume_id: str, path: str) -> tuple[str, bytes]:
        obj = self._object(ws, "volume", volume_id)
        p = volume_path(path)
        _, manifest = self.s.volumes.latest(obj.object_id)
        entry = manifest.get(p)
        if not p or entry is None:
            raise NotFound(f"no file {p!r} in volume {obj.name or obj.object_id}")
        return p.rpartition("/")[2], self.s.blobs.get(entry[0])

    def dict_peek(self, ws: str, dict_id: str) -> dict:
        obj = self._object(ws, "dict", dict_id)
        items = self.s.store.dict_contents(obj.object_id, 0.0)
        return {"object_id": obj.object_id, "name": obj.name, "size": self.s.store.dict_len(obj.object_id),
                "items": [{"key": _safe_repr(k), "value": _safe_repr(v)} for k, v in items[:PEEK_LIMIT]]}

    def queue_peek(self, ws: str, queue_id: str) -> dict:
        obj = self._object(ws, "queue", queue_id)
        items = self.s.store.queue_items_after(obj.object_id, b"", 0, PEEK_LIMIT)
        return {"object_id": obj.object_id, "name": obj.name, "size": self.s.store.queue_len(obj.object_id, None),
                "partitions": self.s.store.queue_partition_count(obj.object_id),
                "items": [{"value": _safe_repr(v)} for _, v in items]}

    # ---------- secrets ----------
    def secrets(self, ws: str, env: str) -> list[dict]:
        key = self.env_key(ws, env)
        return [{"name": s.name, "environment": env_name(s.environment_name), "created_at": s.created_at,
                 "updated_at": s.updated_at} for s in self.s.secrets.list_named(key)]

    def put_secret(self, ws: str, env: str, name: str, values: dict[str, str], overwrite: bool) -> bool:
        """Create (or, with overwrite, replace) a secret; True when it replaced one."""
        req = api_pb2.SecretNamedCreateRequest(name=name, environment_name=self.env_key(ws, env), force=overwrite)
        try:
            for k, v in values.items():
                req.env[k] = v
            return self.s.secrets.create_named(req).overwritten
        except ApiError as err:
            if err.kind == "NotFoundError":
                raise NotFound(err.message) from None
            raise BadInput(err.message) from None
        except ValueError as err:
            raise BadInput(str(err)) from None

    def delete_secret(self, ws: str, env: str, name: str) -> None:
        try:
            self.s.secrets.delete(name, self.env_key(ws, env))
        except ApiError as err:
            raise (NotFound if err.kind == "NotFoundError" else BadInput)(err.message) from None


def _payload_preview(payload) -> str:
    if payload.blob:
        return f"<{payload.blob[:12]}… stored as a blob>"
    return _safe_repr(payload.data, limit=1000) if payload.data else ""


def volume_path(path: str | None) -> str:
    """A volume path as stored (no leading '/', no '.' parts); BadInput for '..' or odd characters."""
    raw = path or ""
    if len(raw) > 4096 or "\x00" in raw or "\\" in raw:
        raise BadInput("invalid volume path")
    parts = [p for p in raw.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise BadInput(f"volume path {raw!r} must not contain '..'")
    return "/".join(parts)


def log_row(e) -> dict:
    return {"t": e.timestamp, "function": e.function_name, "container": e.container_id,
            "stream": e.stream if e.stream in ("stdout", "stderr") else "system", "data": e.data}


def describe_schedule(spec) -> str:
    """A schedule as people write it: `cron: 0 9 * * 1` or `every 6h` (from its stored JSON)."""
    if not isinstance(spec, dict):
        return str(spec)
    if spec.get("type") == "cron" or "cron_string" in spec:
        tz = spec.get("timezone")
        return f"cron: {spec.get('cron_string', '?')}" + (f" ({tz})" if tz and tz != "UTC" else "")
    units = (("years", "y"), ("months", "mo"), ("weeks", "w"), ("days", "d"), ("hours", "h"), ("minutes", "min"),
             ("seconds", "s"))
    parts = [f"{spec[k]:g}{u}" for k, u in units if isinstance(spec.get(k), int | float) and spec.get(k)]
    return "every " + " ".join(parts) if parts else json.dumps(spec)
