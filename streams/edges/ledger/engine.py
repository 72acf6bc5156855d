"""Build the ledger's SQLAlchemy engine from a database URL (PostgreSQL, or SQLite for the demo)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import URL, Engine, create_engine, make_url

__all__ = ["make_engine"]


def make_engine(url: str) -> Engine:
    """An engine that checks pooled connections before use, so a restarted database is survived.

    For a SQLite file the parent folder is created first: the demo's default database lives in
    the ignored `.data/` folder, which a fresh checkout does not have.
    """
    parsed = make_url(url)
    sqlite_file = _sqlite_file(parsed)
    if sqlite_file is not None:
        sqlite_file.parent.mkdir(parents=True, exist_ok=True)
    return create_engine(parsed, pool_pre_ping=True)


def _sqlite_file(url: URL) -> Path | None:
    """The file a SQLite URL names; None for other databases, memory and `file:` URIs."""
    database = url.database or ""
    if url.get_backend_name() != "sqlite" or database in ("", ":memory:"):
        return None
    return None if database.startswith("file:") else Path(database).expanduser()
