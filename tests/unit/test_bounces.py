"""The soft-bounce state machine: each rule the policy offers, at and around its line.

Expectations come from the issue's policy text: default "4 consecutive soft bounces make a hard
bounce, and a delivery resets the count"; presets "3 bounces spread over at least 15 days",
"3 of the last 5 sends", "a plain count"; "a hard bounce suppresses the address platform-wide".
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from streams.bounces.history import apply_delivery
from streams.core.records import BounceState, DeliveryEvent
from streams.policy import SOFT_BOUNCE_PRESETS, SoftBouncePolicy
from tests.support.factory import delivery_event

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
KEY = "b" * 64


def event(n: int, code: str) -> DeliveryEvent:
    """`S` soft bounce, `H` hard, `U` undetermined, `D` delivered, `F` deferred; day n."""
    kind = {"D": "delivered", "F": "deferred"}.get(code, "bounced")
    bounce_class = {"S": "soft", "H": "hard", "U": "undetermined", "F": "soft"}.get(code)
    return delivery_event(
        event_id=f"ev-{n}",
        recipient_key=KEY,
        kind=kind,
        bounce_class=bounce_class,
        occurred_at=T0 + timedelta(days=n),
        source=f"delivery-events/0/{n}",
    )


def run(codes: str, policy: SoftBouncePolicy, *, days: list[int] | None = None):
    """Apply one event per code (day = index unless `days` says otherwise); all folds."""
    state: BounceState | None = None
    folds = []
    for n, code in enumerate(codes):
        ev = event(n, code)
        if days is not None:
            ev = ev.model_copy(update={"occurred_at": T0 + timedelta(days=days[n])})
        fold = apply_delivery(state, ev, policy, source=ev.source, now=T0)
        state = fold.state
        folds.append(fold)
    return folds


CONSECUTIVE = SOFT_BOUNCE_PRESETS["consecutive-4"]
SPREAD = SOFT_BOUNCE_PRESETS["spread-3-over-15-days"]
RATIO = SOFT_BOUNCE_PRESETS["3-of-last-5"]
COUNT = SOFT_BOUNCE_PRESETS["count-5"]


@pytest.mark.parametrize(
    ("policy", "codes", "days", "suppressed_at"),
    [
        # consecutive(4): the fourth soft bounce in a row, not the third.
        (CONSECUTIVE, "SSS", None, None),
        (CONSECUTIVE, "SSSS", None, 3),
        # A delivery resets the count: S S S D S S S is never four in a row.
        (CONSECUTIVE, "SSSDSSS", None, None),
        (CONSECUTIVE, "SSSDSSSS", None, 7),
        # A deferral is not a bounce (the MTA retries): it neither counts nor resets.
        (CONSECUTIVE, "SSFFS", None, None),
        (CONSECUTIVE, "SSFFSS", None, 5),
        # An undetermined bounce counts as soft.
        (CONSECUTIVE, "SUSU", None, 3),
        # A hard bounce suppresses at once.
        (CONSECUTIVE, "H", None, 0),
        (CONSECUTIVE, "SSH", None, 2),
        # spread(3, 15 days): three soft bounces, first to last at least 15 days apart.
        (SPREAD, "SSS", [0, 1, 2], None),
        (SPREAD, "SSS", [0, 7, 14], None),  # 14 days: just short of the line
        (SPREAD, "SSS", [0, 7, 15], 2),  # 15 days: on the line
        (SPREAD, "SSSS", [0, 1, 2, 16], 3),
        (SPREAD, "SSDS", [0, 10, 12, 20], None),  # the delivery starts the span again
        # ratio(3 of last 5): three soft bounces among the last five sends.
        (RATIO, "SDSD", None, None),
        (RATIO, "SDSDS", None, 4),
        (RATIO, "SDDDSDS", None, None),  # the first S has left the window of five
        # count(5): five soft bounces ever, deliveries in between or not.
        (COUNT, "SDSDSDSD", None, None),
        (COUNT, "SDSDSDSDS", None, 8),
    ],
)
def test_soft_bounce_rules(
    policy: SoftBouncePolicy, codes: str, days: list[int] | None, suppressed_at: int | None
) -> None:
    """Each rule suppresses exactly at the event its definition names, and never before."""
    folds = run(codes, policy, days=days)
    suppressing = [n for n, fold in enumerate(folds) if fold.suppress]
    assert suppressing == ([] if suppressed_at is None else [suppressed_at])


def test_after_the_address_is_hard_nothing_more_is_counted() -> None:
    """Once hard-bounced, later events are ignored and never suppress again."""
    folds = run("SSSSSSD", CONSECUTIVE)
    assert [f.change.outcome for f in folds] == [
        "counted",
        "counted",
        "counted",
        "became_hard",
        "ignored",
        "ignored",
        "ignored",
    ]
    assert sum(f.suppress for f in folds) == 1


def test_replayed_event_changes_nothing() -> None:
    """The same event id twice: the second is labelled replayed and leaves the state alone."""
    first = apply_delivery(None, event(0, "S"), CONSECUTIVE, source="s", now=T0)
    again = apply_delivery(first.state, event(0, "S"), CONSECUTIVE, source="s", now=T0)
    assert again.change.outcome == "replayed"
    assert again.state == first.state
    assert again.state.consecutive_soft == 1


def test_change_records_counts_before_and_after_and_the_rule() -> None:
    """The audit record says what the event did under which rule."""
    folds = run("SSD", CONSECUTIVE)
    reset = folds[2].change
    assert (reset.outcome, reset.consecutive_soft_before, reset.consecutive_soft_after) == (
        "reset",
        2,
        0,
    )
    assert reset.policy == "consecutive(4)"
    assert reset.source == "delivery-events/0/2"


def test_ratio_window_must_hold_the_threshold() -> None:
    """A rule that can never fire is refused when the policy is read."""
    with pytest.raises(ValueError, match="window must be at least threshold"):
        SoftBouncePolicy(rule="ratio", threshold=6, window=5)


@pytest.mark.parametrize("reason", ["blocked", "spamdetected", "authfailure", "requireptr"])
def test_a_refusal_of_the_sender_never_walks_the_recipient_towards_suppression(
    reason: str,
) -> None:
    """Bounces that blame the sender (blocklisted IP, spam filter, SPF/DKIM/DMARC, PTR) are
    recorded and not counted: ten of them in a row leave the address mailable."""
    state: BounceState | None = None
    for n in range(10):
        ev = event(n, "S").model_copy(update={"reason": reason})
        fold = apply_delivery(state, ev, CONSECUTIVE, source=ev.source, now=T0)
        assert fold.change.outcome == "sender_refused"
        assert not fold.suppress
        state = fold.state
    assert state is not None and state.consecutive_soft == 0 and not state.hard_bounced


def test_a_full_mailbox_still_counts_towards_the_soft_line() -> None:
    """A full mailbox is the recipient's own condition: four in a row suppress (consecutive-4)."""
    state: BounceState | None = None
    suppressed = []
    for n in range(4):
        ev = event(n, "S").model_copy(update={"reason": "mailboxfull"})
        fold = apply_delivery(state, ev, CONSECUTIVE, source=ev.source, now=T0)
        suppressed.append(fold.suppress)
        state = fold.state
    assert suppressed == [False, False, False, True]


def test_a_legacy_reason_name_is_read_as_its_new_one() -> None:
    """An event written before the taxonomy ("blocked-or-reputation") is still a sender refusal."""
    ev = event(0, "S").model_copy(update={"reason": "blocked-or-reputation"})
    assert apply_delivery(None, ev, CONSECUTIVE, source="s", now=T0).change.outcome == (
        "sender_refused"
    )
