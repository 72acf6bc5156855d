"""Postmark webhooks as delivery events and feedback reports, and the webhook's credentials.

Expectations are read off Postmark's webhook pages and its Bounce API's "Bounce types" table
(tests/data/esp/SOURCES.md)."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from streams.core.bounce_reasons import BounceReason
from streams.esp.model import EspContext, EspOutcome, NotAuthentic
from streams.esp.postmark import POSTMARK_BOUNCE_TYPES, check_postmark_auth, read_postmark

DATA = Path(__file__).resolve().parents[1] / "data" / "esp" / "postmark"
RECEIVED = datetime(2026, 12, 8, 9, 30, tzinfo=UTC)
BOUNCED_AT = datetime(2019, 11, 5, 16, 33, 54, 907000, tzinfo=UTC)
"""The samples' "2019-11-05T16:33:54.9070259Z", to the millisecond records keep."""


def key_of(address: str) -> str:
    return hashlib.sha256(address.strip().lower().encode()).hexdigest()


CONTEXT = EspContext(
    recipient_key=key_of,
    provider_of=lambda address: "provider-of-" + address.rsplit("@", 1)[1],
    received_at=RECEIVED,
)


def sample(name: str) -> dict[str, Any]:
    return json.loads((DATA / f"{name}.json").read_text())


def read(payload: dict[str, Any]) -> EspOutcome:
    return read_postmark(payload, CONTEXT)


# --- bounces -------------------------------------------------------------------------------


def test_documented_bounce() -> None:
    """The bounce webhook's example: Type HardBounce (Postmark: "unable to deliver your message
    (ex: unknown user, mailbox not found)"), ID 4323372036854775807, Email john@example.com."""
    outcome = read(sample("bounce"))
    assert outcome.rejections == () and outcome.ignored == ()
    (event,) = outcome.delivery_events
    assert event.kind == "bounced"
    assert event.recipient_key == key_of("john@example.com")
    assert event.provider == "provider-of-example.com"
    assert event.event_id == "postmark:bounce:4323372036854775807"
    assert (event.esp, event.esp_event_id) == ("postmark", "4323372036854775807")
    assert (event.esp_classification, event.esp_bounce_class) == ("HardBounce", "hard")
    assert event.occurred_at == BOUNCED_AT
    assert event.diagnostic == "Test bounce details"
    # "Test bounce details" names no code and no cause: Postmark's word alone does not make an
    # address dead for us (a final failure without a reason is soft/undefined).
    assert (event.bounce_class, event.reason, event.status) == ("soft", "undefined", None)
    # Metadata holds none of our names ({"a_key": ..., "b_key": ...}); Tag is no identity.
    assert (event.account_id, event.request_id) == (None, None)
    assert event.message_id is None


def test_a_hard_bounce_with_the_receivers_reply_agrees() -> None:
    """With the receiver's reply in Details, ours reads the same dead address Postmark saw."""
    payload = sample("bounce")
    payload["Details"] = "smtp;550 5.1.1 The email account that you tried to reach does not exist."
    (event,) = read(payload).delivery_events
    assert (event.bounce_class, event.reason, event.status) == (
        "hard",
        BounceReason.USER_UNKNOWN.value,
        "5.1.1",
    )
    assert event.esp_bounce_class == "hard"
    assert event.diagnostic.startswith("550 5.1.1 ")


def test_a_blocklisting_reported_as_hard_is_soft_for_us() -> None:
    payload = sample("bounce")
    payload["Details"] = "smtp;554 5.7.1 Service unavailable; Client host blocked using Spamhaus"
    (event,) = read(payload).delivery_events
    assert (event.bounce_class, event.reason) == ("soft", BounceReason.BLOCKED.value)
    assert event.esp_bounce_class == "hard"


@pytest.mark.parametrize(
    ("bounce_type", "kind", "theirs"),
    [
        # "Unable to temporarily deliver message (i.e. mailbox full, account disabled, ...)".
        ("SoftBounce", "bounced", "soft"),
        # "A temporary DNS error."
        ("DnsError", "bounced", "soft"),
        # "Message delayed": the server "could not temporarily deliver your message".
        ("Transient", "deferred", "soft"),
        # "The address is not a valid email address."
        ("BadEmailAddress", "bounced", "hard"),
        # "blocked by the user, or classified as spam, bulk mail, or had rejected content".
        ("SpamNotification", "bounced", "soft"),
        ("Blocked", "bounced", "soft"),
        ("DMARCPolicy", "bounced", "soft"),
        # "Unable to classify the NDR."
        ("Unknown", "bounced", "undetermined"),
        ("SomethingPostmarkAddsLater", "bounced", "undetermined"),
    ],
)
def test_bounce_types(bounce_type: str, kind: str, theirs: str) -> None:
    payload = {**sample("bounce"), "Type": bounce_type}
    (event,) = read(payload).delivery_events
    assert (event.kind, event.esp_bounce_class, event.esp_classification) == (
        kind,
        theirs,
        bounce_type,
    )


@pytest.mark.parametrize(
    ("bounce_type", "details", "ours"),
    [
        ("SoftBounce", "smtp;552 5.2.2 Mailbox full", ("soft", "mailboxfull")),
        # A temporary failure is never hard for us, even if its words sound final.
        ("SoftBounce", "smtp;550 5.1.1 user unknown", ("soft", "userunknown")),
        ("Transient", "smtp;451 4.4.1 Connection timed out", ("soft", "networkerror")),
    ],
)
def test_the_types_hint_meets_the_receivers_words(
    bounce_type: str, details: str, ours: tuple[str, str]
) -> None:
    payload = {**sample("bounce"), "Type": bounce_type, "Details": details}
    (event,) = read(payload).delivery_events
    assert (event.bounce_class, event.reason) == ours


@pytest.mark.parametrize(
    "bounce_type",
    [
        "AutoResponder",
        "ChallengeVerification",
        "ManuallyDeactivated",
        "SMTPApiError",
        "InboundError",
        "Unsubscribe",
        "TemplateRenderingFailed",
    ],
)
def test_bounce_types_that_are_no_failure_are_ignored(bounce_type: str) -> None:
    outcome = read({**sample("bounce"), "Type": bounce_type})
    assert outcome.records == () and outcome.rejections == ()
    (label,) = outcome.ignored
    assert label.startswith("bounce-")


def test_every_listed_type_has_a_meaning() -> None:
    """The table covers every type of Postmark's "Bounce types" list."""
    documented = {
        "HardBounce", "Transient", "Unsubscribe", "Subscribe", "AutoResponder", "AddressChange",
        "DnsError", "SpamNotification", "OpenRelayTest", "Unknown", "SoftBounce",
        "VirusNotification", "ChallengeVerification", "BadEmailAddress", "SpamComplaint",
        "ManuallyDeactivated", "Unconfirmed", "Blocked", "SMTPApiError", "InboundError",
        "DMARCPolicy", "TemplateRenderingFailed",
    }  # fmt: skip
    assert documented <= set(POSTMARK_BOUNCE_TYPES)


def test_identity_from_metadata_only() -> None:
    payload = sample("bounce")
    payload["Metadata"] = {"sendgate_account": "acme", "sendgate_request_id": "req-9"}
    payload["Tag"] = "sendgate_account=other"
    (event,) = read(payload).delivery_events
    assert (event.account_id, event.request_id) == ("acme", "req-9")


# --- complaints ----------------------------------------------------------------------------


def test_documented_spam_complaint() -> None:
    """The spam complaint webhook's example: ID 42, john@example.com, BouncedAt the time of the
    complaint; a "Mark as Spam" click is an abuse report."""
    outcome = read(sample("spam-complaint"))
    (report,) = outcome.feedback_reports
    assert outcome.delivery_events == () and outcome.rejections == ()
    assert report.report_id == "postmark:complaint:42"
    assert report.recipient_key == key_of("john@example.com")
    assert report.feedback_type == "abuse"
    assert report.esp_feedback_type == "SpamComplaint"
    assert (report.esp, report.esp_event_id) == ("postmark", "42")
    assert report.received_at == BOUNCED_AT
    assert report.provider == "provider-of-example.com"


def test_a_complaint_through_the_bounce_webhook_is_a_complaint() -> None:
    """Type SpamComplaint under RecordType Bounce: the same complaint, the same id."""
    payload = {**sample("spam-complaint"), "RecordType": "Bounce"}
    (report,) = read(payload).feedback_reports
    assert report.report_id == "postmark:complaint:42"


def test_complaint_identity_keeps_the_list() -> None:
    payload = sample("spam-complaint")
    payload["Metadata"] = {"sendgate_account": "acme", "sendgate_list_id": "news"}
    (report,) = read(payload).feedback_reports
    assert (report.account_id, report.list_id) == ("acme", "news")


# --- deliveries and other records ----------------------------------------------------------


def test_documented_delivery() -> None:
    """The delivery webhook's example: MessageID, Recipient john@example.com, DeliveredAt."""
    (event,) = read(sample("delivery")).delivery_events
    assert event.kind == "delivered"
    assert event.recipient_key == key_of("john@example.com")
    assert event.occurred_at == BOUNCED_AT
    assert event.diagnostic == "Test delivery webhook details"
    assert event.esp_event_id == "883953f4-6105-42a2-a16a-77a8eac79483"
    assert (event.bounce_class, event.reason) == (None, None)
    assert "@" not in event.event_id and "@" not in event.source


def test_deliveries_of_one_message_to_two_recipients_get_two_ids() -> None:
    first = sample("delivery")
    second = {**first, "Recipient": "mary@example.net"}
    assert read(first).records[0].event_id != read(second).records[0].event_id
    assert read(first).records[0].event_id == read(sample("delivery")).records[0].event_id


@pytest.mark.parametrize(
    ("record_type", "label"),
    [("Open", "open"), ("Click", "click"), ("SubscriptionChange", "subscription-change")],
)
def test_other_record_types_are_ignored_by_kind(record_type: str, label: str) -> None:
    outcome = read({**sample("delivery"), "RecordType": record_type})
    assert outcome.records == () and outcome.ignored == (label,)


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (lambda p: p.pop("Email"), "Email"),
        (lambda p: p.update(Email="john"), "Email"),
        (lambda p: p.pop("ID"), "ID"),
        (lambda p: p.update(ID=True), "ID"),
        (lambda p: p.update(BouncedAt="john@example.com"), "BouncedAt"),
        (lambda p: p.update(BouncedAt="2019-11-05T16:33:54"), "BouncedAt"),
        (lambda p: p.pop("RecordType"), "RecordType"),
    ],
)
def test_unreadable_records_become_rejections(change: Any, says: str) -> None:
    payload = sample("bounce")
    change(payload)
    outcome = read(payload)
    assert outcome.records == ()
    (rejection,) = outcome.rejections
    assert says in rejection.reason and "@" not in rejection.reason
    assert json.loads(rejection.raw) == payload


def test_a_record_without_a_time_takes_the_request_time() -> None:
    payload = sample("delivery")
    del payload["DeliveredAt"]
    (event,) = read(payload).delivery_events
    assert event.occurred_at == RECEIVED


# --- credentials ---------------------------------------------------------------------------


def basic(user: str, password: str) -> dict[str, str]:
    encoded = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {encoded}"}


BASIC = {"username": "postmark", "password": "s3cret:with:colons", "token": None}
TOKEN = {"username": None, "password": None, "token": "t0ken"}


def refusal(headers: dict[str, str], **configured: Any) -> tuple[str, int]:
    with pytest.raises(NotAuthentic) as refused:
        check_postmark_auth(headers, token_header="X-Webhook-Token", **configured)
    assert "s3cret" not in refused.value.detail and "t0ken" not in refused.value.detail
    return refused.value.reason, refused.value.status


def test_right_basic_credentials_pass() -> None:
    check_postmark_auth(
        basic("postmark", "s3cret:with:colons"), token_header="X-Webhook-Token", **BASIC
    )
    headers = {"authorization": basic("postmark", "s3cret:with:colons")["Authorization"]}
    check_postmark_auth(headers, token_header="X-Webhook-Token", **BASIC)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, ("missing-credentials", 401)),
        ({"Authorization": ""}, ("missing-credentials", 401)),
        (basic("postmark", "wrong"), ("wrong-credentials", 403)),
        (basic("someone", "s3cret:with:colons"), ("wrong-credentials", 403)),
        (basic("postmark", "s3cret:with:colons "), ("wrong-credentials", 403)),
        ({"Authorization": "Bearer s3cret"}, ("wrong-credentials", 403)),
        ({"Authorization": "Basic not*base64"}, ("wrong-credentials", 403)),
        (
            {"Authorization": "Basic " + base64.b64encode(b"no-colon").decode()},
            ("wrong-credentials", 403),
        ),
    ],
)
def test_missing_or_wrong_basic_credentials_are_refused(
    headers: dict[str, str], expected: tuple[str, int]
) -> None:
    assert refusal(headers, **BASIC) == expected


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"X-Webhook-Token": "t0ken"}, None),
        ({"x-webhook-token": "t0ken"}, None),
        ({}, ("missing-credentials", 401)),
        ({"X-Webhook-Token": ""}, ("missing-credentials", 401)),
        ({"X-Webhook-Token": "t0ken2"}, ("wrong-credentials", 403)),
        ({"X-Webhook-Token": "T0KEN"}, ("wrong-credentials", 403)),
        ({"X-Other": "t0ken"}, ("missing-credentials", 401)),
    ],
)
def test_token_header(headers: dict[str, str], expected: tuple[str, int] | None) -> None:
    if expected is None:
        check_postmark_auth(headers, token_header="X-Webhook-Token", **TOKEN)
    else:
        assert refusal(headers, **TOKEN) == expected


def test_both_configured_means_both_are_needed() -> None:
    both = {**BASIC, "token": "t0ken"}
    right = {**basic("postmark", "s3cret:with:colons"), "X-Webhook-Token": "t0ken"}
    check_postmark_auth(right, token_header="X-Webhook-Token", **both)
    assert refusal(basic("postmark", "s3cret:with:colons"), **both) == ("missing-credentials", 401)
    wrong_token = {**right, "X-Webhook-Token": "nope"}
    assert refusal(wrong_token, **both) == ("wrong-credentials", 403)


@pytest.mark.parametrize(
    "configured",
    [
        {"username": None, "password": None, "token": None},
        {"username": "postmark", "password": None, "token": "t0ken"},
        {"username": None, "password": "s3cret", "token": None},
    ],
)
def test_no_credentials_configured_is_a_configuration_error(configured: dict[str, Any]) -> None:
    """Never an open door: the service must not start without credentials."""
    with pytest.raises(ValueError):
        check_postmark_auth({}, token_header="X-Webhook-Token", **configured)
