"""One authenticated provider request to the records it carries: the body is parsed as the
provider posts it and handed to that provider's reader.

A body that is not the JSON its provider posts is one rejection covering the whole request (the
agent dead-letters the request whole); a provider's reader rejects single events itself. The
readers are meant to be total over any JSON; should one still raise, that too is a rejection of
the whole request, naming the exception's type: a reader's bug must not stop the agent, and the
request, kept whole on the dead-letter topic, can be read again once it is fixed.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import replace
from typing import Any

from streams.core.records import EspWebhook, UnsubscribeClick
from streams.esp.mailgun import mailgun_unsubscribe, read_mailgun
from streams.esp.model import EspContext, EspOutcome, Rejection
from streams.esp.postmark import read_postmark
from streams.esp.sendgrid import UNSUBSCRIBE_EVENTS, read_sendgrid, sendgrid_unsubscribes
from streams.esp.ses import read_ses

__all__ = ["read_webhook"]


def _whole(webhook: EspWebhook, reason: str) -> EspOutcome:
    return EspOutcome(rejections=(Rejection(index=0, reason=reason, raw=webhook.body),))


def read_webhook(webhook: EspWebhook, context: EspContext) -> EspOutcome:
    """The records of one request (`EspWebhook.body` as the provider posted it)."""
    try:
        return _read(webhook, context)
    except Exception as exc:  # a reader's bug: see the module docstring
        return _whole(webhook, f"the {webhook.esp} reader failed ({type(exc).__name__})")


def _read(webhook: EspWebhook, context: EspContext) -> EspOutcome:
    try:
        payload: Any = json.loads(webhook.body)
    except (ValueError, UnicodeDecodeError) as exc:
        return _whole(webhook, f"the body is not JSON ({type(exc).__name__})")
    if webhook.esp == "ses":
        return _read_sns(webhook, payload, context)
    if webhook.esp == "sendgrid":
        if not isinstance(payload, list):
            return _whole(webhook, "a SendGrid body is a JSON array of events")
        return _with_unsubscribes(
            read_sendgrid(payload, context),
            sendgrid_unsubscribes(payload, context),
            UNSUBSCRIBE_EVENTS,
        )
    if not isinstance(payload, dict):
        return _whole(webhook, f"a {webhook.esp} body is a JSON object")
    if webhook.esp == "mailgun":
        click = mailgun_unsubscribe(payload, context)
        return _with_unsubscribes(
            read_mailgun(payload, context), (click,) if click else (), {"unsubscribed"}
        )
    return read_postmark(payload, context)


def _with_unsubscribes(
    outcome: EspOutcome, clicks: tuple[UnsubscribeClick, ...], kinds: Collection[str]
) -> EspOutcome:
    """The readers count an opt-out event as ignored and return its click apart; here it is
    one of the outcome's records, no longer ignored."""
    if not clicks:
        return outcome
    return replace(
        outcome,
        unsubscribes=clicks,
        ignored=tuple(kind for kind in outcome.ignored if kind not in kinds),
    )


def _read_sns(webhook: EspWebhook, envelope: Any, context: EspContext) -> EspOutcome:
    """An SNS notification wraps the SES event as a JSON string in `Message`; the webhook service
    publishes only notifications (it answers subscription confirmations itself)."""
    if not isinstance(envelope, dict):
        return _whole(webhook, "an SNS body is a JSON object")
    if envelope.get("Type") != "Notification":
        return EspOutcome(ignored=(f"sns/{envelope.get('Type')}",))
    message = envelope.get("Message")
    if not isinstance(message, str):
        return _whole(webhook, "the SNS notification has no Message")
    try:
        notification = json.loads(message)
    except ValueError:
        return _whole(webhook, "the SNS Message is not JSON (raw message delivery is not SES's)")
    if not isinstance(notification, dict):
        return _whole(webhook, "the SNS Message is not a JSON object")
    message_id = envelope.get("MessageId")
    return read_ses(
        notification,
        context,
        sns_message_id=message_id if isinstance(message_id, str) else None,
    )
