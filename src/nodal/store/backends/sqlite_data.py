"""SQLite tables of Dicts, Queues and the other named data objects (volumes, network file
systems): their records, entries, items and partitions. Mixed into `SqliteMetadataStore`, whose
`_atomic` makes a call one atomic unit of work."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable

from nodal.store.metadata import DataObjectRecord

# DELETE ... RETURNING (SQLite 3.35): a queue take is one statement.
_RETURNING = sqlite3.sqlite_version_info >= (3, 35, 0)
# Only from a partition whose TTL has not run out by ?4 (`queue_take(live_at=)`).
_LIVE_PARTITION = (" AND EXISTS (SELECT 1 FROM queue_partitions p WHERE p.queue_id = ?1 AND p.partition = ?2"
                   " AND p.expires_at >= ?4)")



class SqliteDataTables:
    db: sqlite3.Connection
    _atomic: Callable[[], contextlib.AbstractContextManager[None]]  # SqliteMetadataStore's

    def put_data_object(self, obj: DataObjectRecord) -> None:
        self.db.execute(
            "INSERT INTO data_objects (object_id, kind, name, environment, created_at, heartbeat_at, app_id)"
            " VALUES (?,?,?,?,?,?,?)",
            (obj.object_id, obj.kind, obj.name, obj.environment, obj.created_at,
             obj.created_at if obj.name is None else None, obj.app_id),
        )

    def app_data_objects(self, app_id: str) -> list[str]:
        rows = self.db.execute("SELECT object_id FROM data_objects WHERE app_id = ?", (app_id,)).fetchall()
        return [r[0] for r in rows]

    def heartbeat_data_object(self, object_id: str, now: float) -> bool:
        cur = self.db.execute(
            "UPDATE data_objects SET heartbeat_at = ? WHERE object_id = ? AND heartbeat_at IS NOT NULL",
            (now, object_id),
        )
        return cur.rowcount > 0

    def refresh_ephemeral(self, now: float) -> None:
        self.db.execute("UPDATE data_objects SET heartbeat_at = ? WHERE heartbeat_at IS NOT NULL", (now,))

    def stale_ephemeral(self, before: float) -> list[str]:
        rows = self.db.execute(
            "SELECT object_id FROM data_objects WHERE heartbeat_at IS NOT NULL AND heartbeat_at < ?", (before,)
        ).fetchall()
        return [r[0] for r in rows]

    def get_data_object(self, object_id: str) -> DataObjectRecord | None:
        row = self.db.execute(
            "SELECT object_id, kind, name, environment, created_at FROM data_objects WHERE object_id = ?",
            (object_id,),
        ).fetchone()
        return DataObjectRecord(*row) if row else None

    def find_data_object(self, kind: int, name: str, environment: str) -> DataObjectRecord | None:
        row = self.db.execute(
            "SELECT object_id, kind, name, environment, created_at FROM data_objects"
            " WHERE kind = ? AND environment = ? AND name = ?",
            (kind, environment, name),
        ).fetchone()
        return DataObjectRecord(*row) if row else None

    def delete_data_object(self, object_id: str) -> None:
        with self._atomic():
            self.db.execute("DELETE FROM data_objects WHERE object_id = ?", (object_id,))
            self.db.execute("DELETE FROM dict_entries WHERE dict_id = ?", (object_id,))
            self.db.execute("DELETE FROM queue_items WHERE queue_id = ?", (object_id,))
            self.db.execute("DELETE FROM queue_partitions WHERE queue_id = ?", (object_id,))
            self.db.execute("DELETE FROM volume_versions WHERE volume_id = ?", (object_id,))

    def dict_get(self, dict_id: str, key: bytes, min_updated_at: float) -> bytes | None:
        row = self.db.execute(
            "SELECT value FROM dict_entries WHERE dict_id = ? AND key = ? AND updated_at >= ?",
            (dict_id, key, min_updated_at),
        ).fetchone()
        return bytes(row[0]) if row else None

    def dict_put(self, dict_id: str, entries: list[tuple[bytes, bytes]], now: float, skip_if_exists: bool,
                 min_updated_at: float) -> bool:
        if not skip_if_exists and len(entries) == 1:  # the common case: one statement is atomic
            self.db.execute(
                "INSERT OR REPLACE INTO dict_entries (dict_id, key, value, updated_at) VALUES (?,?,?,?)",
                (dict_id, entries[0][0], entries[0][1], now),
            )
            return True
        with self._atomic():
            if skip_if_exists:
                # An expired entry counts as absent: drop those first (committing that is harmless).
                self.db.executemany(
                    "DELETE FROM dict_entries WHERE dict_id = ? AND key = ? AND updated_at < ?",
                    [(dict_id, k, min_updated_at) for k, _ in entries],
                )
                for k, _ in entries:
                    if self.db.execute(
                        "SELECT 1 FROM dict_entries WHERE dict_id = ? AND key = ?", (dict_id, k)
                    ).fetchone():
                        return False
            self.db.executemany(
                "INSERT OR REPLACE INTO dict_entries (dict_id, key, value, updated_at) VALUES (?,?,?,?)",
                [(dict_id, k, v, now) for k, v in entries],
            )
        return True

    def dict_put_one(self, dict_id: str, kind: int, key: bytes, value: bytes, now: float) -> bool:
        # One statement: the check and the write are one atomic step. An upsert rewrites an
        # existing entry in place (REPLACE deletes and re-inserts it: twice the pages to commit).
        cur = self.db.execute(
            "INSERT INTO dict_entries (dict_id, key, value, updated_at) SELECT ?,?,?,?"
            " WHERE EXISTS (SELECT 1 FROM data_objects WHERE object_id = ? AND kind = ?)"
            " ON CONFLICT (dict_id, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            (dict_id, key, value, now, dict_id, kind),
        )
        return cur.rowcount > 0

    def dict_pop(self, dict_id: str, key: bytes, min_updated_at: float) -> bytes | None:
        with self._atomic():
            value = self.dict_get(dict_id, key, min_updated_at)
            self.db.execute("DELETE FROM dict_entries WHERE dict_id = ? AND key = ?", (dict_id, key))
        return value

    def dict_len(self, dict_id: str) -> int:
        return self.db.execute("SELECT COUNT(*) FROM dict_entries WHERE dict_id = ?", (dict_id,)).fetchone()[0]

    def dict_clear(self, dict_id: str) -> None:
        self.db.execute("DELETE FROM dict_entries WHERE dict_id = ?", (dict_id,))

    def dict_contents(self, dict_id: str, min_updated_at: float) -> list[tuple[bytes, bytes]]:
        rows = self.db.execute(
            "SELECT key, value FROM dict_entries WHERE dict_id = ? AND updated_at >= ?", (dict_id, min_updated_at)
        ).fetchall()
        return [(bytes(k), bytes(v)) for k, v in rows]

    def queue_expire(self, queue_id: str, now: float) -> None:
        expired = self.db.execute(
            "SELECT partition FROM queue_partitions WHERE queue_id = ? AND expires_at < ?", (queue_id, now)
        ).fetchall()
        if not expired:
            return
        with self._atomic():
            for (partition,) in expired:
                self.db.execute(
                    "DELETE FROM queue_items WHERE queue_id = ? AND partition = ?", (queue_id, partition)
                )
                self.db.execute(
                    "DELETE FROM queue_partitions WHERE queue_id = ? AND partition = ?", (queue_id, partition)
                )

    def queue_put(self, queue_id: str, partition: bytes, values: list[bytes], expires_at: float) -> None:
        with self._atomic():
            if len(values) == 1:
                self.db.execute("INSERT INTO queue_items (queue_id, partition, value) VALUES (?,?,?)",
                                (queue_id, partition, values[0]))
            else:
                self.db.executemany(
                    "INSERT INTO queue_items (queue_id, partition, value) VALUES (?,?,?)",
                    [(queue_id, partition, v) for v in values],
                )
            self.db.execute(  # an upsert: the partition's row is rewritten in place, its key left alone
                "INSERT INTO queue_partitions (queue_id, partition, expires_at) VALUES (?,?,?)"
                " ON CONFLICT (queue_id, partition) DO UPDATE SET expires_at = excluded.expires_at",
                (queue_id, partition, expires_at),
            )

    def queue_partition_state(self, queue_id: str, partition: bytes) -> tuple[float, int] | None:
        return self.db.execute(
            "SELECT expires_at, (SELECT COUNT(*) FROM queue_items WHERE queue_id = ?1 AND partition = ?2)"
            " FROM queue_partitions WHERE queue_id = ?1 AND partition = ?2",
            (queue_id, partition),
        ).fetchone()

    def queue_take(self, queue_id: str, partition: bytes, n: int, live_at: float | None = None) -> list[bytes]:
        if _RETURNING:  # one statement, atomic on its own
            rows = self.db.execute(
                "DELETE FROM queue_items WHERE item_id IN (SELECT item_id FROM queue_items"
                " WHERE queue_id = ?1 AND partition = ?2" + ("" if live_at is None else _LIVE_PARTITION)
                + " ORDER BY item_id LIMIT ?3) RETURNING item_id, value",
                (queue_id, partition, n) if live_at is None else (queue_id, partition, n, live_at),
            ).fetchall()
            rows.sort()
            return [bytes(r[1]) for r in rows]
        with self._atomic():
            rows = self.db.execute(
                "SELECT item_id, value FROM queue_items WHERE queue_id = ?1 AND partition = ?2"
                + ("" if live_at is None else _LIVE_PARTITION) + " ORDER BY item_id LIMIT ?3",
                (queue_id, partition, n) if live_at is None else (queue_id, partition, n, live_at),
            ).fetchall()
            self.db.executemany("DELETE FROM queue_items WHERE item_id = ?", [(r[0],) for r in rows])
        return [bytes(r[1]) for r in rows]

    def queue_items_after(self, queue_id: str, partition: bytes, after_item_id: int,
                          limit: int) -> list[tuple[int, bytes]]:
        rows = self.db.execute(
            "SELECT item_id, value FROM queue_items WHERE queue_id = ? AND partition = ? AND item_id > ?"
            " ORDER BY item_id LIMIT ?",
            (queue_id, partition, after_item_id, limit),
        ).fetchall()
        return [(r[0], bytes(r[1])) for r in rows]

    def queue_len(self, queue_id: str, partition: bytes | None) -> int:
        if partition is None:
            row = self.db.execute("SELECT COUNT(*) FROM queue_items WHERE queue_id = ?", (queue_id,)).fetchone()
        else:
            row = self.db.execute(
                "SELECT COUNT(*) FROM queue_items WHERE queue_id = ? AND partition = ?", (queue_id, partition)
            ).fetchone()
        return row[0]

    def queue_partition_count(self, queue_id: str) -> int:
        return self.db.execute(
            "SELECT COUNT(*) FROM queue_partitions WHERE queue_id = ?", (queue_id,)
        ).fetchone()[0]

    def queue_has_partition(self, queue_id: str, partition: bytes) -> bool:
        return self.db.execute(
            "SELECT 1 FROM queue_partitions WHERE queue_id = ? AND partition = ?", (queue_id, partition)
        ).fetchone() is not None

    def queue_clear(self, queue_id: str, partition: bytes | None) -> None:
        with self._atomic():
            if partition is None:
                self.db.execute("DELETE FROM queue_items WHERE queue_id = ?", (queue_id,))
                self.db.execute("DELETE FROM queue_partitions WHERE queue_id = ?", (queue_id,))
            else:
                self.db.execute(
                    "DELETE FROM queue_items WHERE queue_id = ? AND partition = ?", (queue_id, partition)
                )
                self.db.execute(
                    "DELETE FROM queue_partitions WHERE queue_id = ? AND partition = ?", (queue_id, partition)
                )
