"""Hash-chain a recipient's consent events, so an edited, deleted or moved ledger row is detected.

Pure: no database. The writer links each new `consent_events` row to the recipient's chain head
with `link`; the proof checks a whole chain with `verify_chain`.

An entry's hash is the SHA-256 (hex) of its canonical bytes: the UTF-8 of one JSON object with
sorted keys and no spaces (`separators=(",", ":")`, non-ASCII kept as is), holding
- every field of `CHAINED_FIELDS` (the stored event and its Kafka coordinates) by its column name;
- `chain_seq` (1 for a recipient's first entry) and `prev_hash` (the previous entry's hash; 64
  zeros, `GENESIS_HASH`, for the first).
Values are written as JSON: strings, integers, booleans and null (None) as themselves, lists as
lists (a tuple too), datetimes as ISO-8601 in UTC with milliseconds and a `Z`
(`2025-03-01T12:30:15.123Z`; records keep milliseconds, so nothing is lost). A naive datetime, or
a value of any other type, is refused rather than written some guessable way. This format is
part of the ledger's stored data: changing it makes every existing chain fail to verify.

What the chain proves, and what it does not: an edited row no longer matches its hash; a deleted
or moved row breaks the numbering or the link from the next row. The hashes carry no secret, so
someone who can write the database can rewrite a chain from the edit onward consistently, and
deleting a chain's newest entries leaves a shorter chain that still verifies. Catching those
needs the head hash kept somewhere else too (the Kafka topic itself is the other copy).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

__all__ = [
    "CHAINED_FIELDS",
    "GENESIS_HASH",
    "ChainLink",
    "ChainProblem",
    "ChainVerdict",
    "canonical_bytes",
    "entry_hash",
    "link",
    "verify_chain",
]

GENESIS_HASH = "0" * 64
"""The `prev_hash` of a recipient's first entry."""

CHAINED_FIELDS: tuple[str, ...] = (
    "event_id",
    "recipient_key",
    "kind",
    "account_id",
    "lists",
    "cadence",
    "basis",
    "requires_confirmation",
    "jurisdiction",
    "source_kind",
    "source_id",
    "wording_hash",
    "wording_version",
    "ip",
    "user_agent",
    "occurred_at",
    "kafka_topic",
    "kafka_partition",
    "kafka_offset",
)
"""The stored columns an entry's hash covers (everything but the row id and the hash itself)."""

ChainProblem = Literal["missing", "duplicate", "unlinked", "edited"]


@dataclass(frozen=True, slots=True)
class ChainLink:
    """Where a new entry goes in its recipient's chain."""

    chain_seq: int
    prev_hash: str
    entry_hash: str


@dataclass(frozen=True, slots=True)
class ChainVerdict:
    """Whether a recipient's chain verifies; if not, the first entry that does not, and why."""

    entries: int
    head_hash: str | None
    first_bad_seq: int | None = None
    problem: ChainProblem | None = None
    explanation: str = ""

    @property
    def verified(self) -> bool:
        return self.problem is None


def _json_value(value: Any) -> Any:
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value.isoformat()} in a chained field")
        moment = value.astimezone(UTC)
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if isinstance(value, list | tuple):
        return [_json_value(item) for item in value]
    raise TypeError(f"{type(value).__name__} has no canonical form in a chained field")


def canonical_bytes(fields: Mapping[str, Any], chain_seq: int, prev_hash: str) -> bytes:
    """The bytes an entry's hash is taken of (the format is in the module docstring).

    `fields` must hold every name of `CHAINED_FIELDS`; other keys (a row's id, its hashes) are
    ignored, so a stored row can be passed as it was read.
    """
    document = {name: _json_value(fields[name]) for name in CHAINED_FIELDS}
    document["chain_seq"] = chain_seq
    document["prev_hash"] = prev_hash
    return json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def entry_hash(prev_hash: str, fields: Mapping[str, Any], chain_seq: int) -> str:
    """The hex SHA-256 of the entry's canonical bytes."""
    return hashlib.sha256(canonical_bytes(fields, chain_seq, prev_hash)).hexdigest()


def link(fields: Mapping[str, Any], head: ChainLink | None) -> ChainLink:
    """The place of a new entry after `head`, the recipient's newest entry (None: no entry yet)."""
    if head is None:
        chain_seq, prev_hash = 1, GENESIS_HASH
    else:
        chain_seq, prev_hash = head.chain_seq + 1, head.entry_hash
    return ChainLink(chain_seq, prev_hash, entry_hash(prev_hash, fields, chain_seq))


def verify_chain(rows: Iterable[Mapping[str, Any]]) -> ChainVerdict:
    """Check one recipient's entries (in any order; they are put in `chain_seq` order first).

    For each entry, in order: its number follows the previous one (a gap is a deleted entry, a
    repeat a copied one), its `prev_hash` is the previous entry's `entry_hash` (else an entry was
    deleted and the rest renumbered, or entries were moved), and its `entry_hash` is the hash of
    its own contents (else it was edited). Stops at the first entry that fails.
    """
    ordered = sorted(rows, key=lambda row: row["chain_seq"])
    previous_hash = GENESIS_HASH
    for expected, row in enumerate(ordered, start=1):
        seq = row["chain_seq"]
        if seq != expected:
            if seq < expected:
                return _broken(ordered, seq, "duplicate", f"entry {seq} appears more than once")
            missing = str(expected) if seq == expected + 1 else f"{expected} to {seq - 1}"
            return _broken(ordered, expected, "missing", f"entry {missing} is missing (deleted?)")
        if row["prev_hash"] != previous_hash:
            before = f"entry {seq - 1}" if seq > 1 else "the start of the chain"
            return _broken(
                ordered,
                seq,
                "unlinked",
                f"entry {seq} does not follow {before}: its prev_hash is not that entry's hash "
                "(an entry was changed, deleted or moved)",
            )
        if entry_hash(row["prev_hash"], row, seq) != row["entry_hash"]:
            return _broken(
                ordered,
                seq,
                "edited",
                f"entry {seq} does not match its hash: its stored contents were changed",
            )
        previous_hash = row["entry_hash"]
    head = ordered[-1]["entry_hash"] if ordered else None
    return ChainVerdict(entries=len(ordered), head_hash=head)


def _broken(
    ordered: list[Mapping[str, Any]], seq: int, problem: ChainProblem, explanation: str
) -> ChainVerdict:
    head = ordered[-1]["entry_hash"] if ordered else None
    return ChainVerdict(
        entries=len(ordered),
        head_hash=head,
        first_bad_seq=seq,
        problem=problem,
        explanation=explanation,
    )
