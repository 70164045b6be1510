"""Shared fixtures: a real Nodal server on a private NODAL_HOME, started once per session."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).parent
pytest_plugins = ["conftest_images"]
if str(TESTS_DIR) not in sys.path:
    sys.path.insert(0, str(TESTS_DIR))

# One NODAL_HOME for the whole session, set before anything reads it.
_HOME = Path(tempfile.mkdtemp(prefix="nodal-test-home-"))
os.environ["NODAL_HOME"] = str(_HOME)
os.environ.setdefault("NODAL_TEST_CACHE", "/tmp/nodal-test-cache")


@pytest.fixture(scope="session")
def nodal_server():
    """A real server daemon for the session; stopped (and its containers with it) at the end."""
    from nodal.server import daemon

    pid = daemon.start_daemon()
    yield pid
    from modal._utils.async_utils import run_sync
    from modal.client import reset_default_client

    run_sync(reset_default_client())
    daemon.stop_daemon()


@pytest.fixture(scope="session")
def core_app(nodal_server):
    """The core test app, running for the whole session."""
    from apps.core_app import app

    with app.run():
        yield app
