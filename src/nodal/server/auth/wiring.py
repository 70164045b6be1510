"""Connects the auth layer to the control plane's services: who owns what, which container is who."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

from nodal import paths
from nodal.proto import api_pb2
from nodal.server.auth.identity import DEFAULT_WORKSPACE, Identity
from nodal.server.auth.scope import workspace_of_env
from nodal.server.auth.tokens import TokenService

log = logging.getLogger("nodal.auth")


def owner_resolvers(
    store, calls, scheduler, owner: Callable[[str, str], str | None]
) -> dict[str, Callable[[str], str | None]]:
    """For each kind of id, how to find the environment key that owns an object (None: no such
    object). `owner(kind, id)` is the cached lookup, used for the objects an object belongs to
    (a call's function, a function's app), so the hot path asks the store once per function."""

    def app(app_id: str) -> str | None:
        rec = store.get_app(app_id)
        return rec.environment if rec else None

    def function(function_id: str) -> str | None:
        rec = store.get_function(function_id.split("/", 1)[0])
        return owner("app", rec.app_id) if rec else None

    def call(call_id: str) -> str | None:
        live = calls.calls.get(call_id)
        if live is not None:
            return owner("function", live.pool_key.split("/", 1)[0])
        rec = store.get_call(call_id)
        return owner("function", rec.function_id.split("/", 1)[0]) if rec else None

    def sandbox(sandbox_id: str) -> str | None:
        raw = store.get_sandbox(sandbox_id)
        return owner("app", api_pb2.SandboxInfo.FromString(raw).app_id) if raw else None

    def container(container_id: str) -> str | None:
        found = scheduler.slots.get(container_id)
        return owner("app", found[0].app_id) if found else sandbox(container_id)

    def data(object_id: str) -> str | None:
        rec = store.get_data_object(object_id)
        return rec.environment if rec else None

    def secret(secret_id: str) -> str | None:
        owner = store.secret_owner(secret_id)
        return None if owner is None else (owner or "main")

    return {"app": app, "function": function, "call": call, "sandbox": sandbox, "container": container,
            "data": data, "secret": secret}


def container_identities(scheduler, store) -> Callable[[str, str], Identity | None]:
    """(container id, token) -> the container's identity while it runs, else None."""
    cache: dict[str, tuple[str, Identity]] = {}

    def identify(container_id: str, token: str) -> Identity | None:
        found = scheduler.worker_attached(container_id, token)
        if found is None:
            cache.pop(container_id, None)
            spares = getattr(scheduler.launcher, "spares", None)  # nodal.server.spares
            if spares is not None and spares.identify(container_id, token) is not None:
                # A spare, not yet any app's: it may only open its WorkerStream and wait.
                return Identity(kind="container", workspace=DEFAULT_WORKSPACE, user="spare",
                                container_id=container_id, app_id="")
            return None
        cached = cache.get(container_id)
        if cached is not None and cached[0] == token:
            return cached[1]
        pool = found[0]
        app = store.get_app(pool.app_id)
        workspace = workspace_of_env(app.environment) if app else DEFAULT_WORKSPACE
        who = Identity(kind="container", workspace=workspace, user="container", container_id=container_id,
                       app_id=pool.app_id)
        if len(cache) > 10_000:
            cache.clear()
        cache[container_id] = (token, who)
        return who

    return identify


def container_secret_ids(store, created: dict[str, set[str]]) -> Callable[[str], set[str]]:
    """app id -> the secrets its containers may name: those its functions use, and those they made."""
    by_app: dict[str, set[str]] = {}

    def secret_ids(app_id: str) -> set[str]:
        ids = by_app.get(app_id)
        if ids is None:
            ids = set()
            for rec in store.list_functions(app_id):
                d = api_pb2.FunctionDef.FromString(rec.definition)
                ids.update(d.secret_ids)
                ids.update(m.secret_id for m in d.bucket_mounts if m.secret_id)
            by_app[app_id] = ids
        return ids | created.get(app_id, set())

    return secret_ids


def ensure_initial_token(tokens: TokenService) -> None:
    """On the first start, mint the first admin token and leave it for `modal server start` to show once."""
    if tokens.store.count_tokens():
        return
    rec, secret = tokens.mint(DEFAULT_WORKSPACE, "admin", admin=True, label="initial admin token")
    path = paths.initial_token_path()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(f'token_id = "{rec.token_id}"\ntoken_secret = "{secret}"\n')
    log.info("created the first admin token %s (its secret is in %s, shown once by `modal server start`)",
             rec.token_id, path)
