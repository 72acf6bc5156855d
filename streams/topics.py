"""The catalogue of sendgate's topics: the one place that names them.

Every topic about a person is keyed by the recipient key and has the same partition count, so
faust assigns partition N of each to the same worker (co-partitioning) and the gate finds the
suppressions it needs in its local table. The faust app (`streams.gate.app`) builds its topic
objects
from this catalogue; `sendgate topics create` creates them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

from streams.core.codec import Codec, load_schema_versions
from streams.core.records import RECORD_TYPES, Record
from streams.core.settings import Settings
from streams.reputation import breaches, rate_inputs, rates, standing, strikes
from streams.sending import frequency

__all__ = [
    "ACCOUNT_COMMANDS",
    "BOUNCES_CHANGELOG",
    "BOUNCE_CHANGES",
    "CONSENTS_CHANGELOG",
    "CONSENT_DEADLINES",
    "CONSENT_DEADLINES_CHANGELOG",
    "CONSENT_EVENTS",
    "CONSENT_NOTICES",
    "CONTENT_MISUSE",
    "DEAD_LETTERS",
    "DELIVERY_EVENTS",
    "ENFORCEMENT_EVENTS",
    "FEEDBACK_REPORTS",
    "INBOUND_MAIL",
    "RATES_CHANGELOG",
    "RATE_BREACHES",
    "RATE_EVENTS",
    "RATE_INPUTS_CHANGELOG",
    "RATE_TICKS",
    "SENDER_DOMAINS",
    "SEND_DECISIONS",
    "SEND_HISTORY_CHANGELOG",
    "SEND_REQUESTS",
    "STANDINGS_CHANGELOG",
    "SUPPRESSIONS_CHANGELOG",
    "SUPPRESSION_CHANGES",
    "TOPICS",
    "UNSUBSCRIBE_CLICKS",
    "TopicSpec",
    "all_record_types",
    "default_codec",
]


@dataclass(frozen=True)
class TopicSpec:
    """A topic: its base name, what it carries, and its Kafka configuration."""

    name: str
    carries: str
    compacted: bool = False
    config: dict[str, str] = field(default_factory=dict)

    def full_name(self, settings: Settings) -> str:
        return settings.topic(self.name)

    def kafka_config(self) -> dict[str, str]:
        policy = {"cleanup.policy": "compact" if self.compacted else "delete"}
        return {**policy, **self.config}


SEND_REQUESTS = TopicSpec("send-requests", "SendRequest, keyed by recipient key")
SEND_DECISIONS = TopicSpec("send-decisions", "SendDecision, keyed by recipient key")
UNSUBSCRIBE_CLICKS = TopicSpec("unsubscribe-clicks", "UnsubscribeClick, keyed by recipient key")
SUPPRESSION_CHANGES = TopicSpec(
    "suppression-changes", "SuppressionChange, keyed by recipient key (audit trail)"
)
INBOUND_MAIL = TopicSpec(
    "inbound-mail", "InboundMail, keyed by intake id (raw DSNs, feedback reports, replies)"
)
DEAD_LETTERS = TopicSpec("dead-letters", "DeadLetter, keyed by the original record's key")
SUPPRESSIONS_CHANGELOG = TopicSpec(
    "sendgate-suppressions-changelog",
    "faust changelog of the suppressions table (SuppressionState by recipient key)",
    compacted=True,
)
"""faust names a table's changelog `<app id>-<table>-changelog`; the app id carries the same
prefix as the topics, so `settings.topic()` gives the right name for both."""

DELIVERY_EVENTS = TopicSpec("delivery-events", "DeliveryEvent, keyed by recipient key")
FEEDBACK_REPORTS = TopicSpec("feedback-reports", "FeedbackReport, keyed by recipient key")
BOUNCE_CHANGES = TopicSpec(
    "bounce-changes", "BounceChange, keyed by recipient key (audit trail of the bounce counts)"
)
BOUNCES_CHANGELOG = TopicSpec(
    "sendgate-bounces-changelog",
    "faust changelog of the bounces table (BounceState by recipient key)",
    compacted=True,
)

CONSENT_EVENTS = TopicSpec(
    "consent-events",
    "ConsentEvent, keyed by recipient key (grants, confirmations, withdrawals, imports, reviews)",
)
CONSENT_NOTICES = TopicSpec(
    "consent-notices",
    "ConsentNotice, keyed by recipient key (implied consent expiring or expired)",
)
CONSENT_DEADLINES = TopicSpec(
    "consent-deadlines",
    "ConsentDeadline, keyed by recipient key (internal: the consent timer's nudges)",
)
CONSENTS_CHANGELOG = TopicSpec(
    "sendgate-consents-changelog",
    "faust changelog of the consents table (ConsentState by recipient key)",
    compacted=True,
)
CONSENT_DEADLINES_CHANGELOG = TopicSpec(
    "sendgate-consent_deadlines-changelog",
    "faust changelog of the consent deadlines table (next notice due, epoch ms, by recipient key)",
    compacted=True,
)

RATE_EVENTS = TopicSpec(
    "rate-events",
    "RateEvent, keyed by `account|provider` (or `account|*`): internal, the rate keeper's input",
)
RATE_TICKS = TopicSpec(
    "rate-ticks",
    "RateTick, keyed like rate-events (internal: the rate keeper's daily nudge for idle keys)",
)
RATE_BREACHES = TopicSpec(
    "rate-breaches", "BreachReport, keyed by account (internal: rates over a line, to the enforcer)"
)
ACCOUNT_COMMANDS = TopicSpec(
    "account-commands", "ReinstatementRequest, keyed by account (operators' reinstatements)"
)
SENDER_DOMAINS = TopicSpec(
    "sender-domains",
    "SenderDomains, keyed by account (the account's verified sending domains, whole set each time)",
    # Every worker reads it whole at start (streams.gate.broadcast): the latest set per account must
    # outlive any retention.
    compacted=True,
)
CONTENT_MISUSE = TopicSpec(
    "content-misuse",
    "MisuseReport, keyed by account (internal: transactional sends the gate found carrying "
    "marketing, to the enforcer)",
)
ENFORCEMENT_EVENTS = TopicSpec(
    "enforcement-events",
    "EnforcementEvent, keyed by account (strikes, ladder steps, pauses, reviews, reinstatements, "
    "fines)",
    # Kept for ever: every worker rebuilds each account's standing from it at start
    # (streams.gate.broadcast), and billing and support read its history. A few records per account.
    config={"retention.ms": "-1"},
)
RATE_INPUTS_CHANGELOG = TopicSpec(
    "sendgate-rate_inputs-changelog",
    "faust changelog of the rate_inputs table (RecipientRates by recipient key)",
    compacted=True,
)
RATES_CHANGELOG = TopicSpec(
    "sendgate-rates-changelog",
    "faust changelog of the rates table (RateState by `account|provider`)",
    compacted=True,
)
STANDINGS_CHANGELOG = TopicSpec(
    "sendgate-standings-changelog",
    "faust changelog of the standings table (AccountStanding by account)",
    compacted=True,
)
SEND_HISTORY_CHANGELOG = TopicSpec(
    "sendgate-send_history-changelog",
    "faust changelog of the send_history table (SendHistory by recipient key)",
    compacted=True,
)

TOPICS: tuple[TopicSpec, ...] = (
    SEND_REQUESTS,
    SEND_DECISIONS,
    UNSUBSCRIBE_CLICKS,
    SUPPRESSION_CHANGES,
    DEAD_LETTERS,
    SUPPRESSIONS_CHANGELOG,
    INBOUND_MAIL,
    DELIVERY_EVENTS,
    FEEDBACK_REPORTS,
    BOUNCE_CHANGES,
    BOUNCES_CHANGELOG,
    CONSENT_EVENTS,
    CONSENT_NOTICES,
    CONSENT_DEADLINES,
    CONSENTS_CHANGELOG,
    CONSENT_DEADLINES_CHANGELOG,
    RATE_EVENTS,
    RATE_TICKS,
    RATE_BREACHES,
    ACCOUNT_COMMANDS,
    ENFORCEMENT_EVENTS,
    RATE_INPUTS_CHANGELOG,
    RATES_CHANGELOG,
    STANDINGS_CHANGELOG,
    SENDER_DOMAINS,
    CONTENT_MISUSE,
    SEND_HISTORY_CHANGELOG,
)


@cache
def default_codec() -> Codec:
    """The codec over the repository's schemas and every record type that travels; built once
    per process."""
    return Codec(load_schema_versions(), all_record_types())


def all_record_types() -> tuple[type[Record], ...]:
    """Every record type on our topics and tables: `streams.core.records`' and those the rate,
    breach, strike, standing and cadence modules define next to their logic."""
    return (
        *RECORD_TYPES,
        *rates.RECORDS,
        *breaches.RECORDS,
        *strikes.RECORDS,
        *rate_inputs.RECORDS,
        *standing.RECORDS,
        *frequency.RECORDS,
    )
