"""Which endpoint a request is for: stable host labels for every web endpoint, and the table
that maps a request's Host (or path prefix) back to the function serving it.

URL scheme (as Modal's, with `.localhost:{port}` for `.modal.run`):
  http://{workspace}--{app}-{function}.localhost:{port}       a function's endpoint
  http://{workspace}--{app}-{class}-{method}.localhost:{port} a class method's endpoint
  http://{workspace}--{label}.localhost:{port}                with label=
  ... plus `-dev` at the end of the label for ephemeral apps (`modal run`, `modal serve`),
  and `-{environment}` after the workspace outside the "main" environment.
The path form `http://127.0.0.1:{port}/_web/{host label}/...` reaches the same endpoint for
clients that cannot set Host.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass

from nodal.proto import api_pb2
from nodal.store.metadata import MetadataStore

PATH_PREFIX = "/_web/"
MAX_LABEL = 63  # one DNS label
MAX_STOPPED_APPS = 200  # stopped apps whose endpoints still answer with a "stopped" page
_UNSAFE = re.compile(r"[^a-z0-9-]+")
LIVE_STATES = (api_pb2.APP_STATE_EPHEMERAL, api_pb2.APP_STATE_DETACHED, api_pb2.APP_STATE_DEPLOYED)


def workspace_name() -> str:
    """The workspace part of every URL (NODAL_WORKSPACE, default "nodal")."""
    return _dns(os.environ.get("NODAL_WORKSPACE") or "nodal") or "nodal"


def _dns(text: str) -> str:
    return _UNSAFE.sub("-", text.lower()).strip("-")


def _fit(label: str, reserve: int) -> str:
    """Shorten a label to fit one DNS label (keeping `reserve` characters for a suffix)."""
    room = MAX_LABEL - reserve
    if len(label) <= room:
        return label
    digest = hashlib.sha256(label.encode()).hexdigest()[:6]
    return f"{label[: room - 7].rstrip('-')}-{digest}"


def host_label(
    *, app_name: str, tag: str, endpoint: api_pb2.WebEndpoint, ephemeral: bool, environment: str = "main",
    workspace: str | None = None,
) -> str:
    """The host label (the part before `.localhost`) of one web endpoint."""
    ws = workspace or workspace_name()
    if environment and environment != "main":
        ws = f"{ws}-{_dns(environment)}"
    if endpoint.label:
        name = _dns(endpoint.label)
    else:
        fn = f"{tag[:-2]}-{endpoint.method_name}" if tag.endswith(".*") else tag
        name = f"{_dns(app_name)}-{_dns(fn)}"
    suffix = "-dev" if ephemeral else ""
    return _fit(f"{ws}--{name}", len(suffix)) + suffix


@dataclass(frozen=True)
class Route:
    """One web endpoint as the gateway sees it."""

    label: str
    app_id: str
    app_name: str
    function_id: str
    index: int  # position of the endpoint in its function's definition (names its socket)
    endpoint: api_pb2.WebEndpoint
    live: bool


class RouteTable:
    """Host labels and custom domains → routes, rebuilt from the store when apps change."""

    def __init__(self, store: MetadataStore) -> None:
        self.store = store
        self.by_label: dict[str, Route] = {}
        self.by_domain: dict[str, Route] = {}
        self.by_function: dict[tuple[str, str], Route] = {}
        self.dirty = True

    def invalidate(self) -> None:
        self.dirty = True

    def refresh(self) -> None:
        if not self.dirty:
            return
        self.dirty = False
        by_label: dict[str, Route] = {}
        by_domain: dict[str, Route] = {}
        by_function: dict[tuple[str, str], Route] = {}
        # Oldest first, live last: a live app's endpoint wins its label over a stopped one's. Only
        # the most recent stopped apps keep a "stopped" page (older labels answer 404), so a
        # rebuild stays cheap however many apps the store has seen.
        everything = self.store.list_apps()
        stopped = sorted((a for a in everything if a.state not in LIVE_STATES), key=lambda a: a.created_at)
        live = sorted((a for a in everything if a.state in LIVE_STATES), key=lambda a: a.created_at)
        apps = stopped[-MAX_STOPPED_APPS:] + live
        for app in apps:
            live = app.state in LIVE_STATES
            for f in self.store.list_functions(app.app_id):
                d = api_pb2.FunctionDef.FromString(f.definition)
                for i, ep in enumerate(d.web_endpoints):
                    label = host_label(app_name=app.name or app.app_id, tag=f.tag, endpoint=ep,
                                       ephemeral=app.version == 0,  # run or served, not deployed
                                       environment=app.environment)
                    route = Route(label, app.app_id, app.name, f.function_id, i, ep, live)
                    by_label[label] = route
                    by_function[(f.function_id, ep.method_name)] = route
                    for domain in ep.custom_domains:
                        by_domain[domain.lower().rstrip(".")] = route
        self.by_label, self.by_domain, self.by_function = by_label, by_domain, by_function

    def for_host(self, host: str) -> Route | None:
        """The route for a Host header (`label.localhost[:port]` or a custom domain)."""
        self.refresh()
        name = host.rsplit(":", 1)[0] if not host.startswith("[") else host
        name = name.lower().rstrip(".")
        if name.endswith(".localhost"):
            return self.by_label.get(name[: -len(".localhost")])
        return self.by_domain.get(name)

    def for_path(self, path: str) -> tuple[Route, str] | None:
        """The route and the remaining path for the path form `/_web/{label}/rest`."""
        if not path.startswith(PATH_PREFIX):
            return None
        self.refresh()
        label, _, rest = path[len(PATH_PREFIX):].partition("/")
        route = self.by_label.get(label.lower())
        return (route, "/" + rest) if route is not None else None

    def for_function(self, function_id: str, method_name: str = "") -> Route | None:
        self.refresh()
        return self.by_function.get((function_id, method_name))
