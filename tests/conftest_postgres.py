"""A real PostgreSQL server for the tests, and metadata stores on both backends.

`postgres_server` (session) runs Debian's PostgreSQL from a fresh initdb in a temporary
directory: loopback TCP only, at a free port, with its unix socket and log in that directory,
stopped at the end. As root it runs as the `postgres` system user (PostgreSQL refuses root).
`postgres_url` gives each test a database of its own; `metadata_store` is parametrized over
"sqlite" and "postgres", so a test written against it runs on both.

With NODAL_TEST_STORE=postgres the whole suite runs against PostgreSQL: the server starts
before the tests, the session's Nodal server gets a database, and `server_store_env()` gives
each private server one of its own.
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

PG_USER = "nodal"
PG_PASSWORD = "nodal-test-password"
_START_TIMEOUT = 60


def postgres_binary(name: str) -> str | None:
    """A PostgreSQL server program: on PATH, or Debian's /usr/lib/postgresql/<version>/bin."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
                        key=lambda p: [int(x) for x in Path(p).parts[-3].split(".") if x.isdigit()])
    return candidates[-1] if candidates else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    """One running PostgreSQL server on 127.0.0.1:`port`, superuser `nodal` (password auth on TCP)."""

    def __init__(self, root: Path, port: int, run_as: list[str]) -> None:
        self.root = root
        self.data = root / "data"
        self.sockets = root / "sockets"
        self.log = root / "postgres.log"
        self.port = port
        self.host = "127.0.0.1"
        self._run_as = run_as
        self._names = itertools.count(1)

    def url(self, database: str = "postgres", password: str | None = PG_PASSWORD) -> str:
        auth = f"{PG_USER}:{password}" if password is not None else PG_USER
        return f"postgresql://{auth}@{self.host}:{self.port}/{database}"

    def run(self, *argv: str, timeout: float = _START_TIMEOUT) -> subprocess.CompletedProcess:
        """Run a PostgreSQL program as the server's owner; output kept for the failure message."""
        return subprocess.run([*self._run_as, *argv], cwd=self.root, capture_output=True, text=True,
                              timeout=timeout, check=False, stdin=subprocess.DEVNULL)

    def start(self) -> None:
        initdb, pg_ctl = postgres_binary("initdb"), postgres_binary("pg_ctl")
        pwfile = self.root / "pwfile"
        pwfile.write_text(PG_PASSWORD + "\n")
        self._own(pwfile)
        done = self.run(initdb, "-D", str(self.data), "-U", PG_USER, f"--pwfile={pwfile}", "-E", "UTF8",
                        "--locale=C", "--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync")
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed:\n{done.stdout}\n{done.stderr}")
        options = (f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.sockets}"
                   " -c fsync=off -c full_page_writes=off -c max_connections=50")
        done = self.run(pg_ctl, "start", "-D", str(self.data), "-l", str(self.log), "-w",
                        "-t", str(_START_TIMEOUT), "-o", options)
        if done.returncode != 0:
            raise RuntimeError(f"pg_ctl start failed:\n{done.stdout}\n{done.stderr}\nlog:\n{self.log_tail()}")

    def stop(self) -> None:
        self.run(postgres_binary("pg_ctl") or "pg_ctl", "stop", "-D", str(self.data), "-m", "immediate", "-w")

    def log_tail(self, chars: int = 4000) -> str:
        with contextlib.suppress(OSError):
            return self.log.read_text(errors="replace")[-chars:]
        return ""

    def _own(self, path: Path) -> None:
        if os.geteuid() == 0:
            shutil.chown(path, "postgres", "postgres")

    def admin(self):
        import psycopg

        return psycopg.connect(self.url(), autocommit=True, connect_timeout=10)

    def new_database(self, prefix: str = "nodal_test") -> str:
        """A fresh, empty database; its URL."""
        name = f"{prefix}_{os.getpid()}_{next(self._names)}"
        with self.admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


def _postgres_problem() -> tuple[str | None, list[str]]:
    """(why PostgreSQL cannot run here or None, the command prefix that runs its programs)."""
    for tool in ("initdb", "pg_ctl", "postgres"):
        if postgres_binary(tool) is None:
            return f"PostgreSQL's `{tool}` is not installed (bash scripts/setup.sh --dev installs it)", []
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed (bash scripts/setup.sh --dev)", []
    if os.geteuid() != 0:
        return None, []
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return "running as root and there is no `postgres` user to run PostgreSQL as", []
    runuser = shutil.which("runuser")
    if runuser is None:
        return "running as root and `runuser` is missing", []
    return None, [runuser, "-u", "postgres", "--"]


def _start_server(run_as: list[str]) -> PostgresServer:
    root = Path(tempfile.mkdtemp(prefix="nodal-pg-"))
    os.chmod(root, 0o755)
    (root / "sockets").mkdir()
    if os.geteuid() == 0:
        for path in (root, root / "sockets"):
            shutil.chown(path, "postgres", "postgres")
    server = PostgresServer(root, _free_port(), run_as)
    try:
        server.start()
    except BaseException:
        _stop_server(server)
        raise
    return server


def _stop_server(server: PostgresServer) -> None:
    try:
        server.stop()
    finally:
        shutil.rmtree(server.root, ignore_errors=True)


# ---- NODAL_TEST_STORE=postgres: every Nodal server the tests start keeps its metadata in PostgreSQL ----
_SUITE_SERVER: PostgresServer | None = None
STORE_ENV = "NODAL_TEST_STORE"


def suite_store() -> str:
    """The metadata store the suite's Nodal servers use: "sqlite" (default) or "postgres"."""
    return os.environ.get(STORE_ENV, "sqlite").strip().lower() or "sqlite"


def pytest_configure(config: pytest.Config) -> None:
    """With NODAL_TEST_STORE=postgres, start PostgreSQL before any Nodal server and point the
    session server at a database of its own (servers inherit NODAL_DATABASE_URL)."""
    global _SUITE_SERVER
    store = suite_store()
    if store == "sqlite":
        return
    if store != "postgres":
        raise pytest.UsageError(f"{STORE_ENV} must be sqlite or postgres, not {store!r}")
    problem, run_as = _postgres_problem()
    if problem:
        raise pytest.UsageError(f"{STORE_ENV}=postgres, but {problem}")
    _SUITE_SERVER = _start_server(run_as)
    os.environ["NODAL_DATABASE_URL"] = _SUITE_SERVER.new_database("nodal_session")


def pytest_unconfigure(config: pytest.Config) -> None:
    global _SUITE_SERVER
    if _SUITE_SERVER is not None:
        _stop_server(_SUITE_SERVER)
        _SUITE_SERVER = None


def server_store_env() -> dict[str, str]:
    """Environment for one more Nodal server (a private one): under NODAL_TEST_STORE=postgres a
    fresh database of its own, so servers never share state; otherwise nothing (SQLite in its home)."""
    if _SUITE_SERVER is None:
        return {}
    return {"NODAL_DATABASE_URL": _SUITE_SERVER.new_database("nodal_private")}


@pytest.fixture(scope="session")
def postgres_server():
    """A real PostgreSQL server for the session (skips the test if PostgreSQL is not installed)."""
    if _SUITE_SERVER is not None:  # NODAL_TEST_STORE=postgres started one already
        yield _SUITE_SERVER
        return
    problem, run_as = _postgres_problem()
    if problem:
        pytest.skip(problem)
    server = _start_server(run_as)
    try:
        yield server
    finally:
        _stop_server(server)


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """The URL of a fresh, empty database (password included) on the session's server."""
    return postgres_server.new_database()


@pytest.fixture(params=["sqlite", "postgres"])
def metadata_store(request, tmp_path):
    """A fresh, migrated metadata store on each backend; closed after the test."""
    if request.param == "sqlite":
        from nodal.store.backends.sqlite import SqliteMetadataStore

        store = SqliteMetadataStore(tmp_path / "nodal.db")
    else:
        from nodal.store.backends.postgres import PostgresMetadataStore

        store = PostgresMetadataStore(request.getfixturevalue("postgres_url"))
    try:
        yield store
    finally:
        store.close()


# ---- reading what a test server stored, on either backend ----


def server_database_url(server=None) -> str | None:
    """The PostgreSQL URL of a test server's metadata store, or None when it keeps SQLite in its
    home. `server`: a conftest.PrivateServer (its own database), or None for the session's server."""
    if server is not None:
        return server.env.get("NODAL_DATABASE_URL")
    return os.environ.get("NODAL_DATABASE_URL") if _SUITE_SERVER is not None else None


def read_rows(home: Path, database_url: str | None, sql: str, params: tuple = ()) -> list[tuple]:
    """Rows of a read-only query (`?` placeholders) on a server's metadata store, while it runs or
    not: SQLite at `home/nodal.db` (opened read-only), or the PostgreSQL database at `database_url`
    (both stores have the same schema)."""
    if database_url:
        import psycopg

        with psycopg.connect(database_url, autocommit=True, connect_timeout=10) as conn:
            return [tuple(r) for r in conn.execute(sql.replace("?", "%s"), params).fetchall()]
    import sqlite3

    db = sqlite3.connect(f"file:{home / 'nodal.db'}?mode=ro", uri=True)
    try:
        return db.execute(sql, params).fetchall()
    finally:
        db.close()


def stored_bytes(home: Path, database_url: str | None) -> bytes:
    """Everything a server's metadata store holds, as bytes: SQLite's files (database and
    write-ahead log), or every row of every table of the PostgreSQL database as text (bytea
    columns also raw), for tests that check a value is not stored in the clear."""
    if not database_url:
        return b"".join(p.read_bytes() for p in sorted(home.glob("nodal.db*")) if p.is_file())
    import psycopg

    out = bytearray()
    with psycopg.connect(database_url, autocommit=True, connect_timeout=10) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'").fetchall()]
        for table in tables:
            for row in conn.execute(f'SELECT * FROM "{table}"').fetchall():
                for value in row:
                    out += value if isinstance(value, bytes | bytearray | memoryview) else str(value).encode()
                    out += b"\0"
    return bytes(out)
