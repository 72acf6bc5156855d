"""Frequency rules: no more commercial mail than the person agreed to, or the platform allows.

Both count the recipient's earlier allowed commercial sends from the same account in event time
(`streams.sending.frequency`); a send is denied while the window is full, and allowed again once the
oldest send in it has aged out.
"""

from __future__ import annotations

from datetime import timedelta

from streams.core.records import SendRequest
from streams.policy import Policy
from streams.rules.base import RecipientView, Rule
from streams.sending.frequency import Limit, cadence_limits, cap_limit, history_reach, sends_within

__all__ = ["CADENCE_EXCEEDED", "FREQUENCY_CAP_EXCEEDED"]


def _full(request: SendRequest, view: RecipientView, limit: Limit, policy: Policy) -> str | None:
    """Why `limit` stops this send, or None when it has room."""
    reach = history_reach(view.send_history, policy.frequency)
    if reach is not None and request.requested_at - timedelta(days=limit.days) < reach:
        return (
            f"The request is dated {request.requested_at:%Y-%m-%d %H:%M} UTC, further back "
            "than the send history the gate keeps for this person reaches, so it cannot tell "
            f"whether it would break the {limit.source}; send it with a current date."
        )
    earlier = sends_within(
        view.send_history, limit, at=request.requested_at, request_id=request.request_id
    )
    if len(earlier) < limit.sends:
        return None
    if limit.sends == 0:
        return (
            f"The person's consent names the cadence '{limit.source.rsplit(' ', 1)[-1]}', which "
            "the platform's policy does not define, so the gate cannot tell how often they "
            "agreed to be mailed; define the cadence in the policy or correct the consent."
        )
    next_at = max(mark.sent_at for mark in earlier) + timedelta(days=limit.days)
    window = "day" if limit.days == 1 else f"{limit.days} days"
    return (
        f"{request.account_id} already sent this person {len(earlier)} commercial "
        f"message{'s' if len(earlier) != 1 else ''} in the last {window}, the most their "
        f"{limit.source} allows; the next may go from {next_at:%Y-%m-%d %H:%M} UTC."
    )


def _cadence_exceeded(request: SendRequest, view: RecipientView, policy: Policy) -> str | None:
    for limit in cadence_limits(request, view.consents, policy.frequency):
        if reason := _full(request, view, limit, policy):
            return reason
    return None


def _cap_exceeded(request: SendRequest, view: RecipientView, policy: Policy) -> str | None:
    cap = cap_limit(request, policy.frequency)
    return None if cap is None else _full(request, view, cap, policy)


CADENCE_EXCEEDED = Rule(
    name="cadence-exceeded",
    law=(
        "The consent's own terms: consent covers the mail it described (GDPR Art. 4(11) and "
        "Art. 7; CASL s.10(1) on the purposes consent is sought for), here a cadence"
    ),
    description="No more commercial mail than the cadence the person agreed to.",
    check=_cadence_exceeded,
)
FREQUENCY_CAP_EXCEEDED = Rule(
    name="frequency-cap-exceeded",
    law="Platform policy: at most cap_per_recipient commercial messages per recipient per period",
    description="No more commercial mail to one person than the platform's cap.",
    check=_cap_exceeded,
)
