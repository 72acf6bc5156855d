"""When two ledger rows record the same thing, and whether they say the same about it.

Pure: no database. The writer looks a new row's identity up among the stored ones
(`catalogue.LedgerTopic.identity`) and compares the two with `content_digest`: equal digests are a
replay (the record again, or the event published again), different ones a conflict that goes to
dead-letters instead of being dropped.

A digest is the SHA-256 (hex) of one JSON object, sorted keys and no spaces, of the compared
columns by name. Values are normalised so that a row read back from either database digests like
the row the writer made from the record (a column the row leaves out counts as NULL, as it is
stored): datetimes as ISO-8601 UTC with microseconds (an aware
instant, whatever zone the driver returned), decimals in plain notation without trailing zeros
(NUMERIC keeps the scale it was given, `0.0020` and `0.002` are one amount), lists and JSON objects
as themselves. Digests are computed when compared and never stored, so this format can change
without a migration.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

__all__ = ["content_digest", "differing_columns"]


def _canonical(value: Any) -> Any:
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value.isoformat()} in a ledger row")
        return value.astimezone(UTC).isoformat(timespec="microseconds")
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, list | tuple):
        return [_canonical(item) for item in value]
    if isinstance(value, Mapping):
        return {str(key): _canonical(item) for key, item in value.items()}
    raise TypeError(f"{type(value).__name__} has no canonical form in a ledger row")


def content_digest(row: Mapping[str, Any], columns: Iterable[str]) -> str:
    """The hex SHA-256 of the row's `columns`, in the canonical form of the module docstring."""
    document = {name: _canonical(row.get(name)) for name in columns}
    return hashlib.sha256(
        json.dumps(
            document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        ).encode("utf-8")
    ).hexdigest()


def differing_columns(
    stored: Mapping[str, Any], incoming: Mapping[str, Any], columns: Sequence[str]
) -> list[str]:
    """The names of the `columns` whose values differ, for a conflict's reason: it names the
    fields, never their values (a dead letter's reason ends up in logs and terminals)."""
    return [
        name for name in columns if _canonical(stored.get(name)) != _canonical(incoming.get(name))
    ]
