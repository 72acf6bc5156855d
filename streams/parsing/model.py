"""The typed result of parsing one inbound message: what it is, who it is about, what it refers to.

Every record is a frozen pydantic model so that the agent that turns a parse into Kafka events
(delivery-events, feedback-reports, unsubscribe-clicks) cannot mutate it on the way, and so that
the CLI can print it as JSON without a hand-written mapping.

Top-level kinds are the four of the CLI contract: `dsn` (a bounce or delay notice, standard RFC
3464 or free-form), `arf` (a feedback-loop report, RFC 5965 or an ISP variant), `autoreply`
(vacation, out-of-office, challenge-response: never a bounce) and `other`. An `other` always says
why in `reason`; a human reply is `other` with reason `reply` and a `reply` detail that says
whether it asks to unsubscribe (the contract has no `reply` kind, so replies live under `other`).

Feedback types use the RFC spelling (`opt-out`, `auth-failure`); `streams.core.records` spells the
same values with underscores for Avro enum symbols, and the agent maps one to the other.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "DIAGNOSTIC_MAX_CHARS",
    "AutoReplyDetails",
    "AutoReplyKind",
    "BounceClass",
    "FeedbackDetails",
    "FeedbackType",
    "Kind",
    "OriginalMessage",
    "OtherReason",
    "ParsedMessage",
    "RecipientOutcome",
    "ReplyDetails",
]

Kind = Literal["dsn", "arf", "autoreply", "other"]
BounceClass = Literal["hard", "soft", "undetermined"]
FeedbackType = Literal["abuse", "fraud", "opt-out", "not-spam", "virus", "auth-failure", "other"]
AutoReplyKind = Literal["vacation", "auto-reply", "challenge"]
OtherReason = Literal[
    "reply",  # a human reply (see `ParsedMessage.reply`)
    "not-a-report",  # readable, but neither a bounce, a feedback report nor an auto-reply
    "empty",  # no bytes, or no headers at all
    "unparseable",  # the MIME parser gave up or raised
    "too-deeply-nested",  # more MIME levels than `mime.MAX_DEPTH`
]

DIAGNOSTIC_MAX_CHARS = 2000  # the limit of `DeliveryEvent.diagnostic` in streams.core.records


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RecipientOutcome(_Frozen):
    """What happened to one recipient of the original message, as the report tells it."""

    address: str = Field(description="The failed recipient, lower-cased.")
    action: str | None = Field(
        default=None, description="RFC 3464 Action (failed, delayed, ...) or inferred."
    )
    status: str | None = Field(
        default=None,
        pattern=r"^[245]\.\d{1,3}\.\d{1,3}$",
        description="RFC 3463 enhanced status code, when the report has one.",
    )
    remote_mta: str | None = Field(default=None, max_length=255)
    diagnostic: str | None = Field(default=None, max_length=DIAGNOSTIC_MAX_CHARS)
    bounce_class: BounceClass | None = Field(
        default=None, description="None for the subject of a feedback report (not a bounce)."
    )
    reason: str | None = Field(
        default=None, description="A `taxonomy.Reason` value; None for a feedback report."
    )


class FeedbackDetails(_Frozen):
    """An RFC 5965 feedback report (or an ISP's variant) boiled down to what the gate uses."""

    feedback_type: FeedbackType
    format: str = Field(
        description="rfc5965, or the ISP variant it was read as (microsoft-jmrp, dmarc-text, ...)."
    )
    reporting_isp: str | None = Field(
        default=None, description="Known ISP name, else the Reporting-MTA host, else From domain."
    )
    user_agent: str | None = None
    original_rcpt_to: str | None = None
    original_mail_from: str | None = None
    arrival_date: AwareDatetime | None = None
    source_ip: str | None = None
    reported_domain: str | None = None


class OriginalMessage(_Frozen):
    """What the report lets us recover of the message we sent."""

    message_id: str | None = None
    request_id: str | None = Field(
        default=None, description="X-Sendgate-Request-Id of the original message."
    )
    account_id: str | None = Field(default=None, description="X-Sendgate-Account of the original.")
    list_id: str | None = Field(default=None, description="X-Sendgate-List-Id of the original.")
    verp_token: str | None = Field(
        default=None,
        description="The part after `b-` in the envelope recipient's local part; unverified.",
    )


class AutoReplyDetails(_Frozen):
    """Why the message was taken for an automatic reply (RFC 3834) rather than a bounce."""

    kind: AutoReplyKind
    evidence: str = Field(description="The header or phrase that decided it (no addresses).")


class ReplyDetails(_Frozen):
    """A human reply: does its opening ask to be unsubscribed, and in which language."""

    unsubscribe_requested: bool
    language: str | None = None
    phrase: str | None = None


class ParsedMessage(_Frozen):
    """The parse of one inbound message; see the module docstring for the kinds."""

    kind: Kind
    reason: OtherReason | None = Field(
        default=None, description="Why the message is `other`; None for every other kind."
    )
    recipients: tuple[RecipientOutcome, ...] = ()
    feedback: FeedbackDetails | None = None
    original: OriginalMessage = OriginalMessage()
    autoreply: AutoReplyDetails | None = None
    reply: ReplyDetails | None = None
    truncated: bool = Field(
        default=False, description="Only the head of an oversized message was read."
    )

    @model_validator(mode="after")
    def _other_says_why(self) -> ParsedMessage:
        if (self.kind == "other") != (self.reason is not None):
            raise ValueError("a reason is given exactly when the kind is 'other'")
        return self

    @property
    def first(self) -> RecipientOutcome | None:
        """The first affected recipient: the CLI's `status` and `class` come from it."""
        return self.recipients[0] if self.recipients else None
