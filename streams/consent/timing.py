"""Consent and the clock: when implied consent lapses (CASL s.10(10)), and which event times the
gate believes.

Pure: the consent fold dates an implied grant's expiry with `implied_expiry`, the notices count
down to it, and the consent keeper refuses an event from the future with `check_event_time`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from dateutil.relativedelta import relativedelta

from streams.consent.policy import ConsentPolicy
from streams.core.errors import InvalidRecordError
from streams.core.records import ConsentBasis, ConsentEntry, ConsentEvent

__all__ = ["IMPLIED_BASES", "check_event_time", "implied_expiry", "lapses"]

IMPLIED_BASES: frozenset[ConsentBasis] = frozenset({"implied_purchase", "implied_inquiry"})
"""The bases whose consent lapses: a purchase or an inquiry implies consent for a while only."""


def implied_expiry(
    basis: str | None, granted_at: datetime | None, policy: ConsentPolicy
) -> datetime | None:
    """When implied consent lapses under CASL s.10(10), counted in calendar months from the
    event (a purchase on 29 February lapses on 28 February two years on); None if it does not."""
    if granted_at is None or basis not in IMPLIED_BASES:
        return None
    months = (
        policy.casl_implied_purchase_months
        if basis == "implied_purchase"
        else policy.casl_implied_inquiry_months
    )
    return granted_at + relativedelta(months=months)


def lapses(entry: ConsentEntry, policy: ConsentPolicy) -> bool:
    """Whether the entry's implied consent lapses under the regimes of its own jurisdiction."""
    return "casl" in policy.regimes_for(entry.jurisdiction)


def check_event_time(event: ConsentEvent, now: datetime, policy: ConsentPolicy) -> None:
    """Refuse an event dated beyond the clock-skew tolerance: consent cannot come from the future,
    and a far-future grant would keep implied consent alive for years too long."""
    limit = now + timedelta(seconds=policy.event_time_tolerance_s)
    if event.occurred_at > limit:
        raise InvalidRecordError(
            f"occurred_at {event.occurred_at.isoformat()} is in the future (more than "
            f"{policy.event_time_tolerance_s} s ahead of the gate's clock)"
        )
