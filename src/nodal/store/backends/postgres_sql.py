"""SQL text for the PostgreSQL backend's modules."""

from __future__ import annotations


def upsert(table: str, columns: tuple[str, ...], key: tuple[str, ...], also: str = "") -> str:
    """INSERT ... ON CONFLICT DO UPDATE: SQLite's INSERT OR REPLACE for a table whose only unique
    key is `key` (`also` adds assignments, e.g. resetting a column REPLACE would reset)."""
    sets = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns if c not in key)
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))})"
        f" ON CONFLICT ({', '.join(key)}) DO UPDATE SET {sets}{also}"
    )
