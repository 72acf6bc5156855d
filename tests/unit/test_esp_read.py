"""`read_webhook` over anything a provider (or someone holding its key) could post: no reader
raises, and whatever one cannot read is a rejection of the whole request or of one event."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.core.recipient import RecipientKeyer
from streams.core.records import EspWebhook
from streams.esp.model import EspContext
from streams.esp.read import read_webhook

KEYER = RecipientKeyer(b"esp-read-test-secret-0123456789ab")
CONTEXT = EspContext(
    recipient_key=KEYER.key,
    provider_of=lambda address: "domain:" + address.rpartition("@")[2],
    received_at=datetime(2026, 3, 2, 9, 41, tzinfo=UTC),
)
_KEYS = st.sampled_from(
    [
        "event",
        "email",
        "timestamp",
        "sg_event_id",
        "status",
        "reason",
        "type",
        "event-data",
        "signature",
        "recipient",
        "id",
        "severity",
        "delivery-status",
        "RecordType",
        "Type",
        "ID",
        "Email",
        "BouncedAt",
        "Details",
        "Metadata",
        "notificationType",
        "eventType",
        "bounce",
        "complaint",
        "delivery",
        "mail",
        "bouncedRecipients",
        "complainedRecipients",
        "emailAddress",
        "Message",
    ]
)
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(["bounce", "delivered", "Bounce", "Complaint", "a@example.com", "5.1.1"]),
)
JSON = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.one_of(_KEYS, st.text(max_size=8)), inner, max_size=6),
    max_leaves=25,
)


def webhook(esp: str, body: bytes) -> EspWebhook:
    return EspWebhook(
        webhook_id="esp-test",
        esp=esp,  # type: ignore[arg-type]
        received_at=CONTEXT.received_at,
        authenticated_by="test",
        body=body,
    )


def _body(esp: str, payload: Any) -> bytes:
    if esp == "ses":  # SES arrives inside an SNS notification
        payload = {"Type": "Notification", "MessageId": "m", "Message": json.dumps(payload)}
    return json.dumps(payload, allow_nan=True).encode()


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(esp=st.sampled_from(["ses", "sendgrid", "mailgun", "postmark"]), payload=JSON)
def test_any_json_is_read_or_rejected_never_raised(esp: str, payload: Any) -> None:
    outcome = read_webhook(webhook(esp, _body(esp, payload)), CONTEXT)
    for rejection in outcome.rejections:
        assert rejection.reason
        assert "reader failed" not in rejection.reason  # the readers are total; the net is spare
        assert "example.com" not in rejection.reason  # no address in a reason


def test_a_body_that_is_not_json_is_one_rejection_of_the_whole_request() -> None:
    outcome = read_webhook(webhook("postmark", b"\xff\xfe not json"), CONTEXT)
    assert [r.index for r in outcome.rejections] == [0]
    assert outcome.rejections[0].raw == b"\xff\xfe not json"
    assert outcome.records == ()
