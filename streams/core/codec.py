"""Avro single-object encoding (Avro 1.11 specification, "Single-object encoding") of our records.

Every value on our topics is `C3 01`, the 8-byte little-endian CRC-64-AVRO fingerprint of the
writer schema's Parsing Canonical Form, then the Avro binary body. We chose single-object encoding
over Confluent framing because it needs no registry service and no id allocation: the fingerprint
is computed from the schema itself, the schemas live in this repository (`schemas/` holds the
current version of each record, `schemas/history/` every older one), and any reader with the
files can resolve any writer. A record written with an older schema is decoded into the current
one by Avro schema resolution; anything else raises `CodecError`.

The schema files may refer to named types defined in other files (`dev.sendgate.v1.RuleFailure`);
each is expanded in place so that its canonical form, and so its fingerprint, stands alone.

Two shortcuts serve the gate's hot path, each for values that only sendgate writes:
`decode_trusted` keeps recently decoded table values by their bytes, and `encode_fields` writes a
record from fields its caller built from validated parts, without building the record first.
"""

from __future__ import annotations

import io
import json
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

import fastavro
import fastavro.schema
from pydantic import ValidationError

from streams.core.errors import CodecError, InvalidRecordError, UndecodableError, UnknownSchemaError
from streams.core.records import Record

__all__ = [
    "MARKER",
    "Codec",
    "SchemaVersion",
    "fingerprint",
    "load_schema_versions",
]

MARKER = b"\xc3\x01"
_HEADER = struct.Struct("<2sQ")
_PRIMITIVES = {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}
SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schemas"

R = TypeVar("R", bound=Record)

TRUSTED_CACHE_ENTRIES = 8192
"""How many decoded table values `Codec.decode_trusted` keeps: a recipient's state decodes to
about 2.5 KB of objects, so at most some 20 MB per worker."""


@dataclass(frozen=True)
class SchemaVersion:
    """One writer schema: the record it describes, where it came from, and its fingerprint."""

    full_name: str
    path: Path
    expanded: dict[str, Any]
    parsed: Any
    fingerprint: int
    is_current: bool


def fingerprint(expanded_schema: dict[str, Any]) -> int:
    """CRC-64-AVRO (Rabin) fingerprint of the schema's Parsing Canonical Form, as an integer."""
    canonical = fastavro.schema.to_parsing_canonical_form(expanded_schema)
    # fastavro returns the fingerprint's bytes in little-endian order as hex (like Java's
    # SchemaNormalization.fingerprint), so read them back little-endian: the integer is then the
    # Rabin value of the Avro spec, and `<Q` in the header writes the same bytes Java writes.
    wire_bytes = bytes.fromhex(fastavro.schema.fingerprint(canonical, "CRC-64-AVRO"))
    return int.from_bytes(wire_bytes, "little")


def _full_name(schema: dict[str, Any]) -> str:
    name = schema["name"]
    return name if "." in name else f"{schema.get('namespace', '')}.{name}".lstrip(".")


def _expand(
    node: Any, definitions: dict[str, dict[str, Any]], namespace: str, seen: set[str]
) -> Any:
    """Inline named types defined in other files, first use in full, later uses by name."""
    if isinstance(node, str):
        if node in _PRIMITIVES:
            return node
        full = node if "." in node else f"{namespace}.{node}"
        if full in seen:
            return full
        if full not in definitions:
            raise CodecError(f"schema refers to unknown type {full!r}")
        return _expand(definitions[full], definitions, namespace, seen)
    if isinstance(node, list):
        return [_expand(branch, definitions, namespace, seen) for branch in node]
    if isinstance(node, dict):
        kind = node.get("type")
        if kind in ("record", "enum", "fixed"):
            full = _full_name({**node, "namespace": node.get("namespace", namespace)})
            seen.add(full)
            inner_namespace = full.rsplit(".", 1)[0]
            expanded = {**node, "name": full}
            expanded.pop("namespace", None)
            if kind == "record":
                expanded["fields"] = [
                    {**field, "type": _expand(field["type"], definitions, inner_namespace, seen)}
                    for field in node["fields"]
                ]
            return expanded
        if kind == "array":
            return {**node, "items": _expand(node["items"], definitions, namespace, seen)}
        if kind == "map":
            return {**node, "values": _expand(node["values"], definitions, namespace, seen)}
        return {**node, "type": _expand(kind, definitions, namespace, seen)}
    raise CodecError(f"not an Avro schema node: {node!r}")


def _named_definitions(schema: Any, namespace: str = "") -> Iterable[tuple[str, dict[str, Any]]]:
    """Every named type a schema file defines, including enums declared inside its fields."""
    if isinstance(schema, list):
        for branch in schema:
            yield from _named_definitions(branch, namespace)
    elif isinstance(schema, dict):
        kind = schema.get("type")
        if kind in ("record", "enum", "fixed"):
            full = _full_name({**schema, "namespace": schema.get("namespace", namespace)})
            yield full, {**schema, "name": full, "namespace": full.rsplit(".", 1)[0]}
            namespace = full.rsplit(".", 1)[0]
            for field in schema.get("fields", []):
                yield from _named_definitions(field["type"], namespace)
        elif kind == "array":
            yield from _named_definitions(schema["items"], namespace)
        elif kind == "map":
            yield from _named_definitions(schema["values"], namespace)
        elif isinstance(kind, dict | list):
            yield from _named_definitions(kind, namespace)


def load_schema_versions(schema_dir: Path = SCHEMA_DIR) -> list[SchemaVersion]:
    """Read `schema_dir/*.avsc` (current) and `schema_dir/history/*.avsc` (older versions)."""
    files = [(path, True) for path in sorted(schema_dir.glob("*.avsc"))]
    files += [(path, False) for path in sorted((schema_dir / "history").glob("*.avsc"))]
    raw = {path: json.loads(path.read_text(encoding="utf-8")) for path, _ in files}
    current_definitions: dict[str, dict[str, Any]] = {}
    for path, is_current in files:
        if is_current:
            current_definitions.update(_named_definitions(raw[path]))
    versions = []
    for path, is_current in files:
        # An old version's own inner definitions win over the current ones of the same name.
        definitions = {**current_definitions, **dict(_named_definitions(raw[path]))}
        expanded = _expand(raw[path], definitions, "", set())
        versions.append(
            SchemaVersion(
                full_name=expanded["name"],
                path=path,
                expanded=expanded,
                parsed=fastavro.parse_schema(expanded, _force=True),
                fingerprint=fingerprint(expanded),
                is_current=is_current,
            )
        )
    return versions


class Codec:
    """Encodes records with their current schema; decodes any known version into the current one."""

    def __init__(
        self,
        versions: list[SchemaVersion],
        record_types: Iterable[type[Record]],
        *,
        trusted_cache_entries: int = TRUSTED_CACHE_ENTRIES,
    ) -> None:
        self._by_fingerprint = {version.fingerprint: version for version in versions}
        self._current = {version.full_name: version for version in versions if version.is_current}
        self._types = {record_type.AVRO_NAME: record_type for record_type in record_types}
        missing = set(self._types) - set(self._current)
        if missing:
            raise CodecError(f"no current schema for {sorted(missing)}")
        self._decode_cached = lru_cache(maxsize=trusted_cache_entries)(self.decode)

    def current(self, record_type: type[Record]) -> SchemaVersion:
        return self._current[record_type.AVRO_NAME]

    def encode(self, record: Record) -> bytes:
        return self.encode_fields(type(record), record.model_dump())

    def encode_fields(self, record_type: type[Record], fields: Mapping[str, Any]) -> bytes:
        """Write `fields`, shaped as `model_dump` shapes a `record_type` (nested records as dicts),
        with the record's current schema.

        Nothing is validated: this is for a caller that built the fields from validated parts
        and checks what the record would (the gate's decisions, `streams.rules.decision_fields`),
        so the record's validation and `model_dump` would only repeat known work per decision.
        """
        version = self._current[record_type.AVRO_NAME]
        buffer = io.BytesIO()
        buffer.write(_HEADER.pack(MARKER, version.fingerprint))
        try:
            fastavro.schemaless_writer(buffer, version.parsed, fields)
        except (ValueError, TypeError, OverflowError) as exc:
            raise CodecError(f"cannot encode {record_type.AVRO_NAME}: {exc}") from exc
        return buffer.getvalue()

    def is_current(self, data: bytes, record_type: type[Record]) -> bool:
        """Whether `data` was written with `record_type`'s current schema, so that encoding the
        same fields now would give the same bytes."""
        return (
            len(data) >= _HEADER.size
            and data[:2] == MARKER
            and _HEADER.unpack_from(data)[1] == self._current[record_type.AVRO_NAME].fingerprint
        )

    def writer_of(self, data: bytes) -> SchemaVersion:
        """The schema version a value was written with."""
        if len(data) < _HEADER.size or data[:2] != MARKER:
            raise UndecodableError("value is not Avro single-object encoded (no C3 01 marker)")
        _, writer_fingerprint = _HEADER.unpack_from(data)
        version = self._by_fingerprint.get(writer_fingerprint)
        if version is None:
            raise UnknownSchemaError(f"no schema of ours has fingerprint {writer_fingerprint:016x}")
        return version

    def decode_one_of(self, data: bytes, record_types: Iterable[type[Record]]) -> Record:
        """Decode `data` into whichever of `record_types` it was written as (an agent that
        reads several topics: each record says what it is)."""
        writer = self.writer_of(data).full_name
        for record_type in record_types:
            if writer == record_type.AVRO_NAME:
                return self.decode(data, record_type)
        names = ", ".join(record_type.AVRO_NAME for record_type in record_types)
        raise UnknownSchemaError(f"value is a {writer}, expected one of {names}")

    def decode(self, data: bytes, record_type: type[R]) -> R:
        """Decode `data` into `record_type`, resolving an older writer schema if needed."""
        writer = self.writer_of(data)
        reader = self._current[record_type.AVRO_NAME]
        if writer.full_name != reader.full_name:
            raise UnknownSchemaError(
                f"value is a {writer.full_name}, expected a {reader.full_name}"
            )
        body = io.BytesIO(data)
        body.seek(_HEADER.size)
        try:
            if writer is reader:
                fields = fastavro.schemaless_reader(body, writer.parsed, None)
            else:
                fields = fastavro.schemaless_reader(body, writer.parsed, reader.parsed)
        except Exception as exc:  # fastavro raises many kinds on corrupt bodies
            raise UndecodableError(f"broken Avro body for {writer.full_name}: {exc}") from exc
        if body.tell() != len(data):
            raise UndecodableError(
                f"{len(data) - body.tell()} trailing bytes after a {writer.full_name}"
            )
        try:
            return record_type.model_validate(fields)
        except ValidationError as exc:
            raise InvalidRecordError(_describe(exc, record_type)) from exc

    def decode_trusted(self, data: bytes, record_type: type[R]) -> R:
        """`decode`, remembered by the value's bytes: for table values only sendgate writes (a
        recipient's suppressions, consents and send history), read again at every send to them.

        The same bytes always decode to the same frozen record, so a remembered value never goes
        stale and the cache (`TRUSTED_CACHE_ENTRIES`, least recently used out) needs no
        invalidation. Callers share the value and must not change it (its tuples cannot be; a
        record with a dict field would not belong here). Decoding itself stays `decode`:
        `model_validate` on fastavro's dict measured faster for these records than building them
        with `model_construct` (which walks every field in Python), so the saving is the cache.
        """
        return self._decode_cached(data, record_type)


def _describe(exc: ValidationError, record_type: type[Record]) -> str:
    """A validation failure as field names and problems, never the offending values."""
    problems = "; ".join(
        f"{'.'.join(str(part) for part in error['loc']) or '(record)'}: {error['msg']}"
        for error in exc.errors(include_input=False, include_url=False)
    )
    return f"invalid {record_type.__name__}: {problems}"
