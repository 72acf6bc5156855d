"""The agent that reads ESP webhooks: an authenticated provider request, kept whole on
`esp-webhooks` by the webhook service, becomes the delivery events and feedback reports the state
keepers fold, as raw mail does through `parse_inbound_mail`.

Reading here, not in the web service, keeps the web service's answer honest and cheap (2xx once
the request is on Kafka, whatever its events say) and keeps every request: an event no reader
understands today is dead-lettered with the whole request and its coordinates, and a better
reader can read the topic again. Events of one request that read well are emitted even when
another in the same batch did not; the ids of what is emitted come from the provider's event ids
(`streams.esp.model`), so reading a request twice changes nothing twice.
"""

from __future__ import annotations

import logging
from typing import Any

from streams.core.errors import InvalidRecordError
from streams.esp.model import EspContext, EspOutcome
from streams.esp.read import read_webhook
from streams.gate.app import Gate
from streams.gate.handling import dead_letter, decode_record
from streams.gate.keepers import emit_inbound
from streams.gate.metrics import ESP_DISAGREEMENTS, ESP_EVENTS
from streams.topics import ESP_WEBHOOKS

__all__ = ["AGENT", "read_esp_webhook"]

log = logging.getLogger(__name__)

AGENT = "read_esp_webhooks"
_REASONS_SHOWN = 20


async def read_esp_webhook(gate: Gate, message: Any) -> None:
    """Read one provider request and emit what its events say."""
    webhook = await decode_record(gate, message, ESP_WEBHOOKS, AGENT)
    if webhook is None:
        return
    context = EspContext(
        recipient_key=gate.keyer.key,
        provider_of=gate.enforcement.providers.provider_of_address,
        received_at=webhook.received_at,
    )
    outcome = read_webhook(webhook, context)
    await emit_inbound(gate, outcome)
    _count(webhook.esp, outcome)
    if outcome.rejections:
        shown = "; ".join(
            f"event {rejection.index}: {rejection.reason}"
            for rejection in outcome.rejections[:_REASONS_SHOWN]
        )
        more = len(outcome.rejections) - _REASONS_SHOWN
        reason = f"{webhook.esp}: {len(outcome.rejections)} event(s) unreadable: {shown}" + (
            f"; and {more} more" if more > 0 else ""
        )
        await dead_letter(gate, message, AGENT, InvalidRecordError(reason))


def _count(esp: str, outcome: EspOutcome) -> None:
    for event in outcome.delivery_events:
        ESP_EVENTS.labels(esp, event.kind).inc()
        if (
            event.kind == "bounced"
            and event.esp_bounce_class is not None
            and event.esp_bounce_class != event.bounce_class
        ):
            ESP_DISAGREEMENTS.labels(esp, event.esp_bounce_class, event.bounce_class).inc()
    if outcome.feedback_reports:
        ESP_EVENTS.labels(esp, "complaint").inc(len(outcome.feedback_reports))
    if outcome.unsubscribes:
        ESP_EVENTS.labels(esp, "unsubscribe").inc(len(outcome.unsubscribes))
    if outcome.ignored:
        ESP_EVENTS.labels(esp, "ignored").inc(len(outcome.ignored))
    if outcome.rejections:
        ESP_EVENTS.labels(esp, "rejected").inc(len(outcome.rejections))
