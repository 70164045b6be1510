"""PostgreSQL tables of identities: workspaces, users, tokens, the audit log, secret owners.

The same rows and answers as backends/sqlite_identity.py, through the store's statement helpers
(a taken token id raises PostgresIntegrityError and, inside `transaction()`, undoes only itself)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nodal.store.identity_records import AuditRecord, TokenRecord

_TOKEN_COLUMNS = "token_id, secret_hash, workspace, user_name, admin, label, created_at, revoked_at, last_used_at"


def _token(row: tuple) -> TokenRecord:
    return TokenRecord(row[0], row[1], row[2], row[3], bool(row[4]), row[5], row[6], row[7], row[8])


class PostgresIdentityTables:
    # statement helpers of PostgresMetadataStore: a write's row count, one row (or None), all rows
    _write: Callable[..., int]
    _one: Callable[..., Any]
    _all: Callable[..., list[tuple]]

    # ---- workspaces and users ----
    def put_workspace(self, name: str, now: float) -> bool:
        """Create a workspace; False if it existed."""
        return self._write("INSERT INTO workspaces VALUES (%s, %s) ON CONFLICT DO NOTHING", (name, now)) == 1

    def list_workspaces(self) -> dict[str, float]:
        return dict(self._all("SELECT name, created_at FROM workspaces ORDER BY name COLLATE \"C\""))

    def put_user(self, workspace: str, name: str, now: float) -> None:
        self._write("INSERT INTO users VALUES (%s, %s, %s) ON CONFLICT DO NOTHING", (workspace, name, now))

    # ---- tokens ----
    def put_token(self, token: TokenRecord) -> None:
        self._write(
            f"INSERT INTO tokens ({_TOKEN_COLUMNS}) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s)",
            (token.token_id, token.secret_hash, token.workspace, token.user, int(token.admin), token.label,
             token.created_at, token.revoked_at, token.last_used_at),
            guard=True,
        )

    def get_token(self, token_id: str) -> TokenRecord | None:
        row = self._one(f"SELECT {_TOKEN_COLUMNS} FROM tokens WHERE token_id = %s", (token_id,))
        return _token(row) if row else None

    def list_tokens(self, workspace: str | None) -> list[TokenRecord]:
        if workspace is None:
            rows = self._all(f"SELECT {_TOKEN_COLUMNS} FROM tokens ORDER BY created_at")
        else:
            rows = self._all(
                f"SELECT {_TOKEN_COLUMNS} FROM tokens WHERE workspace = %s ORDER BY created_at", (workspace,)
            )
        return [_token(r) for r in rows]

    def revoke_token(self, token_id: str, now: float) -> bool:
        """Mark a live token revoked; False if unknown or already revoked."""
        sql = "UPDATE tokens SET revoked_at = %s WHERE token_id = %s AND revoked_at = 0"
        return self._write(sql, (now, token_id)) == 1

    def touch_token(self, token_id: str, now: float) -> None:
        self._write("UPDATE tokens SET last_used_at = %s WHERE token_id = %s", (now, token_id))

    def count_tokens(self) -> int:
        return self._one("SELECT COUNT(*) FROM tokens")[0]

    # ---- audit log ----
    def append_audit(self, ts: float, workspace: str, actor: str, action: str, target: str, detail: str) -> None:
        self._write(
            "INSERT INTO audit_log (ts, workspace, actor, action, target, detail) VALUES (%s,%s,%s,%s,%s,%s)",
            (ts, workspace, actor, action, target, detail),
        )

    def list_audit(self, limit: int, workspace: str | None) -> list[AuditRecord]:
        """The newest `limit` events, oldest first."""
        where, args = ("WHERE workspace = %s", (workspace,)) if workspace is not None else ("", ())
        rows = self._all(
            f"SELECT ts, workspace, actor, action, target, detail FROM audit_log {where}"
            " ORDER BY event_id DESC LIMIT %s", (*args, limit),
        )
        return [AuditRecord(*r) for r in reversed(rows)]

    # ---- which environment owns a secret ----
    def set_secret_owner(self, secret_id: str, environment: str) -> None:
        self._write("UPDATE secrets SET owner_env = %s WHERE secret_id = %s", (environment, secret_id))

    def secret_owner(self, secret_id: str) -> str | None:
        """The environment key that owns a secret ('' = the default workspace), or None if unknown."""
        row = self._one("SELECT owner_env FROM secrets WHERE secret_id = %s", (secret_id,))
        return row[0] if row else None
