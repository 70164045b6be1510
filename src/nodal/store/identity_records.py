"""Records of the identity tables: workspaces, tokens and audit events."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class TokenRecord:
    token_id: str
    secret_hash: str  # hex SHA-256 of the secret: the secret itself is never stored
    workspace: str
    user: str
    admin: bool
    label: str
    created_at: float
    revoked_at: float = 0.0
    last_used_at: float = 0.0


@dataclass
class AuditRecord:
    ts: float
    workspace: str
    actor: str
    action: str
    target: str
    detail: str
