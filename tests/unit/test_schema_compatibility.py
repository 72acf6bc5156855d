"""Backward compatibility of our Avro schemas: the current reader reads what older writers wrote.

fastavro resolves a writer schema into a reader schema (Avro specification, "Schema Resolution")
but has no checker that says, ahead of time, whether it always can. `breaking_changes` below is
that checker, kept simple: write varied sample values with the old schema and resolve each into
the new one. A missing default fails on the first sample; changes that only break some values (a
removed enum symbol, a narrowed union) are caught because the samples visit every symbol and
branch many times over.
"""

from __future__ import annotations

import copy
import io
import json
import random
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import fastavro
import pytest

from streams.core.codec import SCHEMA_DIR, Codec, SchemaVersion, load_schema_versions
from streams.core.errors import CodecError, UnknownSchemaError
from streams.core.records import (
    Record,
    RuleFailure,
    SendDecision,
)
from streams.topics import default_codec
from tests.support.factory import suppression_entry

_PRIMITIVES = {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}
_STRINGS = ["", "a", "acct-42", "zoë", "✉ weekly-news", "x" * 70]


def _sample(schema: Any, rng: random.Random, named: dict[str, Any], depth: int = 0) -> Any:
    """A random value of an expanded (self-contained) Avro schema."""
    if isinstance(schema, str):
        if schema in _PRIMITIVES:
            return _primitive(schema, rng)
        return _sample(named[schema], rng, named, depth)
    if isinstance(schema, list):
        return _sample(rng.choice(schema), rng, named, depth)
    kind = schema["type"]
    if kind == "record":
        named[schema["name"]] = schema
        return {
            field["name"]: _sample(field["type"], rng, named, depth + 1)
            for field in schema["fields"]
        }
    if kind == "enum":
        named[schema["name"]] = schema
        return rng.choice(schema["symbols"])
    if kind == "fixed":
        named[schema["name"]] = schema
        return rng.randbytes(schema["size"])
    if kind == "array":
        count = 0 if depth > 8 else rng.randint(0, 3)
        return [_sample(schema["items"], rng, named, depth + 1) for _ in range(count)]
    if kind == "map":
        count = 0 if depth > 8 else rng.randint(0, 3)
        return {f"key-{i}": _sample(schema["values"], rng, named, depth + 1) for i in range(count)}
    return _sample(kind, rng, named, depth)  # {"type": "long", "logicalType": ...}


def _named_types(schema: Any, found: dict[str, Any] | None = None) -> dict[str, Any]:
    """Every named type an expanded schema defines, wherever it is defined: a later field may
    refer by name to a type first defined inside an array that a sample leaves empty."""
    found = {} if found is None else found
    if isinstance(schema, list):
        for branch in schema:
            _named_types(branch, found)
    elif isinstance(schema, dict):
        kind = schema.get("type")
        if kind in ("record", "enum", "fixed"):
            found.setdefault(schema["name"], schema)
        if kind == "record":
            for field in schema["fields"]:
                _named_types(field["type"], found)
        elif kind == "array":
            _named_types(schema["items"], found)
        elif kind == "map":
            _named_types(schema["values"], found)
        elif isinstance(kind, dict | list):
            _named_types(kind, found)
    return found


def _primitive(kind: str, rng: random.Random) -> Any:
    return {
        "null": lambda: None,
        "boolean": lambda: rng.random() < 0.5,
        "int": lambda: rng.randint(-(2**31), 2**31 - 1),
        # Longs stay in the range a timestamp-millis reader can turn into a datetime.
        "long": lambda: rng.randint(-(2**40), 2**40),
        "float": lambda: rng.random(),
        "double": lambda: rng.random(),
        "bytes": lambda: rng.randbytes(rng.randint(0, 8)),
        "string": lambda: rng.choice(_STRINGS),
    }[kind]()


def breaking_changes(
    old_schema: dict[str, Any], new_schema: dict[str, Any], samples: int = 200
) -> list[str]:
    """Why values written with `old_schema` cannot be read with `new_schema`; empty if they can.

    Both schemas are expanded (self-contained), as `SchemaVersion.expanded` holds them.
    """
    writer = fastavro.parse_schema(copy.deepcopy(old_schema), _force=True)
    reader = fastavro.parse_schema(copy.deepcopy(new_schema), _force=True)
    rng = random.Random(7702)
    problems: list[str] = []
    for _ in range(samples):
        value = _sample(old_schema, rng, _named_types(old_schema))
        buffer = io.BytesIO()
        fastavro.schemaless_writer(buffer, writer, value)
        buffer.seek(0)
        try:
            fastavro.schemaless_reader(buffer, writer, reader)
        except Exception as exc:  # fastavro raises several kinds; all of them mean "breaks"
            problem = f"{type(exc).__name__}: {exc}"
            if problem not in problems:
                problems.append(problem)
    return problems


CURRENT = [version for version in load_schema_versions() if version.is_current]
_CURRENT_IDS = [version.path.stem for version in CURRENT]


# --- The repository's own history and golden values.


def test_every_history_schema_resolves_into_its_current_schema() -> None:
    """Each schemas/history/*.avsc names a current record, and everything it wrote still reads."""
    versions = load_schema_versions()
    current = {version.full_name: version for version in versions if version.is_current}
    problems = []
    for old in (version for version in versions if not version.is_current):
        new = current.get(old.full_name)
        if new is None:
            problems.append(f"{old.path.name}: no current schema for {old.full_name}")
            continue
        problems += [
            f"{old.path.name}: {problem}"
            for problem in breaking_changes(old.expanded, new.expanded)
        ]
    assert not problems


def test_golden_writer_resolves_into_the_current_schema(golden: Any) -> None:
    """The schema each golden value was written with is known and resolves into the current one."""
    codec = default_codec()
    writer = codec.writer_of(golden.data())  # UnknownSchemaError: a schema changed in place
    reader = codec.current(golden.record_type())
    assert writer.full_name == reader.full_name
    assert breaking_changes(writer.expanded, reader.expanded) == []


# --- The checker itself, on changes to every current schema.


def _with_field(schema: dict[str, Any], field: dict[str, Any]) -> dict[str, Any]:
    changed = copy.deepcopy(schema)
    changed["fields"].append(field)
    return changed


@pytest.mark.parametrize("version", CURRENT, ids=_CURRENT_IDS)
def test_unchanged_schema_has_no_breaking_changes(version: SchemaVersion) -> None:
    """A schema read by itself resolves for every sample."""
    assert breaking_changes(version.expanded, version.expanded) == []


@pytest.mark.parametrize("version", CURRENT, ids=_CURRENT_IDS)
def test_added_field_without_default_breaks(version: SchemaVersion) -> None:
    """A new field without a default cannot be filled in for old values (spec: resolution)."""
    new = _with_field(version.expanded, {"name": "added_in_test", "type": "string"})
    problems = breaking_changes(version.expanded, new)
    assert problems
    assert "added_in_test" in problems[0]


@pytest.mark.parametrize("version", CURRENT, ids=_CURRENT_IDS)
def test_added_field_with_default_is_compatible(version: SchemaVersion) -> None:
    """A new field with a default is filled in for old values."""
    new = _with_field(
        version.expanded, {"name": "added_in_test", "type": "string", "default": "none"}
    )
    assert breaking_changes(version.expanded, new) == []


def _current(name: str) -> dict[str, Any]:
    (version,) = [v for v in CURRENT if v.full_name == f"dev.sendgate.v1.{name}"]
    return copy.deepcopy(version.expanded)


def _field(schema: dict[str, Any], name: str) -> dict[str, Any]:
    (field,) = [f for f in schema["fields"] if f["name"] == name]
    return field


def test_removed_enum_symbol_breaks() -> None:
    """Old values may hold a symbol the new enum lacks (and it has no enum default)."""
    new = _current("SuppressionEntry")
    _field(new, "reason")["type"]["symbols"].remove("erasure")
    assert any(
        "erasure" in problem for problem in breaking_changes(_current("SuppressionEntry"), new)
    )


def test_changed_field_type_breaks() -> None:
    """A string field that becomes an int cannot be resolved."""
    new = _current("RuleFailure")
    _field(new, "law")["type"] = "int"
    assert breaking_changes(_current("RuleFailure"), new)


def test_narrowed_union_breaks() -> None:
    """["null", "string"] -> "string" breaks the old values that held null."""
    new = _current("SuppressionEntry")
    _field(new, "list_id")["type"] = "string"
    del _field(new, "list_id")["default"]
    assert breaking_changes(_current("SuppressionEntry"), new)


def test_removed_field_and_promoted_int_are_compatible() -> None:
    """Readers skip fields they no longer have, and int promotes to long (spec: resolution)."""
    old = _current("DeadLetter")
    new = copy.deepcopy(old)
    new["fields"] = [f for f in new["fields"] if f["name"] != "agent"]
    _field(new, "origin_partition")["type"] = "long"
    assert breaking_changes(old, new) == []


# --- The same through the codec: a changed schema directory in a temporary folder.


class RuleFailureWithSeverity(Record):
    """RuleFailure as it would be after adding a `severity` field."""

    AVRO_NAME: ClassVar[str] = "dev.sendgate.v1.RuleFailure"

    rule: str
    law: str
    explanation: str
    severity: str = "error"


class SendDecisionWithSeverity(SendDecision):
    failures: tuple[RuleFailureWithSeverity, ...] = ()  # type: ignore[assignment]


def _schema_dir(tmp_path: Path, severity: dict[str, Any], *, keep_history: bool) -> Path:
    """The repository's schemas, with RuleFailure given a `severity` field."""
    schemas = tmp_path / "schemas"
    shutil.copytree(SCHEMA_DIR, schemas, ignore=shutil.ignore_patterns("history"))
    path = schemas / "rule_failure.avsc"
    old = json.loads(path.read_text(encoding="utf-8"))
    if keep_history:
        (schemas / "history").mkdir()
        (schemas / "history" / "rule_failure.v1.avsc").write_text(json.dumps(old), encoding="utf-8")
    path.write_text(json.dumps(_with_field(old, severity)), encoding="utf-8")
    return schemas


_FAILURE = RuleFailure(rule="role-address", law="Platform policy", explanation="'info@' is a role")


def test_codec_reads_old_value_of_a_field_added_with_default(tmp_path: Path) -> None:
    """Old RuleFailure bytes decode under the new schema and get the default."""
    old_bytes = default_codec().encode(_FAILURE)
    schemas = _schema_dir(
        tmp_path, {"name": "severity", "type": "string", "default": "error"}, keep_history=True
    )
    codec = Codec(load_schema_versions(schemas), [RuleFailureWithSeverity])
    decoded = codec.decode(old_bytes, RuleFailureWithSeverity)
    assert decoded == RuleFailureWithSeverity(**_FAILURE.model_dump(), severity="error")


def test_codec_refuses_old_value_of_a_field_added_without_default(tmp_path: Path) -> None:
    """Old RuleFailure bytes cannot decode when the new field has no default."""
    old_bytes = default_codec().encode(_FAILURE)
    schemas = _schema_dir(tmp_path, {"name": "severity", "type": "string"}, keep_history=True)
    codec = Codec(load_schema_versions(schemas), [RuleFailureWithSeverity])
    with pytest.raises(CodecError, match="severity"):
        codec.decode(old_bytes, RuleFailureWithSeverity)
    versions = {v.is_current: v for v in load_schema_versions(schemas)}
    assert breaking_changes(versions[False].expanded, versions[True].expanded)


def test_schema_changed_in_place_makes_old_values_unknown(tmp_path: Path) -> None:
    """Without the old version in history, old bytes have an unknown fingerprint."""
    old_bytes = default_codec().encode(_FAILURE)
    schemas = _schema_dir(
        tmp_path, {"name": "severity", "type": "string", "default": "error"}, keep_history=False
    )
    codec = Codec(load_schema_versions(schemas), [RuleFailureWithSeverity])
    with pytest.raises(UnknownSchemaError):
        codec.decode(old_bytes, RuleFailureWithSeverity)


def test_record_embedding_a_changed_type_needs_its_own_history(tmp_path: Path) -> None:
    """Changing RuleFailure changes SendDecision's fingerprint too; a self-contained history copy
    of the old SendDecision makes old decisions readable again."""
    entry = suppression_entry(scope="platform", reason="complaint")
    decision = SendDecision(
        request_id="req-1",
        account_id="acct-42",
        recipient_key="ab" * 32,
        verdict="deny",
        failures=(_FAILURE,),
        policy_version="default@2026.11.1+0123456789ab",
        decided_at=datetime(2026, 3, 2, tzinfo=UTC),
        request_offset="send-requests/0/5",
        suppressions_seen=(entry,),
        state_offsets={"unsubscribe-clicks": 2},
    )
    old_codec = default_codec()
    old_bytes = old_codec.encode(decision)
    schemas = _schema_dir(
        tmp_path, {"name": "severity", "type": "string", "default": "error"}, keep_history=True
    )
    types = [RuleFailureWithSeverity, SendDecisionWithSeverity]
    with pytest.raises(UnknownSchemaError):
        Codec(load_schema_versions(schemas), types).decode(old_bytes, SendDecisionWithSeverity)

    (schemas / "history" / "send_decision.v1.avsc").write_text(
        json.dumps(old_codec.current(SendDecision).expanded), encoding="utf-8"
    )
    decoded = Codec(load_schema_versions(schemas), types).decode(
        old_bytes, SendDecisionWithSeverity
    )
    assert decoded.failures == (RuleFailureWithSeverity(**_FAILURE.model_dump()),)
    assert decoded.suppressions_seen == (entry,)
