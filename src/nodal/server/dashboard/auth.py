"""Who may see the dashboard: the server's owner (by a secret URL) and token holders.

Like Jupyter's token URL: the server keeps a random dashboard secret in
`$NODAL_HOME/dashboard-secret` (0600, readable only by the owner, as the owner's socket is).
`modal server status` prints `…/_nodal/login?token=<secret>`; opening it once gives the browser a
session cookie for the owner (workspace "default", admin). A user of a remote server logs in
with their API token (id + secret), checked with `TokenService.verify`, and sees only their
workspace. Sessions live in memory (a restarted server asks to log in again); their cookie is
HttpOnly and SameSite=Strict, and every state-changing request also carries the session's
anti-CSRF token.
"""

from __future__ import annotations

import hmac
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from nodal import paths
from nodal.server.auth.identity import DEFAULT_WORKSPACE, Identity
from nodal.server.auth.tokens import AuthFailure, TokenService

COOKIE = "nodal_dashboard"
SESSION_TTL = 12 * 3600.0  # seconds
MAX_SESSIONS = 10_000


def secret_path(home: Path | None = None) -> Path:
    return (home or paths.nodal_home()) / "dashboard-secret"


def ensure_secret(home: Path | None = None) -> str:
    """The owner's dashboard secret, created (0600) on first use."""
    path = secret_path(home)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        value = path.read_text().strip()
        if value:
            return value
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
    value = secrets.token_urlsafe(32)
    with os.fdopen(fd, "w") as f:
        f.write(value + "\n")
    return value


def read_secret(home: Path | None = None) -> str | None:
    """The dashboard secret if the server made one (for `modal server status`)."""
    try:
        return secret_path(home).read_text().strip() or None
    except OSError:
        return None


@dataclass
class Session:
    session_id: str
    identity: Identity
    csrf: str
    expires_at: float


class DashboardAuth:
    def __init__(self, tokens: TokenService | None, secret: str) -> None:
        self.tokens = tokens
        self.secret = secret
        self._sessions: dict[str, Session] = {}

    def _new_session(self, identity: Identity) -> Session:
        now = time.time()
        if len(self._sessions) >= MAX_SESSIONS:
            for sid in [s for s, v in self._sessions.items() if v.expires_at < now] or list(self._sessions)[:100]:
                self._sessions.pop(sid, None)
        s = Session(secrets.token_urlsafe(32), identity, secrets.token_urlsafe(24), now + SESSION_TTL)
        self._sessions[s.session_id] = s
        return s

    def login_owner(self, token: str) -> Session | None:
        """A session for the owner when `token` is the dashboard secret."""
        if not token or not hmac.compare_digest(token.encode(), self.secret.encode()):
            return None
        return self._new_session(Identity(kind="owner", workspace=DEFAULT_WORKSPACE, user="owner", admin=True))

    def login_token(self, token_id: str, token_secret: str) -> Session:
        """A session for an API token's holder; AuthFailure (saying why) when it is refused."""
        if self.tokens is None:
            raise AuthFailure("this server does not accept tokens")
        identity = self.tokens.verify(token_id.strip(), token_secret.strip())
        return self._new_session(identity)

    def session(self, session_id: str | None) -> Session | None:
        """The live session a cookie names (expired sessions and revoked tokens end here)."""
        if not session_id:
            return None
        s = self._sessions.get(session_id)
        if s is None:
            return None
        if s.expires_at < time.time() or self._revoked(s.identity):
            self._sessions.pop(session_id, None)
            return None
        return s

    def _revoked(self, identity: Identity) -> bool:
        if identity.kind != "token" or self.tokens is None:
            return False
        rec = self.tokens.get(identity.token_id)
        return rec is None or bool(rec.revoked_at)

    def logout(self, session_id: str) -> None:
        self._sessions.pop(session_id, None)

    @staticmethod
    def csrf_ok(session: Session, presented: str | None) -> bool:
        return bool(presented) and hmac.compare_digest(presented.encode(), session.csrf.encode())
