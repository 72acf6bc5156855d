"""The Avro codec's decoding of hostile values: random bytes and mutated valid encodings.

Every value on a topic reaches the gate through `Codec.decode`, and the agents dead-letter what
it refuses by the error's kind, so the contract is: it returns a valid record, or raises one of
`UndecodableError`, `UnknownSchemaError` (both `CodecError`) or `InvalidRecordError`, each with a
message. Any other exception would stop an agent on one bad record.

Seeds: the golden values (`tests/data/golden`, every schema version ever written, each with the
record it decodes to) and each golden record encoded again with its current schema.
"""

from __future__ import annotations

import contextlib
import json
import random
import struct
from functools import lru_cache
from pathlib import Path

from fuzzing.engine import Outcome, Target, accepted, rejected
from fuzzing.mutate import mutate_bytes, random_bytes
from streams.core.codec import MARKER, Codec
from streams.core.errors import (
    CodecError,
    InvalidRecordError,
    UndecodableError,
    UnknownSchemaError,
)
from streams.core.records import Record
from streams.topics import all_record_types, default_codec

__all__ = ["REASONS", "target"]

_GOLDEN_DIR = Path(__file__).resolve().parents[2] / "tests" / "data" / "golden"
_HEADER = struct.Struct("<2sQ")

REASONS = frozenset(
    {
        "no-marker",
        "unknown-fingerprint",
        "other-record-type",
        "broken-body",
        "trailing-bytes",
        "invalid-record",
    }
)


@lru_cache(maxsize=1)
def _world() -> tuple[Codec, tuple[type[Record], ...], tuple[tuple[bytes, type[Record]], ...]]:
    codec = default_codec()
    types = tuple(all_record_types())
    by_name = {record_type.AVRO_NAME: record_type for record_type in types}
    found: list[tuple[bytes, type[Record]]] = []
    for path in sorted(_GOLDEN_DIR.glob("*.bin")):
        sample = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
        record_type = by_name.get(sample["record"])
        if record_type is None:
            continue
        data = path.read_bytes()
        found.append((data, record_type))
        with contextlib.suppress(CodecError, InvalidRecordError):
            found.append((codec.encode(codec.decode(data, record_type)), record_type))
    return codec, types, tuple(found)


def _fingerprints(codec: Codec) -> list[int]:
    return sorted({codec.writer_of(data).fingerprint for data, _ in _world()[2]})


def _case(rnd: random.Random) -> tuple[bytes, type[Record] | None]:
    codec, types, found = _world()
    data, record_type = rnd.choice(found)
    move = rnd.randrange(10)
    if move <= 4:
        data = mutate_bytes(rnd, data)
    elif move == 5:
        data = random_bytes(rnd, 256)
    elif move == 6:  # right framing, a random fingerprint or another record's, a random body
        fingerprint = rnd.choice((rnd.getrandbits(64), *_fingerprints(codec)))
        data = _HEADER.pack(MARKER, fingerprint) + random_bytes(rnd, 256)
    elif move == 7:  # a known body under another known writer schema
        data = _HEADER.pack(MARKER, rnd.choice(_fingerprints(codec))) + data[_HEADER.size :]
    elif move == 8:  # lengths and counts blown up: varints of 0xff bytes
        at = rnd.randint(_HEADER.size, max(_HEADER.size, len(data) - 1))
        data = data[:at] + b"\xff" * rnd.randint(1, 12) + b"\x01" + data[at:]
    else:  # the body of a valid record cut short or run on
        data = data[: rnd.randint(0, len(data))] if rnd.random() < 0.5 else data + b"\x00"
    if rnd.random() < 0.2:
        return data, None
    return data, record_type if rnd.random() < 0.8 else rnd.choice(types)


def _reason(exc: Exception) -> str:
    text = str(exc)
    if not text:
        return ""
    if isinstance(exc, UnknownSchemaError):
        return "unknown-fingerprint" if "fingerprint" in text else "other-record-type"
    if isinstance(exc, UndecodableError):
        if "no C3 01 marker" in text:
            return "no-marker"
        if "trailing bytes" in text:
            return "trailing-bytes"
        if text.startswith("broken Avro body"):
            return "broken-body"
        return f"undecodable: {text[:40]}"
    if isinstance(exc, InvalidRecordError):
        return "invalid-record"
    return f"{type(exc).__name__}: {text[:40]}"


def _check(case: tuple[bytes, type[Record] | None]) -> Outcome:
    data, record_type = case
    codec, types, _ = _world()
    try:
        if record_type is None:
            record = codec.decode_one_of(data, types)
        else:
            record = codec.decode(data, record_type)
    except (CodecError, InvalidRecordError) as exc:
        return rejected(_reason(exc))
    if record_type is not None and not isinstance(record, record_type):
        raise TypeError(f"decoded a {type(record).__name__}, asked for {record_type.__name__}")
    return accepted(type(record).__name__)


def _describe(case: tuple[bytes, type[Record] | None]) -> str:
    data, record_type = case
    name = record_type.__name__ if record_type else "any"
    return f"{len(data)} bytes {data[:80].hex()} as {name}"


def target() -> Target:
    return Target(
        name="codec",
        what="Avro single-object decoding (Codec.decode, decode_one_of)",
        reasons=REASONS,
        generate=_case,
        check=_check,
        describe=_describe,
    )
