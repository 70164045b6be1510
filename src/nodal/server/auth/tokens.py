"""User tokens: minted with a random secret shown once, stored as its SHA-256, verified per call.

The secrets are 192 random bits, so a plain SHA-256 suffices (no slow password hash: nothing
to brute-force), and verification stays in the microseconds a per-call check needs. Records
are cached in memory; revocation updates the cache at once.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

from nodal.server.auth.identity import Identity
from nodal.store.identity_records import TokenRecord

TOKEN_ID_PREFIX = "ak-"
TOKEN_SECRET_PREFIX = "as-"
TOUCH_INTERVAL = 60.0  # last_used_at is written at most this often per token


class AuthFailure(Exception):
    """Credentials were missing or refused; the message says how to fix it."""


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class TokenService:
    def __init__(self, store) -> None:
        self.store = store
        self._cache: dict[str, TokenRecord] = {}
        self._touched: dict[str, float] = {}
        self._verified: dict[str, tuple[str, Identity]] = {}  # token id -> (its secret, identity)

    def mint(self, workspace: str, user: str, admin: bool, label: str = "") -> tuple[TokenRecord, str]:
        """A new token; returns its record and the secret (never stored, shown once)."""
        now = time.time()
        token_id = TOKEN_ID_PREFIX + secrets.token_hex(12)
        secret = TOKEN_SECRET_PREFIX + secrets.token_hex(24)
        rec = TokenRecord(token_id, hash_secret(secret), workspace, user, admin, label, now)
        with self.store.transaction():
            self.store.put_workspace(workspace, now)
            self.store.put_user(workspace, user, now)
            self.store.put_token(rec)
        self._cache[token_id] = rec
        return rec, secret

    def get(self, token_id: str) -> TokenRecord | None:
        rec = self._cache.get(token_id)
        if rec is None:
            rec = self.store.get_token(token_id)
            if rec is not None:
                self._cache[token_id] = rec
        return rec

    def verify(self, token_id: str, secret: str) -> Identity:
        """The identity a token stands for; AuthFailure saying what is wrong otherwise."""
        known = self._verified.get(token_id)
        if known is not None and hmac.compare_digest(known[0], secret):
            self._touch(token_id)
            return known[1]
        if not token_id or not secret:
            raise AuthFailure(
                "this server needs a token: run `modal token set --token-id ak-... --token-secret as-...` "
                "(or set MODAL_TOKEN_ID and MODAL_TOKEN_SECRET); a server admin creates one with `modal token new`"
            )
        rec = self.get(token_id) if token_id.startswith(TOKEN_ID_PREFIX) and len(token_id) < 64 else None
        if rec is None or not hmac.compare_digest(rec.secret_hash, hash_secret(secret)):
            raise AuthFailure(
                f"token {token_id[:40]!r} is not valid on this server (unknown id or wrong secret): check "
                "MODAL_TOKEN_ID/MODAL_TOKEN_SECRET or your profile (`modal config show`), or ask an admin "
                "for a new token"
            )
        if rec.revoked_at:
            raise AuthFailure(
                f"token {token_id!r} was revoked: ask a workspace admin for a new one (`modal token new`) "
                "and save it with `modal token set`"
            )
        self._touch(token_id)
        who = Identity(kind="token", workspace=rec.workspace, user=rec.user, admin=rec.admin, token_id=token_id)
        if len(self._verified) > 100_000:
            self._verified.clear()
        self._verified[token_id] = (secret, who)
        return who

    def _touch(self, token_id: str) -> None:
        now = time.time()
        if now - self._touched.get(token_id, 0.0) > TOUCH_INTERVAL:
            self._touched[token_id] = now
            self.store.touch_token(token_id, now)

    def revoke(self, token_id: str) -> bool:
        done = self.store.revoke_token(token_id, time.time())
        self._cache.pop(token_id, None)
        self._verified.pop(token_id, None)
        return done
