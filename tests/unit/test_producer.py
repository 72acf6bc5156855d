"""The producer routes and keys each record by the catalogue, as it did when it knew them itself;
no broker is needed to ask it."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import pytest
from pydantic import SecretStr

from streams.core.recipient import RecipientKeyer, normalise_address
from streams.core.records import (
    AddressCorrection,
    ConsentEvent,
    DeliveryEvent,
    ErasureRequest,
    EspWebhook,
    FeedbackReport,
    Record,
    SendDecision,
    SenderDomains,
    SendRequest,
    UnsubscribeClick,
)
from streams.core.settings import Settings
from streams.edges.producer import PUBLISHED_TOPICS, SendgateProducer
from streams.topics import (
    ADDRESS_CORRECTIONS,
    CONSENT_EVENTS,
    DELIVERY_EVENTS,
    ERASURE_REQUESTS,
    ESP_WEBHOOKS,
    FEEDBACK_REPORTS,
    SEND_REQUESTS,
    SENDER_DOMAINS,
    UNSUBSCRIBE_CLICKS,
)

SECRET = "producer-unit-test-secret-0123456789"
# Nothing listens on port 1: the producer is built, never started.
SETTINGS = Settings(kafka_bootstrap_servers="127.0.0.1:1", recipient_key_secret=SecretStr(SECRET))

ROUTES = [
    (SendRequest, SEND_REQUESTS),
    (UnsubscribeClick, UNSUBSCRIBE_CLICKS),
    (ConsentEvent, CONSENT_EVENTS),
    (DeliveryEvent, DELIVERY_EVENTS),
    (FeedbackReport, FEEDBACK_REPORTS),
    (SenderDomains, SENDER_DOMAINS),
    (ErasureRequest, ERASURE_REQUESTS),
    (AddressCorrection, ADDRESS_CORRECTIONS),
    (EspWebhook, ESP_WEBHOOKS),
]


def _newest_sample(goldens: list[Any], record_type: type[Record]) -> Record:
    """The sample of the record type's newest golden file (`all_golden` fixture)."""
    mine = [golden for golden in goldens if golden.record_type() is record_type]
    return max(mine, key=lambda golden: golden.version).sample()


def test_the_published_topics_are_the_routes() -> None:
    """Senders and the platform's tools publish to these nine topics, one record type each."""
    assert [(spec.record, spec) for spec in PUBLISHED_TOPICS] == ROUTES


@pytest.mark.parametrize(("record_type", "topic"), ROUTES, ids=lambda item: str(item))
def test_each_record_goes_to_its_topic(
    record_type: type[Record], topic: Any, all_golden: list[Any]
) -> None:
    producer = SendgateProducer(SETTINGS)
    assert producer.topic_of(_newest_sample(all_golden, record_type)) is topic


def test_a_send_request_is_keyed_by_the_hmac_of_its_normalised_address(
    all_golden: list[Any],
) -> None:
    """The key is the recipient key (HMAC-SHA-256 of the normalised address), never the address."""
    request = _newest_sample(all_golden, SendRequest)
    assert isinstance(request, SendRequest)
    normalised = normalise_address(request.recipient).encode("utf-8")
    expected = hmac.new(SECRET.encode(), normalised, hashlib.sha256).hexdigest()
    assert SendgateProducer(SETTINGS).key_of(request) == expected.encode("ascii")
    keyer = RecipientKeyer(b"another-secret-0123456789abcdef")
    assert SendgateProducer(SETTINGS, keyer=keyer).key_of(request) == (
        keyer.key(request.recipient).encode("ascii")
    )


@pytest.mark.parametrize(
    "record_type", [UnsubscribeClick, ConsentEvent, DeliveryEvent, FeedbackReport]
)
def test_records_about_a_person_are_keyed_by_their_recipient_key(
    record_type: type[Record], all_golden: list[Any]
) -> None:
    record: Any = _newest_sample(all_golden, record_type)
    assert SendgateProducer(SETTINGS).key_of(record) == record.recipient_key.encode("ascii")


def test_sender_domains_are_keyed_by_account(all_golden: list[Any]) -> None:
    domains = _newest_sample(all_golden, SenderDomains)
    assert isinstance(domains, SenderDomains)
    assert SendgateProducer(SETTINGS).key_of(domains) == domains.account_id.encode("utf-8")


def test_records_senders_do_not_publish_are_refused(all_golden: list[Any]) -> None:
    """Decisions are the gate's to write."""
    decision = _newest_sample(all_golden, SendDecision)
    producer = SendgateProducer(SETTINGS)
    with pytest.raises(TypeError, match="senders do not publish SendDecision records"):
        producer.topic_of(decision)
    with pytest.raises(TypeError, match="senders do not publish SendDecision records"):
        producer.key_of(decision)
