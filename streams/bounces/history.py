"""Fold delivery events into a recipient's bounce history, per the policy's soft-bounce rule.

Pure: the bounce keeper agent calls `apply_delivery` with the table's value and writes back what
it returns. A hard bounce, or soft bounces past the policy's line, make the address hard-bounced:
the agent then asks for a platform-wide suppression (reason `hard_bounce`) through the same
unsubscribe-clicks topic every other suppression takes, so the gate's state fence covers it too.
A bounce that refuses the *sender* (a blocklisted IP, the receiver's policy, the content, missing
authentication, the sending rate: `streams.core.bounce_reasons.SENDER_REFUSALS`) says nothing about
the address, so it is not counted here at all (outcome `sender_refused`): a customer's blocked IP
must not walk a real person towards the soft-bounce line. It counts against the sending account
instead (`streams.reputation`, the block rate).

Applying an event twice changes nothing (its id is remembered; an older replay of a soft bounce
could count twice only if more than `REMEMBERED_EVENT_IDS` events came in between).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from streams.bounces.policy import SoftBouncePolicy
from streams.core.bounce_reasons import is_sender_refusal
from streams.core.records import (
    BounceChange,
    BounceOutcome,
    BounceState,
    DeliveryEvent,
    UnsubscribeClick,
)

__all__ = [
    "REMEMBERED_EVENT_IDS",
    "BounceFold",
    "apply_delivery",
    "crosses_soft_line",
    "suppression_for_bounce",
]

REMEMBERED_EVENT_IDS = 64
RECENT_OUTCOMES = 50
"""Bound on the sends remembered for the ratio rule (its window is at most 50)."""
SOFT_TIMES = 100


@dataclass(frozen=True)
class BounceFold:
    """The new state, what changed, and whether the address must now be suppressed."""

    state: BounceState
    change: BounceChange
    suppress: bool


def crosses_soft_line(state: BounceState, policy: SoftBouncePolicy) -> bool:
    """Whether the soft bounces in `state` make the address count as hard-bounced."""
    if policy.rule == "consecutive":
        return state.consecutive_soft >= policy.threshold
    if policy.rule == "count":
        return state.total_soft >= policy.threshold
    if policy.rule == "ratio":
        return state.recent_outcomes[-policy.window :].count("soft") >= policy.threshold
    times = sorted(state.soft_since_delivery)
    return len(times) >= policy.threshold and times[-1] - times[0] >= timedelta(
        days=policy.min_span_days
    )


def apply_delivery(
    state: BounceState | None,
    event: DeliveryEvent,
    policy: SoftBouncePolicy,
    *,
    source: str,
    now: datetime,
) -> BounceFold:
    """The recipient's bounce history after `event`."""
    before = state or BounceState()

    def fold(after: BounceState, outcome: BounceOutcome, *, suppress: bool = False) -> BounceFold:
        if outcome != "replayed":
            ids = (*after.applied_event_ids, event.event_id)[-REMEMBERED_EVENT_IDS:]
            after = after.model_copy(update={"applied_event_ids": ids})
        change = BounceChange(
            recipient_key=event.recipient_key,
            event_id=event.event_id,
            outcome=outcome,
            consecutive_soft_before=before.consecutive_soft,
            consecutive_soft_after=after.consecutive_soft,
            policy=policy.describe(),
            source=source,
            changed_at=now,
        )
        return BounceFold(state=after, change=change, suppress=suppress)

    if event.event_id in before.applied_event_ids:
        return fold(before, "replayed")
    if before.hard_bounced or event.kind == "deferred":
        return fold(before, "ignored")
    if event.kind == "delivered":
        after = before.model_copy(
            update={
                "consecutive_soft": 0,
                "soft_since_delivery": (),
                "recent_outcomes": _outcomes(before, "delivered"),
                "last_delivery": _latest(before.last_delivery, event.occurred_at),
            }
        )
        return fold(after, "reset" if before.consecutive_soft else "ignored")
    if event.bounce_class == "hard":
        after = before.model_copy(
            update={"hard_bounced": True, "recent_outcomes": _outcomes(before, "hard")}
        )
        return fold(after, "hard_bounce", suppress=True)
    if is_sender_refusal(event.reason):
        return fold(before, "sender_refused")
    # A soft or undetermined bounce: counted.
    counted = before.model_copy(
        update={
            "consecutive_soft": before.consecutive_soft + 1,
            "total_soft": before.total_soft + 1,
            "soft_since_delivery": (*before.soft_since_delivery, event.occurred_at)[-SOFT_TIMES:],
            "recent_outcomes": _outcomes(before, "soft"),
        }
    )
    if crosses_soft_line(counted, policy):
        return fold(counted.model_copy(update={"hard_bounced": True}), "became_hard", suppress=True)
    return fold(counted, "counted")


def _outcomes(state: BounceState, outcome: str) -> tuple[str, ...]:
    return (*state.recent_outcomes, outcome)[-RECENT_OUTCOMES:]


def _latest(current: datetime | None, candidate: datetime) -> datetime:
    return candidate if current is None or candidate > current else current


def suppression_for_bounce(event: DeliveryEvent) -> UnsubscribeClick:
    """The platform suppression a hard-bounced address (or one the soft-bounce rule gave up on)
    gets; its id is the event's, so a replayed bounce asks for the same one."""
    return UnsubscribeClick(
        click_id=f"bounce:{event.event_id}",
        recipient_key=event.recipient_key,
        scope="platform",
        method="bounce_policy",
        reason="hard_bounce",
        clicked_at=event.occurred_at,
    )
