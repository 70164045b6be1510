"""The identity RPCs: tokens, workspaces, who am I, and the audit log (a servicer mixin)."""

from __future__ import annotations

import re

from nodal.proto import api_pb2
from nodal.server.auth import identity
from nodal.server.auth.identity import DEFAULT_WORKSPACE
from nodal.server.errors import ApiError, invalid, not_found
from nodal.server.rpc import _rpc

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
MAX_AUDIT = 10_000


def _check_name(what: str, name: str) -> None:
    if not _NAME.match(name):
        raise invalid(f"invalid {what} name {name!r}: use letters, digits, '-', '_' and '.' (max 64)")


def _info(rec) -> api_pb2.TokenInfo:
    return api_pb2.TokenInfo(
        token_id=rec.token_id, workspace=rec.workspace, user=rec.user, admin=rec.admin, label=rec.label,
        created_at=rec.created_at, revoked_at=rec.revoked_at, last_used_at=rec.last_used_at,
    )


class IdentityRpcs:
    """Mixed into NodalServicer; `self.tokens`, `self.audit` and `self.scope` are set by main."""

    @_rpc
    async def WhoAmI(self, request, context):
        who = identity.current()
        return api_pb2.WhoAmIResponse(
            workspace=who.workspace, user=who.user, admin=who.admin, token_id=who.token_id, kind=who.kind,
            server_admin=who.server_admin,
        )

    @_rpc
    async def TokenCreate(self, request, context):
        who = identity.current()
        workspace = request.workspace or who.workspace
        user = request.user or who.user
        _check_name("workspace", workspace)
        _check_name("user", user)
        if len(request.label) > 200:
            raise invalid("a token label is at most 200 characters")
        if workspace != who.workspace and not who.server_admin:
            raise ApiError("AuthError", "only a server admin (an admin token of the default workspace, or the "
                           "server's owner) creates tokens in other workspaces")
        if (user != who.user or request.admin) and not who.admin:
            raise ApiError("AuthError", "only a workspace admin creates tokens for other users or admin tokens")
        new_workspace = workspace not in self.tokens.store.list_workspaces()
        rec, secret = self.tokens.mint(workspace, user, request.admin, request.label)
        if new_workspace and workspace != DEFAULT_WORKSPACE:
            self.scope.other_workspaces = True
            self.audit.record("workspace.create", workspace, workspace=workspace)
        self.audit.record("token.create", rec.token_id, f"user={user} admin={request.admin}", workspace=workspace)
        return api_pb2.TokenCreateResponse(
            token_id=rec.token_id, token_secret=secret, workspace=workspace, user=user, admin=request.admin)

    @_rpc
    async def TokenList(self, request, context):
        who = identity.current()
        if request.all_workspaces and not who.server_admin:
            raise ApiError("AuthError", "listing every workspace's tokens needs a server admin")
        records = self.tokens.store.list_tokens(None if request.all_workspaces else who.workspace)
        if not who.admin:
            records = [r for r in records if r.user == who.user]  # members see their own tokens
        if not request.include_revoked:
            records = [r for r in records if not r.revoked_at]
        return api_pb2.TokenListResponse(tokens=[_info(r) for r in records])

    @_rpc
    async def TokenRevoke(self, request, context):
        who = identity.current()
        rec = self.tokens.get(request.token_id) if request.token_id else None
        visible = rec is not None and (who.server_admin or rec.workspace == who.workspace)
        if not visible:
            raise not_found(f"token {request.token_id!r} not found (see `modal token list`)")
        if not who.admin and rec.user != who.user:
            raise ApiError("AuthError", "only a workspace admin revokes other users' tokens")
        if not self.tokens.revoke(rec.token_id):
            raise invalid(f"token {rec.token_id!r} is already revoked")
        self.audit.record("token.revoke", rec.token_id, f"user={rec.user}", workspace=rec.workspace)
        return api_pb2.Empty()

    @_rpc
    async def WorkspaceList(self, request, context):
        who = identity.current()
        tokens = self.tokens.store.list_tokens(None)
        spaces = self.tokens.store.list_workspaces()
        spaces.setdefault(DEFAULT_WORKSPACE, 0.0)
        return api_pb2.WorkspaceListResponse(workspaces=[
            api_pb2.WorkspaceInfo(name=name, created_at=created,
                                  tokens=sum(1 for t in tokens if t.workspace == name and not t.revoked_at))
            for name, created in sorted(spaces.items()) if who.server_admin or name == who.workspace
        ])

    @_rpc
    async def AuditList(self, request, context):
        who = identity.current()
        if not who.admin:
            raise ApiError("AuthError", "the audit log is for workspace admins")
        if request.limit < 0:
            raise invalid("limit must not be negative")
        limit = min(request.limit or 100, MAX_AUDIT)
        if request.workspace and request.workspace != who.workspace and not who.server_admin:
            raise ApiError("AuthError", "another workspace's audit log needs a server admin")
        workspace = request.workspace or (None if who.server_admin else who.workspace)
        return api_pb2.AuditListResponse(events=[
            api_pb2.AuditEvent(ts=e.ts, workspace=e.workspace, actor=e.actor, action=e.action, target=e.target,
                               detail=e.detail)
            for e in self.audit.recent(limit, workspace)
        ])
