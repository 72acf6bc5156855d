"""Alembic environment of the ledger.

Called two ways: by `streams.edges.ledger.migrate.upgrade`, which passes an open connection in
`config.attributes["connection"]` and no URL; or by the alembic command line with
`migrations/alembic.ini`, where the URL comes from sendgate's settings. SQLite gets batch mode so
later revisions can alter tables there too.
"""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context
from sqlalchemy import Connection

from streams.core.settings import get_settings
from streams.edges.ledger.engine import make_engine
from streams.edges.ledger.models import metadata

__all__: list[str] = []

config = context.config


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        compare_type=True,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def _database_url() -> str:
    configured = config.get_main_option("sqlalchemy.url")
    return configured or get_settings().database_url.get_secret_value()


def run_offline() -> None:
    """Print the SQL instead of running it (`alembic upgrade head --sql`)."""
    context.configure(
        url=_database_url(),
        target_metadata=metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        return
    engine = make_engine(_database_url())
    try:
        with engine.begin() as own_connection:
            _configure(own_connection)
    finally:
        engine.dispose()


if config.config_file_name is not None:
    fileConfig(config.config_file_name, disable_existing_loggers=False)

if context.is_offline_mode():
    run_offline()
else:
    run_online()
