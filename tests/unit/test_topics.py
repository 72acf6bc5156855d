"""The topic catalogue: every topic names a record type the codec knows and keys its records as
the producer and the gate write them."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import SecretStr

import streams.topics
from streams.core.codec import Codec
from streams.core.recipient import RecipientKeyer, normalise_address
from streams.core.records import (
    DeadLetter,
    Record,
    SendDecision,
    SendRequest,
    SuppressionState,
)
from streams.core.settings import Settings
from streams.topics import TOPICS, TopicSpec, all_record_types, default_codec, table_changelog

SECRET = b"topics-unit-test-secret-0123456789"
KEYER = RecipientKeyer(SECRET)


def _newest_sample(goldens: list[Any], record_type: type[Record]) -> Record:
    """The sample of the record type's newest golden file (`tests/data/golden`, offered by the
    `all_golden` fixture)."""
    mine = [golden for golden in goldens if golden.record_type() is record_type]
    assert mine, f"no golden sample of {record_type.__name__}"
    return max(mine, key=lambda golden: golden.version).sample()


def _hmac_of_address(record: Any) -> bytes:
    normalised = normalise_address(record.recipient).encode("utf-8")
    return hmac.new(SECRET, normalised, hashlib.sha256).hexdigest().encode("ascii")


def _recipient_key(record: Any) -> bytes:
    return record.recipient_key.encode("ascii")


def _account(record: Any) -> bytes:
    return record.account_id.encode("utf-8")


def _account_and_provider(record: Any) -> bytes:
    provider = "*" if record.provider is None else record.provider
    return f"{record.account_id}|{provider}".encode()


EXPECTED_KEY: dict[str, Callable[[Any], bytes | None]] = {
    "send-requests": _hmac_of_address,
    "send-decisions": _recipient_key,
    "unsubscribe-clicks": _recipient_key,
    "suppression-changes": _recipient_key,
    "dead-letters": lambda letter: letter.original_key,
    "inbound-mail": lambda mail: mail.intake_id.encode("ascii"),
    "esp-webhooks": lambda webhook: webhook.webhook_id.encode("ascii"),
    "delivery-events": _recipient_key,
    "feedback-reports": _recipient_key,
    "bounce-changes": _recipient_key,
    "consent-events": _recipient_key,
    "consent-notices": _recipient_key,
    "consent-deadlines": _recipient_key,
    "rate-events": _account_and_provider,
    "rate-ticks": _account_and_provider,
    "rate-breaches": _account,
    "account-commands": _account,
    "enforcement-events": _account,
    "sender-domains": _account,
    "content-misuse": _account,
    "erasure-requests": _recipient_key,
    "erasure-events": _recipient_key,
    "address-corrections": lambda correction: correction.old_recipient_key.encode("ascii"),
}
"""Each raw topic's key, as the producer and the gate wrote it before the catalogue said it."""

CHANGELOGS = [spec for spec in TOPICS if spec.table is not None]
RAW_TOPICS = [spec for spec in TOPICS if spec.table is None]


def test_topic_names_are_unique_and_every_spec_is_listed() -> None:
    """A spec left out of `TOPICS` would never be created; two with one name would clash."""
    names = [spec.name for spec in TOPICS]
    assert len(set(names)) == len(names)
    exported = [
        spec
        for spec in (getattr(streams.topics, name) for name in streams.topics.__all__)
        if isinstance(spec, TopicSpec)
    ]
    assert sorted(spec.name for spec in exported) == sorted(names)


@pytest.mark.parametrize("spec", TOPICS, ids=lambda spec: spec.name)
def test_every_record_type_is_one_the_codec_knows(spec: TopicSpec, all_golden: list[Any]) -> None:
    """The default codec encodes and decodes each topic's records (a plain-bytes table aside)."""
    if spec.record is None:
        assert spec.name == "sendgate-consent_deadlines-changelog"
        return
    codec: Codec = default_codec()
    assert spec.record in all_record_types()
    sample = _newest_sample(all_golden, spec.record)
    assert codec.decode(codec.encode(sample), spec.record) == sample


@pytest.mark.parametrize("spec", RAW_TOPICS, ids=lambda spec: spec.name)
def test_every_topic_keys_a_record_by_its_own_key(spec: TopicSpec, all_golden: list[Any]) -> None:
    """The key function gives the key the record was always written with."""
    assert spec.record is not None
    assert spec.key is not None
    sample = _newest_sample(all_golden, spec.record)
    expected = EXPECTED_KEY[spec.name](sample)
    assert expected
    assert spec.key(sample, KEYER) == expected
    assert spec.key_of(sample, KEYER) == expected


def test_every_raw_topic_has_an_expected_key() -> None:
    """A new topic gets its key checked here too."""
    assert sorted(EXPECTED_KEY) == sorted(spec.name for spec in RAW_TOPICS)


def test_a_send_request_is_keyed_by_the_recipient_key_of_its_address(
    all_golden: list[Any],
) -> None:
    """Two spellings of one address are one key: the key is the keyer's, never the address."""
    sample = _newest_sample(all_golden, SendRequest)
    other_spelling = sample.model_copy(update={"recipient": "  ZOË.DOE+NEWS@EXAMPLE.COM "})
    key = streams.topics.SEND_REQUESTS.key_of(sample, KEYER)
    assert key == KEYER.key("zoë.doe+news@example.com").encode("ascii")
    assert streams.topics.SEND_REQUESTS.key_of(other_spelling, KEYER) == key


def test_a_dead_letter_of_a_keyless_record_has_no_key(all_golden: list[Any]) -> None:
    """A record that came without a key is set aside without one (Kafka's null key)."""
    letter = _newest_sample(all_golden, DeadLetter)
    keyless = letter.model_copy(update={"original_key": None})
    assert streams.topics.DEAD_LETTERS.key_of(keyless, KEYER) is None


def test_key_of_refuses_a_record_the_topic_does_not_carry(all_golden: list[Any]) -> None:
    """A decision is not a send request: keying it as one is a programming error."""
    decision = _newest_sample(all_golden, SendDecision)
    with pytest.raises(TypeError, match="send-requests"):
        streams.topics.SEND_REQUESTS.key_of(decision, KEYER)


@pytest.mark.parametrize("spec", CHANGELOGS, ids=lambda spec: spec.name)
def test_changelogs_are_named_as_faust_names_them(spec: TopicSpec) -> None:
    """faust's changelog of table T is `<app id>-T-changelog`, with or without a topic prefix."""
    for prefix in ("", "test-run-7-"):
        settings = Settings(topic_prefix=prefix, recipient_key_secret=SecretStr(SECRET.decode()))
        assert spec.full_name(settings) == f"{settings.app_id}-{spec.table}-changelog"
    assert spec.compacted
    assert spec.kafka_config(Settings())["cleanup.policy"] == "compact"
    assert spec.key is None  # keyed by the table's key, which the values do not carry
    assert spec.carries.startswith(f"faust changelog of the {spec.table} table (")


def test_table_changelog_builds_the_spec_from_the_table_name() -> None:
    """One helper makes every changelog spec."""
    spec = table_changelog("suppressions", "SuppressionState by recipient key", SuppressionState)
    assert spec == TopicSpec(
        "sendgate-suppressions-changelog",
        "faust changelog of the suppressions table (SuppressionState by recipient key)",
        compacted=True,
        record=SuppressionState,
        table="suppressions",
    )
    assert spec == streams.topics.SUPPRESSIONS_CHANGELOG


_MONTH_S = 30 * 86_400
"""GDPR Art. 12(3): a request is answered within one month (30 days, the shortest month rounded)."""


@pytest.mark.parametrize(
    "name",
    [
        "send-requests",
        "inbound-mail",
        "esp-webhooks",
        "dead-letters",
        "consent-events",
        "delivery-events",
    ],
)
def test_topics_carrying_an_address_raw_mail_or_an_ip_expire(name: str) -> None:
    """A send request carries the address, inbound mail the raw message, a dead letter any
    record's bytes, a consent event the IP and user agent, a delivery event the MTA's diagnostic
    (which often quotes the address): each must leave by retention."""
    spec = next(spec for spec in TOPICS if spec.name == name)
    assert spec.personal
    config = spec.kafka_config(Settings())
    assert config["cleanup.policy"] == "delete"
    assert int(config["retention.ms"]) == 7 * 86_400_000


@pytest.mark.parametrize("retention_s", [10, 86_400, 7 * 86_400, 27 * 86_400])
def test_a_personal_record_is_gone_within_a_month_whatever_the_retention(retention_s: int) -> None:
    """Kafka deletes whole segments, and only once the newest record of a segment is older than
    the retention, when the broker next looks (Kafka's default: every 5 minutes): a record lives
    at most retention plus one segment plus that interval."""
    settings = Settings(personal_topic_retention_s=retention_s)
    for spec in (spec for spec in TOPICS if spec.personal):
        config = spec.kafka_config(settings)
        lives_s = (int(config["retention.ms"]) + int(config["segment.ms"])) / 1000 + 300
        assert lives_s == spec.gone_within_s(settings)
        assert lives_s <= _MONTH_S


def test_a_retention_beyond_the_month_is_refused() -> None:
    with pytest.raises(ValueError, match="personal_topic_retention_s"):
        Settings(personal_topic_retention_s=28 * 86_400)


def test_person_tables_compact_within_the_retention_and_erasure_proof_stays() -> None:
    """An erased entry's tombstone makes its old value compactable within the lag; the erasure
    and address-correction topics keep their records (the proof), and carry no address."""
    settings = Settings()
    for table in ("consents", "bounces", "send_history", "rate_inputs", "consent_deadlines"):
        spec = next(spec for spec in TOPICS if spec.table == table)
        lag_ms = int(spec.kafka_config(settings)["max.compaction.lag.ms"])
        assert 0 < lag_ms <= settings.personal_topic_retention_s * 1000
    for name in ("erasure-requests", "erasure-events", "address-corrections"):
        spec = next(spec for spec in TOPICS if spec.name == name)
        assert not spec.personal
        assert spec.kafka_config(settings)["retention.ms"] == "-1"
