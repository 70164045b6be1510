"""The metadata store on SQLite in WAL mode: the embedded default."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from nodal.store.backends.sqlite_data import SqliteDataTables
from nodal.store.backends.sqlite_identity import SqliteIdentityTables
from nodal.store.metadata import (
    AppRecord,
    BoundFunctionRecord,
    CallRecord,
    DataObjectRecord,
    FunctionRecord,
    MetadataStore,
    SecretNameRecord,
)

# Each entry migrates the schema from version i to i+1. Never edit a shipped entry.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE apps (
        app_id TEXT PRIMARY KEY, name TEXT NOT NULL, environment TEXT NOT NULL,
        state INTEGER NOT NULL, version INTEGER NOT NULL, description TEXT NOT NULL,
        tag TEXT NOT NULL, created_at REAL NOT NULL, stopped_at REAL NOT NULL,
        code_json TEXT NOT NULL
    );
    CREATE INDEX apps_by_name ON apps(environment, name, version);
    CREATE TABLE functions (
        function_id TEXT PRIMARY KEY, app_id TEXT NOT NULL, tag TEXT NOT NULL, definition BLOB NOT NULL
    );
    CREATE INDEX functions_by_app ON functions(app_id);
    CREATE TABLE bound_params (
        bound_id TEXT PRIMARY KEY, function_id TEXT NOT NULL, params BLOB NOT NULL
    );
    CREATE TABLE images (image_id TEXT PRIMARY KEY, spec BLOB NOT NULL);
    CREATE TABLE secrets (secret_id TEXT PRIMARY KEY, env_json TEXT NOT NULL);
    CREATE TABLE calls (
        call_id TEXT PRIMARY KEY, function_id TEXT NOT NULL, input BLOB NOT NULL,
        created_at REAL NOT NULL, parent_input_id TEXT NOT NULL, done INTEGER NOT NULL,
        outputs BLOB
    );
    CREATE INDEX calls_pending ON calls(done);
    """,
    # 2: a bound class function may carry option overrides (Cls.with_options & co).
    """
    ALTER TABLE bound_params ADD COLUMN overrides BLOB NOT NULL DEFAULT x'';
    """,
    """
    ALTER TABLE calls ADD COLUMN parked INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX calls_parked ON calls(function_id, parked, created_at);
    """,
    # 4: modal.Dict and modal.Queue: named (or ephemeral) objects, dict entries, queue items.
    """
    CREATE TABLE data_objects (
        object_id TEXT PRIMARY KEY, kind INTEGER NOT NULL, name TEXT, environment TEXT NOT NULL,
        created_at REAL NOT NULL, heartbeat_at REAL
    );
    CREATE INDEX data_objects_ephemeral ON data_objects(heartbeat_at) WHERE heartbeat_at IS NOT NULL;
    CREATE UNIQUE INDEX data_objects_by_name ON data_objects(kind, environment, name) WHERE name IS NOT NULL;
    CREATE TABLE dict_entries (
        dict_id TEXT NOT NULL, key BLOB NOT NULL, value BLOB NOT NULL, updated_at REAL NOT NULL,
        PRIMARY KEY (dict_id, key)
    );
    CREATE TABLE queue_items (
        item_id INTEGER PRIMARY KEY AUTOINCREMENT, queue_id TEXT NOT NULL, partition BLOB NOT NULL,
        value BLOB NOT NULL
    );
    CREATE INDEX queue_items_by_partition ON queue_items(queue_id, partition, item_id);
    CREATE TABLE queue_partitions (
        queue_id TEXT NOT NULL, partition BLOB NOT NULL, expires_at REAL NOT NULL,
        PRIMARY KEY (queue_id, partition)
    );
    """,
    # 5: schedules: per scheduled function, the anchor of its period and the last time it fired.
    """
    CREATE TABLE schedule_state (
        function_id TEXT PRIMARY KEY, anchor REAL NOT NULL, last_fire REAL
    );
    """,
    # 6: named secrets: (environment, name) -> a row of `secrets` (whose env_json is now ciphertext).
    """
    CREATE TABLE secret_names (
        environment TEXT NOT NULL, name TEXT NOT NULL, secret_id TEXT NOT NULL,
        created_at REAL NOT NULL, updated_at REAL NOT NULL,
        PRIMARY KEY (environment, name)
    );
    """,
    """
    CREATE TABLE volume_versions (
        volume_id TEXT NOT NULL, version INTEGER NOT NULL, manifest TEXT NOT NULL, created_at REAL NOT NULL,
        PRIMARY KEY (volume_id, version)
    );
    """,
    # 8: sandboxes: their state as a serialized SandboxInfo.
    """
    CREATE TABLE sandboxes (
        sandbox_id TEXT PRIMARY KEY, app_id TEXT NOT NULL, finished INTEGER NOT NULL,
        created_at REAL NOT NULL, info BLOB NOT NULL
    );
    CREATE INDEX sandboxes_by_app ON sandboxes(app_id, finished, created_at);
    """,
    # environments created with `modal environment create` (others exist by being used)
    """
    CREATE TABLE environments (name TEXT PRIMARY KEY, created_at REAL NOT NULL);
    """,
    # identities: workspaces, their users and tokens (secrets stored as SHA-256), the audit log,
    # and the environment (hence workspace) that owns each secret ('' = the default workspace).
    """
    CREATE TABLE workspaces (name TEXT PRIMARY KEY, created_at REAL NOT NULL);
    CREATE TABLE users (
        workspace TEXT NOT NULL, name TEXT NOT NULL, created_at REAL NOT NULL, PRIMARY KEY (workspace, name)
    );
    CREATE TABLE tokens (
        token_id TEXT PRIMARY KEY, secret_hash TEXT NOT NULL, workspace TEXT NOT NULL, user_name TEXT NOT NULL,
        admin INTEGER NOT NULL, label TEXT NOT NULL, created_at REAL NOT NULL,
        revoked_at REAL NOT NULL DEFAULT 0, last_used_at REAL NOT NULL DEFAULT 0
    );
    CREATE INDEX tokens_by_workspace ON tokens(workspace);
    CREATE TABLE audit_log (
        event_id INTEGER PRIMARY KEY AUTOINCREMENT, ts REAL NOT NULL, workspace TEXT NOT NULL,
        actor TEXT NOT NULL, action TEXT NOT NULL, target TEXT NOT NULL, detail TEXT NOT NULL
    );
    ALTER TABLE secrets ADD COLUMN owner_env TEXT NOT NULL DEFAULT '';
    """,
    # 11: the dashboard's call history (finished inputs, per-minute counts, totals per status),
    # so a function's page still shows its recent calls after a restart. Bounded: see
    # nodal/server/dashboard/history.py for what is kept.
    """
    CREATE TABLE call_history (
        input_id TEXT NOT NULL, call_id TEXT NOT NULL, function_id TEXT NOT NULL, container_id TEXT NOT NULL,
        status TEXT NOT NULL, finished_at REAL NOT NULL, duration REAL, exception TEXT NOT NULL,
        traceback TEXT NOT NULL
    );
    CREATE INDEX call_history_by_function ON call_history(function_id, finished_at);
    CREATE INDEX call_history_by_call ON call_history(call_id);
    CREATE TABLE call_minutes (
        function_id TEXT NOT NULL, minute INTEGER NOT NULL, calls INTEGER NOT NULL, failures INTEGER NOT NULL,
        latency_sum REAL NOT NULL, latency_n INTEGER NOT NULL, PRIMARY KEY (function_id, minute)
    );
    CREATE TABLE call_totals (
        function_id TEXT NOT NULL, status TEXT NOT NULL, count INTEGER NOT NULL, PRIMARY KEY (function_id, status)
    );
    """,
    # 12: an ephemeral Dict/Queue made while an app runs belongs to it ('' = to no app) and is
    # deleted when that app stops.
    """
    ALTER TABLE data_objects ADD COLUMN app_id TEXT NOT NULL DEFAULT '';
    CREATE INDEX data_objects_by_app ON data_objects(app_id) WHERE app_id != '';
    """,
]


class SchemaTooNewError(RuntimeError):
    pass


class SqliteMetadataStore(SqliteDataTables, SqliteIdentityTables, MetadataStore):
    def __init__(self, path: Path) -> None:
        self.path = path
        self.db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA busy_timeout=5000")
        self._depth = 0  # open `_atomic` blocks: 0 means autocommit
        self._migrate()

    def _migrate(self) -> None:
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version > len(MIGRATIONS):
            raise SchemaTooNewError(
                f"{self.path} has schema version {version}, newer than this Nodal understands "
                f"({len(MIGRATIONS)}); upgrade Nodal or use another NODAL_HOME"
            )
        for i in range(version, len(MIGRATIONS)):
            self.db.executescript(f"BEGIN; {MIGRATIONS[i]} PRAGMA user_version = {i + 1}; COMMIT;")

    # ---- apps ----
    def put_app(self, app: AppRecord) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO apps VALUES (?,?,?,?,?,?,?,?,?,?)",
            (app.app_id, app.name, app.environment, app.state, app.version, app.description,
             app.tag, app.created_at, app.stopped_at, app.code_json),
        )

    def get_app(self, app_id: str) -> AppRecord | None:
        row = self.db.execute("SELECT * FROM apps WHERE app_id = ?", (app_id,)).fetchone()
        return AppRecord(*row) if row else None

    def list_apps(self, environment: str | None = None) -> list[AppRecord]:
        if environment is None:
            rows = self.db.execute("SELECT * FROM apps ORDER BY created_at").fetchall()
        else:
            rows = self.db.execute(
                "SELECT * FROM apps WHERE environment = ? ORDER BY created_at", (environment,)
            ).fetchall()
        return [AppRecord(*r) for r in rows]

    def app_versions(self, name: str, environment: str) -> list[AppRecord]:
        rows = self.db.execute(
            "SELECT * FROM apps WHERE name = ? AND environment = ? ORDER BY version DESC",
            (name, environment),
        ).fetchall()
        return [AppRecord(*r) for r in rows]

    # ---- environments ----
    def put_environment(self, name: str, created_at: float) -> bool:
        cur = self.db.execute("INSERT OR IGNORE INTO environments VALUES (?,?)", (name, created_at))
        return cur.rowcount == 1

    def list_environments(self) -> dict[str, float]:
        """Every environment: created ones, and those running apps or named objects live in."""
        rows = self.db.execute(
            "SELECT name, created_at FROM environments UNION ALL "
            "SELECT environment, MIN(created_at) FROM apps WHERE stopped_at = 0 GROUP BY environment UNION ALL "
            "SELECT environment, MIN(created_at) FROM data_objects GROUP BY environment"
        ).fetchall()
        out: dict[str, float] = {}
        for name, created in rows:
            out[name] = min(created, out.get(name, created))
        return out

    def delete_environment(self, name: str) -> bool:
        return self.db.execute("DELETE FROM environments WHERE name = ?", (name,)).rowcount == 1

    # ---- functions ----
    def put_functions(self, functions: list[FunctionRecord]) -> None:
        with self._atomic():
            self.db.executemany(
                "INSERT OR REPLACE INTO functions VALUES (?,?,?,?)",
                [(f.function_id, f.app_id, f.tag, f.definition) for f in functions],
            )

    def list_functions(self, app_id: str) -> list[FunctionRecord]:
        rows = self.db.execute("SELECT * FROM functions WHERE app_id = ?", (app_id,)).fetchall()
        return [FunctionRecord(*r) for r in rows]

    def get_function(self, function_id: str) -> FunctionRecord | None:
        row = self.db.execute("SELECT * FROM functions WHERE function_id = ?", (function_id,)).fetchone()
        return FunctionRecord(*row) if row else None

    def put_bound_params(self, bound: BoundFunctionRecord) -> None:
        self.db.execute(
            "INSERT OR IGNORE INTO bound_params (bound_id, function_id, params, overrides) VALUES (?,?,?,?)",
            (bound.bound_id, bound.function_id, bound.params, bound.overrides),
        )

    def get_bound_params(self, bound_id: str) -> BoundFunctionRecord | None:
        row = self.db.execute(
            "SELECT bound_id, function_id, params, overrides FROM bound_params WHERE bound_id = ?",
            (bound_id,),
        ).fetchone()
        return BoundFunctionRecord(row[0], row[1], bytes(row[2]), bytes(row[3])) if row else None

    # ---- secrets ----
    def put_secret(self, secret_id: str, env_json: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO secrets (secret_id, env_json) VALUES (?,?)", (secret_id, env_json))

    def get_secret(self, secret_id: str) -> str | None:
        row = self.db.execute("SELECT env_json FROM secrets WHERE secret_id = ?", (secret_id,)).fetchone()
        return row[0] if row else None

    # ---- images ----
    def put_image(self, image_id: str, spec: bytes) -> None:
        self.db.execute("INSERT OR IGNORE INTO images VALUES (?,?)", (image_id, spec))

    def get_image(self, image_id: str) -> bytes | None:
        row = self.db.execute("SELECT spec FROM images WHERE image_id = ?", (image_id,)).fetchone()
        return row[0] if row else None

    # ---- calls ----
    def put_calls(self, calls: list[CallRecord]) -> None:
        with self._atomic():
            self.db.executemany(
                "INSERT INTO calls (call_id, function_id, input, created_at, parent_input_id, done, outputs, parked)"
                " VALUES (?,?,?,?,?,?,?,?)",
                [(c.call_id, c.function_id, c.input, c.created_at, c.parent_input_id, int(c.done), c.outputs,
                  int(c.parked)) for c in calls],
            )

    def finish_call(self, call_id: str, outputs: bytes) -> None:
        self.db.execute("UPDATE calls SET done = 1, outputs = ? WHERE call_id = ?", (outputs, call_id))

    def get_call(self, call_id: str) -> CallRecord | None:
        row = self.db.execute("SELECT * FROM calls WHERE call_id = ?", (call_id,)).fetchone()
        if not row:
            return None
        return CallRecord(row[0], row[1], row[2], row[3], row[4], bool(row[5]), row[6])

    def unpark_calls(self, function_id: str, limit: int) -> list[CallRecord]:
        rows = self.db.execute(
            "SELECT call_id, function_id, input, created_at, parent_input_id FROM calls"
            " WHERE function_id = ? AND parked = 1 AND done = 0 ORDER BY created_at LIMIT ?",
            (function_id, limit),
        ).fetchall()
        if rows:
            with self._atomic():
                self.db.executemany("UPDATE calls SET parked = 0 WHERE call_id = ?", [(r[0],) for r in rows])
        return [CallRecord(*r) for r in rows]

    def park_pending(self) -> list[str]:
        self.db.execute("UPDATE calls SET parked = 1 WHERE done = 0")
        rows = self.db.execute("SELECT DISTINCT function_id FROM calls WHERE parked = 1 AND done = 0").fetchall()
        return [r[0] for r in rows]

    def pending_calls(self) -> list[CallRecord]:
        rows = self.db.execute("SELECT * FROM calls WHERE done = 0 ORDER BY created_at").fetchall()
        return [CallRecord(r[0], r[1], r[2], r[3], r[4], bool(r[5]), r[6]) for r in rows]

    # ---- transactions (dicts and queues: sqlite_data.py) ----
    @contextlib.contextmanager
    def _atomic(self) -> Iterator[None]:
        """One atomic unit of work: its own transaction, or a savepoint inside an open one, so a
        call made inside `transaction()` joins that commit yet still undoes only itself on error."""
        outer = self._depth == 0
        self.db.execute("BEGIN" if outer else "SAVEPOINT nodal_atomic")
        self._depth += 1
        try:
            yield
        except BaseException:
            self._depth -= 1
            if outer:
                self.db.execute("ROLLBACK")
            else:
                self.db.execute("ROLLBACK TO nodal_atomic")
                self.db.execute("RELEASE nodal_atomic")
            raise
        self._depth -= 1
        if outer:
            try:
                self.db.execute("COMMIT")
            except BaseException:
                if self.db.in_transaction:
                    self.db.execute("ROLLBACK")
                raise
        else:
            self.db.execute("RELEASE nodal_atomic")

    def transaction(self) -> contextlib.AbstractContextManager[None]:
        return self._atomic()

    # ---- schedules ----
    def schedule_state(self, function_id: str, anchor: float) -> tuple[float, float | None]:
        self.db.execute(
            "INSERT OR IGNORE INTO schedule_state (function_id, anchor, last_fire) VALUES (?,?,NULL)",
            (function_id, anchor),
        )
        row = self.db.execute(
            "SELECT anchor, last_fire FROM schedule_state WHERE function_id = ?", (function_id,)
        ).fetchone()
        return row[0], row[1]

    def claim_schedule_fire(self, function_id: str, previous: float | None, fire_at: float) -> bool:
        cur = self.db.execute(
            "UPDATE schedule_state SET last_fire = ? WHERE function_id = ? AND last_fire IS ?",
            (fire_at, function_id, previous),
        )
        return cur.rowcount == 1

    def claim_schedule_fires(
        self, claims: list[tuple[str, float | None]], fire_at: float, live_states: tuple[int, ...]
    ) -> list[str]:
        if not claims:
            return []
        live = ",".join("?" * len(live_states)) or "NULL"
        sql = (
            "UPDATE schedule_state SET last_fire = ? WHERE function_id = ? AND last_fire IS ? AND EXISTS ("
            " SELECT 1 FROM functions f JOIN apps a ON a.app_id = f.app_id"
            f" WHERE f.function_id = schedule_state.function_id AND a.state IN ({live}))"
        )
        claimed = []
        self.db.execute("BEGIN IMMEDIATE")
        try:
            for function_id, previous in claims:
                if self.db.execute(sql, (fire_at, function_id, previous, *live_states)).rowcount == 1:
                    claimed.append(function_id)
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")
        return claimed

    # ---- secrets: all rows, deletion and names ----
    def all_secrets(self) -> list[tuple[str, str]]:
        return [(r[0], r[1]) for r in self.db.execute("SELECT secret_id, env_json FROM secrets").fetchall()]

    def delete_secret(self, secret_id: str) -> None:
        self.db.execute("DELETE FROM secrets WHERE secret_id = ?", (secret_id,))

    def update_secret_env(self, secret_id: str, env_json: str) -> bool:
        return self.db.execute("UPDATE secrets SET env_json = ? WHERE secret_id = ?", (env_json, secret_id)).rowcount == 1

    def put_secret_name(self, name: str, environment: str, secret_id: str, now: float) -> None:
        self.db.execute(
            "INSERT INTO secret_names (environment, name, secret_id, created_at, updated_at) VALUES (?,?,?,?,?)"
            " ON CONFLICT (environment, name) DO UPDATE SET secret_id = excluded.secret_id,"
            " updated_at = excluded.updated_at",
            (environment, name, secret_id, now, now),
        )

    def find_secret_name(self, name: str, environment: str) -> SecretNameRecord | None:
        row = self.db.execute(
            "SELECT name, environment, secret_id, created_at, updated_at FROM secret_names"
            " WHERE environment = ? AND name = ?",
            (environment, name),
        ).fetchone()
        return SecretNameRecord(*row) if row else None

    def list_secret_names(self, environment: str) -> list[SecretNameRecord]:
        rows = self.db.execute(
            "SELECT name, environment, secret_id, created_at, updated_at FROM secret_names"
            " WHERE environment = ? ORDER BY name",
            (environment,),
        ).fetchall()
        return [SecretNameRecord(*r) for r in rows]

    def delete_secret_name(self, name: str, environment: str) -> None:
        self.db.execute("DELETE FROM secret_names WHERE environment = ? AND name = ?", (environment, name))

    # ---- volumes ----
    def volume_latest(self, volume_id: str) -> tuple[int, str] | None:
        row = self.db.execute(
            "SELECT version, manifest FROM volume_versions WHERE volume_id = ? ORDER BY version DESC LIMIT 1",
            (volume_id,),
        ).fetchone()
        return (row[0], row[1]) if row else None

    def volume_put_version(self, volume_id: str, version: int, manifest_json: str, now: float) -> None:
        self.db.execute(
            "INSERT INTO volume_versions (volume_id, version, manifest, created_at) VALUES (?, ?, ?, ?)",
            (volume_id, version, manifest_json, now),
        )

    def list_data_objects(self, kind: int, environment: str) -> list[DataObjectRecord]:
        rows = self.db.execute(
            "SELECT object_id, kind, name, environment, created_at FROM data_objects"
            " WHERE kind = ? AND environment = ? AND name IS NOT NULL ORDER BY name",
            (kind, environment),
        ).fetchall()
        return [DataObjectRecord(*r) for r in rows]

    def rename_data_object(self, object_id: str, name: str) -> None:
        self.db.execute("UPDATE data_objects SET name = ? WHERE object_id = ?", (name, object_id))

    def close(self) -> None:
        self.db.close()

    # ---- sandboxes ----
    def put_sandbox(self, sandbox_id: str, app_id: str, finished: bool, created_at: float, info: bytes) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO sandboxes (sandbox_id, app_id, finished, created_at, info) VALUES (?,?,?,?,?)",
            (sandbox_id, app_id, int(finished), created_at, info),
        )

    def get_sandbox(self, sandbox_id: str) -> bytes | None:
        row = self.db.execute("SELECT info FROM sandboxes WHERE sandbox_id = ?", (sandbox_id,)).fetchone()
        return row[0] if row else None

    def list_sandboxes(self, app_id: str | None, include_finished: bool) -> list[bytes]:
        sql, args = "SELECT info FROM sandboxes WHERE 1=1", []
        if app_id:
            sql += " AND app_id = ?"
            args.append(app_id)
        if not include_finished:
            sql += " AND finished = 0"
        return [r[0] for r in self.db.execute(sql + " ORDER BY created_at", args).fetchall()]

    # ---- the dashboard's call history ----
    def history_append(self, inputs: list[tuple], minutes: list[tuple], totals: list[tuple]) -> None:
        with self._atomic():
            self.db.executemany("INSERT INTO call_history VALUES (?,?,?,?,?,?,?,?,?)", inputs)
            self.db.executemany(
                "INSERT INTO call_minutes VALUES (?,?,?,?,?,?) ON CONFLICT (function_id, minute) DO UPDATE SET"
                " calls = call_minutes.calls + excluded.calls, failures = call_minutes.failures + excluded.failures,"
                " latency_sum = call_minutes.latency_sum + excluded.latency_sum,"
                " latency_n = call_minutes.latency_n + excluded.latency_n",
                minutes,
            )
            self.db.executemany(
                "INSERT INTO call_totals VALUES (?,?,?) ON CONFLICT (function_id, status) DO UPDATE SET"
                " count = call_totals.count + excluded.count",
                totals,
            )

    def history_recent(self, function_id: str, limit: int) -> list[tuple]:
        return self.db.execute(
            "SELECT * FROM call_history WHERE function_id = ? ORDER BY finished_at DESC, rowid DESC LIMIT ?",
            (function_id, limit),
        ).fetchall()

    def history_call(self, call_id: str, limit: int) -> list[tuple]:
        return self.db.execute(
            "SELECT * FROM call_history WHERE call_id = ? ORDER BY finished_at, rowid LIMIT ?", (call_id, limit)
        ).fetchall()

    def history_minutes(self, function_id: str, since_minute: int) -> list[tuple]:
        return self.db.execute(
            "SELECT minute, calls, failures, latency_sum, latency_n FROM call_minutes"
            " WHERE function_id = ? AND minute >= ? ORDER BY minute",
            (function_id, since_minute),
        ).fetchall()

    def history_totals(self, function_id: str) -> dict[str, int]:
        rows = self.db.execute("SELECT status, count FROM call_totals WHERE function_id = ?", (function_id,))
        return dict(rows.fetchall())

    def history_trim(self, function_ids: list[str], keep: int, before: float, minutes_before: int) -> None:
        with self._atomic():
            for function_id in function_ids:
                self.db.execute(
                    "DELETE FROM call_history WHERE function_id = ? AND finished_at <= (SELECT finished_at FROM"
                    " call_history WHERE function_id = ? ORDER BY finished_at DESC LIMIT 1 OFFSET ?)",
                    (function_id, function_id, keep),
                )
            self.db.execute("DELETE FROM call_history WHERE finished_at < ?", (before,))
            self.db.execute("DELETE FROM call_minutes WHERE minute < ?", (minutes_before,))
