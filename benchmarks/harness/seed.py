"""A realistic table state written straight into the gate's changelogs.

Folding a million unsubscribe clicks through the keepers would take the benchmark the better part
of an hour; what a worker restores is the changelog, so that is what is written. Every value is
the real fold's output (`streams.suppression.fold.apply_click`, `streams.consent.fold.
apply_consent_event`) for an event like the ones the keepers fold, so it decodes, and decides,
exactly like state the keepers wrote. The values do not carry the recipient (the key does), so a
few hundred folded templates, spread over accounts, lists and dates, serve every recipient.

Partitions follow the key as every producer of the gate's inputs places them (aiokafka's and
Java's murmur2), which is where faust's changelog writes put a recipient's entries too.

Recipients `seed0` to `seed{n-1}` hold an express consent to their account; recipients from
`seed{n/2}` to `seed{3n/2 - 1}` hold an account suppression. So the first half may be mailed,
the second half (consented and suppressed) and the last (suppressed only) may not.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from streams.consent.fold import apply_consent_event
from streams.core.codec import Codec
from streams.core.recipient import RecipientKeyer
from streams.core.records import ConsentEvent, UnsubscribeClick
from streams.policy import Policy

__all__ = ["SeededState", "account_of", "address_of", "seed_records"]

TEMPLATES = 256
ACCOUNTS = 64
EPOCH = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def address_of(index: int) -> str:
    return f"seed{index}@example.net"


def account_of(index: int) -> str:
    return f"acct-{index % ACCOUNTS}"


@dataclass(frozen=True, slots=True)
class SeededState:
    """How many of each the seed writes, and which recipients hold what."""

    recipients: int

    @property
    def consents(self) -> int:
        return self.recipients

    @property
    def suppressions(self) -> int:
        return self.recipients

    def allowed(self, index: int) -> bool:
        """Whether a commercial send from the recipient's account may go: consented and not
        suppressed."""
        return index < self.recipients // 2

    @property
    def last_index(self) -> int:
        return self.recipients // 2 + self.recipients - 1


def _suppression_values(codec: Codec) -> list[bytes]:
    from streams.suppression.fold import apply_click

    values = []
    for template in range(TEMPLATES):
        at = EPOCH + timedelta(hours=template * 7)
        click = UnsubscribeClick(
            click_id=f"seed-click-{template}",
            recipient_key="0" * 64,
            scope="account",
            account_id=account_of(template),
            method="one_click",
            clicked_at=at,
        )
        state, _ = apply_click(None, click, source=f"unsubscribe-clicks/0/{template}", now=at)
        values.append(codec.encode(state))
    return values


def _consent_values(codec: Codec, policy: Policy) -> list[bytes]:
    values = []
    for template in range(TEMPLATES):
        event = ConsentEvent(
            event_id=f"seed-grant-{template}",
            recipient_key="0" * 64,
            kind="grant",
            account_id=account_of(template),
            basis="express",
            source_kind="form",
            jurisdiction="US",
            occurred_at=EPOCH + timedelta(hours=template * 5),
        )
        values.append(codec.encode(apply_consent_event(None, event, policy.consent).state))
    return values


def seed_records(
    state: SeededState,
    keyer: RecipientKeyer,
    codec: Codec,
    policy: Policy,
    *,
    suppressions_topic: str,
    consents_topic: str,
) -> Iterator[tuple[str, bytes, bytes]]:
    """(topic, key, value) for every seeded entry, consents and suppressions interleaved.

    A recipient's template is chosen by its account (`index % ACCOUNTS`), so its consent and its
    suppression name the same account, and a send from that account is decided by them."""
    suppressions = _suppression_values(codec)
    consents = _consent_values(codec, policy)
    half = state.recipients // 2
    for index in range(state.last_index + 1):
        key = keyer.key(address_of(index)).encode()
        template = index % ACCOUNTS + ACCOUNTS * ((index // ACCOUNTS) % (TEMPLATES // ACCOUNTS))
        if index < state.recipients:
            yield consents_topic, key, consents[template]
        if index >= half:
            yield suppressions_topic, key, suppressions[template]
