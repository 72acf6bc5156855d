"""Turn one parsed inbound message into the events the gate keeps its state from.

Pure: the `parse_inbound_mail` agent parses the raw bytes (`streams.parsing`), calls
`events_for`, and emits what it returns. The choices made here:

- A DSN becomes one delivery event per recipient it reports (action failed -> bounced, delayed
  -> deferred, delivered/relayed/expanded -> delivered). When the bounce came back to a VERP
  return path whose token verifies and the DSN names one recipient, the token's recipient key
  wins over the address in the report: a forwarded mailbox reports the forwarding target, the
  token names whom we mailed.
- A feedback report (ARF or an ISP's own format) becomes one feedback report record, about the
  original recipient the report names (or the VERP token's).
- An auto-reply (vacation, out-of-office, challenge) is nothing: never a bounce.
- A reply asking to unsubscribe becomes an unsubscribe request: from the list when the reply
  quotes our `X-Sendgate-Account` and `X-Sendgate-List-Id` headers, else from the account, else
  platform-wide (a person who writes "unsubscribe" wants no more mail; over-honouring is the safe
  side of the law). The person is the VERP token's recipient, else the reply's From address.
- Whatever could not be read (unparseable, empty, too deeply nested, or a readable message that
  is none of the above) is returned as a rejection, which the agent dead-letters with the reason.
Diagnostic texts keep the remote MTA's words but not the addresses in them.

Ids. The events' ids come from the message itself (`inbound_id`: a digest of the envelope and the
raw bytes), not from where it sits on `inbound-mail`. A sending MTA whose `250` got lost, or
whose message was answered `451` although the publish landed after all, sends the same message
again; the intake then publishes a second record at other coordinates. With ids from the content
both copies give the same delivery event, report and unsubscribe ids, which every keeper already
applies once (the bounce history's applied ids, the rate inputs' counted ids, the suppression
fold, the ledger's identities). `source` still says which record an event was read from.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import getaddresses

from streams.core.records import (
    DeliveryEvent,
    DeliveryKind,
    FeedbackReport,
    InboundMail,
    SuppressionScope,
    UnsubscribeClick,
)
from streams.parsing import parse_message
from streams.parsing.model import ParsedMessage, RecipientOutcome
from streams.parsing.replies import DEFAULT_UNSUBSCRIBE_KEYWORDS
from streams.sending.verp import VERP_PREFIX

__all__ = [
    "InboundOutcome",
    "envelope_recipient",
    "events_for",
    "inbound_id",
    "read_inbound",
    "scrub_addresses",
]

_ADDRESS = re.compile(r"<?[^\s<>()\[\]\"',;:]{1,64}@[A-Za-z0-9.\-]{1,255}>?")
_ACTIONS: dict[str, DeliveryKind] = {
    "failed": "bounced",
    "delayed": "deferred",
    "delivered": "delivered",
    "relayed": "delivered",
    "expanded": "delivered",
}


@dataclass(frozen=True)
class InboundOutcome:
    """What one inbound message produced; `rejection` is set when it produced nothing usable."""

    delivery_events: tuple[DeliveryEvent, ...] = ()
    feedback_reports: tuple[FeedbackReport, ...] = ()
    unsubscribes: tuple[UnsubscribeClick, ...] = ()
    ignored: str | None = None
    rejection: str | None = None
    forged_verp: bool = False


def scrub_addresses(text: str | None) -> str | None:
    """The text with every email address replaced by `<address>` (diagnostics quote them)."""
    if text is None:
        return None
    return _ADDRESS.sub("<address>", text)[:2000]


def _kind_of(outcome: RecipientOutcome) -> DeliveryKind:
    return _ACTIONS.get((outcome.action or "").lower(), "bounced")


def envelope_recipient(mail: InboundMail) -> str:
    """The envelope recipient a bounce is about: the VERP address when the mail came to one
    (it names the recipient of the send that bounced), else the first."""
    return next(
        (rcpt for rcpt in mail.rcpt_to if rcpt.lower().startswith(VERP_PREFIX)), mail.rcpt_to[0]
    )


def inbound_id(mail: InboundMail) -> str:
    """The id of the message, the same each time a sender delivers it.

    The intake's `intake_id` and the arrival time are new at each delivery, so they are left out;
    the recipients are sorted because a retry need not list them in the same order. Two different
    messages with the same envelope and the same bytes cannot be told apart, and need not be: a
    DSN or report names its own Message-ID and date."""
    digest = hashlib.sha256(b"inbound-v1")
    for text in (mail.mail_from, *sorted(mail.rcpt_to)):
        part = text.encode("utf-8", "surrogateescape")
        digest.update(len(part).to_bytes(4, "big") + part)
    digest.update(mail.raw)
    return "inbound-" + digest.hexdigest()[:40]


def read_inbound(
    mail: InboundMail,
    *,
    keywords: Mapping[str, Sequence[str]] | None,
    source: str,
    recipient_key: Callable[[str], str],
    verp_recipient_key: Callable[[str], str | None],
    provider_of: Callable[[str], str] | None = None,
) -> InboundOutcome:
    """Parse one inbound message and map it to events (`events_for`); `keywords` are the
    policy's unsubscribe words for replies (None or empty: the defaults)."""
    parsed = parse_message(
        mail.raw,
        envelope_rcpt=envelope_recipient(mail),
        keywords=keywords or DEFAULT_UNSUBSCRIBE_KEYWORDS,
    )
    return events_for(
        parsed,
        mail,
        source=source,
        recipient_key=recipient_key,
        verp_recipient_key=verp_recipient_key,
        provider_of=provider_of,
    )


def events_for(
    parsed: ParsedMessage,
    mail: InboundMail,
    *,
    source: str,
    recipient_key: Callable[[str], str],
    verp_recipient_key: Callable[[str], str | None],
    provider_of: Callable[[str], str] | None = None,
) -> InboundOutcome:
    """Map one parse to events. `verp_recipient_key(token)` is None for a forged token;
    `provider_of(address)` names the mailbox provider of the address a report names (the rate
    keeper counts bounces and complaints by it)."""
    token = parsed.original.verp_token
    token_key = verp_recipient_key(token) if token else None
    outcome = _events_for(parsed, mail, source, recipient_key, token_key, provider_of)
    # The intake refuses forged tokens at RCPT time; one that got here (mail published by other
    # means) is counted, and the event falls back to the address in the report.
    return replace(outcome, forged_verp=bool(token) and token_key is None)


def _events_for(
    parsed: ParsedMessage,
    mail: InboundMail,
    source: str,
    recipient_key: Callable[[str], str],
    token_key: str | None,
    provider_of: Callable[[str], str] | None,
) -> InboundOutcome:
    original = parsed.original
    message_id = inbound_id(mail)

    def provider(address: str | None) -> str | None:
        return provider_of(address) if provider_of is not None and address else None

    if parsed.kind == "dsn":
        if not parsed.recipients:
            return InboundOutcome(rejection="a delivery status notice that names no recipient")
        events = tuple(
            DeliveryEvent(
                event_id=f"{message_id}#{n}",
                recipient_key=(
                    token_key
                    if token_key and len(parsed.recipients) == 1
                    else recipient_key(outcome.address)
                ),
                kind=_kind_of(outcome),
                bounce_class=outcome.bounce_class,
                reason=outcome.reason,
                status=outcome.status,
                diagnostic=scrub_addresses(outcome.diagnostic),
                remote_mta=outcome.remote_mta,
                account_id=original.account_id,
                request_id=original.request_id,
                message_id=original.message_id,
                occurred_at=mail.received_at,
                source=source,
                provider=provider(outcome.address),
            )
            for n, outcome in enumerate(parsed.recipients)
        )
        return InboundOutcome(delivery_events=events)
    if parsed.kind == "arf":
        feedback = parsed.feedback
        address = (feedback.original_rcpt_to if feedback else None) or (
            parsed.recipients[0].address if parsed.recipients else None
        )
        key = token_key or (recipient_key(address) if address else None)
        if feedback is None or key is None:
            return InboundOutcome(rejection="a feedback report that names no original recipient")
        report = FeedbackReport(
            report_id=message_id,
            recipient_key=key,
            feedback_type=feedback.feedback_type.replace("-", "_"),
            reporter=feedback.reporting_isp,
            account_id=original.account_id,
            request_id=original.request_id,
            list_id=original.list_id if original.account_id else None,
            original_message_id=original.message_id,
            arrival_date=feedback.arrival_date,
            received_at=mail.received_at,
            source=source,
            provider=provider(address),
        )
        return InboundOutcome(feedback_reports=(report,))
    if parsed.kind == "autoreply":
        return InboundOutcome(ignored="auto-reply")
    if parsed.reason == "reply":
        if not (parsed.reply and parsed.reply.unsubscribe_requested):
            return InboundOutcome(ignored="reply")
        key = token_key
        if key is None:
            sender = _from_address(mail.raw)
            if sender is None:
                return InboundOutcome(rejection="an unsubscribe reply with no sender address")
            key = recipient_key(sender)
        scope: SuppressionScope = "platform"
        if original.account_id:
            scope = "list" if original.list_id else "account"
        click = UnsubscribeClick(
            click_id=f"reply:{message_id}",
            recipient_key=key,
            scope=scope,
            account_id=original.account_id if scope != "platform" else None,
            list_id=original.list_id if scope == "list" else None,
            method="reply",
            reason="unsubscribe",
            clicked_at=mail.received_at,
        )
        return InboundOutcome(unsubscribes=(click,))
    return InboundOutcome(rejection=f"not a bounce, feedback report or reply ({parsed.reason})")


def _from_address(raw: bytes) -> str | None:
    headers = BytesHeaderParser(policy=compat32).parsebytes(raw[:65536])
    addresses = [address for _, address in getaddresses(headers.get_all("From", [])) if address]
    return addresses[0] if addresses else None
