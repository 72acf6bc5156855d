"""SendGrid's Event Webhook: its signature, and its published samples as sendgate's records.

Expectations come from SendGrid's documentation (the Event Webhook Reference, the Bounce and
Block Classifications) and from `docs/bounce-reasons.md`; the samples and their sources are in
`tests/data/esp/SOURCES-sendgrid-mailgun.md`.
"""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.esp.model import EspContext, NotAuthentic
from streams.esp.reading import DEFAULT_TOLERANCE_S
from streams.esp.sendgrid import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    load_sendgrid_public_key,
    read_sendgrid,
    sendgrid_unsubscribes,
    verify_sendgrid_signature,
)

DATA = Path(__file__).resolve().parent.parent / "data" / "esp" / "sendgrid"
SAMPLE_AT = datetime(2017, 12, 15, 0, 59, 29, tzinfo=UTC)
"""1513299569, the `timestamp` of every sample on SendGrid's Event Webhook Reference."""


def key_of(address: str) -> str:
    return hashlib.sha256(address.lower().encode()).hexdigest()


CONTEXT = EspContext(
    recipient_key=key_of,
    provider_of=lambda address: address.rpartition("@")[2],
    received_at=datetime(2026, 12, 8, tzinfo=UTC),
)


def sample(name: str) -> Any:
    return json.loads((DATA / name).read_text())


def event(**fields: Any) -> dict[str, Any]:
    """A bounce of our own, in the shape of SendGrid's samples, about an example.com address."""
    return {
        "email": "jo@example.com",
        "timestamp": 1513299569,
        "smtp-id": "<14c5d75ce93.dfd.64b469@ismtpd-555>",
        "event": "bounce",
        "sg_event_id": "b3VyLW93bi1ib3VuY2U",
        "sg_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0",
        **fields,
    }


# -- the signature ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def published() -> dict[str, str]:
    return sample("signed-event-webhook.json")


def at(timestamp: str, seconds: float = 0) -> datetime:
    return datetime.fromtimestamp(int(timestamp), UTC) + timedelta(seconds=seconds)


def refusal(**call: Any) -> NotAuthentic:
    with pytest.raises(NotAuthentic) as caught:
        verify_sendgrid_signature(**call)
    return caught.value


def test_the_published_signed_request_verifies(published) -> None:
    """SendGrid's own library's signed request passes with SendGrid's key."""
    verify_sendgrid_signature(
        published["public_key"],
        published["signature"],
        published["timestamp"],
        published["body"].encode(),
        now=at(published["timestamp"], 10),
        tolerance_s=DEFAULT_TOLERANCE_S,
    )


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"public_key": "other_public_key"}, "bad-signature"),
        ({"signature": "other_signature"}, "bad-signature"),
    ],
)
def test_the_published_request_with_another_key_or_signature_is_refused(
    published, change, reason
) -> None:
    """The library's `test_verify_bad_key` and `test_verify_bad_signature`, as refusals."""
    values = {name: published[change.get(name, name)] for name in ("public_key", "signature")}
    error = refusal(
        **values,
        timestamp=published["timestamp"],
        body=published["body"].encode(),
        now=at(published["timestamp"]),
        tolerance_s=DEFAULT_TOLERANCE_S,
    )
    assert (error.reason, error.status) == (reason, 403)


@pytest.mark.parametrize("seconds", [DEFAULT_TOLERANCE_S + 1, -(DEFAULT_TOLERANCE_S + 1)])
def test_a_genuine_signature_outside_the_window_is_stale(published, seconds) -> None:
    """Signed by SendGrid, but too long before (or after) now: a replay or a skewed clock."""
    error = refusal(
        public_key=published["public_key"],
        signature=published["signature"],
        timestamp=published["timestamp"],
        body=published["body"].encode(),
        now=at(published["timestamp"], seconds),
        tolerance_s=DEFAULT_TOLERANCE_S,
    )
    assert (error.reason, error.status) == ("stale", 403)


@pytest.fixture(scope="module")
def signing_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def shown(key: ec.EllipticCurvePrivateKey) -> str:
    """The public key as SendGrid's settings show it: base64 of the DER SubjectPublicKeyInfo."""
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode()


def sign(key: ec.EllipticCurvePrivateKey, timestamp: str, body: bytes) -> str:
    return base64.b64encode(key.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))).decode()


BODY = (DATA / "bounce.json").read_bytes()
STAMP = "1765152000"


def test_a_body_signed_with_timestamp_verifies_with_the_key_in_either_form(signing_key) -> None:
    """The key is taken as SendGrid shows it (base64 DER) or as PEM."""
    pem = (
        signing_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    for public_key in (shown(signing_key), pem):
        verify_sendgrid_signature(
            public_key,
            sign(signing_key, STAMP, BODY),
            STAMP,
            BODY,
            now=at(STAMP, -5),
            tolerance_s=DEFAULT_TOLERANCE_S,
        )


@pytest.mark.parametrize(
    ("body", "timestamp", "signed_timestamp"),
    [
        (BODY.replace(b"5.0.0", b"4.0.0"), STAMP, STAMP),  # the body changed
        (BODY, str(int(STAMP) + 1), STAMP),  # the timestamp changed
        (BODY + b"\n", STAMP, STAMP),  # re-encoded: SendGrid signs the raw bytes
    ],
)
def test_a_tampered_request_is_refused(signing_key, body, timestamp, signed_timestamp) -> None:
    """The signature covers the timestamp header and every byte of the body."""
    error = refusal(
        public_key=shown(signing_key),
        signature=sign(signing_key, signed_timestamp, BODY),
        timestamp=timestamp,
        body=body,
        now=at(STAMP),
        tolerance_s=DEFAULT_TOLERANCE_S,
    )
    assert (error.reason, error.status) == ("bad-signature", 403)


def test_a_request_signed_by_another_key_is_refused(signing_key) -> None:
    """Anyone can sign; only SendGrid's key counts."""
    other = ec.generate_private_key(ec.SECP256R1())
    error = refusal(
        public_key=shown(signing_key),
        signature=sign(other, STAMP, BODY),
        timestamp=STAMP,
        body=BODY,
        now=at(STAMP),
        tolerance_s=DEFAULT_TOLERANCE_S,
    )
    assert error.reason == "bad-signature"


@pytest.mark.parametrize(("signature", "timestamp"), [(None, STAMP), ("x", None), ("", "")])
def test_missing_headers_are_refused_as_unauthenticated(signing_key, signature, timestamp) -> None:
    """No signature or no timestamp: 401, naming the headers SendGrid sends."""
    error = refusal(
        public_key=shown(signing_key),
        signature=signature,
        timestamp=timestamp,
        body=BODY,
        now=at(STAMP),
        tolerance_s=DEFAULT_TOLERANCE_S,
    )
    assert (error.reason, error.status) == ("missing-signature", 401)
    assert SIGNATURE_HEADER in error.detail and TIMESTAMP_HEADER in error.detail


@pytest.mark.parametrize("signature", ["not base64!", base64.b64encode(b"not DER").decode()])
def test_a_malformed_signature_is_a_bad_signature(signing_key, signature) -> None:
    """A value that is not base64 DER is refused, not an error of ours."""
    error = refusal(
        public_key=shown(signing_key),
        signature=signature,
        timestamp=STAMP,
        body=BODY,
        now=at(STAMP),
        tolerance_s=DEFAULT_TOLERANCE_S,
    )
    assert error.reason == "bad-signature"


def test_a_timestamp_that_is_no_number_is_a_bad_signature(signing_key) -> None:
    """Even correctly signed, a time that is not unix seconds is no SendGrid request."""
    error = refusal(
        public_key=shown(signing_key),
        signature=sign(signing_key, "yesterday", BODY),
        timestamp="yesterday",
        body=BODY,
        now=at(STAMP),
        tolerance_s=DEFAULT_TOLERANCE_S,
    )
    assert error.reason == "bad-signature"


@pytest.mark.parametrize(
    "public_key", ["", "not a key", shown(ec.generate_private_key(ec.SECP384R1()))]
)
def test_a_verification_key_that_is_not_p256_is_a_configuration_error(public_key) -> None:
    """The service loads the key at start and fails there, not at each request."""
    with pytest.raises(ValueError):
        load_sendgrid_public_key(public_key)


@settings(max_examples=25, deadline=None)
@given(position=st.integers(min_value=0, max_value=len(BODY) - 1), flip=st.integers(1, 255))
def test_any_changed_byte_of_the_body_is_refused(signing_key, position, flip) -> None:
    """Whatever byte of the body changes, the signature no longer holds."""
    tampered = bytearray(BODY)
    tampered[position] ^= flip
    with pytest.raises(NotAuthentic) as caught:
        verify_sendgrid_signature(
            shown(signing_key),
            sign(signing_key, STAMP, BODY),
            STAMP,
            bytes(tampered),
            now=at(STAMP),
            tolerance_s=DEFAULT_TOLERANCE_S,
        )
    assert caught.value.reason == "bad-signature"


# -- the events ------------------------------------------------------------------------------


def test_the_published_bounce_is_an_unknown_recipient_and_hard_for_both() -> None:
    """`5.0.0` says nothing (a weak code), "500 unknown recipient" says userunknown: hard; SendGrid
    calls type=bounce a hard bounce."""
    outcome = read_sendgrid(sample("bounce.json"), CONTEXT)
    (bounce,) = outcome.delivery_events
    assert (bounce.kind, bounce.reason, bounce.bounce_class, bounce.status) == (
        "bounced",
        "userunknown",
        "hard",
        "5.0.0",
    )
    assert (bounce.esp, bounce.esp_classification, bounce.esp_bounce_class) == (
        "sendgrid",
        "bounce",
        "hard",
    )
    assert bounce.event_id == "sendgrid:6g4ZI7SA-xmRDv57GoPIPw=="
    assert bounce.esp_event_id == "6g4ZI7SA-xmRDv57GoPIPw=="
    assert bounce.recipient_key == key_of("example@test.com")
    assert bounce.provider == "test.com"
    assert bounce.message_id == "<14c5d75ce93.dfd.64b469@ismtpd-555>"
    assert bounce.occurred_at == SAMPLE_AT
    assert bounce.diagnostic == "500 unknown recipient"
    assert outcome.feedback_reports == outcome.rejections == outcome.ignored == ()


def test_the_published_block_is_where_sendgrid_and_sendgate_disagree() -> None:
    """SendGrid's Blocked sample is type=blocked (soft, "a block") with the words of a dead
    address; our taxonomy reads the words, so ours is hard and SendGrid's stays beside it."""
    (block,) = read_sendgrid(sample("blocked.json"), CONTEXT).delivery_events
    assert (block.reason, block.bounce_class) == ("userunknown", "hard")
    assert (block.esp_classification, block.esp_bounce_class) == ("blocked", "soft")


def test_a_blocklisting_classified_invalid_address_is_not_a_dead_address() -> None:
    """SendGrid's `Invalid Address` says hard; 5.7.1 with "Spamhaus" blames the sending IP, which
    `docs/bounce-reasons.md` makes `blocked`, a soft sender refusal: ours decides."""
    refused = event(
        type="bounce",
        bounce_classification="Invalid Address",
        status="5.7.1",
        reason="550 5.7.1 Service unavailable; client host [192.0.2.1] blocked using Spamhaus",
    )
    (bounce,) = read_sendgrid([refused], CONTEXT).delivery_events
    assert (bounce.reason, bounce.bounce_class) == ("blocked", "soft")
    assert (bounce.esp_classification, bounce.esp_bounce_class) == (
        "bounce/Invalid Address",
        "hard",
    )


@pytest.mark.parametrize(
    ("bounce_type", "classification", "esp_classification", "esp_class"),
    [
        # "Invalid Address rejections are often referred to as hard bounces."
        ("bounce", "Invalid Address", "bounce/Invalid Address", "hard"),
        ("blocked", "Invalid Address", "blocked/Invalid Address", "hard"),
        ("bounce", "Mailbox Unavailable", "bounce/Mailbox Unavailable", "soft"),
        ("blocked", "Technical", "blocked/Technical", "soft"),
        ("blocked", "Content", "blocked/Content", "soft"),
        ("blocked", "Reputation", "blocked/Reputation", "soft"),
        ("blocked", "Frequency or Volume Too High", "blocked/Frequency or Volume Too High", "soft"),
        # Unclassified: SendGrid's type says it ("hard bounce (type=bounce) or block").
        ("bounce", "Unclassified", "bounce/Unclassified", "hard"),
        ("blocked", "Unclassified", "blocked/Unclassified", "soft"),
        ("bounce", None, "bounce", "hard"),
        ("blocked", None, "blocked", "soft"),
    ],
)
def test_sendgrids_own_class_follows_its_classification_then_its_type(
    bounce_type, classification, esp_classification, esp_class
) -> None:
    """SendGrid's word, kept beside ours, is what SendGrid's documentation says it means."""
    fields = {"type": bounce_type, "status": "5.0.0", "reason": "550 refused"}
    if classification:
        fields["bounce_classification"] = classification
    (bounce,) = read_sendgrid([event(**fields)], CONTEXT).delivery_events
    assert (bounce.esp_classification, bounce.esp_bounce_class) == (esp_classification, esp_class)


def test_a_bounce_without_a_status_is_classified_by_its_words() -> None:
    """Newer bounces of a domain without mail hosts carry no `status`; the words decide."""
    (bounce,) = read_sendgrid(
        [event(type="blocked", reason="550 Host unknown", bounce_classification="Unclassified")],
        CONTEXT,
    ).delivery_events
    assert (bounce.reason, bounce.bounce_class, bounce.status) == ("hostunknown", "hard", None)


def test_the_published_deferral_is_soft() -> None:
    """ "400 try again later": a temporary failure naming no reason is onhold, always soft."""
    (deferral,) = read_sendgrid(sample("deferred.json"), CONTEXT).delivery_events
    assert (deferral.kind, deferral.reason, deferral.bounce_class) == ("deferred", "onhold", "soft")
    assert (deferral.esp_classification, deferral.esp_bounce_class) == ("deferred", "soft")
    assert deferral.event_id == "sendgrid:t7LEShmowp86DTdUW8M-GQ=="


def test_the_published_delivery_is_delivered() -> None:
    """A delivery carries no class and no reason."""
    (delivery,) = read_sendgrid(sample("delivered.json"), CONTEXT).delivery_events
    assert (delivery.kind, delivery.bounce_class, delivery.reason) == ("delivered", None, None)
    assert delivery.event_id == "sendgrid:rWVYmVk90MjZJ9iohOBa3w=="
    assert delivery.source == "webhook:sendgrid"


def test_the_published_spam_report_is_a_complaint() -> None:
    """ "Recipient marked message as spam": an abuse report, SendGrid's word kept."""
    outcome = read_sendgrid(sample("spamreport.json"), CONTEXT)
    (report,) = outcome.feedback_reports
    assert (report.feedback_type, report.esp, report.esp_feedback_type) == (
        "abuse",
        "sendgrid",
        "spamreport",
    )
    assert report.report_id == "sendgrid:37nvH5QBz858KGVYCM4uOA=="
    assert report.original_message_id == "<14c5d75ce93.dfd.64b469@ismtpd-555>"
    assert report.received_at == SAMPLE_AT
    assert report.recipient_key == key_of("example@test.com")
    assert outcome.delivery_events == ()


@pytest.mark.parametrize(
    "name",
    [
        "processed.json",
        "dropped.json",
        "open.json",
        "click.json",
        "unsubscribe.json",
        "group_unsubscribe.json",
        "group_resubscribe.json",
    ],
)
def test_events_sendgate_takes_no_action_on_are_counted_by_kind(name) -> None:
    """No record; the kind is counted (opt-outs are read by `sendgrid_unsubscribes`)."""
    published = sample(name)
    outcome = read_sendgrid(published, CONTEXT)
    assert outcome.records == () and outcome.rejections == ()
    assert outcome.ignored == (published[0]["event"],)


def test_the_published_batch_of_every_event_type() -> None:
    """One post, one outcome: four records, seven kinds ignored, nothing rejected. (The page
    gives every event the placeholder id `sg_event_id`, so their records share one id.)"""
    outcome = read_sendgrid(sample("all-event-types.json"), CONTEXT)
    assert [e.kind for e in outcome.delivery_events] == ["deferred", "delivered", "bounced"]
    assert [r.feedback_type for r in outcome.feedback_reports] == ["abuse"]
    assert outcome.ignored == (
        "processed",
        "open",
        "click",
        "dropped",
        "unsubscribe",
        "group_unsubscribe",
        "group_resubscribe",
    )
    assert {record.esp_event_id for record in outcome.records} == {"sg_event_id"}


def test_custom_args_name_the_send() -> None:
    """Custom arguments arrive as top-level keys; a list id is kept on a complaint."""
    identity = {
        "sendgate_account": "acme",
        "sendgate_request_id": "req-7",
        "sendgate_list_id": "news",
    }
    outcome = read_sendgrid(
        [
            event(status="5.1.1", reason="550 5.1.1 no such user", **identity),
            event(event="spamreport", sg_event_id="c3BhbQ", **identity),
        ],
        CONTEXT,
    )
    (bounce,) = outcome.delivery_events
    (report,) = outcome.feedback_reports
    assert (bounce.account_id, bounce.request_id) == ("acme", "req-7")
    assert (report.account_id, report.request_id, report.list_id) == ("acme", "req-7", "news")


def test_a_string_timestamp_is_read() -> None:
    """SendGrid's own example of reserved keys posts the timestamp as a string."""
    (bounce,) = read_sendgrid([event(timestamp="1513299569")], CONTEXT).delivery_events
    assert bounce.occurred_at == SAMPLE_AT


def test_an_address_in_the_servers_words_is_scrubbed() -> None:
    """The diagnostic keeps the remote MTA's words, not the addresses in them."""
    (bounce,) = read_sendgrid(
        [event(status="5.1.1", reason="550 5.1.1 <jo@example.com>: Recipient address rejected")],
        CONTEXT,
    ).delivery_events
    assert bounce.diagnostic == "550 5.1.1 <address>: Recipient address rejected"


@pytest.mark.parametrize(
    ("broken", "reason"),
    [
        ({"email": None}, "a bounce event with no recipient address"),
        ({"sg_event_id": ""}, "a bounce event with no sg_event_id"),
        ({"sg_event_id": "jo@example.com"}, "a bounce event whose sg_event_id is not an event id"),
        ({"timestamp": "yesterday"}, "a bounce event with no unix timestamp"),
        ({"timestamp": None}, "a bounce event with no unix timestamp"),
        ({"event": None}, "an event with no event type"),
        ({"event": "teleported"}, "an event type SendGrid does not document: 'teleported'"),
        (
            {"event": "jane@example.com"},
            "an event type SendGrid does not document (not shown: not an event name)",
        ),
        ({"event": "unsubscribe", "email": ""}, "a unsubscribe event with no recipient address"),
    ],
)
def test_an_event_that_cannot_be_read_is_rejected_and_the_rest_are_read(broken, reason) -> None:
    """The unreadable event is dead-lettered with its JSON; its neighbours still count."""
    bad = {name: value for name, value in event(**broken).items() if value is not None}
    outcome = read_sendgrid([sample("delivered.json")[0], bad, "not an object"], CONTEXT)
    assert [e.kind for e in outcome.delivery_events] == ["delivered"]
    first, second = outcome.rejections
    assert (first.index, first.reason) == (1, reason)
    assert json.loads(first.raw) == bad
    assert "@" not in first.reason
    assert (second.index, second.reason) == (2, "an event that is not a JSON object")


@pytest.mark.parametrize(
    ("name", "identity", "expected"),
    [
        # "Opt Out of All Emails": everything of the account whose mail it came from.
        ("unsubscribe.json", {"sendgate_account": "acme"}, ("account", "acme", None)),
        (
            "unsubscribe.json",
            {"sendgate_account": "acme", "sendgate_list_id": "news"},
            ("account", "acme", None),
        ),
        # One unsubscribe group: the list, when the send named it.
        (
            "group_unsubscribe.json",
            {"sendgate_account": "acme", "sendgate_list_id": "news"},
            ("list", "acme", "news"),
        ),
        ("group_unsubscribe.json", {"sendgate_account": "acme"}, ("account", "acme", None)),
        # No account named: platform-wide, the safe side of the law.
        ("group_unsubscribe.json", {}, ("platform", None, None)),
    ],
)
def test_an_unsubscribe_through_sendgrids_link_is_an_opt_out(name, identity, expected) -> None:
    """SendGrid's unsubscribe events become unsubscribe clicks at the narrowest named scope."""
    published = [{**sample(name)[0], **identity}]
    (click,) = sendgrid_unsubscribes(published, CONTEXT)
    assert (click.scope, click.account_id, click.list_id) == expected
    assert (click.method, click.reason) == ("link", "unsubscribe")
    assert click.click_id == f"sendgrid:{published[0]['sg_event_id']}"
    assert click.clicked_at == SAMPLE_AT
    assert click.recipient_key == key_of("example@test.com")


def test_only_unsubscribe_events_give_opt_outs() -> None:
    """A batch's other events, and unreadable opt-outs, give none."""
    batch = [*sample("all-event-types.json"), {"event": "unsubscribe"}]
    clicks = sendgrid_unsubscribes(batch, CONTEXT)
    assert len(clicks) == 2


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.dictionaries(
            st.sampled_from(["email", "event", "sg_event_id", "timestamp", "status", "reason"]),
            st.one_of(st.none(), st.integers(), st.text(max_size=20)),
        ),
        max_size=5,
    )
)
def test_any_batch_gives_one_answer_per_event(events) -> None:
    """Whatever is posted, every event is a record, ignored or rejected, and no id holds '@'."""
    outcome = read_sendgrid(events, CONTEXT)
    assert len(outcome.records) + len(outcome.ignored) + len(outcome.rejections) == len(events)
    for record in outcome.delivery_events:
        assert "@" not in record.event_id
    for rejection in outcome.rejections:
        assert json.loads(rejection.raw) == events[rejection.index]


def test_an_event_a_record_cannot_hold_is_rejected_by_field_name() -> None:
    """A value no record takes (here a provider name over 255 characters) rejects that event only,
    naming the field and not the value."""
    context = EspContext(
        recipient_key=key_of, provider_of=lambda address: "x" * 300, received_at=SAMPLE_AT
    )
    outcome = read_sendgrid([event(status="5.1.1"), *sample("open.json")], context)
    (rejection,) = outcome.rejections
    assert rejection.reason == "a bounce event whose values a record cannot hold: provider"
    assert outcome.ignored == ("open",)
