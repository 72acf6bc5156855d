"""ESP webhooks through the worker's agents: a provider's published sample, as the webhook
service keeps it on `esp-webhooks`, becomes the delivery events and feedback reports a raw DSN or
ARF report would; those fold into the same suppressions; an unreadable event is dead-lettered with
the whole request, and reading a request twice changes nothing twice."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from streams.core.records import (
    DeadLetter,
    DeliveryEvent,
    EspWebhook,
    FeedbackReport,
    Record,
    SuppressionChange,
)
from streams.edges.webhooks.app import webhook_id
from streams.gate.app import Gate
from streams.gate.emit import CollectingEmitter
from streams.topics import (
    DEAD_LETTERS,
    DELIVERY_EVENTS,
    FEEDBACK_REPORTS,
    SUPPRESSION_CHANGES,
    UNSUBSCRIBE_CLICKS,
    TopicSpec,
)

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "esp"
R = TypeVar("R", bound=Record)
RECEIVED = datetime(2026, 3, 2, 9, 41, tzinfo=UTC)


def webhook(esp: str, body: bytes) -> EspWebhook:
    return EspWebhook.model_validate(
        {
            "webhook_id": webhook_id(esp, body),
            "esp": esp,
            "received_at": RECEIVED,
            "authenticated_by": "test",
            "body": body,
        }
    )


def sns_envelope(message: dict[str, object]) -> bytes:
    """SES's event inside the SNS envelope the service publishes (signature already checked)."""
    return json.dumps(
        {
            "Type": "Notification",
            "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
            "TopicArn": "arn:aws:sns:us-west-2:123456789012:MyTopic",
            "Message": json.dumps(message),
            "Timestamp": "2012-05-02T00:54:06.655Z",
            "SignatureVersion": "1",
            "Signature": "checked-by-the-service",
            "SigningCertURL": "https://sns.us-west-2.amazonaws.com/x.pem",
        }
    ).encode()


async def put(gate: Gate, agent: str, value: bytes, key: bytes) -> None:
    async with gate.agents[agent].test_context() as running:
        await running.put(value, key=key, partition=0)


async def read(gate: Gate, emitter: CollectingEmitter, record: EspWebhook) -> None:
    await put(gate, "read_esp_webhooks", gate.codec.encode(record), record.webhook_id.encode())


def emitted(
    gate: Gate, emitter: CollectingEmitter, topic: TopicSpec, record_type: type[R]
) -> list[R]:
    items = emitter.on(gate.topic_name(topic))
    return [gate.codec.decode(item.value, record_type) for item in items]


async def fold(gate: Gate, emitter: CollectingEmitter) -> list[SuppressionChange]:
    """Hand what the reader emitted to the keepers, as the broker would, then the suppression
    requests they made to the suppression keeper; the suppression changes that came of it."""
    for topic, agent in (
        (DELIVERY_EVENTS, "keep_bounce_history"),
        (FEEDBACK_REPORTS, "act_on_feedback"),
    ):
        for item in emitter.on(gate.topic_name(topic)):
            await put(gate, agent, item.value, item.key or b"")
    for item in emitter.on(gate.topic_name(UNSUBSCRIBE_CLICKS)):
        await put(gate, "keep_suppressions", item.value, item.key or b"")
    return emitted(gate, emitter, SUPPRESSION_CHANGES, SuppressionChange)


async def test_an_ses_hard_bounce_suppresses_the_address_platform_wide(
    gate: Gate, emitter: CollectingEmitter
) -> None:
    """AWS's sample bounce (Permanent/General, 5.1.1 'user unknown') is a dead address in both
    readings, and a hard bounce suppresses platform-wide (as a DSN's 5.1.1 does)."""
    sample = json.loads((SAMPLES / "ses" / "event-bounce.json").read_text())
    await read(gate, emitter, webhook("ses", sns_envelope(sample)))
    (event,) = emitted(gate, emitter, DELIVERY_EVENTS, DeliveryEvent)
    address = sample["bounce"]["bouncedRecipients"][0]["emailAddress"]
    assert event.recipient_key == gate.keyer.key(address)
    assert (event.kind, event.bounce_class, event.esp, event.esp_bounce_class) == (
        "bounced",
        "hard",
        "ses",
        "hard",
    )
    changes = await fold(gate, emitter)
    assert [(c.recipient_key, c.entry.scope, c.entry.reason) for c in changes] == [
        (gate.keyer.key(address), "platform", "hard_bounce")
    ]


async def test_a_postmark_spam_complaint_suppresses_for_the_account_named_in_metadata(
    gate: Gate, emitter: CollectingEmitter
) -> None:
    sample = json.loads((SAMPLES / "postmark" / "spam-complaint.json").read_text())
    sample["Metadata"] = {"sendgate_account": "acme", "sendgate_request_id": "req-1"}
    await read(gate, emitter, webhook("postmark", json.dumps(sample).encode()))
    (report,) = emitted(gate, emitter, FEEDBACK_REPORTS, FeedbackReport)
    assert (report.feedback_type, report.account_id, report.request_id, report.esp) == (
        "abuse",
        "acme",
        "req-1",
        "postmark",
    )
    changes = await fold(gate, emitter)
    assert [(c.entry.scope, c.entry.account_id, c.entry.reason) for c in changes] == [
        ("account", "acme", "complaint")
    ]
    assert changes[0].recipient_key == gate.keyer.key(sample["Email"])


async def test_a_sendgrid_unsubscribe_is_an_opt_out(gate: Gate, emitter: CollectingEmitter) -> None:
    (sample,) = json.loads((SAMPLES / "sendgrid" / "unsubscribe.json").read_text())
    sample["sendgate_account"] = "acme"
    await read(gate, emitter, webhook("sendgrid", json.dumps([sample]).encode()))
    changes = await fold(gate, emitter)
    assert [(c.entry.scope, c.entry.account_id) for c in changes] == [("account", "acme")]


async def test_an_unreadable_event_is_dead_lettered_with_the_request_and_the_rest_is_read(
    gate: Gate, emitter: CollectingEmitter
) -> None:
    (good,) = json.loads((SAMPLES / "sendgrid" / "delivered.json").read_text())
    bad = {key: value for key, value in good.items() if key != "email"}
    body = json.dumps([good, bad]).encode()
    record = webhook("sendgrid", body)
    await read(gate, emitter, record)
    assert len(emitted(gate, emitter, DELIVERY_EVENTS, DeliveryEvent)) == 1
    (letter,) = emitted(gate, emitter, DEAD_LETTERS, DeadLetter)
    assert letter.agent == "read_esp_webhooks"
    assert letter.reason.startswith("sendgrid: 1 event(s) unreadable: event 1:")
    assert gate.codec.decode(letter.original_value or b"", EspWebhook).body == body
    assert good["email"] not in letter.reason


async def test_a_body_that_is_not_json_is_dead_lettered_whole(
    gate: Gate, emitter: CollectingEmitter
) -> None:
    await read(gate, emitter, webhook("mailgun", b"<html>not json</html>"))
    (letter,) = emitted(gate, emitter, DEAD_LETTERS, DeadLetter)
    assert "not JSON" in letter.reason
    assert emitted(gate, emitter, DELIVERY_EVENTS, DeliveryEvent) == []


async def test_reading_a_request_twice_emits_the_same_records(
    gate: Gate, emitter: CollectingEmitter
) -> None:
    """A provider's retry, or the agent reading again after a crash: same ids, so the keepers
    apply them once."""
    sample = json.loads((SAMPLES / "ses" / "event-complaint.json").read_text())
    record = webhook("ses", sns_envelope(sample))
    await read(gate, emitter, record)
    await read(gate, emitter, record)
    first, second = emitted(gate, emitter, FEEDBACK_REPORTS, FeedbackReport)
    assert first == second
    changes = await fold(gate, emitter)
    # The second suppression request has the first one's id: the keeper sees a replay.
    assert [change.outcome for change in changes] == ["added", "replayed"]
