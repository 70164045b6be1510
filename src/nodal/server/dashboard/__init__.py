"""The Nodal dashboard: a web UI for apps, calls, containers, logs and storage, served by the
web gateway under `/_nodal/` (see routes.py for why that path can never be a user's endpoint)."""

from nodal.server.dashboard.queries import Services
from nodal.server.dashboard.routes import PREFIX, Dashboard

__all__ = ["PREFIX", "Dashboard", "Services"]
