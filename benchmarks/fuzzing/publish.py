"""`sendgate publish` input files: bad JSON, wrong types, huge values, broken CSV, bad bytes.

`validate_file` reads a whole `.jsonl` or `.csv` file and returns its records, or raises
`InvalidInputFileError` listing each problem by file, line and field (never the value). That is
the contract checked here for every kind of file the command takes: a valid row template per
kind, mutated as text and as values, rows of several lines, and files made of noise. The file
is written to a temporary folder of the process for each case (the reader takes a path).

The reason of a refused file is the kind of its first problem: a line that is not JSON, not a
JSON object, not UTF-8, not CSV, a CSV header without names or with a name twice, a row with the
wrong number of cells, or a field whose value is wrong. Each problem must name a line within the
file, a field and the problem.
"""

from __future__ import annotations

import csv
import io
import json
import random
import re
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any

from fuzzing.engine import Outcome, Target, accepted, rejected
from fuzzing.mutate import mutate_bytes, mutate_text, random_bytes, random_text
from fuzzing.tokens import NOW
from streams.cli.publish import InputKind, InvalidInputFileError, validate_file
from streams.core.clock import FrozenClock
from streams.core.recipient import RecipientKeyer

__all__ = ["REASONS", "ROWS", "target"]

REASONS = frozenset(
    {
        "not-json",
        "not-a-json-object",
        "not-utf8",
        "not-csv",
        "bad-header",
        "duplicate-column",
        "cell-count",
        "bad-field",
    }
)

ROWS: dict[InputKind, dict[str, Any]] = {
    "send-requests": {
        "request_id": "req-1",
        "account_id": "acct-1",
        "recipient": "person@example.com",
        "classification": "commercial",
        "from_address": "news@example.org",
        "subject": "Spring sale",
        "requested_at": "2025-02-28T09:30:00+01:00",
    },
    "unsubscribes": {
        "recipient": "person@example.com",
        "scope": "list",
        "account_id": "acct-1",
        "list_id": "weekly",
        "method": "one_click",
        "clicked_at": "2025-02-28T08:00:00Z",
    },
    "consents": {
        "recipient": "person@example.com",
        "kind": "grant",
        "account_id": "acct-1",
        "lists": ["weekly", "offers"],
        "source_kind": "form",
        "jurisdiction": "DE",
        "requires_confirmation": True,
        "occurred_at": "2025-02-28T08:00:00+00:00",
    },
    "sender-domains": {
        "account_id": "acct-1",
        "domains": ["acct-1.example", "mail.acct-1.example"],
        "changed_at": "2025-02-28T08:00:00Z",
    },
}

_LINE_ENDS = re.compile(rb"\r\n|\r|\n")
_ODD_VALUES: tuple[Any, ...] = (
    None,
    "",
    0,
    -1,
    2**63,
    1.5,
    float("nan"),
    float("inf"),
    True,
    [],
    {},
    ["a", 1, None],
    {"nested": {"deeper": [1, 2]}},
    "x" * 100_000,
    "\x00",
    "\ud800",
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59-14:00",
    "2025-02-30T00:00:00Z",
    "2025-02-28T09:30:00",
    "not-an-address",
    "a@b",
    "ZZ",
)
_RAW_LINES = (
    "[" * 100_000,
    "{" + '"a":' * 50_000,
    '{"request_id": ' + "9" * 5000 + "}",
    "1e999999",
    "[1, 2]",
    '"text"',
    "null",
    "NaN",
    '{"a": 1,}',
    "{'a': 1}",
    "\ufeff{}",
    '{"a": "\\ud800"}',
    "{}" * 3,
)


def _value_moves(rnd: random.Random, row: dict[str, Any]) -> dict[str, Any]:
    row = dict(row)
    for _ in range(rnd.choice((1, 1, 2, 4))):
        move = rnd.randrange(4)
        name = rnd.choice(list(row)) if row else "x"
        if move == 0:
            row[name] = rnd.choice(_ODD_VALUES)
        elif move == 1:
            row.pop(name, None)
        elif move == 2:
            row[random_text(rnd, 12)] = rnd.choice(_ODD_VALUES)
        elif isinstance(row.get(name), str):
            row[name] = mutate_text(rnd, row[name])
    return row


def _json_line(rnd: random.Random, row: dict[str, Any]) -> str:
    text = json.dumps(row, ensure_ascii=rnd.random() < 0.5)
    move = rnd.randrange(8)
    if move == 0:
        return mutate_text(rnd, text)
    if move == 1:
        return rnd.choice(_RAW_LINES)
    return text


def _csv_text(rnd: random.Random, rows: list[dict[str, Any]]) -> str:
    names = sorted({name for row in rows for name in row}) or ["x"]
    if rnd.random() < 0.1:
        names = [*names, rnd.choice(names)] if rnd.random() < 0.5 else [*names, ""]
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(names)
    for row in rows:
        cells = [row.get(name, "") for name in names]
        cells = [";".join(map(str, cell)) if isinstance(cell, list) else cell for cell in cells]
        if rnd.random() < 0.1:
            cells = cells[: rnd.randint(0, len(cells))] + ["extra"] * rnd.randint(0, 2)
        writer.writerow(cells)
    text = buffer.getvalue()
    move = rnd.randrange(8)
    if move == 0:
        return mutate_text(rnd, text)
    if move == 1:  # an unclosed quote, a NUL, a cell over the csv module's field limit
        return text + rnd.choice(('"open', "\x00", '"' + "x" * 140_000 + '"', '"a"b"'))
    return text


def _case(rnd: random.Random) -> tuple[str, InputKind, bytes]:
    kind: InputKind = rnd.choice(list(ROWS))  # type: ignore[assignment]
    suffix = ".jsonl" if rnd.random() < 0.7 else ".csv"
    rows = [
        _value_moves(rnd, ROWS[kind]) if rnd.random() < 0.7 else dict(ROWS[kind])
        for _ in range(rnd.choice((1, 1, 2, 3, 30)))
    ]
    for index, row in enumerate(rows):  # distinct ids, or every file would repeat one
        if "request_id" in row and row["request_id"] == "req-1":
            row["request_id"] = f"req-{index}"
    if suffix == ".jsonl":
        text = "\n".join(_json_line(rnd, row) if rnd.random() < 0.9 else "" for row in rows)
    else:
        text = _csv_text(rnd, rows)
    data = text.encode("utf-8", "surrogatepass")
    move = rnd.randrange(20)
    if move == 0:
        data = mutate_bytes(rnd, data)
    elif move == 1:
        data = random_bytes(rnd, 2048)
    elif move == 2:
        data = b"\xef\xbb\xbf" + data
    elif move == 3:
        data = data.replace(b"\n", b"\r\n")
    return suffix, kind, data


class _Files:
    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="sendgate-fuzz-"))
        self.keyer = RecipientKeyer(b"fuzz-recipient-secret-0123456789")
        self.clock = FrozenClock(NOW)


@lru_cache(maxsize=1)
def _files() -> _Files:
    return _Files()


def _reason(problem: Any) -> str:
    text = problem.problem
    if problem.field == "(row)":
        for start, reason in (
            ("not JSON", "not-json"),
            ("not a JSON object", "not-a-json-object"),
            ("not UTF-8", "not-utf8"),
            ("not CSV", "not-csv"),
            ("the header row", "bad-header"),
        ):
            if text.startswith(start):
                return reason
        if text.startswith("has ") and "cells" in text:
            return "cell-count"
    if text == "named twice in the header":
        return "duplicate-column"
    return "bad-field" if problem.field and text else ""


def _check(case: tuple[str, InputKind, bytes]) -> Outcome:
    suffix, kind, data = case
    files = _files()
    path = files.folder / f"input{suffix}"
    path.write_bytes(data)
    try:
        records = validate_file(path, kind, keyer=files.keyer, clock=files.clock)
    except InvalidInputFileError as exc:
        refused = exc
    else:
        return accepted(f"{kind} ({'several' if len(records) > 1 else 'one or none'})")
    # An editor (and the csv module) also ends a line at a lone CR.
    lines = len(_LINE_ENDS.split(data))
    for problem in refused.problems:
        if problem.file != str(path) or not 1 <= problem.line <= lines:
            raise AssertionError(f"problem at {problem.file}:{problem.line} of {lines} lines")
        if not problem.field or not problem.problem:
            raise AssertionError(f"problem without a field or a text: {problem}")
    return rejected(_reason(refused.problems[0]))


def _describe(case: tuple[str, InputKind, bytes]) -> str:
    suffix, kind, data = case
    return f"{kind} {suffix}, {len(data)} bytes starting {data[:200]!r}"


def target() -> Target:
    return Target(
        name="publish",
        what="sendgate publish input files (validate_file: .jsonl and .csv rows)",
        reasons=REASONS,
        generate=_case,
        check=_check,
        describe=_describe,
    )
