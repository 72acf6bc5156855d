"""What the benchmarks' sends carry, and the steady background account the latency benchmarks
keep the gate busy with.

Every send request needs content facts (From, body, authentication) and a From at a domain the
account has verified on `sender-domains`, or a content rule denies it. A benchmark about
suppressions, consent or enforcement sends what a compliant sender's template would: the demo's
facts (`streams.demo.content`: From, DKIM and SPF on `<account>.example`, a footer with a postal
address and an unsubscribe link, or a receipt's text), and publishes each account's verified
domain `<account>.example` before its first send (`harness.gate.publish_sender_domains`). Its
planned denials then come from the rules it targets only.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from functools import cache
from types import MappingProxyType
from typing import Any

from harness.errors import BenchError
from streams.core.recipient import RecipientKeyer
from streams.core.records import (
    ConsentEvent,
    DeliveryEvent,
    FeedbackReport,
    SendRequest,
    UnsubscribeClick,
)
from streams.demo.content import compliant_facts, sender_domains
from streams.policy import Policy
from streams.rules import RecipientView
from streams.rules.content import CONTENT_RULES
from streams.rules.misuse import TRANSACTIONAL_MISUSE
from streams.topics import default_codec

__all__ = [
    "BACKGROUND_ACCOUNT",
    "BACKGROUND_POOL",
    "BACKGROUND_RECIPIENTS",
    "background_address",
    "background_grants",
    "background_pool",
    "check_content_compliant",
    "commercial_request",
    "complaint",
    "compliant_content",
    "consent_grant",
    "delivered",
    "list_click",
    "subscriber_address",
]

BACKGROUND_ACCOUNT = "steady"
"""The account of the background load: opted-in recipients, never struck, never unsubscribed."""
BACKGROUND_RECIPIENTS = 1000
BACKGROUND_POOL = 10_000
"""Distinct encoded requests the background load cycles through."""


@cache
def compliant_content(account: str, *, commercial: bool) -> Mapping[str, Any]:
    """SendRequest fields (`from_address`, `body`, `authentication`) of the account's ordinary
    commercial or transactional mail, From its verified domain `<account>.example` (frozen
    records in a read-only mapping, so one copy per account and kind serves every request)."""
    return MappingProxyType(compliant_facts(account, commercial=commercial))


def _verified_domains(accounts: Iterable[str]) -> dict[str, frozenset[str]]:
    return {
        record.account_id: frozenset(record.domains)
        for record in sender_domains(sorted(set(accounts)), now=datetime.now(UTC))
    }


def check_content_compliant(requests: Iterable[SendRequest], policy: Policy, *, what: str) -> int:
    """Fail before anything is sent when a content rule or transactional-misuse would deny one of
    `requests` (the accounts' verified domains on record, as `publish_sender_domains` puts them):
    the benchmark's planned denials must come from the rules it targets. Pass one request per
    kind of send (account, classification, subject); returns how many were checked."""
    requests = list(requests)
    verified = _verified_domains(request.account_id for request in requests)
    problems = []
    for request in requests:
        view = RecipientView(sender_domains=verified[request.account_id])
        for rule in (*CONTENT_RULES, TRANSACTIONAL_MISUSE):
            failure = rule.evaluate(request, view, policy)
            if failure is not None and failure.rule not in policy.content.flag_only_rules:
                problems.append(
                    f"{request.account_id} {request.classification} {request.subject!r}: "
                    f"{failure.rule}"
                )
    if problems:
        raise BenchError(
            f"{what}: sends the content rules would deny, so the workload's denials would not be "
            f"the ones it plans: {'; '.join(problems[:10])}"
        )
    return len(requests)


def commercial_request(
    request_id: str, account: str, address: str, *, list_id: str = "news"
) -> SendRequest:
    """A bulk commercial send to `list_id`, as a compliant sender's weekly offers would be."""
    return SendRequest(
        request_id=request_id,
        account_id=account,
        list_id=list_id,
        recipient=address,
        classification="commercial",
        send_kind="bulk",
        subject="This week's offers",
        requested_at=datetime.now(UTC),
        **compliant_content(account, commercial=True),
    )


def consent_grant(
    keyer: RecipientKeyer, address: str, account: str, event_id: str, at: datetime
) -> ConsentEvent:
    """An account-wide express sign-up on the account's form: enough for its bulk mail."""
    return ConsentEvent(
        event_id=event_id,
        recipient_key=keyer.key(address),
        kind="grant",
        account_id=account,
        basis="express",
        source_kind="form",
        source_id=f"{account}-signup-form",
        occurred_at=at,
    )


def list_click(
    click_id: str, recipient_key: str, account: str, list_id: str, at: datetime
) -> UnsubscribeClick:
    """A one-click unsubscribe from one list of one account, as a mailbox provider's POST makes."""
    return UnsubscribeClick(
        click_id=click_id,
        recipient_key=recipient_key,
        scope="list",
        account_id=account,
        list_id=list_id,
        method="one_click",
        clicked_at=at,
    )


def complaint(report_id: str, recipient_key: str, account: str) -> FeedbackReport:
    """A spam complaint from a mailbox provider's feedback loop about the account's mail."""
    return FeedbackReport(
        report_id=report_id,
        recipient_key=recipient_key,
        feedback_type="abuse",
        reporter="Google",
        account_id=account,
        received_at=datetime.now(UTC),
        source="fbl",
    )


def delivered(
    event_id: str, recipient_key: str, account: str, at: datetime, provider: str
) -> DeliveryEvent:
    """The mail infrastructure's word that the account's mail reached the recipient at
    `provider`: the volume a complaint rate is counted against."""
    return DeliveryEvent(
        event_id=event_id,
        recipient_key=recipient_key,
        kind="delivered",
        account_id=account,
        occurred_at=at,
        source="mta-bench",
        provider=provider,
    )


def subscriber_address(tag: str, number: int) -> str:
    """A latency probe's recipient: new in every run (`tag`), so it has no state yet."""
    return f"subscriber.{number}.{tag}@example.com"


def background_address(tag: str, index: int) -> str:
    return f"member{index}.{tag}@example.org"


def background_grants(keyer: RecipientKeyer, tag: str, at: datetime) -> Iterator[ConsentEvent]:
    """Every background recipient opts in to the background account, so its sends are allowed."""
    for index in range(BACKGROUND_RECIPIENTS):
        yield consent_grant(
            keyer, background_address(tag, index), BACKGROUND_ACCOUNT, f"grant-{tag}-bg-{index}", at
        )


def background_pool(keyer: RecipientKeyer, tag: str) -> list[tuple[bytes, bytes]]:
    """(key, value) of the background load's requests: the background account's commercial mail
    to its opted-in recipients."""
    codec = default_codec()
    pool = []
    for number in range(BACKGROUND_POOL):
        address = background_address(tag, number % BACKGROUND_RECIPIENTS)
        request = commercial_request(f"bg-{tag}-{number}", BACKGROUND_ACCOUNT, address)
        pool.append((keyer.key(address).encode(), codec.encode(request)))
    return pool
