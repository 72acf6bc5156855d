"""Bring a ledger database to the newest schema with Alembic, from Python (no alembic.ini needed).

`upgrade` is what the sink, the CLI and the tests call; it is idempotent (a database at head is
left alone). On PostgreSQL it holds a transaction-scoped advisory lock while migrating, so two
processes starting at once do not both try to create the tables. Developers who want the alembic
command line (to autogenerate the next revision) use `streams/edges/ledger/migrations/alembic.ini`.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text

from streams.edges.ledger.engine import make_engine

__all__ = ["MIGRATIONS_DIR", "alembic_config", "upgrade"]

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
_MIGRATION_LOCK_KEY = 0x5E4D6A7E
"""Advisory lock id for migrations on PostgreSQL; any constant no other code uses."""


def alembic_config() -> Config:
    """An Alembic configuration pointing at the ledger's migrations; no file, no URL.

    The URL is not put into the config (it would be interpolated as an ini value and could end up
    printed); `upgrade` hands Alembic an open connection instead.
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Run `alembic upgrade <revision>` on the database, in one transaction where it can."""
    engine = make_engine(database_url)
    try:
        with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY}
                )
            config = alembic_config()
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    finally:
        engine.dispose()
