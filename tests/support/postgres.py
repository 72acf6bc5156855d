"""PostgreSQL for the integration tests: databases of their own, and a whole database as text
for tests that must show a value is nowhere in it."""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from psycopg import errors
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ProgrammingError

from streams.edges.ledger import make_engine

__all__ = ["drop_database", "pg_dump", "scratch_database"]

DROP_ATTEMPTS = 40
DROP_PAUSE_S = 0.25


@contextmanager
def scratch_database(server_url: str, *, prefix: str = "sendgate_test") -> Iterator[str]:
    """A new empty database on the server of `server_url`, its URL yielded, dropped after."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    server = make_engine(server_url)
    admin = server.execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        drop_database(admin, name)
        server.dispose()


def drop_database(admin: Engine, name: str) -> None:
    """`DROP DATABASE ... WITH (FORCE)`, which ends our own connections to it but not an
    autovacuum worker's: that one belongs to the superuser, and the test role may not signal it
    ("must be a member of the role whose process is being terminated"). A test that deleted many
    rows invites one; it finishes or yields within moments, so the drop is tried again."""
    for attempt in range(DROP_ATTEMPTS):
        try:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            return
        except ProgrammingError as exc:
            if not isinstance(exc.orig, errors.InsufficientPrivilege):
                raise
            if attempt == DROP_ATTEMPTS - 1:
                raise
            time.sleep(DROP_PAUSE_S)


def pg_dump(database_url: str) -> str:
    """The whole database as SQL text, schema and data, as `pg_dump` writes it: a search of it
    covers every table, the ones a test does not know of included."""
    binary = shutil.which("pg_dump")
    assert binary is not None, "pg_dump is not installed (scripts/services installs PostgreSQL)"
    url = make_url(database_url).set(drivername="postgresql")
    return subprocess.run(
        [binary, "--no-owner", f"--dbname={url.render_as_string(hide_password=False)}"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
