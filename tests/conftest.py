"""Shared fixtures: a real Nodal server on a private NODAL_HOME, started once per session."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).parent
pytest_plugins = ["conftest_images", "conftest_postgres", "conftest_ray"]
if str(TESTS_DIR) not in sys.path:
    sys.path.insert(0, str(TESTS_DIR))

# One NODAL_HOME for the whole session, set before anything reads it.
_HOME = Path(tempfile.mkdtemp(prefix="nodal-test-home-"))
os.environ["NODAL_HOME"] = str(_HOME)
os.environ.setdefault("NODAL_TEST_CACHE", "/tmp/nodal-test-cache")
# Servers started by the tests stop by themselves if this test process dies.
os.environ["NODAL_EXIT_WITH_PID"] = str(os.getpid())


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


# ---------- lifecycle, failure and scaling tests ----------


def _wait_until(predicate, timeout: float = 30.0, what: str = "the condition", interval: float = 0.05):
    """Poll `predicate` until it returns something truthy (returned) or fail after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(interval)  # the polling interval, not a synchronisation


@pytest.fixture(scope="session")
def wait_until():
    """`wait_until(predicate, timeout=30, what="...")`: poll a condition with a deadline."""
    return _wait_until


class HostContainers:
    """Containers as the host sees them: processes carrying MODAL_TASK_ID in /proc/<pid>/environ."""

    def by_task(self) -> dict[str, list[int]]:
        found: dict[str, list[int]] = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/environ", "rb") as f:
                    env = f.read().split(b"\0")
            except OSError:
                continue
            for var in env:
                if var.startswith(b"MODAL_TASK_ID="):
                    found.setdefault(var.split(b"=", 1)[1].decode(), []).append(int(entry))
        return found

    def pids(self, task_id: str) -> list[int]:
        return self.by_task().get(task_id, [])

    def path(self, pid: int, path: str) -> Path:
        """`path` inside the container of `pid` (its own mounts, private /tmp included)."""
        return Path(f"/proc/{pid}/root") / path.lstrip("/")

    def find_file(self, path: str, timeout: float = 30.0) -> str:
        """The task id of the (first) container in which `path` exists, waiting for it."""

        def look():
            for task_id, pids in self.by_task().items():
                for pid in pids:
                    with contextlib.suppress(OSError):
                        if self.path(pid, path).exists():
                            return task_id
            return None

        return _wait_until(look, timeout, f"{path} to appear in a container")

    def write_file(self, task_id: str, path: str, data: str = "") -> None:
        for pid in self.pids(task_id):
            with contextlib.suppress(OSError):
                self.path(pid, path).write_text(data)
                return
        raise AssertionError(f"container {task_id} has no process to write {path} into")

    def kill(self, task_id: str) -> None:
        pids = self.pids(task_id)
        assert pids, f"container {task_id} has no processes to kill"
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def wait_gone(self, task_id: str, timeout: float = 30.0) -> None:
        _wait_until(lambda: not self.pids(task_id), timeout, f"the processes of container {task_id} to end")


@pytest.fixture(scope="session")
def host_containers(require_containers) -> HostContainers:
    return HostContainers()


class PrivateServer:
    """A server daemon on its own NODAL_HOME, for tests that stop and restart it.

    It never touches the SDK's process-wide client (the session's apps hold it): use
    `client()` for explicit clients, and `python()` to run code in another process."""

    def __init__(self, home: Path, env: dict[str, str] | None = None) -> None:
        self.home = home
        from conftest_postgres import server_store_env  # NODAL_TEST_STORE=postgres: a database of its own

        self.env = {**server_store_env(), **(env or {})}  # the server's extra environment (NODAL_LISTEN, ...)
        self._clients: list = []

    @contextlib.contextmanager
    def _as_home(self):
        saved = {k: os.environ.get(k) for k in ("NODAL_HOME", *self.env)}
        os.environ["NODAL_HOME"] = str(self.home)
        os.environ.update(self.env)
        try:
            yield
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
            os.environ.setdefault("NODAL_HOME", str(_HOME))

    def start(self) -> int:
        from nodal.server import daemon

        with self._as_home():
            return daemon.start_daemon()

    def stop(self) -> None:
        from modal._utils.async_utils import run_sync
        from nodal.server import daemon

        for client in self._clients:
            with contextlib.suppress(Exception):
                run_sync(client._close())
        self._clients.clear()
        with self._as_home():
            daemon.stop_daemon()

    def restart(self) -> int:
        self.stop()
        return self.start()

    def pid(self):
        from nodal.server import daemon

        with self._as_home():
            return daemon.server_pid()

    def client(self):
        """A new client connected to this server (closed when the server stops)."""
        from modal._utils.async_utils import run_sync
        from modal.client import Client

        client = Client(f"unix://{self.home / 'server.sock'}")
        run_sync(client._connect())
        self._clients.append(client)
        return client

    def python(self, code: str, timeout: float = 120.0) -> subprocess.CompletedProcess:
        """Run `code` in a fresh Python process that talks to this server."""
        env = {**os.environ, "NODAL_HOME": str(self.home)}
        env.pop("MODAL_SERVER_URL", None)
        return subprocess.run(
            [sys.executable, "-c", code],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


@pytest.fixture(scope="module")
def private_server(require_containers, tmp_path_factory):
    """A server of its own (own NODAL_HOME) for the module; stopped, with its containers, at the end."""
    server = PrivateServer(tmp_path_factory.mktemp("nodal-private-home"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def host_root_server(tmp_path_factory):
    """A private server for tests whose images are the host's own root filesystem
    (`nodal.ext.host_image`): needs bubblewrap and root, not mmdebstrap or a network."""
    import shutil

    missing = [t for t in ("bwrap", "unshare", "nsenter") if shutil.which(t) is None]
    if missing or os.geteuid() != 0:
        pytest.skip(f"needs root and {', '.join(missing) or 'bwrap, unshare, nsenter'}")
    server = PrivateServer(tmp_path_factory.mktemp("nodal-host-root"))
    server.start()
    yield server
    server.stop()
