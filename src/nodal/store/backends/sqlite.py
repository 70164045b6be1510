"""The metadata store on SQLite in WAL mode: the embedded default."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from nodal.store.metadata import AppRecord, BoundFunctionRecord, CallRecord, FunctionRecord, MetadataStore

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
]


class SchemaTooNewError(RuntimeError):
    pass


class SqliteMetadataStore(MetadataStore):
    def __init__(self, path: Path) -> None:
        self.path = path
        self.db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA busy_timeout=5000")
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

    # ---- functions ----
    def put_functions(self, functions: list[FunctionRecord]) -> None:
        self.db.execute("BEGIN")
        self.db.executemany(
            "INSERT OR REPLACE INTO functions VALUES (?,?,?,?)",
            [(f.function_id, f.app_id, f.tag, f.definition) for f in functions],
        )
        self.db.execute("COMMIT")

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
        self.db.execute("INSERT OR REPLACE INTO secrets VALUES (?,?)", (secret_id, env_json))

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
        self.db.execute("BEGIN")
        self.db.executemany(
            "INSERT INTO calls (call_id, function_id, input, created_at, parent_input_id, done, outputs, parked)"
            " VALUES (?,?,?,?,?,?,?,?)",
            [(c.call_id, c.function_id, c.input, c.created_at, c.parent_input_id, int(c.done), c.outputs,
              int(c.parked)) for c in calls],
        )
        self.db.execute("COMMIT")

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
            self.db.execute("BEGIN")
            self.db.executemany("UPDATE calls SET parked = 0 WHERE call_id = ?", [(r[0],) for r in rows])
            self.db.execute("COMMIT")
        return [CallRecord(*r) for r in rows]

    def park_pending(self) -> list[str]:
        self.db.execute("UPDATE calls SET parked = 1 WHERE done = 0")
        rows = self.db.execute("SELECT DISTINCT function_id FROM calls WHERE parked = 1 AND done = 0").fetchall()
        return [r[0] for r in rows]

    def pending_calls(self) -> list[CallRecord]:
        rows = self.db.execute("SELECT * FROM calls WHERE done = 0 ORDER BY created_at").fetchall()
        return [CallRecord(r[0], r[1], r[2], r[3], r[4], bool(r[5]), r[6]) for r in rows]

    def close(self) -> None:
        self.db.close()
