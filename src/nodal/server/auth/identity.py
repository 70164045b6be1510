"""The caller of the RPC being served, set by the auth gate for the handler's task."""

from __future__ import annotations

import contextvars
from dataclasses import dataclass

DEFAULT_WORKSPACE = "default"


@dataclass(frozen=True)
class Identity:
    """Who is calling: the local socket's owner, a user's token, or a container's credential."""

    kind: str  # "owner" | "token" | "container"
    workspace: str = DEFAULT_WORKSPACE
    user: str = "owner"
    admin: bool = False  # manages the workspace's tokens
    token_id: str = ""
    container_id: str = ""  # kind == "container": the container it was minted for
    app_id: str = ""  # kind == "container": the app that container runs

    @property
    def server_admin(self) -> bool:
        """May act across workspaces: mint tokens anywhere, rotate the secret key, read the audit log."""
        return self.admin and self.workspace == DEFAULT_WORKSPACE

    @property
    def actor(self) -> str:
        """How the audit log names this caller (never a secret)."""
        if self.kind == "container":
            return f"container:{self.container_id}"
        if self.kind == "owner":
            return "owner"
        return f"{self.user} ({self.token_id})"


OWNER = Identity(kind="owner", user="owner", admin=True)

_current: contextvars.ContextVar[Identity] = contextvars.ContextVar("nodal_identity", default=OWNER)


def current() -> Identity:
    """The identity of the RPC being served (the owner outside any RPC: internal work)."""
    return _current.get()


def set_current(identity: Identity) -> contextvars.Token:
    return _current.set(identity)
