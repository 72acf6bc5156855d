"""What a choice on an unsubscribe link means: the unsubscribe click, spam report or cadence
choice it becomes, the same record for the same token and choice (RFC 8058 one-click, RFC 2369
mailto, and the preference page all make them here).

Ids are made from the token and the choice, so a repeated click or a mail scanner's second POST
makes the record the gate already has, never a second one.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Literal

from streams.core.clock import to_epoch_ms
from streams.core.records import ConsentEvent, FeedbackReport, UnsubscribeClick
from streams.sending.unsubscribe_tokens import UnsubscribeToken

__all__ = [
    "CADENCE_PREFIX",
    "Choice",
    "action_id",
    "cadence_event_for",
    "click_for",
    "spam_report_for",
]

Choice = Literal["list", "account", "platform", "spam"]

CADENCE_PREFIX = "cadence:"
"""A preference-page choice `cadence:<name>` asks for the mail at that cadence instead."""


def action_id(token: UnsubscribeToken, choice: str, *more: str) -> str:
    parts = (
        "web-v1",
        token.recipient_key,
        token.account_id or "",
        token.list_id or "",
        choice,
        *more,
    )
    return "web-" + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


def click_for(token: UnsubscribeToken, choice: Choice, at: datetime) -> UnsubscribeClick:
    """The unsubscribe a choice asks for; the same token and choice give the same click id.

    A token that names no account (a confirmation for an address typed on a forged link's page)
    can only mean the platform: it is issued only where the platform-wide choice is offered."""
    if token.account_id is None:
        scope = "platform"
    else:
        scope = "account" if choice == "list" and token.list_id is None else choice
    return UnsubscribeClick(
        click_id=action_id(token, choice),
        recipient_key=token.recipient_key,
        scope=scope,  # type: ignore[arg-type]
        account_id=None if scope == "platform" else token.account_id,
        list_id=token.list_id if scope == "list" else None,
        method="one_click",
        clicked_at=at,
    )


def spam_report_for(token: UnsubscribeToken, at: datetime) -> FeedbackReport:
    """ "Report this as spam" files a complaint as an ISP's feedback loop would."""
    return FeedbackReport(
        report_id=action_id(token, "spam"),
        recipient_key=token.recipient_key,
        feedback_type="abuse",
        reporter="sendgate unsubscribe page",
        account_id=token.account_id,
        request_id=token.request_id,
        list_id=token.list_id,
        received_at=at,
        source="web:report-spam",
    )


def cadence_event_for(token: UnsubscribeToken, cadence: str, at: datetime) -> ConsentEvent:
    """ "Get this mail <cadence> instead": the account's consent for the token's list (none:
    all of the account's mail) takes the cadence. The id is made from the token, the choice and
    the moment, so the last of several choices is the one that holds."""
    if token.account_id is None:
        raise ValueError("a cadence is chosen for an account's mail; this token names none")
    choice = f"{CADENCE_PREFIX}{cadence}"
    return ConsentEvent(
        event_id=action_id(token, choice, str(to_epoch_ms(at))),
        recipient_key=token.recipient_key,
        kind="cadence_changed",
        account_id=token.account_id,
        lists=(token.list_id,) if token.list_id else (),
        cadence=cadence,
        source_kind="unsubscribe",
        source_id="preference-centre",
        occurred_at=at,
    )
