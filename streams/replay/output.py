"""A what-if's rows in a file for a notebook or DuckDB: Parquet (typed columns, lists as lists)
or CSV (lists joined with `;`), by the file's suffix.

Rows are written as they come, a batch at a time, so a replay over millions of requests never
holds them all. The columns are one request each: its ids, how it was sent, both verdicts and
both lists of failed rules, both policy versions.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import pyarrow as pa
import pyarrow.parquet as pq

from streams.core.errors import SendgateError
from streams.replay.whatif import WhatIfRow

__all__ = ["COLUMNS", "RowsFile", "open_rows_file"]

_LIST = pa.list_(pa.string())
COLUMNS = pa.schema(
    [
        ("request_id", pa.string()),
        ("account_id", pa.string()),
        ("recipient_key", pa.string()),
        ("classification", pa.string()),
        ("send_kind", pa.string()),
        ("jurisdiction", pa.string()),
        ("provider", pa.string()),
        ("list_id", pa.string()),
        ("decided_at", pa.timestamp("ms", tz="UTC")),
        ("request_offset", pa.string()),
        ("verdict_before", pa.string()),
        ("verdict_after", pa.string()),
        ("flipped", pa.bool_()),
        ("rules_before", _LIST),
        ("rules_after", _LIST),
        ("explanations_before", _LIST),
        ("explanations_after", _LIST),
        ("policy_before", pa.string()),
        ("policy_after", pa.string()),
    ]
)
_BATCH_ROWS = 10_000


def _values(row: WhatIfRow) -> dict[str, Any]:
    return {
        "request_id": row.request_id,
        "account_id": row.account_id,
        "recipient_key": row.recipient_key,
        "classification": row.classification,
        "send_kind": row.send_kind,
        "jurisdiction": row.jurisdiction,
        "provider": row.provider,
        "list_id": row.list_id,
        "decided_at": row.decided_at,
        "request_offset": row.request_offset,
        "verdict_before": row.verdict_before,
        "verdict_after": row.verdict_after,
        "flipped": row.flipped,
        "rules_before": list(row.rules_before),
        "rules_after": list(row.rules_after),
        "explanations_before": list(row.explanations_before),
        "explanations_after": list(row.explanations_after),
        "policy_before": row.policy_before,
        "policy_after": row.policy_after,
    }


@dataclass
class RowsFile:
    """An open rows file: `write` each row, then `close`."""

    path: Path
    _write_batch: Callable[[list[dict[str, Any]]], None]
    _close: Callable[[], None]
    _pending: list[dict[str, Any]] = field(default_factory=list)
    rows: int = 0

    def write(self, row: WhatIfRow) -> None:
        self._pending.append(_values(row))
        self.rows += 1
        if len(self._pending) >= _BATCH_ROWS:
            self.flush()

    def flush(self) -> None:
        if self._pending:
            self._write_batch(self._pending)
            self._pending = []

    def close(self) -> None:
        self.flush()
        self._close()


def open_rows_file(path: Path) -> RowsFile:
    """A rows file at `path`, Parquet for `.parquet`, CSV for `.csv`; `SendgateError` for any
    other suffix or a place that cannot be written."""
    suffix = path.suffix.lower()
    if suffix not in (".parquet", ".csv"):
        raise SendgateError(f"--output {path}: give a .parquet or .csv file name")
    try:
        if suffix == ".parquet":
            return _parquet(path)
        return _csv(path, path.open("w", newline="", encoding="utf-8"))
    except OSError as exc:
        raise SendgateError(f"--output {path}: cannot write it ({exc.strerror})") from None


def _parquet(path: Path) -> RowsFile:
    writer = pq.ParquetWriter(path, COLUMNS)

    def write_batch(values: list[dict[str, Any]]) -> None:
        writer.write_table(pa.Table.from_pylist(values, schema=COLUMNS))

    def close() -> None:
        if writer.is_open:
            writer.close()

    return RowsFile(path, write_batch, close)


def _csv(path: Path, handle: TextIO) -> RowsFile:
    writer = csv.DictWriter(handle, fieldnames=COLUMNS.names)
    writer.writeheader()

    def write_batch(values: list[dict[str, Any]]) -> None:
        for value in values:
            writer.writerow(
                {
                    name: ";".join(item) if isinstance(item, list) else _text(item)
                    for name, item in value.items()
                }
            )

    return RowsFile(path, write_batch, handle.close)


def _text(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value
