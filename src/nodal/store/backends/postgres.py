"""The metadata store on PostgreSQL: for a server whose state must outlive its machine or be shared.

The same tables, migrations and answers as backends/sqlite.py (each method mirrors its SQLite
twin: ordering, return values, what a taken name raises), over one psycopg connection that is
in autocommit outside `transaction()`. Selected with NODAL_DATABASE_URL (see store/factory.py).
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import psycopg
import psycopg.errors

from nodal.store.backends.postgres_data import PostgresDataTables
from nodal.store.backends.postgres_identity import PostgresIdentityTables
from nodal.store.backends.postgres_sql import upsert
from nodal.store.backends.sqlite import SchemaTooNewError
from nodal.store.metadata import (
    AppRecord,
    BoundFunctionRecord,
    CallRecord,
    DataObjectRecord,
    FunctionRecord,
    MetadataStore,
    SecretNameRecord,
)

# Entry i migrates the schema from version i to i+1, as the SQLite list's entry i does (the two
# lists keep the same length and meaning). Never edit a shipped entry. Differences from SQLite:
# BYTEA for BLOB, DOUBLE PRECISION for REAL, identity columns for AUTOINCREMENT, and `calls.seq`,
# which stands in for SQLite's rowid where calls with the same created_at are ordered.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE apps (
        app_id TEXT PRIMARY KEY, name TEXT NOT NULL, environment TEXT NOT NULL,
        state INTEGER NOT NULL, version INTEGER NOT NULL, description TEXT NOT NULL,
        tag TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL, stopped_at DOUBLE PRECISION NOT NULL,
        code_json TEXT NOT NULL
    );
    CREATE INDEX apps_by_name ON apps(environment, name, version);
    CREATE TABLE functions (
        function_id TEXT PRIMARY KEY, app_id TEXT NOT NULL, tag TEXT NOT NULL, definition BYTEA NOT NULL
    );
    CREATE INDEX functions_by_app ON functions(app_id);
    CREATE TABLE bound_params (
        bound_id TEXT PRIMARY KEY, function_id TEXT NOT NULL, params BYTEA NOT NULL
    );
    CREATE TABLE images (image_id TEXT PRIMARY KEY, spec BYTEA NOT NULL);
    CREATE TABLE secrets (secret_id TEXT PRIMARY KEY, env_json TEXT NOT NULL);
    CREATE TABLE calls (
        call_id TEXT PRIMARY KEY, function_id TEXT NOT NULL, input BYTEA NOT NULL,
        created_at DOUBLE PRECISION NOT NULL, parent_input_id TEXT NOT NULL, done INTEGER NOT NULL,
        outputs BYTEA, seq BIGINT GENERATED ALWAYS AS IDENTITY
    );
    CREATE INDEX calls_pending ON calls(done);
    """,
    # 2: a bound class function may carry option overrides (Cls.with_options & co).
    """
    ALTER TABLE bound_params ADD COLUMN overrides BYTEA NOT NULL DEFAULT ''::bytea;
    """,
    """
    ALTER TABLE calls ADD COLUMN parked INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX calls_parked ON calls(function_id, parked, created_at);
    """,
    # 4: modal.Dict and modal.Queue: named (or ephemeral) objects, dict entries, queue items.
    """
    CREATE TABLE data_objects (
        object_id TEXT PRIMARY KEY, kind INTEGER NOT NULL, name TEXT, environment TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL, heartbeat_at DOUBLE PRECISION
    );
    CREATE INDEX data_objects_ephemeral ON data_objects(heartbeat_at) WHERE heartbeat_at IS NOT NULL;
    CREATE UNIQUE INDEX data_objects_by_name ON data_objects(kind, environment, name) WHERE name IS NOT NULL;
    CREATE TABLE dict_entries (
        dict_id TEXT NOT NULL, key BYTEA NOT NULL, value BYTEA NOT NULL, updated_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (dict_id, key)
    );
    CREATE TABLE queue_items (
        item_id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, queue_id TEXT NOT NULL,
        partition BYTEA NOT NULL, value BYTEA NOT NULL
    );
    CREATE INDEX queue_items_by_partition ON queue_items(queue_id, partition, item_id);
    CREATE TABLE queue_partitions (
        queue_id TEXT NOT NULL, partition BYTEA NOT NULL, expires_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (queue_id, partition)
    );
    """,
    # 5: schedules: per scheduled function, the anchor of its period and the last time it fired.
    """
    CREATE TABLE schedule_state (
        function_id TEXT PRIMARY KEY, anchor DOUBLE PRECISION NOT NULL, last_fire DOUBLE PRECISION
    );
    """,
    # 6: named secrets: (environment, name) -> a row of `secrets` (whose env_json is ciphertext).
    """
    CREATE TABLE secret_names (
        environment TEXT NOT NULL, name TEXT NOT NULL, secret_id TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL, updated_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (environment, name)
    );
    """,
    """
    CREATE TABLE volume_versions (
        volume_id TEXT NOT NULL, version INTEGER NOT NULL, manifest TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (volume_id, version)
    );
    """,
    # 8: sandboxes: their state as a serialized SandboxInfo.
    """
    CREATE TABLE sandboxes (
        sandbox_id TEXT PRIMARY KEY, app_id TEXT NOT NULL, finished INTEGER NOT NULL,
        created_at DOUBLE PRECISION NOT NULL, info BYTEA NOT NULL
    );
    CREATE INDEX sandboxes_by_app ON sandboxes(app_id, finished, created_at);
    """,
    # environments created with `modal environment create` (others exist by being used)
    """
    CREATE TABLE environments (name TEXT PRIMARY KEY, created_at DOUBLE PRECISION NOT NULL);
    """,
    # identities: workspaces, their users and tokens (secrets stored as SHA-256), the audit log,
    # and the environment (hence workspace) that owns each secret ('' = the default workspace).
    """
    CREATE TABLE workspaces (name TEXT PRIMARY KEY, created_at DOUBLE PRECISION NOT NULL);
    CREATE TABLE users (
        workspace TEXT NOT NULL, name TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (workspace, name)
    );
    CREATE TABLE tokens (
        token_id TEXT PRIMARY KEY, secret_hash TEXT NOT NULL, workspace TEXT NOT NULL, user_name TEXT NOT NULL,
        admin INTEGER NOT NULL, label TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL,
        revoked_at DOUBLE PRECISION NOT NULL DEFAULT 0, last_used_at DOUBLE PRECISION NOT NULL DEFAULT 0
    );
    CREATE INDEX tokens_by_workspace ON tokens(workspace);
    CREATE TABLE audit_log (
        event_id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, ts DOUBLE PRECISION NOT NULL,
        workspace TEXT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL, target TEXT NOT NULL,
        detail TEXT NOT NULL
    );
    ALTER TABLE secrets ADD COLUMN owner_env TEXT NOT NULL DEFAULT '';
    """,
    # 11: the dashboard's call history (see the SQLite entry); `seq` orders rows finished together.
    """
    CREATE TABLE call_history (
        input_id TEXT NOT NULL, call_id TEXT NOT NULL, function_id TEXT NOT NULL, container_id TEXT NOT NULL,
        status TEXT NOT NULL, finished_at DOUBLE PRECISION NOT NULL, duration DOUBLE PRECISION,
        exception TEXT NOT NULL, traceback TEXT NOT NULL, seq BIGINT GENERATED ALWAYS AS IDENTITY
    );
    CREATE INDEX call_history_by_function ON call_history(function_id, finished_at);
    CREATE INDEX call_history_by_call ON call_history(call_id);
    CREATE TABLE call_minutes (
        function_id TEXT NOT NULL, minute BIGINT NOT NULL, calls BIGINT NOT NULL, failures BIGINT NOT NULL,
        latency_sum DOUBLE PRECISION NOT NULL, latency_n BIGINT NOT NULL, PRIMARY KEY (function_id, minute)
    );
    CREATE TABLE call_totals (
        function_id TEXT NOT NULL, status TEXT NOT NULL, count BIGINT NOT NULL, PRIMARY KEY (function_id, status)
    );
    """,
    # 12: the app an ephemeral Dict/Queue belongs to (see the SQLite entry).
    """
    ALTER TABLE data_objects ADD COLUMN app_id TEXT NOT NULL DEFAULT '';
    CREATE INDEX data_objects_by_app ON data_objects(app_id) WHERE app_id != '';
    """,
]

# Held while migrating, so servers starting together against one database migrate it once.
_MIGRATION_LOCK_KEY = 0x6E6F64616C  # "nodal"

_APP_COLUMNS = ("app_id", "name", "environment", "state", "version", "description", "tag", "created_at",
                "stopped_at", "code_json")
_CALL_COLUMNS = "call_id, function_id, input, created_at, parent_input_id, done, outputs"


_PUT_APP = upsert("apps", _APP_COLUMNS, ("app_id",))
_PUT_FUNCTION = upsert("functions", ("function_id", "app_id", "tag", "definition"), ("function_id",))
_PUT_SECRET = upsert("secrets", ("secret_id", "env_json"), ("secret_id",), ", owner_env = DEFAULT")
_PUT_SANDBOX = upsert("sandboxes", ("sandbox_id", "app_id", "finished", "created_at", "info"), ("sandbox_id",))


class PostgresIntegrityError(sqlite3.IntegrityError):
    """A taken unique key (a data object's name, a volume version, an id) on PostgreSQL.

    It subclasses sqlite3.IntegrityError, the SQLite backend's error, so the services that catch
    that (server/dict_queue.py, server/volumes.py) handle both backends alike."""


def redact_url(url: str) -> str:
    """The URL without its password (in the user part or a password= parameter): for messages."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if "@" in netloc:
            user, host = netloc.rsplit("@", 1)
            netloc = f"{user.split(':', 1)[0]}@{host}"
        query = "&".join(
            f"{k}={v}" for k, v in parse_qsl(parts.query, keep_blank_values=True) if k.lower() != "password"
        )
    except ValueError:
        return "<unparsable database URL>"
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


class PostgresMetadataStore(PostgresDataTables, PostgresIdentityTables, MetadataStore):
    def __init__(self, url: str, connect_timeout: float = 10.0) -> None:
        """Connect to `url` (postgresql://user:password@host:port/dbname) and migrate its schema.

        Raises psycopg.OperationalError when the server cannot be reached or refuses the
        credentials, and SchemaTooNewError when a newer Nodal has migrated the database."""
        self.url = url
        self._connect_timeout = max(1, int(connect_timeout))
        self.conn = psycopg.connect(url, autocommit=True, connect_timeout=self._connect_timeout)
        self._lock = threading.RLock()  # one thread at a time, and a transaction belongs to its thread
        self._depth = 0  # open `_atomic` blocks: 0 means autocommit
        self._in_unit = False  # inside one method's own atomic block (its statements need no savepoints)
        try:
            self._migrate()
        except BaseException:
            self.conn.close()
            raise

    def _migrate(self) -> None:
        with self.conn.transaction():
            self.conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK_KEY,))
            self.conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = self.conn.execute("SELECT version FROM schema_version").fetchone()
            if row is None:
                self.conn.execute("INSERT INTO schema_version VALUES (0)")
            version = row[0] if row else 0
            if version > len(MIGRATIONS):
                raise SchemaTooNewError(
                    f"the metadata database {redact_url(self.url)} has schema version {version}, newer than"
                    f" this Nodal understands ({len(MIGRATIONS)}); upgrade Nodal or point"
                    " NODAL_DATABASE_URL at another database"
                )
            for i in range(version, len(MIGRATIONS)):
                self.conn.execute(MIGRATIONS[i])
            if version < len(MIGRATIONS):
                self.conn.execute("UPDATE schema_version SET version = %s", (len(MIGRATIONS),))

    def schema_version(self) -> int:
        return self._one("SELECT version FROM schema_version")[0]

    # ---- statements ----
    def _connection(self) -> psycopg.Connection:
        """The connection, opened anew if the old one was lost (PostgreSQL restarted, the network
        dropped) and no transaction is open: the call that saw the loss failed, later ones work."""
        if self.conn.broken and self._depth == 0:
            self.conn.close()
            self.conn = psycopg.connect(self.url, autocommit=True, connect_timeout=self._connect_timeout)
        return self.conn

    def _write(self, sql: str, args: tuple | list = (), guard: bool = False) -> int:
        """Run one writing statement; its row count."""
        return self._write_cursor(sql, args, guard).rowcount

    def _write_returning(self, sql: str, args: tuple | list = ()) -> list[tuple]:
        """Run one writing statement with RETURNING; its rows."""
        return self._write_cursor(sql, args, False).fetchall()

    def _write_cursor(self, sql: str, args: tuple | list, guard: bool) -> psycopg.Cursor:
        """Run a writing statement; a taken unique key raises PostgresIntegrityError.

        `guard`: the statement may hit a unique key, and callers catch that and go on. Right
        inside `transaction()` such a statement runs in a savepoint, so it undoes only itself, as
        on SQLite (PostgreSQL would otherwise abort the whole transaction). Other statements skip
        the savepoint's two round trips: should one fail there, the whole transaction fails."""
        with self._lock:
            conn = self._connection()
            try:
                if guard and self._depth and not self._in_unit:
                    with conn.transaction():
                        return conn.execute(sql, args)
                return conn.execute(sql, args)
            except psycopg.errors.IntegrityError as exc:
                raise PostgresIntegrityError(str(exc).strip()) from exc

    def _write_many(self, sql: str, rows: list[tuple]) -> None:
        """One statement over many rows, all or none."""
        if not rows:
            return
        with self._atomic():
            try:
                with self.conn.cursor() as cur:
                    cur.executemany(sql, rows)
            except psycopg.errors.IntegrityError as exc:
                raise PostgresIntegrityError(str(exc).strip()) from exc

    def _one(self, sql: str, args: tuple | list = ()) -> Any:
        with self._lock:
            return self._connection().execute(sql, args).fetchone()

    def _all(self, sql: str, args: tuple | list = ()) -> list[tuple]:
        with self._lock:
            return self._connection().execute(sql, args).fetchall()

    @contextlib.contextmanager
    def _atomic(self, unit: bool = True) -> Iterator[None]:
        """One atomic unit of work: its own transaction, or a savepoint inside an open one, so a
        call made inside `transaction()` joins that commit yet still undoes only itself on error.
        `unit`: the block is one method's work (False for the caller's `transaction()`)."""
        with self._lock, self._connection().transaction():
            self._depth += 1
            saved, self._in_unit = self._in_unit, unit
            try:
                yield
            finally:
                self._depth -= 1
                self._in_unit = saved

    def transaction(self) -> contextlib.AbstractContextManager[None]:
        return self._atomic(unit=False)

    # ---- apps ----
    def put_app(self, app: AppRecord) -> None:
        self._write(_PUT_APP, (app.app_id, app.name, app.environment, app.state, app.version, app.description,
                               app.tag, app.created_at, app.stopped_at, app.code_json))

    def get_app(self, app_id: str) -> AppRecord | None:
        row = self._one(f"SELECT {', '.join(_APP_COLUMNS)} FROM apps WHERE app_id = %s", (app_id,))
        return AppRecord(*row) if row else None

    def list_apps(self, environment: str | None = None) -> list[AppRecord]:
        select = f"SELECT {', '.join(_APP_COLUMNS)} FROM apps"
        if environment is None:
            rows = self._all(f"{select} ORDER BY created_at")
        else:
            rows = self._all(f"{select} WHERE environment = %s ORDER BY created_at", (environment,))
        return [AppRecord(*r) for r in rows]

    def app_versions(self, name: str, environment: str) -> list[AppRecord]:
        rows = self._all(
            f"SELECT {', '.join(_APP_COLUMNS)} FROM apps WHERE name = %s AND environment = %s ORDER BY version DESC",
            (name, environment),
        )
        return [AppRecord(*r) for r in rows]

    # ---- environments ----
    def put_environment(self, name: str, created_at: float) -> bool:
        return self._write("INSERT INTO environments VALUES (%s, %s) ON CONFLICT DO NOTHING", (name, created_at)) == 1

    def list_environments(self) -> dict[str, float]:
        """Every environment: created ones, and those running apps or named objects live in."""
        rows = self._all(
            "SELECT name, created_at FROM environments UNION ALL "
            "SELECT environment, MIN(created_at) FROM apps WHERE stopped_at = 0 GROUP BY environment UNION ALL "
            "SELECT environment, MIN(created_at) FROM data_objects GROUP BY environment"
        )
        out: dict[str, float] = {}
        for name, created in rows:
            out[name] = min(created, out.get(name, created))
        return out

    def delete_environment(self, name: str) -> bool:
        return self._write("DELETE FROM environments WHERE name = %s", (name,)) == 1

    # ---- functions ----
    def put_functions(self, functions: list[FunctionRecord]) -> None:
        self._write_many(_PUT_FUNCTION, [(f.function_id, f.app_id, f.tag, f.definition) for f in functions])

    def list_functions(self, app_id: str) -> list[FunctionRecord]:
        rows = self._all("SELECT function_id, app_id, tag, definition FROM functions WHERE app_id = %s", (app_id,))
        return [FunctionRecord(*r) for r in rows]

    def get_function(self, function_id: str) -> FunctionRecord | None:
        row = self._one(
            "SELECT function_id, app_id, tag, definition FROM functions WHERE function_id = %s", (function_id,)
        )
        return FunctionRecord(*row) if row else None

    def put_bound_params(self, bound: BoundFunctionRecord) -> None:
        self._write(
            "INSERT INTO bound_params (bound_id, function_id, params, overrides) VALUES (%s,%s,%s,%s)"
            " ON CONFLICT DO NOTHING",
            (bound.bound_id, bound.function_id, bound.params, bound.overrides),
        )

    def get_bound_params(self, bound_id: str) -> BoundFunctionRecord | None:
        row = self._one(
            "SELECT bound_id, function_id, params, overrides FROM bound_params WHERE bound_id = %s", (bound_id,)
        )
        return BoundFunctionRecord(row[0], row[1], bytes(row[2]), bytes(row[3])) if row else None

    # ---- secrets ----
    def put_secret(self, secret_id: str, env_json: str) -> None:
        # like SQLite's INSERT OR REPLACE, a replaced row starts over: owner_env back to its default
        self._write(_PUT_SECRET, (secret_id, env_json))

    def get_secret(self, secret_id: str) -> str | None:
        row = self._one("SELECT env_json FROM secrets WHERE secret_id = %s", (secret_id,))
        return row[0] if row else None

    # ---- images ----
    def put_image(self, image_id: str, spec: bytes) -> None:
        self._write("INSERT INTO images VALUES (%s, %s) ON CONFLICT DO NOTHING", (image_id, spec))

    def get_image(self, image_id: str) -> bytes | None:
        row = self._one("SELECT spec FROM images WHERE image_id = %s", (image_id,))
        return row[0] if row else None

    # ---- calls ----
    def put_calls(self, calls: list[CallRecord]) -> None:
        self._write_many(
            "INSERT INTO calls (call_id, function_id, input, created_at, parent_input_id, done, outputs, parked)"
            " VALUES (%s,%s,%s,%s,%s,%s,%s,%s)",
            [(c.call_id, c.function_id, c.input, c.created_at, c.parent_input_id, int(c.done), c.outputs,
              int(c.parked)) for c in calls],
        )

    def finish_call(self, call_id: str, outputs: bytes) -> None:
        self._write("UPDATE calls SET done = 1, outputs = %s WHERE call_id = %s", (outputs, call_id))

    def get_call(self, call_id: str) -> CallRecord | None:
        row = self._one(f"SELECT {_CALL_COLUMNS} FROM calls WHERE call_id = %s", (call_id,))
        if not row:
            return None
        return CallRecord(row[0], row[1], row[2], row[3], row[4], bool(row[5]), row[6])

    def unpark_calls(self, function_id: str, limit: int) -> list[CallRecord]:
        with self._atomic():
            rows = self._all(
                "SELECT call_id, function_id, input, created_at, parent_input_id FROM calls"
                " WHERE function_id = %s AND parked = 1 AND done = 0 ORDER BY created_at, seq LIMIT %s FOR UPDATE",
                (function_id, limit),
            )
            if rows:
                self._write("UPDATE calls SET parked = 0 WHERE call_id = ANY(%s)", ([r[0] for r in rows],))
        return [CallRecord(*r) for r in rows]

    def park_pending(self) -> list[str]:
        self._write("UPDATE calls SET parked = 1 WHERE done = 0")
        rows = self._all("SELECT DISTINCT function_id FROM calls WHERE parked = 1 AND done = 0")
        return [r[0] for r in rows]

    def pending_calls(self) -> list[CallRecord]:
        rows = self._all(f"SELECT {_CALL_COLUMNS} FROM calls WHERE done = 0 ORDER BY created_at, seq")
        return [CallRecord(r[0], r[1], r[2], r[3], r[4], bool(r[5]), r[6]) for r in rows]

    # ---- schedules ----
    def schedule_state(self, function_id: str, anchor: float) -> tuple[float, float | None]:
        self._write(
            "INSERT INTO schedule_state (function_id, anchor, last_fire) VALUES (%s, %s, NULL)"
            " ON CONFLICT DO NOTHING",
            (function_id, anchor),
        )
        row = self._one("SELECT anchor, last_fire FROM schedule_state WHERE function_id = %s", (function_id,))
        return row[0], row[1]

    def claim_schedule_fire(self, function_id: str, previous: float | None, fire_at: float) -> bool:
        return self._write(
            "UPDATE schedule_state SET last_fire = %s WHERE function_id = %s"
            " AND last_fire IS NOT DISTINCT FROM %s::double precision",
            (fire_at, function_id, previous),
        ) == 1

    def claim_schedule_fires(
        self, claims: list[tuple[str, float | None]], fire_at: float, live_states: tuple[int, ...]
    ) -> list[str]:
        if not claims:
            return []
        sql = (
            "UPDATE schedule_state SET last_fire = %s WHERE function_id = %s"
            " AND last_fire IS NOT DISTINCT FROM %s::double precision AND EXISTS ("
            " SELECT 1 FROM functions f JOIN apps a ON a.app_id = f.app_id"
            " WHERE f.function_id = schedule_state.function_id AND a.state = ANY(%s::integer[]))"
        )
        claimed = []
        with self._atomic():
            for function_id, previous in claims:
                if self._write(sql, (fire_at, function_id, previous, list(live_states))) == 1:
                    claimed.append(function_id)
        return claimed

    # ---- secrets: all rows, deletion and names ----
    def all_secrets(self) -> list[tuple[str, str]]:
        return [(r[0], r[1]) for r in self._all("SELECT secret_id, env_json FROM secrets")]

    def delete_secret(self, secret_id: str) -> None:
        self._write("DELETE FROM secrets WHERE secret_id = %s", (secret_id,))

    def update_secret_env(self, secret_id: str, env_json: str) -> bool:
        return self._write("UPDATE secrets SET env_json = %s WHERE secret_id = %s", (env_json, secret_id)) == 1

    def put_secret_name(self, name: str, environment: str, secret_id: str, now: float) -> None:
        self._write(
            "INSERT INTO secret_names (environment, name, secret_id, created_at, updated_at) VALUES (%s,%s,%s,%s,%s)"
            " ON CONFLICT (environment, name) DO UPDATE SET secret_id = EXCLUDED.secret_id,"
            " updated_at = EXCLUDED.updated_at",
            (environment, name, secret_id, now, now),
        )

    def find_secret_name(self, name: str, environment: str) -> SecretNameRecord | None:
        row = self._one(
            "SELECT name, environment, secret_id, created_at, updated_at FROM secret_names"
            " WHERE environment = %s AND name = %s",
            (environment, name),
        )
        return SecretNameRecord(*row) if row else None

    def list_secret_names(self, environment: str) -> list[SecretNameRecord]:
        rows = self._all(
            "SELECT name, environment, secret_id, created_at, updated_at FROM secret_names"
            ' WHERE environment = %s ORDER BY name COLLATE "C"',
            (environment,),
        )
        return [SecretNameRecord(*r) for r in rows]

    def delete_secret_name(self, name: str, environment: str) -> None:
        self._write("DELETE FROM secret_names WHERE environment = %s AND name = %s", (environment, name))

    # ---- volumes ----
    def volume_latest(self, volume_id: str) -> tuple[int, str] | None:
        row = self._one(
            "SELECT version, manifest FROM volume_versions WHERE volume_id = %s ORDER BY version DESC LIMIT 1",
            (volume_id,),
        )
        return (row[0], row[1]) if row else None

    def volume_put_version(self, volume_id: str, version: int, manifest_json: str, now: float) -> None:
        self._write(
            "INSERT INTO volume_versions (volume_id, version, manifest, created_at) VALUES (%s, %s, %s, %s)",
            (volume_id, version, manifest_json, now),
            guard=True,
        )

    def list_data_objects(self, kind: int, environment: str) -> list[DataObjectRecord]:
        rows = self._all(
            "SELECT object_id, kind, name, environment, created_at FROM data_objects"
            ' WHERE kind = %s AND environment = %s AND name IS NOT NULL ORDER BY name COLLATE "C"',
            (kind, environment),
        )
        return [DataObjectRecord(*r) for r in rows]

    def rename_data_object(self, object_id: str, name: str) -> None:
        self._write("UPDATE data_objects SET name = %s WHERE object_id = %s", (name, object_id), guard=True)

    def close(self) -> None:
        with self._lock:
            self.conn.close()

    # ---- sandboxes ----
    def put_sandbox(self, sandbox_id: str, app_id: str, finished: bool, created_at: float, info: bytes) -> None:
        self._write(_PUT_SANDBOX, (sandbox_id, app_id, int(finished), created_at, info))

    def get_sandbox(self, sandbox_id: str) -> bytes | None:
        row = self._one("SELECT info FROM sandboxes WHERE sandbox_id = %s", (sandbox_id,))
        return row[0] if row else None

    def list_sandboxes(self, app_id: str | None, include_finished: bool) -> list[bytes]:
        sql, args = "SELECT info FROM sandboxes WHERE 1=1", []
        if app_id:
            sql += " AND app_id = %s"
            args.append(app_id)
        if not include_finished:
            sql += " AND finished = 0"
        return [r[0] for r in self._all(sql + " ORDER BY created_at", args)]

    # ---- the dashboard's call history ----
    _HISTORY_COLUMNS = ("input_id, call_id, function_id, container_id, status, finished_at, duration, exception,"
                        " traceback")

    def history_append(self, inputs: list[tuple], minutes: list[tuple], totals: list[tuple]) -> None:
        with self._atomic():
            self._write_many(f"INSERT INTO call_history ({self._HISTORY_COLUMNS}) VALUES"
                             " (%s,%s,%s,%s,%s,%s,%s,%s,%s)", inputs)
            self._write_many(
                "INSERT INTO call_minutes VALUES (%s,%s,%s,%s,%s,%s) ON CONFLICT (function_id, minute) DO UPDATE"
                " SET calls = call_minutes.calls + EXCLUDED.calls,"
                " failures = call_minutes.failures + EXCLUDED.failures,"
                " latency_sum = call_minutes.latency_sum + EXCLUDED.latency_sum,"
                " latency_n = call_minutes.latency_n + EXCLUDED.latency_n",
                minutes,
            )
            self._write_many(
                "INSERT INTO call_totals VALUES (%s,%s,%s) ON CONFLICT (function_id, status) DO UPDATE SET"
                " count = call_totals.count + EXCLUDED.count",
                totals,
            )

    def history_recent(self, function_id: str, limit: int) -> list[tuple]:
        return self._all(
            f"SELECT {self._HISTORY_COLUMNS} FROM call_history WHERE function_id = %s"
            " ORDER BY finished_at DESC, seq DESC LIMIT %s",
            (function_id, limit),
        )

    def history_call(self, call_id: str, limit: int) -> list[tuple]:
        return self._all(
            f"SELECT {self._HISTORY_COLUMNS} FROM call_history WHERE call_id = %s ORDER BY finished_at, seq LIMIT %s",
            (call_id, limit),
        )

    def history_minutes(self, function_id: str, since_minute: int) -> list[tuple]:
        return self._all(
            "SELECT minute, calls, failures, latency_sum, latency_n FROM call_minutes"
            " WHERE function_id = %s AND minute >= %s ORDER BY minute",
            (function_id, since_minute),
        )

    def history_totals(self, function_id: str) -> dict[str, int]:
        return dict(self._all("SELECT status, count FROM call_totals WHERE function_id = %s", (function_id,)))

    def history_trim(self, function_ids: list[str], keep: int, before: float, minutes_before: int) -> None:
        with self._atomic():
            for function_id in function_ids:
                self._write(
                    "DELETE FROM call_history WHERE function_id = %s AND finished_at <= (SELECT finished_at FROM"
                    " call_history WHERE function_id = %s ORDER BY finished_at DESC LIMIT 1 OFFSET %s)",
                    (function_id, function_id, keep),
                )
            self._write("DELETE FROM call_history WHERE finished_at < %s", (before,))
            self._write("DELETE FROM call_minutes WHERE minute < %s", (minutes_before,))
