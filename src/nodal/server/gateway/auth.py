"""Proxy auth tokens: what `requires_proxy_auth=True` endpoints check.

A request must carry `Modal-Key: {token id}` and `Modal-Secret: {token secret}` of a token
created with `modal proxy-auth create`. Only a hash of each secret is
kept, in `$NODAL_HOME/proxy_tokens.json` (owner-only), so reading that file grants nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import time
from pathlib import Path

from nodal import paths


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class ProxyTokens:
    def __init__(self, path: Path | None = None) -> None:
        self.path = path or paths.nodal_home() / "proxy_tokens.json"
        self._tokens: dict[str, dict] | None = None

    def _load(self) -> dict[str, dict]:
        if self._tokens is None:
            try:
                self._tokens = json.loads(self.path.read_text())
            except FileNotFoundError:
                self._tokens = {}
        return self._tokens

    def create(self, name: str = "", workspace: str = "default") -> tuple[str, str]:
        """A new token of `workspace`: (id, secret). The secret is shown once and never stored."""
        token_id = f"wk-{secrets.token_hex(12)}"
        secret = f"ws-{secrets.token_urlsafe(24)}"
        tokens = self._load()
        tokens[token_id] = {"name": name, "secret_sha256": _hash(secret), "created_at": time.time(),
                            "workspace": workspace}
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(tokens, f)
        os.replace(tmp, self.path)
        return token_id, secret

    def check(self, token_id: str, secret: str, workspace: str = "default") -> bool:
        """Whether the pair is a token of `workspace` (the endpoint's): tokens open only their own."""
        entry = self._load().get(token_id)
        return (entry is not None and entry.get("workspace", "default") == workspace
                and hmac.compare_digest(entry["secret_sha256"], _hash(secret)))
