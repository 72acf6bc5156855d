"""Hash-chain a recipient's consent events, so an edited, deleted or moved ledger row is detected,
and keep it verifiable after the person's personal fields are erased.

Pure: no database. The writer links each new `consent_events` row to the recipient's chain head
with `link` (after `commit_personal` for a row of format 2); the proof checks a whole chain with
`verify_chain`.

An entry's hash is the SHA-256 (hex) of its canonical bytes: the UTF-8 of one JSON object with
sorted keys and no spaces (`separators=(",", ":")`, non-ASCII kept as is). Which keys it holds
depends on the row's `chain_format` (a column of its own; a row without one is format 1):

Format 1 (rows stored before the commitment existed), the keys are
- every field of `CHAINED_FIELDS` (the stored event and its Kafka coordinates) by its column name,
  the personal fields `ip`, `user_agent` and `source_id` among them, as they are;
- `chain_seq` (1 for a recipient's first entry) and `prev_hash` (the previous entry's hash; 64
  zeros, `GENESIS_HASH`, for the first).

Format 2 (every row the ledger stores now), the keys are
- every field of `CHAINED_FIELDS` but the personal ones (`PERSONAL_FIELDS`);
- `chain_format` (the integer 2) and `personal_commitment`;
- `chain_seq` and `prev_hash`, as in format 1.
`personal_commitment` is the SHA-256 (hex) of the row's salt followed by the personal fields'
bytes: the salt is 32 random bytes, stored as 64 lower-case hex digits in `personal_salt` and
hashed as the 32 bytes they spell; the personal fields' bytes are one JSON object written like the
canonical bytes (sorted keys, no spaces, UTF-8) holding exactly `ip`, `source_id` and
`user_agent` (null when absent). So for the salt 00..01 and `ip` 192.0.2.7 alone, the
commitment is the SHA-256 of the 31 zero bytes and the byte 1, followed by
`{"ip":"192.0.2.7","source_id":null,"user_agent":null}`.

Values are written as JSON: strings, integers, booleans and null (None) as themselves, lists as
lists (a tuple too), datetimes as ISO-8601 in UTC with milliseconds and a `Z`
(`2025-03-01T12:30:15.123Z`; records keep milliseconds, so nothing is lost). A naive datetime, or
a value of any other type, is refused rather than written some guessable way. Both formats are
part of the ledger's stored data: changing either makes existing chains fail to verify.

Why a commitment: erasure (GDPR Art. 17) must remove the personal fields, and a chain over the
fields themselves could no longer be checked once they are gone. The chain covers the commitment
instead, so erasing sets the fields and the salt to NULL (and `erased_at`) and leaves every hash as
it was. The salt is what makes the commitment safe to keep: without it anyone could hash every
IPv4 address with the common user agents and find the person's; with the salt erased, the
commitment is random to anyone, the ledger included, and identifies no one.

What the chain proves, and what it does not: an edited row no longer matches its hash; a deleted
or moved row breaks the numbering or the link from the next row. For a row of format 2 whose salt
is kept, the personal fields must also match the commitment (an edited IP address shows as an
edited entry); once erased (salt and fields NULL, `erased_at` set), the rest of the row is still
checked by its hash, only the erased fields are not, since they no longer exist. A row of format
1 that was erased cannot be checked by its own hash any more (the hash was taken of the fields
that are gone): what still holds is its place, its number and its stored hash, which the next
entry links to, and every later entry; an edit of its remaining columns would go unnoticed. The
verdict lists such entries (`ChainVerdict.unchecked`), and the ledger checks the recipient's
chain just before it erases, recording the result with the erasure. The chain cannot tell an
erasure by the ledger from someone setting the fields NULL; the erasure's own record (its request
and events, kept for good) says which erasures there were. The hashes carry no secret, so someone
who can write the database can rewrite a chain from the edit onward consistently, and deleting a
chain's newest entries leaves a shorter chain that still verifies. Catching those needs the head
hash kept somewhere else too (the Kafka topic itself is the other copy).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

__all__ = [
    "CHAINED_FIELDS",
    "CHAIN_FORMAT",
    "COMMITTED_FIELDS",
    "GENESIS_HASH",
    "PERSONAL_FIELDS",
    "ChainLink",
    "ChainProblem",
    "ChainVerdict",
    "canonical_bytes",
    "commit_personal",
    "entry_hash",
    "is_erased",
    "link",
    "personal_bytes",
    "verify_chain",
]

GENESIS_HASH = "0" * 64
"""The `prev_hash` of a recipient's first entry."""

CHAIN_FORMAT = 2
"""The format the writer stores new entries in (the module docstring has both)."""

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
"""The stored columns of the event a format-1 entry's hash covers (all of them)."""

PERSONAL_FIELDS: tuple[str, ...] = ("ip", "user_agent", "source_id")
"""The columns that are the person's data in clear, and go on erasure: where and how they agreed.
The wording they were shown is not among them: the ledger keeps only its hash and version, the
same for everyone who saw it. The recipient key stays (it is what the chain is of); it is a keyed
hash, pseudonymous, not the address."""

COMMITTED_FIELDS: tuple[str, ...] = tuple(
    name for name in CHAINED_FIELDS if name not in PERSONAL_FIELDS
)
"""The event's columns a format-2 entry's hash covers as they are; the personal ones are covered
through `personal_commitment`."""

_SALT = re.compile(r"^[0-9a-f]{64}$")

ChainProblem = Literal["missing", "duplicate", "unlinked", "edited"]


@dataclass(frozen=True, slots=True)
class ChainLink:
    """Where a new entry goes in its recipient's chain."""

    chain_seq: int
    prev_hash: str
    entry_hash: str


@dataclass(frozen=True, slots=True)
class ChainVerdict:
    """Whether a recipient's chain verifies; if not, the first entry that does not, and why.

    `erased` numbers the entries whose personal fields were erased; `unchecked` those of them
    stored in format 1, whose own contents can no longer be checked (only their place and link).
    Both only cover the entries checked before the first bad one."""

    entries: int
    head_hash: str | None
    first_bad_seq: int | None = None
    problem: ChainProblem | None = None
    explanation: str = ""
    erased: tuple[int, ...] = ()
    unchecked: tuple[int, ...] = ()

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


def _json_bytes(document: Mapping[str, Any]) -> bytes:
    return json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def _format_of(fields: Mapping[str, Any]) -> int:
    chain_format = fields.get("chain_format")
    return 1 if chain_format is None else chain_format


def personal_bytes(fields: Mapping[str, Any]) -> bytes:
    """The personal fields' bytes a commitment is taken of (the module docstring's format)."""
    return _json_bytes({name: _json_value(fields.get(name)) for name in PERSONAL_FIELDS})


def commit_personal(fields: Mapping[str, Any], salt: str) -> str:
    """The hex SHA-256 of the salt's 32 bytes followed by `personal_bytes(fields)`.

    `salt` is 64 lower-case hex digits, drawn at random for each row by the writer (not here:
    this module is pure)."""
    if not isinstance(salt, str) or not _SALT.match(salt):
        raise ValueError("a commitment's salt is 64 lower-case hex digits")
    return hashlib.sha256(bytes.fromhex(salt) + personal_bytes(fields)).hexdigest()


def is_erased(row: Mapping[str, Any]) -> bool:
    """Whether the row's personal fields were erased (it has an `erased_at`)."""
    return row.get("erased_at") is not None


def canonical_bytes(fields: Mapping[str, Any], chain_seq: int, prev_hash: str) -> bytes:
    """The bytes an entry's hash is taken of, in the format its `chain_format` names (the
    module docstring has both).

    `fields` must hold every name the format covers; other keys (a row's id, its hashes, its
    salt) are ignored, so a stored row can be passed as it was read.
    """
    chain_format = _format_of(fields)
    if chain_format == 1:
        document = {name: _json_value(fields[name]) for name in CHAINED_FIELDS}
    elif chain_format == 2:
        document = {name: _json_value(fields[name]) for name in COMMITTED_FIELDS}
        document["chain_format"] = 2
        document["personal_commitment"] = _json_value(fields["personal_commitment"])
    else:
        raise ValueError(f"chain format {chain_format!r} is not known")
    document["chain_seq"] = chain_seq
    document["prev_hash"] = prev_hash
    return _json_bytes(document)


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
    its own contents (else it was edited); for format 2, its personal fields also match their
    commitment, or are erased whole. Stops at the first entry that fails.
    """
    ordered = sorted(rows, key=lambda row: row["chain_seq"])
    previous_hash = GENESIS_HASH
    erased: list[int] = []
    unchecked: list[int] = []
    for expected, row in enumerate(ordered, start=1):
        seq = row["chain_seq"]
        if seq != expected:
            if seq < expected:
                return _broken(
                    ordered,
                    seq,
                    "duplicate",
                    f"entry {seq} appears more than once",
                    erased,
                    unchecked,
                )
            missing = str(expected) if seq == expected + 1 else f"{expected} to {seq - 1}"
            return _broken(
                ordered,
                expected,
                "missing",
                f"entry {missing} is missing (deleted?)",
                erased,
                unchecked,
            )
        if row["prev_hash"] != previous_hash:
            before = f"entry {seq - 1}" if seq > 1 else "the start of the chain"
            return _broken(
                ordered,
                seq,
                "unlinked",
                f"entry {seq} does not follow {before}: its prev_hash is not that entry's hash "
                "(an entry was changed, deleted or moved)",
                erased,
                unchecked,
            )
        edited = _contents_problem(row, seq)
        if edited is not None:
            return _broken(ordered, seq, "edited", edited, erased, unchecked)
        if is_erased(row):
            erased.append(seq)
            if _format_of(row) == 1:
                unchecked.append(seq)
        previous_hash = row["entry_hash"]
    head = ordered[-1]["entry_hash"] if ordered else None
    return ChainVerdict(
        entries=len(ordered), head_hash=head, erased=tuple(erased), unchecked=tuple(unchecked)
    )


def _contents_problem(row: Mapping[str, Any], seq: int) -> str | None:
    """Why the entry's stored contents are not the ones hashed into the chain; None if they are.

    A format-1 entry erased whole (`erased_at` set, every personal field NULL) is the one thing
    not checked: its hash was taken of the fields that are gone."""
    chain_format = _format_of(row)
    personal = [row.get(name) for name in PERSONAL_FIELDS]
    if chain_format == 1 and is_erased(row) and all(value is None for value in personal):
        return None
    if chain_format not in (1, 2):
        return f"entry {seq} names chain format {chain_format!r}, which is not known"
    if entry_hash(row["prev_hash"], row, seq) != row["entry_hash"]:
        return f"entry {seq} does not match its hash: its stored contents were changed"
    if chain_format == 1:
        return None
    salt = row.get("personal_salt")
    if salt is not None:
        try:
            matches = commit_personal(row, salt) == row["personal_commitment"]
        except ValueError:
            matches = False
        if not matches:
            return f"entry {seq}'s personal fields do not match their commitment: they were changed"
        return None
    if is_erased(row) and all(value is None for value in personal):
        return None
    return (
        f"entry {seq} has no salt but is not erased whole: its personal fields cannot be "
        "checked (changed after erasure, or the salt removed)"
    )


def _broken(
    ordered: list[Mapping[str, Any]],
    seq: int,
    problem: ChainProblem,
    explanation: str,
    erased: list[int],
    unchecked: list[int],
) -> ChainVerdict:
    head = ordered[-1]["entry_hash"] if ordered else None
    return ChainVerdict(
        entries=len(ordered),
        head_hash=head,
        first_bad_seq=seq,
        problem=problem,
        explanation=explanation,
        erased=tuple(erased),
        unchecked=tuple(unchecked),
    )
