"""Which metadata store the server uses: SQLite under NODAL_HOME, or PostgreSQL by URL.

NODAL_DATABASE_URL=postgresql://user:password@host:port/dbname selects PostgreSQL (shared by
the servers of a cluster, and outliving any one machine); unset, the server keeps its metadata
in SQLite at $NODAL_HOME/nodal.db. A store that cannot be opened stops the server at start with
a message that says what is wrong and names the URL (never its password).
"""

from __future__ import annotations

import os
from pathlib import Path

from nodal import paths
from nodal.store.metadata import MetadataStore

DATABASE_URL_ENV = "NODAL_DATABASE_URL"
_POSTGRES_SCHEMES = ("postgresql", "postgres")


def database_url() -> str | None:
    """The configured PostgreSQL URL, or None for the default SQLite database."""
    url = os.environ.get(DATABASE_URL_ENV, "").strip()
    return url or None


def open_metadata_store(url: str | None = None, sqlite_path: Path | None = None) -> MetadataStore:
    """Open (and migrate) the configured metadata store.

    Raises SystemExit with a clear message when the URL is malformed, the server is unreachable,
    refuses the credentials, or holds a schema newer than this Nodal."""
    from nodal.store.backends.sqlite import SchemaTooNewError, SqliteMetadataStore

    url = url if url is not None else database_url()
    if url is None:
        try:
            return SqliteMetadataStore(sqlite_path or paths.database_path())
        except SchemaTooNewError as exc:
            raise SystemExit(str(exc)) from None
    return _open_postgres(url)


def _open_postgres(url: str) -> MetadataStore:
    from nodal.store.backends.postgres import redact_url

    shown = redact_url(url)
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme not in _POSTGRES_SCHEMES:
        raise SystemExit(
            f"{DATABASE_URL_ENV} must be a PostgreSQL URL like postgresql://user:password@host:5432/dbname,"
            f" not {shown!r} (unset it to use SQLite under NODAL_HOME)"
        )
    import psycopg
    import psycopg.errors

    from nodal.store.backends.postgres import PostgresMetadataStore
    from nodal.store.backends.sqlite import SchemaTooNewError

    try:
        return PostgresMetadataStore(url)
    except SchemaTooNewError as exc:
        raise SystemExit(str(exc)) from None
    except psycopg.errors.InsufficientPrivilege as exc:  # connected, but may not create the tables
        raise SystemExit(
            f"the metadata database {shown} denied access: {_first_line(exc)} — use the user that owns the"
            f" database (or grant this one its privileges on the public schema and Nodal's tables)"
            f" ({DATABASE_URL_ENV})"
        ) from None
    except psycopg.ProgrammingError as exc:  # e.g. an invalid connection option in the URL
        raise SystemExit(f"invalid metadata database URL {shown}: {_first_line(exc)} ({DATABASE_URL_ENV})") from None
    except psycopg.Error as exc:
        raise SystemExit(f"cannot connect to the metadata database {shown}: {connect_problem(exc)} "
                         f"({DATABASE_URL_ENV})") from None


def _first_line(exc: BaseException) -> str:
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    return lines[0] if lines else type(exc).__name__


def connect_problem(exc: BaseException) -> str:
    """What went wrong connecting, in a few words, with what to check."""
    text = str(exc)
    low = text.lower()
    if "connection refused" in low:
        return "connection refused — is PostgreSQL running and listening there?"
    if "password authentication failed" in low or "no password supplied" in low:
        return "password authentication failed — check the user and password in the URL"
    if "does not exist" in low and "database" in low:
        return f"{_detail(text)} — create it (createdb) or fix the database name in the URL"
    if "does not exist" in low and "role" in low:
        return f"{_detail(text)} — create the user (createuser) or fix the user in the URL"
    if "timeout" in low or "timed out" in low:
        return "connection timed out — is the host reachable and the port right?"
    if "could not translate host name" in low or "name or service not known" in low:
        return f"{_detail(text)} — check the host name"
    if "no pg_hba.conf entry" in low:
        return f"{_detail(text)} — allow this client in the server's pg_hba.conf"
    return _detail(text)


def _detail(text: str) -> str:
    """The server's own words: the last part of libpq's first line ('... failed: FATAL:  why')."""
    line = _first_line(Exception(text))
    for marker in ("FATAL:", "failed:"):
        if marker in line:
            line = line.rsplit(marker, 1)[1]
    return line.strip() or text.strip()
