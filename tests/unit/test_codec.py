"""Avro single-object encoding of our records, checked against the Avro specification."""

from __future__ import annotations

import io
import json
import struct
from datetime import UTC, datetime, timedelta, timezone
from functools import partial
from pathlib import Path
from typing import Any

import fastavro
import fastavro.schema
import pycountry
import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.consent.fold import apply_consent_event, apply_opt_out
from streams.core.codec import MARKER, SCHEMA_DIR, Codec, fingerprint, load_schema_versions
from streams.core.errors import (
    CodecError,
    InvalidRecordError,
    UndecodableError,
    UnknownSchemaError,
)
from streams.core.records import (
    ConsentState,
    DeadLetter,
    Record,
    RuleFailure,
    SendDecision,
    SendRequest,
    SuppressionEntry,
    SuppressionState,
    UnsubscribeClick,
)
from streams.policy import load_policy
from streams.sending.frequency import FrequencyPolicy, SendHistory, record_send
from streams.suppression.fold import apply_click
from streams.topics import all_record_types
from tests.support.factory import consent_entry, consent_event, send_request, unsubscribe_click

# --- CRC-64-AVRO, written from the Avro specification ("Schema Fingerprints"), not from fastavro.

_EMPTY = 0xC15D213AA4D7A795


def _fp_table() -> list[int]:
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (_EMPTY & -(fp & 1))
        table.append(fp)
    return table


_FP_TABLE = _fp_table()


def rabin64(data: bytes) -> int:
    """The spec's `fingerprint64`, as an unsigned 64-bit integer."""
    fp = _EMPTY
    for byte in data:
        fp = (fp >> 8) ^ _FP_TABLE[(fp ^ byte) & 0xFF]
    return fp


# Test vectors from apache/avro share/test/data/schema-tests.txt (commit 0ea74a36cebb), cases
# 000, 004, 006, 014, 018, 020, 022, 025, 028, 032 and 033: input schema, Parsing Canonical Form,
# fingerprint.
# The fingerprints there are Java `long`s (signed); Java's single-object encoder writes them with
# putLong in little-endian order.
AVRO_VECTORS = [
    ('"null"', '"null"', 7195948357588979594),
    ('"int"', '"int"', 8247732601305521295),
    ('"long"', '"long"', -3434872931120570953),
    ('"string"', '"string"', -8142146995180207161),
    ('[ "int" , {"type":"boolean"} ]', '["int","boolean"]', 5392556393470105090),
    (
        '{"fields":[], "type":"record", "name":"foo", "namespace":"x.y"}',
        '{"name":"x.y.foo","type":"record","fields":[]}',
        5916914534497305771,
    ),
    (
        '{"fields":[], "type":"record", "name":"foo", "doc":"Useful info"}',
        '{"name":"foo","type":"record","fields":[]}',
        -4824392279771201922,
    ),
    (
        '{"fields":[{"type":{"type":"boolean"}, "name":"f1"}], "type":"record", "name":"foo"}',
        '{"name":"foo","type":"record","fields":[{"name":"f1","type":"boolean"}]}',
        7843277075252814651,
    ),
    (
        '{"namespace":"x.y.z", "type":"enum", "name":"foo", "doc":"foo bar", '
        '"symbols":["A1", "A2"]}',
        '{"name":"x.y.z.foo","type":"enum","symbols":["A1","A2"]}',
        -4448647247586288245,
    ),
    (
        '{ "values":"string", "type":"map"}',
        '{"type":"map","values":"string"}',
        -8732877298790414990,
    ),
    (
        '{"name":"PigValue","type":"record",'
        ' "fields":[{"name":"value", "type":["null", "int", "long", "PigValue"]}]}',
        '{"name":"PigValue","type":"record","fields":[{"name":"value",'
        '"type":["null","int","long","PigValue"]}]}',
        -1759257747318642341,
    ),
]


_VECTOR_IDS = [canonical[:40] for _, canonical, _ in AVRO_VECTORS]


@pytest.mark.parametrize(("schema", "canonical", "java_long"), AVRO_VECTORS, ids=_VECTOR_IDS)
def test_fingerprint_matches_the_avro_project_vectors(
    schema: str, canonical: str, java_long: int
) -> None:
    """`fingerprint` gives the Avro project's value for each of its test schemas."""
    assert fingerprint(json.loads(schema)) == java_long % 2**64


@pytest.mark.parametrize(("schema", "canonical", "java_long"), AVRO_VECTORS, ids=_VECTOR_IDS)
def test_reference_rabin_agrees_with_the_vectors(
    schema: str, canonical: str, java_long: int
) -> None:
    """The test's own CRC-64-AVRO and fastavro's canonical form agree with the Avro project."""
    assert fastavro.schema.to_parsing_canonical_form(json.loads(schema)) == canonical
    assert rabin64(canonical.encode()) == java_long % 2**64


def test_header_is_marker_and_little_endian_fingerprint_of_hand_written_canonical_form() -> None:
    """RuleFailure's header is C3 01 + CRC-64-AVRO of its canonical form, little-endian (spec)."""
    # Parsing Canonical Form by hand ([FULLNAMES], [STRIP] doc and namespace, [ORDER] name, type,
    # fields, [WHITESPACE] none) of schemas/rule_failure.avsc.
    canonical = (
        '{"name":"dev.sendgate.v1.RuleFailure","type":"record","fields":['
        '{"name":"rule","type":"string"},'
        '{"name":"law","type":"string"},'
        '{"name":"explanation","type":"string"}]}'
    )
    encoded = Codec(load_schema_versions(), [RuleFailure]).encode(
        RuleFailure(rule="a", law="b", explanation="c")
    )
    assert encoded[:2] == b"\xc3\x01"
    assert encoded[2:10] == rabin64(canonical.encode()).to_bytes(8, "little")


@pytest.mark.parametrize("version", load_schema_versions(), ids=lambda v: v.path.stem)
def test_every_schema_fingerprint_is_crc64_of_its_canonical_form(version: Any) -> None:
    """Each schema's fingerprint is the reference CRC-64-AVRO of its Parsing Canonical Form."""
    canonical = fastavro.schema.to_parsing_canonical_form(version.expanded)
    assert version.fingerprint == rabin64(canonical.encode())


# --- The Avro binary encoding, built by hand from the specification ("Binary Encoding").


def test_rule_failure_encoding_built_by_hand(codec: Codec) -> None:
    """A record is its fields in order; a string is a zig-zag varint byte length and UTF-8."""
    explanation = (
        "The recipient unsubscribed from list weekly-news on 2026-03-01, so mail to that list "
        "must stop."
    )
    assert len(explanation.encode()) == 95  # long enough for a two-byte length
    record = RuleFailure(
        rule="list-unsubscribed", law="CAN-SPAM 15 U.S.C. §7704(a)(4)", explanation=explanation
    )
    expected_body = (
        # rule: 17 bytes; zig-zag(17) = 34 = 0x22, one varint byte.
        b"\x22"
        + b"list-unsubscribed"
        # law: 30 characters but 31 bytes ("§" is U+00A7 = C2 A7 in UTF-8); zig-zag(31) = 62.
        + b"\x3e"
        + b"CAN-SPAM 15 U.S.C. \xc2\xa77704(a)(4)"
        # explanation: 95 bytes; zig-zag(95) = 190 = 0b1_0111110 -> low 7 bits 0x3E with the
        # continuation bit (0xBE), then 190 >> 7 = 1 (0x01).
        + b"\xbe\x01"
        + explanation.encode("ascii")
    )
    encoded = codec.encode(record)
    assert encoded[:2] == b"\xc3\x01"
    assert encoded[10:] == expected_body
    assert codec.decode(encoded, RuleFailure) == record


def test_suppression_entry_encoding_built_by_hand(codec: Codec) -> None:
    """Enums are a zig-zag index, unions a zig-zag branch then the value, timestamps a long."""
    record = SuppressionEntry(
        scope="account",
        account_id="acct-42",
        list_id=None,
        reason="complaint",
        since=datetime(1969, 12, 31, 23, 59, 59, tzinfo=UTC),  # -1000 ms: a negative long
        source="unsubscribe-clicks/3/17",
        source_event_id="click-1",
    )
    expected_body = (
        b"\x02"  # scope: symbol 1 of [list, account, platform]; zig-zag(1) = 2
        + b"\x02"
        + b"\x0e"
        + b"acct-42"  # account_id: union branch 1 (string), 7 bytes
        + b"\x00"  # list_id: union branch 0 (null), nothing follows
        + b"\x02"  # reason: symbol 1 of [unsubscribe, complaint, ...]
        # since: -1000 ms; zig-zag(-1000) = 1999 = 0b1111_1001111 -> 0xCF (0x4F | 0x80), 0x0F
        + b"\xcf\x0f"
        + b"\x2e"
        + b"unsubscribe-clicks/3/17"  # 23 bytes
        + b"\x0e"
        + b"click-1"  # 7 bytes
    )
    encoded = codec.encode(record)
    assert encoded[10:] == expected_body
    assert codec.decode(encoded, SuppressionEntry) == record


# --- Golden files: what was once written must stay readable, and the same sample the same bytes.


def _raw_schemas_parsed_by_fastavro(named: dict[str, Any] | None = None) -> dict[str, Any]:
    """The schema files as fastavro itself resolves names across them (not via codec._expand).

    `named` collects every named type fastavro met, for reading history files against them.
    """
    raw = [json.loads(path.read_text(encoding="utf-8")) for path in SCHEMA_DIR.glob("*.avsc")]
    named = {} if named is None else named
    parsed: dict[str, Any] = {}
    pending = raw
    while pending:
        still_pending = []
        for schema in pending:
            try:
                parsed[f"{schema['namespace']}.{schema['name']}"] = fastavro.parse_schema(
                    schema, named
                )
            except fastavro.schema.UnknownType:
                still_pending.append(schema)
        if len(still_pending) == len(pending):
            raise AssertionError(f"unresolvable schema references in {still_pending}")
        pending = still_pending
    return parsed


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def _written(sample: Any, body: Any) -> Any:
    """`sample` without the record fields `body` (an old writer's fields) lacks, at any depth."""
    if isinstance(sample, dict) and isinstance(body, dict):
        return {key: _written(value, body[key]) for key, value in sample.items() if key in body}
    if isinstance(sample, list) and isinstance(body, list) and len(sample) == len(body):
        return [_written(value, written) for value, written in zip(sample, body, strict=True)]
    return sample


def test_golden_decodes_to_its_json_sample(golden: Any, codec: Codec) -> None:
    """Every golden value, of any version, decodes with the current codec to its JSON sample."""
    assert codec.decode(golden.data(), golden.record_type()) == golden.sample()


def test_golden_newest_version_is_written_with_the_current_schema(
    codec: Codec, all_golden: list[Any]
) -> None:
    """A schema edited without adding a golden vN+1 (and a history copy) fails here, by name."""
    newest: dict[str, Any] = {}
    for golden in all_golden:
        if golden.schema not in newest or golden.version > newest[golden.schema].version:
            newest[golden.schema] = golden
    current_schemas = sorted(path.stem for path in SCHEMA_DIR.glob("*.avsc"))
    assert sorted(newest) == current_schemas, "every current schema needs a golden file"
    drifted = []
    for name, golden in sorted(newest.items()):
        try:
            writer = codec.writer_of(golden.data())
        except UnknownSchemaError:
            drifted.append(f"{name}: v{golden.version} fingerprint is unknown")
            continue
        if not writer.is_current:
            drifted.append(f"{name}: v{golden.version} was written with {writer.path.name}")
    assert not drifted, (
        "schemas changed without a new golden version (see tests/data/golden/make_golden.py): "
        + "; ".join(drifted)
    )


def test_golden_current_sample_encodes_to_the_same_bytes(golden: Any, codec: Codec) -> None:
    """A sample whose golden was written with the current schema still encodes byte for byte."""
    writer = codec.writer_of(golden.data())
    if not writer.is_current:
        pytest.skip(f"{golden.id} is an older version; decoding it is checked above")
    assert codec.encode(golden.sample()) == golden.data()


def test_golden_body_reads_with_plain_fastavro_and_the_schema_files(golden: Any) -> None:
    """Independent of codec.py: fastavro, resolving names itself, reads the same fields."""
    data = golden.data()
    assert data[:2] == b"\xc3\x01"
    record_type = golden.record_type()
    history = SCHEMA_DIR / "history" / f"{golden.schema}.v{golden.version}.avsc"
    if history.exists():
        # An older version is read with its own schema file, names resolved by fastavro.
        named: dict[str, Any] = {}
        _raw_schemas_parsed_by_fastavro(named)
        old = json.loads(history.read_text(encoding="utf-8"))
        # The old file redefines its own record (and any enum inside it): drop the current ones.
        for name in [n for n in named if n.startswith(f"{old['namespace']}.{old['name']}")]:
            del named[name]
        parsed = fastavro.parse_schema(old, named, _force=True)
    else:
        parsed = _raw_schemas_parsed_by_fastavro()[record_type.AVRO_NAME]
    body = io.BytesIO(data[10:])
    fields = fastavro.schemaless_reader(body, parsed, None)
    assert body.tell() == len(data) - 10
    sample = _plain(golden.sample().model_dump())
    # Fields a later version added are absent from an old body, at the top or inside an embedded
    # record that changed since; the sample has their defaults.
    assert _plain(fields) == _written(sample, fields)
    current = json.loads((SCHEMA_DIR / f"{golden.schema}.avsc").read_text(encoding="utf-8"))
    defaults = {field["name"]: field.get("default") for field in current["fields"]}
    assert all(sample[key] == defaults[key] for key in sample.keys() - fields.keys())


# --- Errors: each failure has its own type, and says what was wrong without the values.


@pytest.fixture(scope="module")
def request_bytes(codec: Codec) -> bytes:
    return codec.encode(send_request())


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\xc3",
        b"\xc3\x01\x00\x00",  # marker but a short fingerprint
        b'{"request_id": "req-1"}',  # JSON, not Avro
        b"\x00\x00\x00\x00\x01" + b"\x00" * 16,  # Confluent framing (magic 0, schema id 1)
        b"\xc3\x02" + b"\x00" * 16,  # wrong marker version byte
    ],
    ids=["empty", "one-byte", "short-fingerprint", "json", "confluent", "marker-c302"],
)
def test_not_single_object_is_undecodable(codec: Codec, data: bytes) -> None:
    """Anything without the C3 01 marker and a full fingerprint is UndecodableError."""
    with pytest.raises(UndecodableError):
        codec.decode(data, SendRequest)


def test_unknown_fingerprint_is_unknown_schema(codec: Codec, request_bytes: bytes) -> None:
    """Right framing, fingerprint of no schema of ours: UnknownSchemaError."""
    (known,) = struct.unpack_from("<Q", request_bytes, 2)
    forged = MARKER + struct.pack("<Q", (known + 1) % 2**64) + request_bytes[10:]
    with pytest.raises(UnknownSchemaError):
        codec.decode(forged, SendRequest)


def test_every_truncation_is_undecodable(codec: Codec, request_bytes: bytes) -> None:
    """Cutting the body anywhere gives UndecodableError, never a shorter record."""
    for length in range(10, len(request_bytes)):
        with pytest.raises(UndecodableError):
            codec.decode(request_bytes[:length], SendRequest)


def test_trailing_garbage_is_undecodable(codec: Codec, request_bytes: bytes) -> None:
    """Bytes after a complete record mean the framing is wrong: UndecodableError."""
    with pytest.raises(UndecodableError, match="1 trailing bytes"):
        codec.decode(request_bytes + b"\x00", SendRequest)


def test_other_record_type_is_unknown_schema(codec: Codec) -> None:
    """A RuleFailure read where a SendRequest is expected: UnknownSchemaError naming both."""
    data = codec.encode(RuleFailure(rule="role-address", law="x", explanation="y"))
    with pytest.raises(UnknownSchemaError) as raised:
        codec.decode(data, SendRequest)
    assert "RuleFailure" in str(raised.value)
    assert "SendRequest" in str(raised.value)


def _encode_unchecked(codec: Codec, record_type: type[Record], fields: dict[str, Any]) -> bytes:
    """Avro that the schema allows but the record's validators do not: framed by hand."""
    version = codec.current(record_type)
    buffer = io.BytesIO()
    buffer.write(MARKER + struct.pack("<Q", version.fingerprint))
    fastavro.schemaless_writer(buffer, version.parsed, fields)
    return buffer.getvalue()


_DECISION_FIELDS: dict[str, Any] = {
    "request_id": "req-1",
    "account_id": "acct-42",
    "recipient_key": "ab" * 32,
    "verdict": "allow",
    "failures": [],
    "policy_version": "default@2026.11.1+0123456789ab",
    "decided_at": datetime(2026, 3, 2, 9, 30, tzinfo=UTC),
    "request_offset": "send-requests/3/1041",
    "suppressions_seen": [],
    "state_offsets": {},
}


def test_deny_without_failures_is_invalid_and_named(codec: Codec) -> None:
    """A decision that denies but lists no failed rule is InvalidRecordError naming verdict."""
    data = _encode_unchecked(codec, SendDecision, {**_DECISION_FIELDS, "verdict": "deny"})
    with pytest.raises(InvalidRecordError) as raised:
        codec.decode(data, SendDecision)
    message = str(raised.value)
    assert "SendDecision" in message
    assert "verdict" in message
    assert "failures" in message


def test_bad_recipient_key_is_invalid_without_the_value(codec: Codec) -> None:
    """An address where the key belongs: the error names the field, never the address."""
    address = "Zoe.Doe@example.com"
    data = _encode_unchecked(codec, SendDecision, {**_DECISION_FIELDS, "recipient_key": address})
    with pytest.raises(InvalidRecordError) as raised:
        codec.decode(data, SendDecision)
    message = str(raised.value)
    assert "recipient_key" in message
    assert address not in message
    assert "Zoe" not in message
    assert "example.com" not in message


def test_invalid_click_scope_target_is_invalid(codec: Codec) -> None:
    """A list unsubscribe without its list decodes as Avro but is InvalidRecordError."""
    data = _encode_unchecked(
        codec,
        UnsubscribeClick,
        {
            "click_id": "click-1",
            "recipient_key": "ab" * 32,
            "scope": "list",
            "account_id": "acct-42",
            "list_id": None,
            "method": "link",
            "reason": "unsubscribe",
            "clicked_at": datetime(2026, 3, 1, tzinfo=UTC),
        },
    )
    with pytest.raises(InvalidRecordError):
        codec.decode(data, UnsubscribeClick)


def test_encode_out_of_range_long_is_codec_error(codec: Codec) -> None:
    """A value Avro's long cannot hold is a CodecError, not a bare OverflowError."""
    decision = SendDecision.model_validate(
        {**_DECISION_FIELDS, "state_offsets": {"unsubscribe-clicks": 2**63}}
    )
    with pytest.raises(CodecError):
        codec.encode(decision)


def test_error_kinds_are_dead_letter_kinds() -> None:
    """Each codec error's kind is a symbol of the DeadLetter.error_kind enum."""
    schema = json.loads(Path(SCHEMA_DIR, "dead_letter.avsc").read_text(encoding="utf-8"))
    (field,) = [f for f in schema["fields"] if f["name"] == "error_kind"]
    assert UndecodableError.error_kind == "undecodable"
    assert UnknownSchemaError.error_kind == "unknown_schema"
    assert InvalidRecordError.error_kind == "invalid"
    for error in (UndecodableError, UnknownSchemaError, InvalidRecordError):
        assert error.error_kind in field["type"]["symbols"]


def test_codec_refuses_a_record_type_without_current_schema(tmp_path: Path) -> None:
    """Building a codec for a record with no current schema fails at once."""
    (tmp_path / "rule_failure.avsc").write_text(
        (SCHEMA_DIR / "rule_failure.avsc").read_text(encoding="utf-8"), encoding="utf-8"
    )
    with pytest.raises(CodecError, match="SendRequest"):
        Codec(load_schema_versions(tmp_path), [RuleFailure, SendRequest])


def test_codec_covers_every_record_type(codec: Codec) -> None:
    """Every record type has a current schema whose full name is its AVRO_NAME."""
    for record_type in all_record_types():
        assert codec.current(record_type).full_name == record_type.AVRO_NAME


# --- Round trips.

_ids = st.text(min_size=1, max_size=40)
_optional_ids = st.none() | _ids
_recipient_keys = st.binary(min_size=32, max_size=32).map(bytes.hex)
_offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
_moments = st.datetimes(
    min_value=datetime(1900, 1, 2), max_value=datetime(2200, 1, 1), timezones=_offsets
)


_COUNTRIES = sorted(country.alpha_2 for country in pycountry.countries)


@st.composite
def send_requests(draw: st.DrawFn) -> SendRequest:
    return SendRequest(
        request_id=draw(_ids),
        account_id=draw(_ids),
        list_id=draw(_optional_ids),
        recipient=draw(st.text(min_size=1, max_size=80)),
        jurisdiction=draw(st.none() | st.sampled_from(_COUNTRIES)),
        classification=draw(st.sampled_from(["commercial", "transactional"])),
        promotional_content=draw(st.booleans()),
        honor_list_opt_outs=draw(st.booleans()),
        send_kind=draw(st.sampled_from(["bulk", "one_off"])),
        from_address=draw(st.text(min_size=3, max_size=80)),
        subject=draw(st.text(max_size=200)),
        requested_at=draw(_moments),
    )


@st.composite
def unsubscribe_clicks(draw: st.DrawFn) -> UnsubscribeClick:
    scope = draw(st.sampled_from(["list", "account", "platform"]))
    account_id = draw(_optional_ids) if scope == "platform" else draw(_ids)
    return UnsubscribeClick(
        click_id=draw(_ids),
        recipient_key=draw(_recipient_keys),
        scope=scope,
        account_id=account_id,
        list_id=draw(_ids) if scope == "list" else None,
        method=draw(
            st.sampled_from(["one_click", "link", "reply", "feedback_loop", "manual", "api"])
        ),
        reason=draw(
            st.sampled_from(["unsubscribe", "complaint", "hard_bounce", "erasure", "manual"])
        ),
        clicked_at=draw(_moments),
    )


@given(send_requests())
def test_send_request_round_trips(codec: Codec, request: SendRequest) -> None:
    """Any valid SendRequest decodes to an equal record."""
    assert codec.decode(codec.encode(request), SendRequest) == request


@given(unsubscribe_clicks())
def test_unsubscribe_click_round_trips(codec: Codec, click: UnsubscribeClick) -> None:
    """Any valid UnsubscribeClick decodes to an equal record."""
    assert codec.decode(codec.encode(click), UnsubscribeClick) == click


@given(st.binary(max_size=64), st.binary(max_size=64))
def test_dead_letter_bytes_round_trip(codec: Codec, key: bytes, value: bytes) -> None:
    """Arbitrary key and value bytes survive a dead letter unchanged."""
    letter = DeadLetter(
        origin_topic="send-requests",
        origin_partition=0,
        origin_offset=7,
        original_key=key,
        original_value=value,
        error_kind="undecodable",
        reason="value is not Avro single-object encoded",
        agent="gate",
        failed_at=datetime(2026, 3, 2, tzinfo=UTC),
    )
    assert codec.decode(codec.encode(letter), DeadLetter) == letter


def test_decode_one_of_takes_the_type_the_value_was_written_as(codec: Codec) -> None:
    """An agent reading two topics decodes each record as what its writer schema says it is."""
    rule = RuleFailure(rule="role-address", law="platform policy", explanation="x")
    assert codec.decode_one_of(codec.encode(rule), (DeadLetter, RuleFailure)) == rule
    with pytest.raises(UnknownSchemaError, match="expected one of"):
        codec.decode_one_of(codec.encode(rule), (DeadLetter, SendDecision))


# --- decode_trusted: the gate's own table values, remembered by their bytes -----------------

_T0 = datetime(2026, 3, 2, 9, 30, 15, 123456, tzinfo=UTC)  # sub-millisecond: truncated on the wire
_KEY = "ab" * 32


_click = partial(unsubscribe_click, recipient_key=_KEY, clicked_at=_T0)
_consent_event = partial(consent_event, recipient_key=_KEY, account_id="maple", occurred_at=_T0)
"""Records about one recipient at one sub-millisecond moment."""


def _suppression_states() -> list[SuppressionState]:
    """A list, an account and a platform suppression folded in one by one (as the keeper
    does), and every state on the way, the empty one included."""
    clicks = [
        _click(click_id="c-list", scope="list"),
        _click(click_id="c-account", scope="account", account_id="maple", reason="complaint"),
        _click(
            click_id="c-platform", scope="platform", method="bounce_policy", reason="hard_bounce"
        ),
    ]
    states = [SuppressionState()]
    for offset, click in enumerate(clicks):
        state, _ = apply_click(states[-1], click, source=f"unsubscribe-clicks/3/{offset}", now=_T0)
        states.append(state)
    return states


def _consent_states() -> list[ConsentState]:
    """Consents as the keeper folds them (express to two lists with a cadence, implied by a
    purchase in Canada so it expires, double opt-in then confirmed, one withdrawn by an
    unsubscribe), and one state whose entry has every optional field set."""
    policy = load_policy().consent
    events = [
        _consent_event(
            event_id="g-news",
            basis="express",
            lists=("news", "deals"),
            cadence="weekly",
            jurisdiction="GB",
            wording_version="signup-v3",
            wording_hash="0f" * 32,
        ),
        _consent_event(
            event_id="g-purchase",
            account_id="acme",
            basis="implied_purchase",
            jurisdiction="CA",
            source_kind="checkout",
            source_id="order-1042",
        ),
        _consent_event(
            event_id="g-double", account_id="globex", basis="express", requires_confirmation=True
        ),
        _consent_event(
            event_id="c-double",
            kind="confirm",
            account_id="globex",
            source_kind="confirmation_link",
        ),
    ]
    states = [ConsentState()]
    for event in events:
        states.append(apply_consent_event(states[-1], event, policy).state)
    states.append(apply_opt_out(states[-1], _click(click_id="c-acme", scope="account")))
    everything = consent_entry(
        account_id="northwind",
        lists=("a", "b", "c"),
        status="transactional_only",
        basis="implied_inquiry",
        jurisdiction="CA",
        cadence="monthly",
        source_kind="import",
        source_id="import-7",
        wording_version="v9",
        requires_confirmation=True,
        granted_at=_T0 - timedelta(days=90),
        confirmed_at=_T0 - timedelta(days=89),
        expires_at=_T0 + timedelta(days=90),
        withdrawn_at=_T0,
        withdrawn_reason="complaint",
        expiring_notified=True,
        expired_notified=True,
        last_event_id="e-9",
    )
    states.append(
        ConsentState(
            entries=(*states[-1].entries, everything), applied_event_ids=("e-9", "e-8", "e-7")
        )
    )
    return states


def _send_histories() -> list[SendHistory]:
    """Sends recorded one by one (as the gate does), to a list and to none, out of order."""
    policy = FrequencyPolicy(cap_per_recipient=5)
    histories: list[SendHistory] = [SendHistory()]
    for number, (list_id, hours) in enumerate([("news", 0), (None, 5), ("deals", -3)]):
        request = send_request(
            request_id=f"r-{number}", list_id=list_id, requested_at=_T0 + timedelta(hours=hours)
        )
        histories.append(record_send(histories[-1], request, policy))
    return histories


def _assert_same_shape(trusted: Any, checked: Any) -> None:
    """Equal, and built of the same kinds of values all the way down (tuples stay tuples,
    nested records are records, datetimes are aware UTC), so a rule cannot tell them apart."""
    assert type(trusted) is type(checked)
    if isinstance(checked, Record):
        for name in type(checked).model_fields:
            _assert_same_shape(getattr(trusted, name), getattr(checked, name))
    elif isinstance(checked, tuple | list):
        assert len(trusted) == len(checked)
        for one, other in zip(trusted, checked, strict=True):
            _assert_same_shape(one, other)
    elif isinstance(checked, datetime):
        assert trusted == checked
        assert trusted.utcoffset() == checked.utcoffset() == timedelta(0)
    else:
        assert trusted == checked


@pytest.mark.parametrize(
    "state",
    [
        pytest.param(state, id=f"{type(state).__name__}-{step}")
        for states in (_suppression_states(), _consent_states(), _send_histories())
        for step, state in enumerate(states)
    ],
)
def test_decode_trusted_is_decode(state: Record) -> None:
    """The cached decode of a table value equals the validated one, field by field."""
    codec = Codec(load_schema_versions(), all_record_types())
    data = codec.encode(state)
    trusted = codec.decode_trusted(data, type(state))
    checked = codec.decode(data, type(state))
    assert trusted == checked == state
    _assert_same_shape(trusted, checked)
    assert trusted.model_dump() == checked.model_dump()


def test_states_with_every_optional_field_and_several_entries_are_covered() -> None:
    """The cases above hold states of several entries, and an entry with every optional field
    set."""
    consents = _consent_states()[-1]
    assert len(consents.entries) >= 4
    assert all(value not in (None, (), False) for value in dict(consents.entries[-1]).values())
    assert len(_suppression_states()[-1].entries) == 3
    assert len(_send_histories()[-1].sends) == 3


def test_decode_trusted_gives_the_same_value_for_the_same_bytes() -> None:
    """Same bytes (even another bytes object, as a table read returns), same frozen value."""
    codec = Codec(load_schema_versions(), all_record_types())
    state = _consent_states()[-1]
    data = codec.encode(state)
    first = codec.decode_trusted(data, ConsentState)
    assert codec.decode_trusted(bytes(bytearray(data)), ConsentState) is first
    changed = codec.encode(state.model_copy(update={"applied_event_ids": ("e-10",)}))
    assert codec.decode_trusted(changed, ConsentState).applied_event_ids == ("e-10",)


def test_decode_trusted_forgets_the_least_recently_used_beyond_its_bound() -> None:
    codec = Codec(load_schema_versions(), all_record_types(), trusted_cache_entries=2)
    first, second, third = (codec.encode(state) for state in _suppression_states()[1:])
    kept = codec.decode_trusted(first, SuppressionState)
    codec.decode_trusted(second, SuppressionState)
    assert codec.decode_trusted(first, SuppressionState) is kept  # used again: kept
    codec.decode_trusted(third, SuppressionState)  # evicts `second`, the least recent
    assert codec.decode_trusted(first, SuppressionState) is kept
    assert codec.decode_trusted(second, SuppressionState) == _suppression_states()[2]


def test_decode_trusted_refuses_what_decode_refuses(codec: Codec, request_bytes: bytes) -> None:
    """Bad bytes are never remembered: each read raises as `decode` does."""
    for _ in range(2):
        with pytest.raises(UndecodableError):
            codec.decode_trusted(b"\x00\x01 not avro", SuppressionState)
        with pytest.raises(UnknownSchemaError):
            codec.decode_trusted(request_bytes, SuppressionState)
