"""A whole PostgreSQL database as text, for tests that must show a value is nowhere in it."""

from __future__ import annotations

import shutil
import subprocess

from sqlalchemy.engine import make_url

__all__ = ["pg_dump"]


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
