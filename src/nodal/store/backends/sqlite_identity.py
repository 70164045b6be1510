"""SQLite tables of identities: workspaces, users, tokens, the audit log, secret owners."""

from __future__ import annotations

import sqlite3

from nodal.store.identity_records import AuditRecord, TokenRecord

_TOKEN_COLUMNS = "token_id, secret_hash, workspace, user_name, admin, label, created_at, revoked_at, last_used_at"


def _token(row: tuple) -> TokenRecord:
    return TokenRecord(row[0], row[1], row[2], row[3], bool(row[4]), row[5], row[6], row[7], row[8])


class SqliteIdentityTables:
    db: sqlite3.Connection

    # ---- workspaces and users ----
    def put_workspace(self, name: str, now: float) -> bool:
        """Create a workspace; False if it existed."""
        return self.db.execute("INSERT OR IGNORE INTO workspaces VALUES (?, ?)", (name, now)).rowcount == 1

    def list_workspaces(self) -> dict[str, float]:
        return dict(self.db.execute("SELECT name, created_at FROM workspaces ORDER BY name").fetchall())

    def put_user(self, workspace: str, name: str, now: float) -> None:
        self.db.execute("INSERT OR IGNORE INTO users VALUES (?, ?, ?)", (workspace, name, now))

    # ---- tokens ----
    def put_token(self, token: TokenRecord) -> None:
        self.db.execute(
            f"INSERT INTO tokens ({_TOKEN_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?)",
            (token.token_id, token.secret_hash, token.workspace, token.user, int(token.admin), token.label,
             token.created_at, token.revoked_at, token.last_used_at),
        )

    def get_token(self, token_id: str) -> TokenRecord | None:
        row = self.db.execute(f"SELECT {_TOKEN_COLUMNS} FROM tokens WHERE token_id = ?", (token_id,)).fetchone()
        return _token(row) if row else None

    def list_tokens(self, workspace: str | None) -> list[TokenRecord]:
        if workspace is None:
            rows = self.db.execute(f"SELECT {_TOKEN_COLUMNS} FROM tokens ORDER BY created_at").fetchall()
        else:
            rows = self.db.execute(
                f"SELECT {_TOKEN_COLUMNS} FROM tokens WHERE workspace = ? ORDER BY created_at", (workspace,)
            ).fetchall()
        return [_token(r) for r in rows]

    def revoke_token(self, token_id: str, now: float) -> bool:
        """Mark a live token revoked; False if unknown or already revoked."""
        sql = "UPDATE tokens SET revoked_at = ? WHERE token_id = ? AND revoked_at = 0"
        return self.db.execute(sql, (now, token_id)).rowcount == 1

    def touch_token(self, token_id: str, now: float) -> None:
        self.db.execute("UPDATE tokens SET last_used_at = ? WHERE token_id = ?", (now, token_id))

    def count_tokens(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM tokens").fetchone()[0]

    # ---- audit log ----
    def append_audit(self, ts: float, workspace: str, actor: str, action: str, target: str, detail: str) -> None:
        self.db.execute(
            "INSERT INTO audit_log (ts, workspace, actor, action, target, detail) VALUES (?,?,?,?,?,?)",
            (ts, workspace, actor, action, target, detail),
        )

    def list_audit(self, limit: int, workspace: str | None) -> list[AuditRecord]:
        """The newest `limit` events, oldest first."""
        where, args = ("WHERE workspace = ?", (workspace,)) if workspace is not None else ("", ())
        rows = self.db.execute(
            f"SELECT ts, workspace, actor, action, target, detail FROM audit_log {where}"
            " ORDER BY event_id DESC LIMIT ?", (*args, limit),
        ).fetchall()
        return [AuditRecord(*r) for r in reversed(rows)]

    # ---- which environment owns a secret ----
    def set_secret_owner(self, secret_id: str, environment: str) -> None:
        self.db.execute("UPDATE secrets SET owner_env = ? WHERE secret_id = ?", (environment, secret_id))

    def secret_owner(self, secret_id: str) -> str | None:
        """The environment key that owns a secret ('' = the default workspace), or None if unknown."""
        row = self.db.execute("SELECT owner_env FROM secrets WHERE secret_id = ?", (secret_id,)).fetchone()
        return row[0] if row else None
