"""The audit log: administrative actions (tokens, secrets, deployments), who did them and when.

Kept in the metadata store so it survives restarts and is shared by every server of a cluster.
Details never hold secret values: callers pass names and ids only.
"""

from __future__ import annotations

import logging
import time

from nodal.server.auth import identity

log = logging.getLogger("nodal.audit")


class AuditLog:
    def __init__(self, store) -> None:
        self.store = store

    def record(self, action: str, target: str, detail: str = "", *, workspace: str | None = None) -> None:
        """Append one event by the current caller. `action` is dotted, e.g. "token.create"."""
        who = identity.current()
        ws = workspace if workspace is not None else who.workspace
        try:
            self.store.append_audit(time.time(), ws, who.actor, action, target, detail)
        except Exception:  # an audit write failing must not fail the action it records
            log.exception("could not record audit event %s %s", action, target)
        log.info("audit: %s %s by %s in %s", action, target, who.actor, ws)

    def recent(self, limit: int, workspace: str | None) -> list:
        return self.store.list_audit(limit, workspace)
