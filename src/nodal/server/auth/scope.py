"""Workspace scoping: each workspace sees only its own objects.

Every named object already lives in an environment. A workspace owns its environments: the
store keys them `<workspace>/<name>` (the default workspace keeps bare names, so stores made
before workspaces existed keep working; `/` is not allowed in environment names).

Requests are scoped by field name, from the proto descriptors, so a new RPC is covered the day
it is added: `environment_name` fields are rewritten to the caller's key, and every field that
names an object by id (`app_id`, `function_id`, `dict_id`, ...) must name one of the caller's
workspace, else the request fails with NotFoundError, as if the object did not exist.
`tests/test_auth_scope.py` fails when a request gains an `*_id` field this module doesn't know.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nodal.proto import api_pb2
from nodal.server.auth.identity import DEFAULT_WORKSPACE, Identity
from nodal.server.errors import ApiError, invalid

# Field name -> the kind of object it names (a key of `Scope.resolvers`).
ID_FIELDS = {
    "app_id": "app",
    "function_id": "function",
    "call_id": "call",
    "call_ids": "call",
    "container_id": "container",
    "sandbox_id": "sandbox",
    "dict_id": "data",
    "queue_id": "data",
    "object_id": "data",
    "volume_id": "data",
    "nfs_id": "data",
    "secret_id": "secret",
    "secret_ids": "secret",
}
# Id fields that name nothing a workspace owns, or are checked by their RPC.
UNSCOPED_ID_FIELDS = {
    "image_id",  # images are a content-addressed build cache shared by all workspaces
    "input_id", "parent_input_id", "after_item_id",  # positions within calls/queues already checked
    "token_id",  # Token* RPCs check it themselves (a server admin may act across workspaces)
}
ENV_FIELDS = ("environment_name",)
# Requests where an empty environment_name means "every environment" (filtered by the RPC).
ALL_ENVS_WHEN_EMPTY = {"AppListRequest"}


def env_key(workspace: str, name: str) -> str:
    """The store's key for environment `name` of `workspace` ("" means "main")."""
    name = name or "main"
    return name if workspace == DEFAULT_WORKSPACE else f"{workspace}/{name}"


def workspace_of_env(key: str) -> str:
    return key.split("/", 1)[0] if "/" in key else DEFAULT_WORKSPACE


def env_name(key: str) -> str:
    """The environment's name as its workspace's users know it."""
    return key.split("/", 1)[1] if "/" in key else key


class _Plan:
    """Where in one message type the scoped fields are (computed once per type)."""

    __slots__ = ("ids", "envs", "nested", "any_envs")

    def __init__(self) -> None:
        self.ids: list[tuple[str, str, bool]] = []  # (field, kind, repeated)
        self.envs: list[str] = []
        self.nested: list[tuple[str, bool]] = []  # (field, repeated) of messages holding scoped fields
        self.any_envs = False  # an environment_name here or in a nested message


_plans: dict[str, _Plan | None] = {}


def plan_for(descriptor: Any) -> _Plan | None:
    """The scoped fields of a message type, or None when it holds none (the common case)."""
    name = descriptor.full_name
    if name in _plans:
        return _plans[name]
    _plans[name] = None  # recursion guard for self-referencing messages
    plan = _Plan()
    for f in descriptor.fields:
        repeated = f.is_repeated
        if f.message_type is not None:
            if f.message_type.GetOptions().map_entry:
                continue
            sub = plan_for(f.message_type)
            if sub is not None or f.message_type.full_name == name:
                plan.nested.append((f.name, repeated))
                plan.any_envs = plan.any_envs or (sub is not None and sub.any_envs)
        elif f.name in ID_FIELDS:
            plan.ids.append((f.name, ID_FIELDS[f.name], repeated))
        elif f.name in ENV_FIELDS:
            plan.envs.append(f.name)
            plan.any_envs = True
    result = plan if (plan.ids or plan.envs or plan.nested) else None
    _plans[name] = result
    return result


class Scope:
    """Checks requests against the caller's workspace and rewrites their environment names."""

    def __init__(self, resolvers: dict[str, Callable[[str], str | None]], container_secrets=None) -> None:
        # kind -> (id -> the owning environment key, or None when no such object exists)
        self.resolvers = resolvers
        self._owner_cache: dict[tuple[str, str], str] = {}
        self.other_workspaces = False  # True once a workspace besides the default exists
        self.container_secrets = container_secrets  # app_id -> secret ids a container may use

    def needed(self, descriptor: Any, who: Identity) -> bool:
        """Whether requests of this type from `who` can need scoping at all (else skip the check)."""
        plan = plan_for(descriptor)
        if plan is None:
            return False
        if who.workspace != DEFAULT_WORKSPACE or who.kind == "container" or self.other_workspaces:
            return True
        return plan.any_envs

    def check(self, msg: Any, who: Identity) -> None:
        """Scope `msg` (a request) in place for `who`; ApiError when it names a foreign object."""
        plan = plan_for(msg.DESCRIPTOR)
        if plan is not None:
            self._walk(msg, plan, who)

    def _walk(self, msg: Any, plan: _Plan, who: Identity) -> None:
        for field in plan.envs:
            value = getattr(msg, field)
            if "/" in value:
                raise invalid(f"invalid environment name {value!r}: '/' is not allowed")
            if who.workspace != DEFAULT_WORKSPACE and (value or msg.DESCRIPTOR.name not in ALL_ENVS_WHEN_EMPTY):
                setattr(msg, field, env_key(who.workspace, value))
        check_ids = who.workspace != DEFAULT_WORKSPACE or self.other_workspaces or who.kind == "container"
        if check_ids:
            for field, kind, repeated in plan.ids:
                values = getattr(msg, field) if repeated else (getattr(msg, field),)
                for value in values:
                    if value:
                        self._check_id(kind, value, who)
        for field, repeated in plan.nested:
            if repeated:
                for item in getattr(msg, field):
                    self._walk(item, plan_for(item.DESCRIPTOR), who)
            elif msg.HasField(field):
                sub = getattr(msg, field)
                self._walk(sub, plan_for(sub.DESCRIPTOR), who)

    def owner(self, kind: str, object_id: str) -> str | None:
        """The environment key owning an object, or None if there is no such object."""
        key = (kind, object_id)
        found = self._owner_cache.get(key)
        if found is None:
            found = self.resolvers[kind](object_id)
            if found is None:
                return None
            if len(self._owner_cache) > 100_000:
                self._owner_cache.clear()
            self._owner_cache[key] = found  # an object never changes owner
        return found

    def _check_id(self, kind: str, object_id: str, who: Identity) -> None:
        if who.kind == "container":
            self._check_container(kind, object_id, who)
        owner = self.owner(kind, object_id)
        if owner is not None and workspace_of_env(owner) != who.workspace:
            raise ApiError("NotFoundError", f"{kind.replace('data', 'object')} {object_id!r} not found")

    def _check_container(self, kind: str, object_id: str, who: Identity) -> None:
        """A container acts for its own app: other containers and other apps' secrets are off limits."""
        if kind == "container" and object_id != who.container_id:
            raise ApiError("AuthError", "a container's credential may only act for its own container")
        if kind == "secret" and self.container_secrets is not None:
            if object_id not in self.container_secrets(who.app_id):
                raise ApiError("AuthError", f"this container's app does not use secret {object_id!r}")

    def unscope_response(self, msg: Any) -> None:
        """Strip the workspace from environment keys in a response (non-default workspaces)."""
        plan = plan_for(msg.DESCRIPTOR)
        if plan is not None:
            self._unscope(msg, plan)

    def _unscope(self, msg: Any, plan: _Plan) -> None:
        for field in plan.envs:
            setattr(msg, field, env_name(getattr(msg, field)))
        for field, repeated in plan.nested:
            if repeated:
                for item in getattr(msg, field):
                    self._unscope(item, plan_for(item.DESCRIPTOR))
            elif msg.HasField(field):
                sub = getattr(msg, field)
                self._unscope(sub, plan_for(sub.DESCRIPTOR))


def request_types() -> list[Any]:
    """Every request message type of the Nodal service (for the completeness test)."""
    svc = api_pb2.DESCRIPTOR.services_by_name["Nodal"]
    return [m.input_type for m in svc.methods]
