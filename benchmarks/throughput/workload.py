"""The throughput run's workload: consents, unsubscribe clicks and send requests, encoded, and
what the gate should decide for them by the benchmark's own reckoning.

Half of the send requests' recipients are suppressed somewhere, and half of those are mailed by
the very account or list they left; 3 % of the commercial ones have no opt-in the gate can go
on; a few go to role addresses. Every request carries a compliant template's content facts
(`harness.content.compliant_content`), so the content rules deny nothing and the denials stay
the ones counted here (`expected_denials`).
"""

from __future__ import annotations

import random
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from harness.content import compliant_content
from harness.report import console

from streams.core.recipient import RecipientKeyer
from streams.core.records import ConsentEvent, SendRequest, UnsubscribeClick
from streams.core.settings import Settings
from streams.rules.address import ROLE_ADDRESS
from streams.rules.consent import (
    CASL_IMPLIED_CONSENT_EXPIRED,
    CASL_NO_VALID_CONSENT,
    CONSENT_HARD_BOUNCE,
    CONSENT_STATUS_NOT_MAILABLE,
    GDPR_PECR_NO_VALID_CONSENT,
    SPAM_ACT_NO_VALID_CONSENT,
)
from streams.rules.suppression import ACCOUNT_UNSUBSCRIBED, LIST_UNSUBSCRIBED, PLATFORM_SUPPRESSED
from streams.topics import default_codec

__all__ = [
    "ACCOUNTS",
    "PROBE_ACCOUNT",
    "PROBE_LIST",
    "TARGETED_RULES",
    "Workload",
    "build_workload",
    "probe_request",
]

ACCOUNTS = ("acme", "globex", "initech", "umbrella", "hooli")
LISTS = ("news", "deals", "product-updates", "events")
DOMAINS = ("example.com", "example.org", "example.net")
FIRST_NAMES = ("alex", "sam", "kim", "jo", "lee", "max", "ana", "eva", "tom", "mia", "noor")
LAST_NAMES = ("smith", "jones", "garcia", "chen", "novak", "silva", "kowalski", "tanaka")
ROLE_ADDRESSES = (
    "info@example.com",
    "sales@example.org",
    "support@example.net",
    "noreply@example.com",
)
JURISDICTIONS = ("US", "US", "US", "CA", "GB", "DE", "AU", None)
SUBJECTS = (
    ("Your weekly digest", "Your order has shipped"),
    ("20% off this weekend only", "Reset your password"),
    ("New in the shop: spring collection", "Your receipt"),
    ("This week's offers", "Your order 1042"),
    ("Last chance: the spring sale ends tonight", "Your password was changed"),
    ("Invitation: product webinar on Thursday", "Your account statement"),
    ("We miss you - here is what's new", "Your booking is confirmed"),
)
"""(commercial, transactional) subjects: one draw picks a pair, and the send takes the subject of
its classification. A marketing subject on a transactional send is transactional misuse, and a
transactional one on commercial mail is a deceptive subject (both content rules)."""
METHODS = ("one_click", "one_click", "link", "reply", "feedback_loop")
PROBE_ACCOUNT, PROBE_LIST = "acme", "news"


Suppression = tuple[str, str | None, str | None]  # (scope, account, list)

TARGETED_RULES = frozenset(
    rule.name
    for rule in (
        PLATFORM_SUPPRESSED,
        ACCOUNT_UNSUBSCRIBED,
        LIST_UNSUBSCRIBED,
        CONSENT_HARD_BOUNCE,
        CONSENT_STATUS_NOT_MAILABLE,
        CASL_NO_VALID_CONSENT,
        CASL_IMPLIED_CONSENT_EXPIRED,
        GDPR_PECR_NO_VALID_CONSENT,
        SPAM_ACT_NO_VALID_CONSENT,
        ROLE_ADDRESS,
    )
)
"""The rules the workload's denials come from (`_expected_deny`); a denial naming any other rule
(content, misuse, frequency, enforcement) means the workload is not what it plans."""

MAILABLE_CONSENTS = frozenset({"single_opt_in", "double_opt_in"})
"""The consent statuses the default policy lets bulk commercial mail through
(`bulk_allowed_statuses`, rule consent-status-not-mailable)."""
CONSENT_MIX = (
    (0.01, "none"),  # an address the sender got from somewhere else: nothing on record
    (0.02, "unconfirmed"),  # signed up to a double opt-in list, never clicked the link
    (0.03, "pending_review"),  # imported by the account; the import is not approved yet
    (0.30, "double_opt_in"),
    (1.00, "single_opt_in"),
)
"""Cumulative shares of the consent a recipient gave an account that mails it commercially: 3 %
give the gate no opt-in to go on, so consent-status-not-mailable shows in the decision mix."""


@dataclass
class Workload:
    """Encoded consent events, clicks and send requests, and what the gate should decide by our
    own reckoning."""

    consents: list[tuple[bytes, bytes]] = field(default_factory=list)
    clicks: list[tuple[bytes, bytes]] = field(default_factory=list)
    sends: list[tuple[bytes, bytes]] = field(default_factory=list)
    probe_addresses: list[str] = field(default_factory=list)
    suppressed_recipients: int = 0
    consents_by_status: Counter[str] = field(default_factory=Counter)
    clicks_by_scope: Counter[str] = field(default_factory=Counter)
    sends_to_suppressed: int = 0
    sends_to_roles: int = 0
    sends_without_consent: int = 0
    expected_denials: int = 0
    content_kinds: dict[tuple[str, bool, str], SendRequest] = field(default_factory=dict)
    """One request per (account, commercial, subject): what `check_content_compliant` checks."""

    def description(self) -> str:
        """What the workload holds and what the gate should deny, in one paragraph."""
        return (
            f"{len(self.consents):,} consent events: (recipient, account) pairs "
            f"{dict(self.consents_by_status)}, and {len(self.probe_addresses):,} "
            "probe recipients opted in; "
            f"{len(self.clicks):,} clicks for {self.suppressed_recipients:,} recipients "
            f"({dict(self.clicks_by_scope)}); {len(self.sends):,} send requests, "
            f"{self.sends_to_suppressed:,} to suppressed recipients, "
            f"{self.sends_to_roles:,} to role addresses, "
            f"{self.sends_without_consent:,} commercial without an opt-in, "
            f"{self.expected_denials:,} denials expected"
        )

    def figures(self, *, personalised: int) -> dict[str, Any]:
        """The workload's counts for the results, with the number of personalised twins."""
        return {
            "consent_events": len(self.consents),
            "consents_by_status": dict(self.consents_by_status),
            "clicks": len(self.clicks),
            "clicks_by_scope": dict(self.clicks_by_scope),
            "suppressed_recipients": self.suppressed_recipients,
            "sends": len(self.sends),
            "sends_to_suppressed": self.sends_to_suppressed,
            "sends_to_role_addresses": self.sends_to_roles,
            "commercial_sends_without_opt_in": self.sends_without_consent,
            "expected_denials": self.expected_denials,
            "content_kinds_checked": len(self.content_kinds),
            "personalised_sends": personalised,
        }


def _address(index: int) -> str:
    first = FIRST_NAMES[index % len(FIRST_NAMES)]
    last = LAST_NAMES[(index // len(FIRST_NAMES)) % len(LAST_NAMES)]
    local = f"{first}.{last}{index}"
    if index % 9 == 0:  # some senders keep the case people typed; the key folds it
        local = local.title()
    return f"{local}@{DOMAINS[index % len(DOMAINS)]}"


def _expected_deny(
    suppressions: list[Suppression],
    account: str,
    list_id: str | None,
    honours_opt_outs: bool,
    commercial_to_role: bool,
    commercial_without_consent: bool,
) -> bool:
    """The benchmark's own reckoning of the default policy, to check the gate's denial count.

    Every consent in the workload is account-wide and express, so the law of the recipient's
    country never denies what the platform's opt-in rule lets through: a commercial (always bulk)
    send is denied for consent exactly when the recipient's status for the account is not single
    or double opt-in. A transactional one never is: the one consent rule for all mail, the hard
    bounce, comes with a platform suppression.
    """
    if commercial_to_role or commercial_without_consent:
        return True
    if any(scope == "platform" for scope, _, _ in suppressions):
        return True
    if not honours_opt_outs:
        return False
    return any(
        (scope == "account" and acc == account)
        or (scope == "list" and list_id is not None and acc == account and lst == list_id)
        for scope, acc, lst in suppressions
    )


def _consent_events(
    status: str, recipient_key: str, account: str, rng: random.Random, now: datetime
) -> list[ConsentEvent]:
    """The events that leave a recipient with `status` for `account` (none for "none"), dated a
    year or more ago, so before every click of the workload."""
    if status == "none":
        return []
    at = now - timedelta(days=rng.randrange(366, 3 * 365), minutes=rng.randrange(24 * 60))
    common: dict[str, Any] = {
        "recipient_key": recipient_key,
        "account_id": account,
        "basis": "express",
        "occurred_at": at,
    }
    event_id = f"consent-{recipient_key[:16]}-{account}"
    if status == "pending_review":
        return [
            ConsentEvent(
                event_id=f"{event_id}-import",
                kind="import",
                source_kind="import",
                source_id=f"{account}-crm-import",
                **common,
            )
        ]
    signup = ConsentEvent(
        event_id=f"{event_id}-signup",
        kind="grant",
        source_kind="form",
        source_id=f"{account}-signup-form",
        requires_confirmation=status != "single_opt_in",
        **common,
    )
    if status != "double_opt_in":
        return [signup]
    confirm = ConsentEvent(
        event_id=f"{event_id}-confirm",
        kind="confirm",
        source_kind="confirmation_link",
        **{**common, "basis": None, "occurred_at": at + timedelta(minutes=rng.randrange(1, 90))},
    )
    return [signup, confirm]


def _draw_consent(rng: random.Random) -> str:
    draw = rng.random()
    return next(status for share, status in CONSENT_MIX if draw < share)


def build_workload(
    settings: Settings, *, sends: int, suppressed: int, probes: int, seed: int, now: datetime
) -> Workload:
    rng = random.Random(seed)
    consent_rng = random.Random(f"{seed}-consent")  # the clicks and sends stay as they were
    codec = default_codec()
    keyer = RecipientKeyer(settings.recipient_secret())
    workload = Workload(suppressed_recipients=suppressed)
    consent_of: dict[tuple[int, str], str] = {}  # (recipient index, account) -> status
    population = 2 * suppressed  # recipients [0, suppressed) are suppressed somewhere
    keys: dict[int, str] = {}

    def key_of(index: int) -> str:
        if index not in keys:
            keys[index] = keyer.key(_address(index))
        return keys[index]

    def give_consent(status: str, recipient_key: str, account: str) -> None:
        for event in _consent_events(status, recipient_key, account, consent_rng, now):
            workload.consents.append((recipient_key.encode(), codec.encode(event)))

    state: list[list[Suppression]] = []
    with console.status("building clicks"):
        for index in range(suppressed):
            entries: list[Suppression] = []
            for _ in range(2 if rng.random() < 0.1 else 1):
                draw = rng.random()
                account = rng.choice(ACCOUNTS)
                if draw < 0.7:
                    scope, list_id, reason = "list", rng.choice(LISTS), "unsubscribe"
                elif draw < 0.9:
                    scope, list_id, reason = "account", None, "unsubscribe"
                else:
                    scope, list_id = "platform", None
                    reason = rng.choice(("complaint", "complaint", "hard_bounce", "unsubscribe"))
                click = UnsubscribeClick(
                    click_id=f"click-{index}-{len(entries)}",
                    recipient_key=key_of(index),
                    scope=scope,  # type: ignore[arg-type]
                    account_id=account,
                    list_id=list_id,
                    method=rng.choice(METHODS),  # type: ignore[arg-type]
                    reason=reason,  # type: ignore[arg-type]
                    clicked_at=now - timedelta(minutes=rng.randrange(1, 60 * 24 * 365)),
                )
                entries.append((scope, account if scope != "platform" else None, list_id))
                workload.clicks.append((click.recipient_key.encode(), codec.encode(click)))
                workload.clicks_by_scope[scope] += 1
            state.append(entries)

    with console.status("building send requests"):
        for number in range(sends):
            draw = rng.random()
            index: int | None = None
            if draw < 0.005:
                recipient = rng.choice(ROLE_ADDRESSES)
                recipient_key = keyer.key(recipient)
            else:
                index = rng.randrange(population)
                recipient, recipient_key = _address(index), key_of(index)
            account, list_id = rng.choice(ACCOUNTS), rng.choice(LISTS)
            suppressions = state[index] if index is not None and index < suppressed else []
            if suppressions and rng.random() < 0.5:  # a sender that ignores its unsubscribes
                scope, own_account, own_list = rng.choice(suppressions)
                account = own_account or account
                list_id = own_list or list_id
            commercial = rng.random() < 0.85
            honour = not commercial and rng.random() < 0.3
            mailable = True
            if commercial and index is not None:
                # Whoever an account mails commercially signed up with it first (or not: 3 %).
                status = consent_of.get((index, account))
                if status is None:
                    status = consent_of[(index, account)] = _draw_consent(consent_rng)
                    workload.consents_by_status[status] += 1
                    give_consent(status, key_of(index), account)
                mailable = status in MAILABLE_CONSENTS
            if not commercial and rng.random() < 0.5:
                list_id = None  # a receipt or a password reset belongs to no list
            jurisdiction = rng.choice(JURISDICTIONS)
            subject = rng.choice(SUBJECTS)[0 if commercial else 1]
            request = SendRequest(
                request_id=f"req-{number:08d}",
                account_id=account,
                list_id=list_id,
                recipient=recipient,
                jurisdiction=jurisdiction,
                classification="commercial" if commercial else "transactional",
                honor_list_opt_outs=honour,
                send_kind="bulk" if commercial else "one_off",
                subject=subject,
                requested_at=now,
                **compliant_content(account, commercial=commercial),
            )
            workload.content_kinds.setdefault((account, commercial, subject), request)
            workload.sends.append((recipient_key.encode(), codec.encode(request)))
            workload.sends_to_suppressed += bool(suppressions)
            workload.sends_to_roles += index is None
            workload.sends_without_consent += not mailable
            workload.expected_denials += _expected_deny(
                suppressions,
                account,
                list_id,
                commercial or honour,
                commercial and index is None,
                not mailable,
            )

    # The latency probes' recipients: each opted in to the probed account, so a probe the click
    # did not reach in time would be allowed, and counted as the broken promise it is.
    tag = uuid.uuid4().hex[:8]
    for number in range(probes):
        address = f"probe{number}.{tag}@{DOMAINS[number % len(DOMAINS)]}"
        workload.probe_addresses.append(address)
        give_consent("single_opt_in", keyer.key(address), PROBE_ACCOUNT)
    return workload


def probe_request(request_id: str, recipient: str, at: datetime) -> SendRequest:
    """A latency probe's send (`click_latency.measure_latency`): commercial mail of the probed
    account to the probed list."""
    return SendRequest(
        request_id=request_id,
        account_id=PROBE_ACCOUNT,
        list_id=PROBE_LIST,
        recipient=recipient,
        classification="commercial",
        subject=SUBJECTS[0][0],
        requested_at=at,
        **compliant_content(PROBE_ACCOUNT, commercial=True),
    )
