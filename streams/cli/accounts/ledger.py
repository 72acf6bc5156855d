"""The account's latest enforcement events, from the ledger when there is one.

`sendgate accounts status` reads the ledger but never creates or migrates it: a status call
writes nothing. A ledger that is not there, not migrated or not reachable is a note beside the
rest of the status, not an error: the tables on Kafka are the state, the ledger its history.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy.exc
import typer
from sqlalchemy import Engine, inspect, make_url, select

from streams.edges.ledger.engine import make_engine
from streams.edges.ledger.models import EnforcementEventRow

__all__ = ["DEFAULT_EVENTS", "LedgerHistory", "ledger_history", "recent_enforcement"]

DEFAULT_EVENTS = 20
"""Enforcement events from the ledger that `status` shows by default."""


@dataclass(frozen=True, slots=True)
class LedgerHistory:
    """The account's latest enforcement events in the ledger, or why there are none to show."""

    events: tuple[dict[str, Any], ...] = ()
    note: str | None = None
    """Set when the ledger was not read (not asked, no database, not migrated, not reachable)."""
    limit: int = DEFAULT_EVENTS
    read: bool = False


def recent_enforcement(engine: Engine, account: str, limit: int) -> list[dict[str, Any]]:
    """The account's `limit` newest enforcement rows, newest first, every column but the id."""
    table = EnforcementEventRow.__table__
    query = (
        select(table)
        .where(table.c.account_id == account)
        .order_by(table.c.at.desc(), table.c.id.desc())
        .limit(limit)
    )
    with engine.connect() as connection:
        rows = connection.execute(query).mappings().all()
    return [{name: value for name, value in row.items() if name != "id"} for row in rows]


def ledger_history(database_url: str, account: str, limit: int) -> LedgerHistory:
    """Read the ledger if there is one; never create it (a status call writes nothing).

    A URL that is no database URL is a usage error naming `--database-url`.
    """
    try:
        parsed = make_url(database_url)
    except sqlalchemy.exc.ArgumentError:
        raise typer.BadParameter(
            "not a database URL", param_hint="--database-url / SENDGATE_DATABASE_URL"
        ) from None
    database = parsed.database or ""
    if (
        parsed.get_backend_name() == "sqlite"
        and database not in ("", ":memory:")
        and not database.startswith("file:")
        and not Path(database).expanduser().exists()
    ):
        return LedgerHistory(note=f"no ledger database at {database}", limit=limit)
    try:
        engine = make_engine(database_url)
    except (sqlalchemy.exc.ArgumentError, sqlalchemy.exc.NoSuchModuleError):
        raise typer.BadParameter(
            "not a database URL sendgate can open",
            param_hint="--database-url / SENDGATE_DATABASE_URL",
        ) from None
    try:
        if not inspect(engine).has_table(EnforcementEventRow.__tablename__):
            return LedgerHistory(
                note="the ledger has no enforcement_events table yet: run sendgate ledger migrate",
                limit=limit,
            )
        rows = recent_enforcement(engine, account, limit)
    except (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError) as exc:
        # Which problem, never the URL: it may carry a password.
        reason = str(exc.orig).splitlines()[0] if exc.orig else type(exc).__name__
        return LedgerHistory(note=f"the ledger database is not reachable: {reason}", limit=limit)
    finally:
        engine.dispose()
    return LedgerHistory(events=tuple(rows), limit=limit, read=True)
