"""PostgreSQL tables of Dicts, Queues and the other named data objects, mirroring
`sqlite_data.py` method by method. Mixed into `PostgresMetadataStore`, which provides the
statement helpers (`_one`, `_all`, `_write`) and `_atomic`."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from nodal.store.backends.postgres_sql import upsert
from nodal.store.metadata import DataObjectRecord

_PUT_DICT_ENTRY = upsert("dict_entries", ("dict_id", "key", "value", "updated_at"), ("dict_id", "key"))
_PUT_PARTITION = upsert("queue_partitions", ("queue_id", "partition", "expires_at"), ("queue_id", "partition"))


class PostgresDataTables:
    # PostgresMetadataStore's statement helpers (a write's row count, one row or None, all rows)
    # and its atomic unit of work
    _write: Callable[..., int]
    _one: Callable[..., Any]
    _all: Callable[..., list[tuple]]
    _atomic: Callable[[], contextlib.AbstractContextManager[None]]

    def put_data_object(self, obj: DataObjectRecord) -> None:
        self._write(
            "INSERT INTO data_objects (object_id, kind, name, environment, created_at, heartbeat_at, app_id)"
            " VALUES (%s,%s,%s,%s,%s,%s,%s)",
            (obj.object_id, obj.kind, obj.name, obj.environment, obj.created_at,
             obj.created_at if obj.name is None else None, obj.app_id),
            guard=True,
        )

    def app_data_objects(self, app_id: str) -> list[str]:
        return [r[0] for r in self._all("SELECT object_id FROM data_objects WHERE app_id = %s", (app_id,))]

    def heartbeat_data_object(self, object_id: str, now: float) -> bool:
        return self._write(
            "UPDATE data_objects SET heartbeat_at = %s WHERE object_id = %s AND heartbeat_at IS NOT NULL",
            (now, object_id),
        ) > 0

    def refresh_ephemeral(self, now: float) -> None:
        self._write("UPDATE data_objects SET heartbeat_at = %s WHERE heartbeat_at IS NOT NULL", (now,))

    def stale_ephemeral(self, before: float) -> list[str]:
        rows = self._all(
            "SELECT object_id FROM data_objects WHERE heartbeat_at IS NOT NULL AND heartbeat_at < %s", (before,)
        )
        return [r[0] for r in rows]

    def get_data_object(self, object_id: str) -> DataObjectRecord | None:
        row = self._one(
            "SELECT object_id, kind, name, environment, created_at FROM data_objects WHERE object_id = %s",
            (object_id,),
        )
        return DataObjectRecord(*row) if row else None

    def find_data_object(self, kind: int, name: str, environment: str) -> DataObjectRecord | None:
        row = self._one(
            "SELECT object_id, kind, name, environment, created_at FROM data_objects"
            " WHERE kind = %s AND environment = %s AND name = %s",
            (kind, environment, name),
        )
        return DataObjectRecord(*row) if row else None

    def delete_data_object(self, object_id: str) -> None:
        with self._atomic():
            self._write("DELETE FROM data_objects WHERE object_id = %s", (object_id,))
            self._write("DELETE FROM dict_entries WHERE dict_id = %s", (object_id,))
            self._write("DELETE FROM queue_items WHERE queue_id = %s", (object_id,))
            self._write("DELETE FROM queue_partitions WHERE queue_id = %s", (object_id,))
            self._write("DELETE FROM volume_versions WHERE volume_id = %s", (object_id,))

    def dict_get(self, dict_id: str, key: bytes, min_updated_at: float) -> bytes | None:
        row = self._one(
            "SELECT value FROM dict_entries WHERE dict_id = %s AND key = %s AND updated_at >= %s",
            (dict_id, key, min_updated_at),
        )
        return bytes(row[0]) if row else None

    def dict_put(self, dict_id: str, entries: list[tuple[bytes, bytes]], now: float, skip_if_exists: bool,
                 min_updated_at: float) -> bool:
        if not skip_if_exists and len(entries) == 1:  # the common case: one statement is atomic
            self._write(_PUT_DICT_ENTRY, (dict_id, entries[0][0], entries[0][1], now))
            return True
        with self._atomic():
            if skip_if_exists:
                # An expired entry counts as absent: drop those first (committing that is harmless).
                keys = [k for k, _ in entries]
                self._write(
                    "DELETE FROM dict_entries WHERE dict_id = %s AND key = ANY(%s) AND updated_at < %s",
                    (dict_id, keys, min_updated_at),
                )
                if self._one("SELECT 1 FROM dict_entries WHERE dict_id = %s AND key = ANY(%s) LIMIT 1",
                             (dict_id, keys)):
                    return False
            # one row per key, the last value winning, as SQLite's INSERT OR REPLACE over the list does
            latest = dict(entries)
            self._write_many(_PUT_DICT_ENTRY, [(dict_id, k, v, now) for k, v in latest.items()])
        return True

    def dict_put_one(self, dict_id: str, kind: int, key: bytes, value: bytes, now: float) -> bool:
        return self._write(  # one statement: the check and the write are one atomic step
            "INSERT INTO dict_entries (dict_id, key, value, updated_at) SELECT %s, %s, %s, %s"
            " WHERE EXISTS (SELECT 1 FROM data_objects WHERE object_id = %s AND kind = %s)"
            " ON CONFLICT (dict_id, key) DO UPDATE SET value = EXCLUDED.value, updated_at = EXCLUDED.updated_at",
            (dict_id, key, value, now, dict_id, kind),
        ) > 0

    def dict_pop(self, dict_id: str, key: bytes, min_updated_at: float) -> bytes | None:
        # The entry goes either way; its value counts only if it had not expired.
        rows = self._write_returning(
            "DELETE FROM dict_entries WHERE dict_id = %s AND key = %s RETURNING value, updated_at", (dict_id, key)
        )
        return bytes(rows[0][0]) if rows and rows[0][1] >= min_updated_at else None

    def dict_len(self, dict_id: str) -> int:
        return self._one("SELECT COUNT(*) FROM dict_entries WHERE dict_id = %s", (dict_id,))[0]

    def dict_clear(self, dict_id: str) -> None:
        self._write("DELETE FROM dict_entries WHERE dict_id = %s", (dict_id,))

    def dict_contents(self, dict_id: str, min_updated_at: float) -> list[tuple[bytes, bytes]]:
        rows = self._all(
            "SELECT key, value FROM dict_entries WHERE dict_id = %s AND updated_at >= %s ORDER BY key",
            (dict_id, min_updated_at),
        )
        return [(bytes(k), bytes(v)) for k, v in rows]

    def queue_expire(self, queue_id: str, now: float) -> None:
        expired = self._all(
            "SELECT partition FROM queue_partitions WHERE queue_id = %s AND expires_at < %s", (queue_id, now)
        )
        if not expired:
            return
        partitions = [p for (p,) in expired]
        with self._atomic():
            self._write("DELETE FROM queue_items WHERE queue_id = %s AND partition = ANY(%s)", (queue_id, partitions))
            self._write(
                "DELETE FROM queue_partitions WHERE queue_id = %s AND partition = ANY(%s)", (queue_id, partitions)
            )

    def queue_put(self, queue_id: str, partition: bytes, values: list[bytes], expires_at: float) -> None:
        # one statement (atomic on its own): the items, in order, and the partition's new TTL
        self._write(
            "WITH items AS (INSERT INTO queue_items (queue_id, partition, value)"
            " SELECT %s, %s, v FROM unnest(%s::bytea[]) WITH ORDINALITY AS t(v, i) ORDER BY i) "
            + _PUT_PARTITION,
            (queue_id, partition, values, queue_id, partition, expires_at),
        )

    def queue_partition_state(self, queue_id: str, partition: bytes) -> tuple[float, int] | None:
        return self._one(
            "SELECT expires_at, (SELECT COUNT(*) FROM queue_items WHERE queue_id = %s AND partition = %s)"
            " FROM queue_partitions WHERE queue_id = %s AND partition = %s",
            (queue_id, partition, queue_id, partition),
        )

    def queue_take(self, queue_id: str, partition: bytes, n: int, live_at: float | None = None) -> list[bytes]:
        # One statement, atomic on its own; SKIP LOCKED: two servers never take the same item.
        live, args = "", (queue_id, partition, n)
        if live_at is not None:  # only from a partition whose TTL has not run out
            live = (" AND EXISTS (SELECT 1 FROM queue_partitions p WHERE p.queue_id = %s AND p.partition = %s"
                    " AND p.expires_at >= %s)")
            args = (queue_id, partition, queue_id, partition, live_at, n)
        sql = (
            "DELETE FROM queue_items WHERE item_id IN (SELECT item_id FROM queue_items"
            f" WHERE queue_id = %s AND partition = %s{live} ORDER BY item_id LIMIT %s FOR UPDATE SKIP LOCKED)"
            " RETURNING item_id, value"
        )
        rows = self._write_returning(sql, args)
        return [bytes(v) for _, v in sorted(rows)]

    def queue_items_after(self, queue_id: str, partition: bytes, after_item_id: int,
                          limit: int) -> list[tuple[int, bytes]]:
        rows = self._all(
            "SELECT item_id, value FROM queue_items WHERE queue_id = %s AND partition = %s AND item_id > %s"
            " ORDER BY item_id LIMIT %s",
            (queue_id, partition, after_item_id, limit),
        )
        return [(r[0], bytes(r[1])) for r in rows]

    def queue_len(self, queue_id: str, partition: bytes | None) -> int:
        if partition is None:
            row = self._one("SELECT COUNT(*) FROM queue_items WHERE queue_id = %s", (queue_id,))
        else:
            row = self._one(
                "SELECT COUNT(*) FROM queue_items WHERE queue_id = %s AND partition = %s", (queue_id, partition)
            )
        return row[0]

    def queue_partition_count(self, queue_id: str) -> int:
        return self._one("SELECT COUNT(*) FROM queue_partitions WHERE queue_id = %s", (queue_id,))[0]

    def queue_has_partition(self, queue_id: str, partition: bytes) -> bool:
        return self._one(
            "SELECT 1 FROM queue_partitions WHERE queue_id = %s AND partition = %s", (queue_id, partition)
        ) is not None

    def queue_clear(self, queue_id: str, partition: bytes | None) -> None:
        with self._atomic():
            if partition is None:
                self._write("DELETE FROM queue_items WHERE queue_id = %s", (queue_id,))
                self._write("DELETE FROM queue_partitions WHERE queue_id = %s", (queue_id,))
            else:
                self._write("DELETE FROM queue_items WHERE queue_id = %s AND partition = %s", (queue_id, partition))
                self._write(
                    "DELETE FROM queue_partitions WHERE queue_id = %s AND partition = %s", (queue_id, partition)
                )
