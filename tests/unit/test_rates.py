"""Rates per (account, provider): counting in event time, lateness, replays by offset and the
lines.

Expected values are worked out in each test from the policy's stated defaults: a rolling 7-day
window of daily UTC buckets, 2 days of lateness, a complaint line of 0.1% per provider with at
least 1,000 delivered, a bounce line of 7% per account with at least 200 attempted, and "passes the
line" meaning strictly above it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from streams.reputation.breaches import RateSnapshot, breaches, combine, rates_at, snapshot_of
from streams.reputation.policy import RatesPolicy
from streams.reputation.rates import (
    RateState,
    Window,
    bucket_start,
    count_event,
    current_window,
    due_windows,
    horizon,
    prune,
)

POLICY = RatesPolicy()
# Wednesday 14 January 2026, noon UTC. Its bucket is 14 Jan 00:00 - 15 Jan 00:00, so the rolling
# window is the seven buckets 8 Jan 00:00 - 15 Jan 00:00, and the horizon (window + 2 days of
# lateness back from the end of the current bucket) is 6 Jan 00:00.
NOW = datetime(2026, 1, 14, 12, 0, tzinfo=UTC)


def day(n: int, hour: int = 0) -> datetime:
    """n January 2026 at `hour` UTC."""
    return datetime(2026, 1, n, hour, tzinfo=UTC)


def next_offset(state: RateState | None) -> int:
    """The offset after the state's last one (0 for a new state), as a partition hands them out."""
    return 0 if state is None or state.last_offset is None else state.last_offset + 1


def fold(
    counts: dict[str, int],
    *,
    at: datetime = NOW,
    now: datetime = NOW,
    state: RateState | None = None,
    policy: RatesPolicy = POLICY,
) -> RateState:
    """Count `counts[kind]` events of each kind, all dated `at`, at the next offsets."""
    for kind, how_many in counts.items():
        for _ in range(how_many):
            state, outcome = count_event(
                state,
                offset=next_offset(state),
                kind=kind,  # type: ignore[arg-type]
                occurred_at=at,
                now=now,
                policy=policy,
            )
            assert outcome == "counted"
    return state or RateState()


def strike_lines(found: Iterable) -> set[tuple[str, str]]:
    return {(breach.kind, breach.level) for breach in found}


# --- the complaint line: 0.1% per provider, at least 1,000 delivered ------------------------------


@pytest.mark.parametrize(
    ("delivered", "complaints", "breached"),
    [
        (1000, 0, False),
        (1000, 1, False),  # 1 / 1,000 = 0.1%: on the line, not past it
        (1000, 2, True),  # 2 / 1,000 = 0.2% > 0.1%
        (2000, 2, False),  # 2 / 2,000 = 0.1%: on the line
        (2000, 3, True),  # 3 / 2,000 = 0.15%
        (10_000, 9, False),  # 0.09%: just below
        (10_000, 10, False),  # 0.1%: on the line
        (10_000, 11, True),  # 0.11%: just above
        (9_999, 10, True),  # 10 / 9,999 = 0.10001%: above by the smallest step there is
        (10_001, 10, False),  # 10 / 10,001 = 0.09999%
    ],
)
def test_complaint_line_is_passed_only_strictly_above(
    delivered: int, complaints: int, breached: bool
) -> None:
    """A complaint rate strikes when complaints / delivered > 0.1%, i.e. complaints * 1000 >
    delivered, and not at exactly 0.1%."""
    state = fold({"delivered": delivered, "complaint": complaints})
    snapshot = rates_at(state, NOW, POLICY, provider="google")
    assert snapshot.complaint_rate == Fraction(complaints, delivered)
    found = breaches(snapshot, POLICY)
    assert bool(found) is breached
    if breached:
        (breach,) = found
        assert (breach.kind, breach.level, breach.provider) == ("complaint", "strike", "google")
        assert (breach.count, breach.volume, breach.line) == (
            complaints,
            delivered,
            Decimal("0.001"),
        )
        assert breach.window == Window(start=day(8), end=day(15))


@pytest.mark.parametrize(
    ("delivered", "complaints", "enough", "breached"),
    [
        (999, 5, False, False),  # 5 / 999 = 0.5%, but 999 is below the minimum of 1,000
        (999, 999, False, False),
        (1000, 2, True, True),  # at the minimum the line applies: 0.2% > 0.1%
    ],
)
def test_minimum_delivered_volume(
    delivered: int, complaints: int, enough: bool, breached: bool
) -> None:
    """Below 1,000 delivered a complaint rate triggers nothing, however high."""
    snapshot = rates_at(
        fold({"delivered": delivered, "complaint": complaints}), NOW, POLICY, provider="yahoo"
    )
    assert snapshot.complaint_volume_enough is enough
    assert bool(breaches(snapshot, POLICY)) is breached


def test_a_lower_minimum_lets_one_complaint_strike() -> None:
    """With a minimum of 100 delivered, 1 complaint of 100 (1%) is past 0.1%."""
    policy = RatesPolicy(min_delivered_for_complaint_rate=100)
    state = fold({"delivered": 100, "complaint": 1}, policy=policy)
    assert strike_lines(breaches(rates_at(state, NOW, policy, provider="gmx"), policy)) == {
        ("complaint", "strike")
    }


# --- the bounce line: 7% per account, at least 200 attempted -------------------------------------


@pytest.mark.parametrize(
    ("delivered", "hard_bounces", "breached"),
    [
        (186, 14, False),  # 14 / 200 attempted = 7%: on the line
        (185, 15, True),  # 15 / 200 = 7.5%
        (279, 21, False),  # 21 / 300 = 7%
        (278, 22, True),  # 22 / 300 = 7.33%
        (185, 14, False),  # 14 / 199 = 7.04%, but 199 attempted is below the minimum of 200
    ],
)
def test_bounce_line_per_account(delivered: int, hard_bounces: int, breached: bool) -> None:
    """Bounce rate = hard bounces / (delivered + hard bounces), judged on the account's total."""
    # Half of each count at one provider, the rest at another: only the sum is judged.
    google = fold({"delivered": delivered // 2, "hard_bounce": hard_bounces // 2})
    other = fold(
        {"delivered": delivered - delivered // 2, "hard_bounce": hard_bounces - hard_bounces // 2}
    )
    snapshots = (
        rates_at(google, NOW, POLICY, provider="google"),
        rates_at(other, NOW, POLICY, provider="example.net"),
    )
    account = combine(snapshots, POLICY)
    assert (account.provider, account.attempted) == (None, delivered + hard_bounces)
    assert account.bounce_rate == Fraction(hard_bounces, delivered + hard_bounces)
    assert strike_lines(breaches(account, POLICY)) == (
        {("bounce", "strike")} if breached else set()
    )
    # A provider alone is never judged for bounces (the bounce scope is the account) ...
    assert all(breaches(snapshot, POLICY) == () for snapshot in snapshots)


def test_complaints_are_not_judged_on_the_account_total() -> None:
    """The complaint scope is the provider: 5 complaints of 1,000 (0.5%) at the account level alone
    strike nothing."""
    account = combine(
        (rates_at(fold({"delivered": 1000, "complaint": 5}), NOW, POLICY, provider="x"),), POLICY
    )
    assert breaches(account, POLICY) == ()


def test_combine_refuses_different_windows() -> None:
    state = fold({"delivered": 1})
    with pytest.raises(ValueError, match="one window"):
        combine(
            (
                rates_at(state, NOW, POLICY, provider="a"),
                rates_at(state, NOW + timedelta(days=1), POLICY, provider="b"),
            ),
            POLICY,
        )


# --- review and pause levels, presets -------------------------------------------------------------


@pytest.mark.parametrize(
    ("complaints", "expected"),
    [
        (1, set()),  # 0.1%: on the review and strike lines
        (2, {("complaint", "review"), ("complaint", "strike")}),  # 0.2%
        (5, {("complaint", "review"), ("complaint", "strike")}),  # 0.5%: on the pause line
        (6, {("complaint", "review"), ("complaint", "strike"), ("complaint", "pause")}),  # 0.6%
    ],
)
def test_ses_pauses_preset_levels(complaints: int, expected: set[tuple[str, str]]) -> None:
    """ses-pauses: SES's review at 0.1% and pause at 0.5% beside the 0.1% strike line."""
    policy = RatesPolicy.preset("ses-pauses")
    state = fold({"delivered": 1000, "complaint": complaints}, policy=policy)
    assert strike_lines(breaches(rates_at(state, NOW, policy, provider="google"), policy)) == (
        expected
    )


def test_presets_carry_the_levels_amazon_ses_publishes() -> None:
    """Amazon SES: complaints reviewed at 0.1%, paused at 0.5%; bounces reviewed at 5%, paused at
    10%. The amazon-ses preset judges both per account and issues no strikes."""
    ses = RatesPolicy.preset("amazon-ses")
    assert (ses.complaint_review_line, ses.complaint_pause_line) == (
        Decimal("0.001"),
        Decimal("0.005"),
    )
    assert (ses.bounce_review_line, ses.bounce_pause_line) == (Decimal("0.05"), Decimal("0.1"))
    assert (ses.complaint_line, ses.bounce_line) == (None, None)
    assert (ses.complaint_scope, ses.bounce_scope) == ("account", "account")
    assert RatesPolicy.preset("default") == RatesPolicy()
    with pytest.raises(ValueError, match="unknown preset"):
        RatesPolicy.preset("nope")


@pytest.mark.parametrize(
    ("hard_bounces", "expected"),
    [
        (50, set()),  # 50 / 1,000 = 5%: SES says "5% or greater"; here, on the line is not past it
        (51, {("bounce", "review")}),  # 5.1%
        (100, {("bounce", "review")}),  # 10%: on the pause line
        (101, {("bounce", "review"), ("bounce", "pause")}),  # 10.1%
    ],
)
def test_amazon_ses_preset_bounces(hard_bounces: int, expected: set[tuple[str, str]]) -> None:
    policy = RatesPolicy.preset("amazon-ses")
    state = fold({"delivered": 1000 - hard_bounces, "hard_bounce": hard_bounces}, policy=policy)
    account = combine((rates_at(state, NOW, policy, provider="google"),), policy)
    assert strike_lines(breaches(account, policy)) == expected


def test_a_provider_can_have_its_own_pause_level() -> None:
    """A 0.3% pause level at google only: 4 of 1,000 (0.4%) pause google, not yahoo (0.5%)."""
    policy = RatesPolicy.preset(
        "ses-pauses", provider_complaint_pause_lines={"google": Decimal("0.003")}
    )
    state = fold({"delivered": 1000, "complaint": 4}, policy=policy)
    google = breaches(rates_at(state, NOW, policy, provider="google"), policy)
    yahoo = breaches(rates_at(state, NOW, policy, provider="yahoo"), policy)
    assert ("complaint", "pause") in strike_lines(google)
    assert ("complaint", "pause") not in strike_lines(yahoo)
    (pause,) = [breach for breach in google if breach.level == "pause"]
    assert pause.line == Decimal("0.003")


def test_breach_describes_itself() -> None:
    state = fold({"delivered": 1000, "complaint": 2})
    (breach,) = breaches(rates_at(state, NOW, POLICY, provider="google"), POLICY)
    assert breach.describe() == (
        "2 complaints of 1000 delivered (0.2%) > complaint strike line 0.1%"
    )
    assert breach.window.id == "2026-01-08T00:00Z/2026-01-15T00:00Z"


# --- the block rate: refusals of the sender, per provider -----------------------------------------


@pytest.mark.parametrize(
    ("delivered", "blocked", "expected"),
    [
        (196, 4, set()),  # 4 / 200 attempted = 2%: on the review line
        (195, 5, {("block", "review")}),  # 2.5%
        (180, 20, {("block", "review")}),  # 10%: on the strike line
        (179, 21, {("block", "review"), ("block", "strike")}),  # 10.5%
        (180, 19, set()),  # 19 / 199 = 9.5%, but 199 attempted is below the minimum of 200
    ],
)
def test_block_lines_per_provider(delivered: int, blocked: int, expected: set) -> None:
    """Block rate = blocks / (delivered + hard bounces + blocks), judged at each provider: the
    defaults review above 2% and strike above 10%, from 200 attempted."""
    state = fold({"delivered": delivered, "block": blocked})
    snapshot = rates_at(state, NOW, POLICY, provider="google")
    assert snapshot.attempted == delivered + blocked
    assert snapshot.block_rate == Fraction(blocked, delivered + blocked)
    assert strike_lines(breaches(snapshot, POLICY)) == expected


def test_blocks_weigh_in_the_bounce_rate_denominator() -> None:
    """A refused message was attempted: 14 hard bounces of 186 delivered + 14 + 10 blocked is
    14 / 210 = 6.67%, under the 7% line that 14 / 200 would sit on."""
    state = fold({"delivered": 186, "hard_bounce": 14, "block": 10})
    account = combine((rates_at(state, NOW, POLICY, provider="google"),), POLICY)
    assert account.bounce_rate == Fraction(14, 210)
    assert ("bounce", "strike") not in strike_lines(breaches(account, POLICY))


def test_a_block_line_can_be_turned_off_in_a_policy_file() -> None:
    """TOML has no null: "none" turns the strike line off and keeps the review."""
    policy = RatesPolicy.model_validate({"block_line": "none"})
    state = fold({"delivered": 150, "block": 50})
    found = strike_lines(breaches(rates_at(state, NOW, policy, provider="google"), policy))
    assert found == {("block", "review")}


def test_a_block_breach_describes_itself() -> None:
    state = fold({"delivered": 179, "block": 21})
    found = breaches(rates_at(state, NOW, POLICY, provider="google"), POLICY)
    strike = next(breach for breach in found if breach.level == "strike")
    assert strike.describe() == "21 blocks of 200 attempted (10.5%) > block strike line 10%"


# --- event time: the window, lateness, the future -------------------------------------------------


def test_the_rolling_window_is_seven_daily_buckets_ending_with_today() -> None:
    assert current_window(NOW, POLICY) == Window(start=day(8), end=day(15))
    assert bucket_start(NOW, POLICY) == day(14)
    state = fold({"delivered": 3}, at=day(8))  # first bucket of the window
    state = fold({"delivered": 5}, at=day(7, 23), state=state)  # the day before
    assert rates_at(state, NOW, POLICY, provider="p").delivered == 3


@pytest.mark.parametrize(
    ("occurred_at", "outcome"),
    [
        (day(6), "counted"),  # the horizon: 15 Jan - 7 days - 2 days
        (day(6) - timedelta(milliseconds=1), "too_late"),
        (day(5, 12), "too_late"),
        (NOW + timedelta(seconds=300), "counted"),  # within the 5 minutes of clock skew
        (NOW + timedelta(seconds=301), "from_future"),
    ],
)
def test_lateness_and_the_future(occurred_at: datetime, outcome: str) -> None:
    assert horizon(None, NOW, POLICY) == day(6)
    state = fold({"delivered": 1}, at=day(10))
    assert state.last_offset == 0
    after = count_event(
        state, offset=1, kind="complaint", occurred_at=occurred_at, now=NOW, policy=POLICY
    )
    assert after.outcome == outcome
    assert after.state.last_offset == 1  # decided either way
    complained = rates_at(after.state, NOW, POLICY, provider="p").complained
    assert complained == (1 if outcome == "counted" and occurred_at >= day(8) else 0)
    if outcome != "counted":
        assert after.state == state.model_copy(update={"last_offset": 1})


def test_a_late_event_still_counts_in_its_window() -> None:
    """A complaint dated 9 Jan arriving on 14 Jan is in the rolling window 8-15 Jan."""
    state = fold({"delivered": 1000})
    state = fold({"complaint": 2}, at=day(9, 8), state=state)
    assert rates_at(state, NOW, POLICY, provider="p").complained == 2


def test_a_closed_window_takes_late_events_until_it_is_due() -> None:
    """The window 5-12 Jan is due on 14 Jan 00:00 (its end + 2 days). An event of 5 Jan 00:00 is
    counted up to then, and the window's evaluation sees it; a moment later it is too late."""
    window = Window(start=day(5), end=day(12))
    just_before = day(14) - timedelta(milliseconds=1)
    state = fold({"complaint": 1}, at=day(5), now=just_before)
    assert due_windows(state, last_evaluated_end=day(11), now=just_before, policy=POLICY).due == ()
    due = due_windows(state, last_evaluated_end=day(11), now=day(14), policy=POLICY)
    assert due.due == (window,)
    assert snapshot_of(state, window, POLICY, provider="p").complained == 1
    late = count_event(
        state,
        offset=next_offset(state),
        kind="complaint",
        occurred_at=day(5),
        now=day(14),
        policy=POLICY,
    )
    assert late.outcome == "too_late"


# --- replays: by offset on rate-events ------------------------------------------------------------


def test_a_replayed_offset_is_not_counted_twice() -> None:
    """1,000 delivered and 2 complaints take offsets 0 .. 1001. Reading any of them again, even
    with another kind or event time or a day later, is a replay and changes nothing."""
    state = fold({"delivered": 1000, "complaint": 2})
    assert state.last_offset == 1001
    for offset, kind, occurred_at in (
        (1001, "complaint", NOW),
        (1000, "complaint", day(9)),
        (0, "delivered", NOW),
        (500, "complaint", day(12)),
    ):
        again = count_event(
            state,
            offset=offset,
            kind=kind,  # type: ignore[arg-type]
            occurred_at=occurred_at,
            now=NOW + timedelta(days=1),
            policy=POLICY,
        )
        assert again.outcome == "replayed"
        assert again.state is state
    assert rates_at(state, NOW, POLICY, provider="p").complained == 2


def test_the_next_offset_counts() -> None:
    state = fold({"complaint": 1})
    after = count_event(state, offset=1, kind="complaint", occurred_at=NOW, now=NOW, policy=POLICY)
    assert (after.outcome, after.state.last_offset) == ("counted", 1)
    assert rates_at(after.state, NOW, POLICY, provider="p").complained == 2


def test_offsets_of_other_keys_leave_gaps() -> None:
    """A partition carries many keys, so one state sees offsets with gaps: 3, 10 and 11 count;
    7, read after them, lies below the last one and can only be a replay."""
    state = None
    for offset in (3, 10, 11):
        state, outcome = count_event(
            state, offset=offset, kind="delivered", occurred_at=NOW, now=NOW, policy=POLICY
        )
        assert outcome == "counted"
    assert state is not None and state.last_offset == 11
    late = count_event(state, offset=7, kind="delivered", occurred_at=NOW, now=NOW, policy=POLICY)
    assert late.outcome == "replayed"
    assert rates_at(late.state, NOW, POLICY, provider="p").delivered == 3


def test_an_event_not_counted_is_not_counted_on_a_replay_either() -> None:
    """An event an hour ahead of the clock is from the future. Read again an hour later it would
    be countable; its offset was decided the first time, so the replay is a replay."""
    state = fold({"delivered": 1})
    ahead = NOW + timedelta(hours=1)
    first = count_event(
        state, offset=1, kind="complaint", occurred_at=ahead, now=NOW, policy=POLICY
    )
    assert (first.outcome, first.state.last_offset) == ("from_future", 1)
    replay = count_event(
        first.state,
        offset=1,
        kind="complaint",
        occurred_at=ahead,
        now=NOW + timedelta(hours=2),
        policy=POLICY,
    )
    assert replay.outcome == "replayed"
    assert replay.state.buckets == state.buckets


def test_an_event_not_counted_neither_prunes_nor_moves_the_horizon() -> None:
    """Counted on 10 Jan (horizon then 2 Jan), the state keeps its 3 Jan bucket and its horizon
    when a too late event is read on 25 Jan; only the offset moves. An event counted on 25 Jan
    moves the horizon to 17 Jan (26 Jan - 9 days) and drops the 3 Jan bucket: counts are kept
    from 17 Jan - 1 day - 7 days of grace = 9 Jan."""
    state = fold({"delivered": 1}, at=day(3), now=day(10))
    assert state.horizon == day(2)
    late = count_event(
        state, offset=1, kind="delivered", occurred_at=day(1), now=day(25), policy=POLICY
    )
    assert late.outcome == "too_late"
    assert (late.state.buckets, late.state.horizon, late.state.last_offset) == (
        state.buckets,
        day(2),
        1,
    )
    counted = count_event(
        late.state, offset=2, kind="delivered", occurred_at=day(25), now=day(25), policy=POLICY
    )
    assert counted.outcome == "counted"
    assert counted.state.horizon == day(17)
    assert [bucket.start for bucket in counted.state.buckets] == [day(25)]


def test_offsets_are_not_negative() -> None:
    with pytest.raises(ValueError, match="offset"):
        count_event(None, offset=-1, kind="delivered", occurred_at=NOW, now=NOW, policy=POLICY)


def test_last_evaluated_end_is_carried_through_counting_and_pruning() -> None:
    """The agent sets `last_evaluated_end` after judging; counting, refusing and pruning keep it,
    and pruning keeps the offset."""
    state = fold({"delivered": 1}, at=day(10)).model_copy(update={"last_evaluated_end": day(12)})
    counted = count_event(
        state, offset=1, kind="delivered", occurred_at=NOW, now=NOW, policy=POLICY
    ).state
    late = count_event(
        counted, offset=2, kind="delivered", occurred_at=day(1), now=NOW, policy=POLICY
    ).state
    pruned = prune(late, day(31), POLICY)
    assert pruned.buckets == ()  # 31 Jan: horizon 23 Jan, counts kept from 15 Jan (23 - 1 - 7)
    for after in (counted, late, pruned):
        assert after.last_evaluated_end == day(12)
    assert (late.last_offset, pruned.last_offset) == (2, 2)


def test_a_bucket_behind_the_horizon_keeps_its_counts_but_takes_no_more() -> None:
    """On 14 Jan the horizon is 6 Jan: an event of 6 Jan counts. On 15 Jan it is 7 Jan: the 6 Jan
    bucket keeps its count (to judge closed windows) and a new event dated 6 Jan is too late."""
    state = fold({"complaint": 1}, at=day(6))
    later = prune(state, day(15), POLICY)
    assert later.horizon == day(7)
    assert (later.buckets[0].start, later.buckets[0].complained) == (day(6), 1)
    late = count_event(
        later, offset=1, kind="complaint", occurred_at=day(6), now=day(15), policy=POLICY
    )
    assert late.outcome == "too_late"
    assert late.state.buckets == later.buckets


def test_prune_returns_the_state_itself_when_nothing_changes() -> None:
    state = fold({"delivered": 1})
    assert prune(state, NOW, POLICY) is state


def test_bucket_counts_are_kept_for_the_grace_period() -> None:
    """A bucket's counts are kept while a closed window that starts with it can be judged: until
    the horizon passes it by one bucket plus 7 days of grace."""
    state = fold({"delivered": 1}, at=day(6))
    # Horizon on 22 Jan = 23 Jan - 9 days = 14 Jan; 14 Jan - 1 day - 7 days = 6 Jan: kept.
    assert prune(state, day(22), POLICY).buckets != ()
    # Horizon on 23 Jan = 15 Jan; counts kept from 7 Jan: the 6 Jan bucket is dropped.
    assert prune(state, day(23), POLICY).buckets == ()


def test_the_horizon_never_moves_back() -> None:
    """A worker with a lagging clock cannot count into buckets a faster clock already pruned."""
    state = fold({"delivered": 1}, now=day(20), at=day(19))
    assert state.horizon == day(12)
    behind = count_event(
        state, offset=1, kind="delivered", occurred_at=day(11), now=NOW, policy=POLICY
    )
    assert behind.outcome == "too_late"


# --- closed windows -------------------------------------------------------------------------------


def test_due_windows_one_per_day_after_lateness() -> None:
    """On 14 Jan 12:00 the latest closed window past its lateness ends on 12 Jan (12 + 2 = 14)."""
    state = fold({"delivered": 1}, at=day(3), now=day(3))
    state = fold({"delivered": 1}, at=day(10), state=state)
    due = due_windows(state, last_evaluated_end=day(10), now=NOW, policy=POLICY)
    assert due.due == (Window(start=day(4), end=day(11)), Window(start=day(5), end=day(12)))
    assert (due.through, due.skipped) == (day(12), 0)
    # Judged through 12 Jan: nothing more until 15 Jan, when the window ending 13 Jan is due.
    assert due_windows(state, last_evaluated_end=day(12), now=NOW, policy=POLICY).due == ()
    assert due_windows(state, last_evaluated_end=day(12), now=day(15), policy=POLICY).due == (
        Window(start=day(6), end=day(13)),
    )


def test_windows_without_events_are_not_due_but_are_passed() -> None:
    due = due_windows(RateState(), last_evaluated_end=day(10), now=NOW, policy=POLICY)
    assert (due.due, due.through) == ((), day(12))


def test_windows_closed_too_long_ago_are_skipped_and_counted() -> None:
    """Judged last through 1 Dec; on 14 Jan the oldest window still whole ends on 5 Jan (today -
    2 days of lateness - 7 days of grace): 2 Dec .. 4 Jan, 34 windows, cannot be judged whole."""
    last = datetime(2025, 12, 1, tzinfo=UTC)
    due = due_windows(None, last_evaluated_end=last, now=NOW, policy=POLICY)
    assert due.skipped == 34
    with pytest.raises(ValueError, match="bucket boundary"):
        due_windows(None, last_evaluated_end=day(10, 5), now=NOW, policy=POLICY)


def test_snapshot_needs_whole_buckets() -> None:
    with pytest.raises(ValueError, match="bucket boundaries"):
        snapshot_of(None, Window(start=day(8, 6), end=day(15)), POLICY, provider="p")


def test_hourly_buckets() -> None:
    """With 6-hour buckets the window at 14 Jan 12:00 ends at 18:00 and starts 7 days earlier."""
    policy = RatesPolicy(bucket_hours=6, allowed_lateness_hours=12)
    assert current_window(NOW, policy) == Window(start=day(7, 18), end=day(14, 18))
    assert horizon(None, NOW, policy) == day(7, 6)


# --- the policy -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fields",
    [
        {"bucket_hours": 5},  # does not divide a day
        {"allowed_lateness_hours": 36},  # not a whole number of daily buckets
        {"complaint_line": 0},
        {"bounce_line": "1.5"},
        {"window_days": 32},
        {"min_delivered_for_complaint_rate": 0},
        {"provider_complaint_pause_lines": {"google": 2}},
        {"provider_complaint_pause_lines": {" ": "0.003"}},
        {"complaint_lines": "0.001"},  # unknown key
    ],
)
def test_policy_refuses(fields: dict) -> None:
    with pytest.raises(ValidationError):
        RatesPolicy.model_validate(fields)


def test_policy_lines_from_a_file_are_exact_decimals() -> None:
    """TOML gives 0.001 as a float; the line is the decimal 0.001, so 1 / 1,000 is on it."""
    policy = RatesPolicy.model_validate({"complaint_line": 0.001})
    assert Fraction(policy.complaint_line) == Fraction(1, 1000)


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        count_event(
            None,
            offset=0,
            kind="delivered",
            occurred_at=datetime(2026, 1, 14),
            now=NOW,
            policy=POLICY,
        )


# --- properties -----------------------------------------------------------------------------------

KINDS = ("delivered", "hard_bounce", "complaint")
# Event times from 4 Jan (too late on 14 Jan) to the end of 14 Jan (mostly more than the 5 minutes
# of clock skew ahead of NOW, 14 Jan 12:00: from the future), in minutes.
_event = st.tuples(
    st.sampled_from(KINDS), st.integers(min_value=0, max_value=11 * 24 * 60 - 1)
).map(lambda pair: (pair[0], day(4) + timedelta(minutes=pair[1])))
_events = st.lists(_event, max_size=40)


def _fold_all(
    events: list[tuple[str, datetime]], offsets: Iterable[int] | None = None, now: datetime = NOW
) -> RateState:
    """Read `events[offset]` for each offset (by default each once, in order)."""
    state = None
    for offset in range(len(events)) if offsets is None else offsets:
        kind, at = events[offset]
        state = count_event(
            state,
            offset=offset,
            kind=kind,  # type: ignore[arg-type]
            occurred_at=at,
            now=now,
            policy=POLICY,
        ).state
    return state or RateState()


@st.composite
def _redeliveries(draw, length: int) -> list[int]:
    """Offsets 0 .. length-1 as an at-least-once consumer reads them: in order, but after a
    crash it starts again from some earlier offset it had not committed."""
    read: list[int] = []
    position = 0
    while position < length:
        read.append(position)
        position += 1
        if draw(st.integers(min_value=0, max_value=4)) == 0:  # a crash, now and then
            position = draw(st.integers(min_value=0, max_value=position))
        if len(read) > 4 * length:
            break
    read.extend(range(position, length))
    return read


@settings(max_examples=150, deadline=None)
@given(events=_events, data=st.data())
def test_redelivery_from_an_earlier_offset_changes_nothing(events, data) -> None:
    """Reading the topic with restarts from earlier offsets gives the state of one clean read."""
    offsets = data.draw(_redeliveries(len(events)))
    assert sorted(set(offsets)) == list(range(len(events)))  # every offset read at least once
    assert _fold_all(events, offsets) == _fold_all(events)


@settings(max_examples=150, deadline=None)
@given(events=_events, later_hours=st.integers(min_value=0, max_value=24 * 20), data=st.data())
def test_a_replay_never_changes_the_state(events, later_hours, data) -> None:
    """Any offset at or below the last one, whatever it carries and whenever it is read again,
    is a replay and returns the state as it was."""
    if not events:
        return
    state = _fold_all(events)
    assert state.last_offset == len(events) - 1  # every offset decided, counted or not
    offset = data.draw(st.integers(min_value=0, max_value=len(events) - 1))
    kind, at = data.draw(_event)
    again = count_event(
        state,
        offset=offset,
        kind=kind,
        occurred_at=at,
        now=NOW + timedelta(hours=later_hours),
        policy=POLICY,
    )
    assert again.outcome == "replayed"
    assert again.state is state


@settings(max_examples=150, deadline=None)
@given(events=_events)
def test_the_window_holds_each_counted_event_once(events) -> None:
    """Totals of the rolling window 8-15 Jan = the events dated in it and not more than 5 minutes
    ahead of the clock, counted by hand."""
    snapshot = rates_at(_fold_all(events), NOW, POLICY, provider="p")
    latest = NOW + timedelta(minutes=5)
    inside = [kind for kind, at in events if day(8) <= at <= latest]
    assert (snapshot.delivered, snapshot.hard_bounced, snapshot.complained) == tuple(
        inside.count(kind) for kind in KINDS
    )


@settings(max_examples=300, deadline=None)
@given(
    delivered=st.integers(min_value=1, max_value=100_000),
    complained=st.integers(min_value=0, max_value=500),
)
def test_the_complaint_line_is_integer_arithmetic(delivered: int, complained: int) -> None:
    """complaints / delivered > 1 / 1000 exactly when complaints * 1000 > delivered (and there
    are at least 1,000 delivered)."""
    snapshot = RateSnapshot(
        provider="p",
        window=current_window(NOW, POLICY),
        delivered=delivered,
        hard_bounced=0,
        complained=complained,
        complaint_volume_enough=delivered >= 1000,
        bounce_volume_enough=delivered >= 200,
    )
    expected = delivered >= 1000 and complained * 1000 > delivered
    assert bool(breaches(snapshot, POLICY)) is expected
