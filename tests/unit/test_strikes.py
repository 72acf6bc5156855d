"""The strike ladder: strike 1 disables broadcasts, 2 warns, 3 terminates; strikes
count over 365 days; the same breach is never struck twice; reinstatement gives back what was
taken and keeps the strikes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from streams.reputation.actions import (
    AccountTerminated,
    BroadcastsDisabled,
    ProviderPaused,
    Reinstated,
    ReviewFlagged,
    StrikeIssued,
    WarningIssued,
)
from streams.reputation.breaches import Breach, breaches, rates_at
from streams.reputation.denials import gate_view
from streams.reputation.policy import RatesPolicy, StrikePolicy
from streams.reputation.rates import Window, count_event
from streams.reputation.reinstatement import reinstate
from streams.reputation.strikes import AccountStanding, apply_breach, breach_id

POLICY = StrikePolicy()
ACCOUNT = "acct-maple"
# Monday 5 to Monday 12 January 2026.
WEEK1 = Window(start=datetime(2026, 1, 5, tzinfo=UTC), end=datetime(2026, 1, 12, tzinfo=UTC))
T1 = datetime(2026, 1, 14, 0, 0, tzinfo=UTC)  # when WEEK1 is judged (its end + 2 days)


def week(n: int) -> Window:
    """The n-th of consecutive, non-overlapping weeks from 5 Jan 2026 (1: WEEK1)."""
    return Window(
        start=WEEK1.start + timedelta(weeks=n - 1), end=WEEK1.end + timedelta(weeks=n - 1)
    )


def breach(
    window: Window = WEEK1,
    *,
    kind: str = "complaint",
    level: str = "strike",
    provider: str | None = "google",
    count: int = 2,
    volume: int = 1000,
    line: str = "0.001",
) -> Breach:
    return Breach.model_validate(
        {
            "kind": kind,
            "level": level,
            "provider": provider,
            "window": window,
            "count": count,
            "volume": volume,
            "line": line,
        }
    )


def apply(standing: AccountStanding, found: Breach, now: datetime, policy=POLICY):
    return apply_breach(
        standing, found, breach_id=breach_id(ACCOUNT, found), now=now, policy=policy
    )


def fresh() -> AccountStanding:
    return AccountStanding(account_id=ACCOUNT)


def allowed(standing: AccountStanding, *, commercial: bool, send_kind: str, provider: str) -> bool:
    return not gate_view(standing).denials(
        commercial=commercial,
        send_kind=send_kind,  # type: ignore[arg-type]
        provider=provider,
    )


# --- the ladder --------------------------------------------------------------------------------


def test_three_strikes_in_three_weeks() -> None:
    """Weeks 1, 2 and 3 each above the line at google: strikes 1, 2 and 3."""
    standing = fresh()

    standing, actions, outcome = apply(standing, breach(week(1)), T1)
    assert outcome == "struck"
    assert [type(action) for action in actions] == [StrikeIssued, BroadcastsDisabled]
    issued = actions[0]
    assert isinstance(issued, StrikeIssued)
    assert (issued.number, issued.step, issued.provider, issued.kind) == (
        1,
        "disable_broadcasts",
        "google",
        "complaint",
    )
    assert (issued.count, issued.volume, issued.line, issued.window) == (
        2,
        1000,
        Decimal("0.001"),
        week(1),
    )
    assert standing.status == "broadcasts_disabled"

    standing, actions, _ = apply(standing, breach(week(2)), T1 + timedelta(weeks=1))
    assert [type(action) for action in actions] == [StrikeIssued, WarningIssued]
    assert actions[0].number == 2  # type: ignore[union-attr]
    assert standing.status == "broadcasts_disabled"  # still disabled: never reinstated

    standing, actions, _ = apply(standing, breach(week(3)), T1 + timedelta(weeks=2))
    assert [type(action) for action in actions] == [StrikeIssued, AccountTerminated]
    assert actions[0].number == 3  # type: ignore[union-attr]
    assert standing.status == "terminated"
    assert [strike.number for strike in standing.strikes] == [1, 2, 3]


def test_strike_one_denies_broadcasts_at_every_provider_and_nothing_else() -> None:
    """Struck at google only: bulk commercial mail is denied to every provider; transactional mail
    and one-off commercial messages still go."""
    standing, _, _ = apply(fresh(), breach(provider="google"), T1)
    for provider in ("google", "microsoft", "example.net"):
        assert not allowed(standing, commercial=True, send_kind="bulk", provider=provider)
        assert allowed(standing, commercial=False, send_kind="bulk", provider=provider)
        assert allowed(standing, commercial=True, send_kind="one_off", provider=provider)
    assert gate_view(standing).denials(commercial=True, send_kind="bulk", provider="yahoo") == (
        "account-broadcasts-disabled",
    )


def test_termination_denies_all_commercial_mail_only() -> None:
    standing = fresh()
    for n in (1, 2, 3):
        standing, _, _ = apply(standing, breach(week(n)), T1 + timedelta(weeks=n - 1))
    assert not allowed(standing, commercial=True, send_kind="one_off", provider="google")
    assert allowed(standing, commercial=False, send_kind="bulk", provider="google")
    assert gate_view(standing).denials(commercial=True, send_kind="bulk", provider="google") == (
        "account-terminated",
        "account-broadcasts-disabled",
    )


def test_a_terminated_account_takes_no_more_strikes() -> None:
    standing = fresh()
    for n in (1, 2, 3):
        standing, _, _ = apply(standing, breach(week(n)), T1 + timedelta(weeks=n - 1))
    after, actions, outcome = apply(standing, breach(week(4)), T1 + timedelta(weeks=3))
    assert (after, actions, outcome) == (standing, (), "account_terminated")


def test_a_strike_past_the_ladder_takes_its_last_step() -> None:
    """A two-step ladder (disable, terminate): strike 3 terminates again after a reinstatement."""
    policy = StrikePolicy(ladder=("disable_broadcasts", "terminate"))
    standing = fresh()
    standing, _, _ = apply(standing, breach(week(1)), T1, policy)
    standing, actions, _ = apply(standing, breach(week(2)), T1 + timedelta(weeks=1), policy)
    assert isinstance(actions[-1], AccountTerminated)
    standing, _ = reinstate(standing, reinstatement_id="r1", by="ops", reason="appeal", now=T1)
    standing, actions, _ = apply(standing, breach(week(3)), T1 + timedelta(weeks=2), policy)
    assert (actions[0].number, actions[0].step) == (3, "terminate")  # type: ignore[union-attr]


# --- the same breach is struck once ---------------------------------------------------------------


def test_the_same_breach_is_never_struck_twice() -> None:
    standing, _, _ = apply(fresh(), breach(), T1)
    again, actions, outcome = apply(standing, breach(), T1 + timedelta(hours=1))
    assert (again, actions, outcome) == (standing, (), "replayed")


def test_overlapping_windows_are_one_episode() -> None:
    """Rolling windows judged daily overlap: 6-13 Jan after 5-12 Jan is the same bad week. Only a
    window starting on or after 12 Jan (the struck one's end) is struck again."""
    standing, _, _ = apply(fresh(), breach(WEEK1), T1)
    for shift in range(1, 7):
        window = Window(
            start=WEEK1.start + timedelta(days=shift), end=WEEK1.end + timedelta(days=shift)
        )
        _, actions, outcome = apply(standing, breach(window), T1 + timedelta(days=shift))
        assert (actions, outcome) == ((), "same_episode")
    _, actions, outcome = apply(standing, breach(week(2)), T1 + timedelta(days=7))
    assert outcome == "struck"
    assert actions[0].number == 2  # type: ignore[union-attr]


def test_the_same_week_at_two_providers_is_one_strike_by_default() -> None:
    standing, _, _ = apply(fresh(), breach(provider="google"), T1)
    _, actions, outcome = apply(standing, breach(provider="yahoo"), T1)
    assert (actions, outcome) == ((), "same_episode")


def test_per_provider_episodes_strike_each_provider() -> None:
    policy = StrikePolicy(episode_scope="provider")
    standing, _, _ = apply(fresh(), breach(provider="google"), T1, policy)
    _, actions, outcome = apply(standing, breach(provider="yahoo"), T1, policy)
    assert outcome == "struck"
    assert actions[0].number == 2  # type: ignore[union-attr]


def test_complaint_and_bounce_breaches_are_separate_episodes() -> None:
    standing, _, _ = apply(fresh(), breach(kind="complaint"), T1)
    _, actions, outcome = apply(
        standing, breach(kind="bounce", provider=None, count=15, volume=200, line="0.07"), T1
    )
    assert outcome == "struck"
    assert actions[0].number == 2  # type: ignore[union-attr]


def test_breach_ids_are_stable_and_distinct() -> None:
    assert breach_id(ACCOUNT, breach()) == breach_id(ACCOUNT, breach())
    others = {
        breach_id("acct-other", breach()),
        breach_id(ACCOUNT, breach(provider="yahoo")),
        breach_id(ACCOUNT, breach(provider=None)),
        breach_id(ACCOUNT, breach(level="pause")),
        breach_id(ACCOUNT, breach(kind="bounce")),
        breach_id(ACCOUNT, breach(week(2))),
    }
    assert breach_id(ACCOUNT, breach()) not in others
    assert len(others) == 6
    # The counts are not part of the id: the same window judged again with one more complaint is
    # the same breach.
    assert breach_id(ACCOUNT, breach(count=3)) == breach_id(ACCOUNT, breach())


# --- counting over the strike period --------------------------------------------------------------


@pytest.mark.parametrize(
    ("days_later", "number"),
    [
        (364, 2),  # the first strike is 364 days old: it still counts
        (365, 1),  # exactly 365 days old: out of the period, the new strike is number 1 again
        (400, 1),
    ],
)
def test_strikes_count_over_the_period(days_later: int, number: int) -> None:
    first_at = T1
    standing, _, _ = apply(fresh(), breach(WEEK1), first_at)
    later = first_at + timedelta(days=days_later)
    window = Window(start=later - timedelta(days=9), end=later - timedelta(days=2))
    standing, actions, outcome = apply(standing, breach(window), later)
    assert outcome == "struck"
    assert actions[0].number == number  # type: ignore[union-attr]
    assert len(standing.strikes_in_period(later, POLICY)) == number


def test_a_stale_breach_is_ignored() -> None:
    """A breach whose window ended more than 365 days ago (a replay from long ago) does nothing."""
    now = WEEK1.end + timedelta(days=366)
    after, actions, outcome = apply(fresh(), breach(WEEK1), now)
    assert (after, actions, outcome) == (fresh(), (), "stale")


def test_old_history_is_forgotten_but_the_strike_count_is_not_changed_by_it() -> None:
    """Two years on, the first strike (far outside the period and any window) leaves the state."""
    standing, _, _ = apply(fresh(), breach(WEEK1), T1)
    later = T1 + timedelta(days=730)
    window = Window(start=later - timedelta(days=9), end=later - timedelta(days=2))
    standing, actions, _ = apply(standing, breach(window), later)
    assert actions[0].number == 1  # type: ignore[union-attr]
    assert [strike.window for strike in standing.strikes] == [window]


# --- reinstatement --------------------------------------------------------------------------------


def test_reinstatement_reenables_broadcasts_and_keeps_the_strike() -> None:
    standing, _, _ = apply(fresh(), breach(week(1)), T1)
    at = T1 + timedelta(days=2)
    standing, action = reinstate(
        standing, reinstatement_id="r-1", by="ops@example.com", reason="passed the test", now=at
    )
    assert isinstance(action, Reinstated)
    assert (action.restored, action.strikes_kept, action.by, action.reason) == (
        ("broadcasts",),
        1,
        "ops@example.com",
        "passed the test",
    )
    assert standing.status == "active"
    assert allowed(standing, commercial=True, send_kind="bulk", provider="google")
    assert len(standing.strikes) == 1
    # The next strike is number 2 (a warning), and broadcasts stay enabled.
    standing, actions, _ = apply(standing, breach(week(2)), T1 + timedelta(weeks=1))
    assert [type(a) for a in actions] == [StrikeIssued, WarningIssued]
    assert standing.status == "warned"
    assert allowed(standing, commercial=True, send_kind="bulk", provider="google")


def test_a_replayed_reinstatement_changes_nothing() -> None:
    standing, _, _ = apply(fresh(), breach(), T1)
    once, _ = reinstate(standing, reinstatement_id="r-1", by="ops", reason="ok", now=T1)
    twice, action = reinstate(once, reinstatement_id="r-1", by="ops", reason="ok", now=T1)
    assert (twice, action) == (once, None)


def test_reinstating_a_terminated_account_restores_commercial_mail() -> None:
    standing = fresh()
    for n in (1, 2, 3):
        standing, _, _ = apply(standing, breach(week(n)), T1 + timedelta(weeks=n - 1))
    standing, action = reinstate(
        standing, reinstatement_id="r-9", by="ops", reason="appeal upheld", now=T1
    )
    assert action is not None
    assert action.restored == ("broadcasts", "commercial_mail")
    assert allowed(standing, commercial=True, send_kind="bulk", provider="google")
    assert action.strikes_kept == 3


def test_reinstating_an_active_account_restores_nothing_but_is_recorded() -> None:
    standing, action = reinstate(fresh(), reinstatement_id="r", by="ops", reason="check", now=T1)
    assert action is not None and action.restored == ()
    assert len(standing.reinstatements) == 1


# --- pauses and reviews ---------------------------------------------------------------------------


def test_a_pause_denies_all_mail_to_its_provider_only() -> None:
    standing, actions, outcome = apply(fresh(), breach(level="pause", line="0.005", count=6), T1)
    assert outcome == "paused"
    assert [type(a) for a in actions] == [ProviderPaused]
    assert not allowed(standing, commercial=False, send_kind="one_off", provider="google")
    assert allowed(standing, commercial=True, send_kind="bulk", provider="yahoo")
    assert not allowed(standing, commercial=True, send_kind="bulk", provider="google")
    # An unknown provider is not the paused one.
    assert gate_view(standing).denials(commercial=True, send_kind="bulk", provider=None) == ()
    assert standing.strikes == ()


def test_an_account_wide_pause_denies_every_provider() -> None:
    found = breach(kind="bounce", level="pause", provider=None, count=21, volume=200, line="0.1")
    standing, actions, _ = apply(fresh(), found, T1)
    assert actions[0].provider is None  # type: ignore[union-attr]
    for provider in ("google", "yahoo"):
        assert not allowed(standing, commercial=False, send_kind="one_off", provider=provider)
    assert gate_view(standing).denials(commercial=False, send_kind="bulk", provider=None) == (
        "provider-paused",
    )


def test_pauses_are_not_repeated_and_reinstatement_lifts_them() -> None:
    paused, _, _ = apply(fresh(), breach(level="pause", line="0.005", count=6), T1)
    next_day = Window(start=WEEK1.start + timedelta(days=1), end=WEEK1.end + timedelta(days=1))
    _, actions, outcome = apply(paused, breach(next_day, level="pause", line="0.005", count=6), T1)
    assert (actions, outcome) == ((), "already_paused")
    lifted, action = reinstate(paused, reinstatement_id="r", by="ops", reason="fixed", now=T1)
    assert action is not None and action.restored == ("provider:google",)
    assert allowed(lifted, commercial=True, send_kind="bulk", provider="google")
    # The same pause breach replayed after the reinstatement does not pause again.
    again, actions, outcome = apply(lifted, breach(level="pause", line="0.005", count=6), T1)
    assert (again, actions, outcome) == (lifted, (), "replayed")
    _, _, outcome = apply(lifted, breach(next_day, level="pause", line="0.005", count=6), T1)
    assert outcome == "same_episode"


def test_bounce_breaches_can_pause_instead_of_striking() -> None:
    policy = StrikePolicy(bounce_breaches_strike=False)
    found = breach(kind="bounce", provider=None, count=15, volume=200, line="0.07")
    standing, actions, outcome = apply(fresh(), found, T1, policy)
    assert outcome == "paused"
    assert [type(a) for a in actions] == [ProviderPaused]
    assert standing.strikes == ()


def test_a_review_only_flags_the_account() -> None:
    standing, actions, outcome = apply(fresh(), breach(level="review"), T1)
    assert outcome == "review_flagged"
    assert [type(a) for a in actions] == [ReviewFlagged]
    assert standing.status == "active"
    assert allowed(standing, commercial=True, send_kind="bulk", provider="google")


def test_pauses_still_apply_to_a_terminated_account() -> None:
    standing = fresh()
    for n in (1, 2, 3):
        standing, _, _ = apply(standing, breach(week(n)), T1 + timedelta(weeks=n - 1))
    _, _, outcome = apply(standing, breach(week(4), level="pause", line="0.005", count=6), T1)
    assert outcome == "paused"


# --- the policy -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fields",
    [
        {"ladder": ()},
        {"ladder": ("terminate", "warn")},  # nothing after termination
        {"ladder": ("disable_broadcasts", "fine")},
        {"strike_period_days": 7},  # shorter than the longest window
        {"episode_scope": "list"},
    ],
)
def test_strike_policy_refuses(fields: dict) -> None:
    with pytest.raises(ValidationError):
        StrikePolicy.model_validate(fields)


# --- from counted events to enforcement -----------------------------------------------------------


def test_counted_events_to_strike_one() -> None:
    """2 complaints of 1,000 delivered at google this week (0.2% > 0.1%): strike 1."""
    rates = RatesPolicy()
    now = datetime(2026, 1, 14, 12, tzinfo=UTC)
    state = None
    for n in range(1000):
        state, _ = count_event(
            state, offset=n, kind="delivered", occurred_at=now, now=now, policy=rates
        )
    for n in range(2):
        state, _ = count_event(
            state, offset=1000 + n, kind="complaint", occurred_at=now, now=now, policy=rates
        )
    (found,) = breaches(rates_at(state, now, rates, provider="google"), rates)
    standing, actions, _ = apply(fresh(), found, now)
    assert [type(a) for a in actions] == [StrikeIssued, BroadcastsDisabled]
    assert not allowed(standing, commercial=True, send_kind="bulk", provider="microsoft")


# --- properties -----------------------------------------------------------------------------------

_breaches = st.lists(
    st.builds(
        lambda week_n, provider, kind, level: breach(
            week(week_n), provider=provider, kind=kind, level=level
        ),
        st.integers(min_value=1, max_value=8),
        st.sampled_from(["google", "yahoo", None]),
        st.sampled_from(["complaint", "bounce"]),
        st.sampled_from(["strike", "strike", "pause", "review"]),
    ),
    max_size=12,
)


@settings(max_examples=200, deadline=None)
@given(found=_breaches)
def test_applying_each_breach_twice_is_applying_it_once(found: list[Breach]) -> None:
    """Every breach delivered twice in a row (at-least-once) gives the same standing and the same
    actions as once."""
    once, twice = fresh(), fresh()
    actions_once: list = []
    actions_twice: list = []
    for n, item in enumerate(found):
        now = T1 + timedelta(days=n)
        once, actions, _ = apply(once, item, now)
        actions_once.extend(actions)
        for _ in range(2):
            twice, actions, _ = apply(twice, item, now)
            actions_twice.extend(actions)
    assert twice == once
    assert actions_twice == actions_once


@settings(max_examples=200, deadline=None)
@given(found=_breaches)
def test_strikes_are_numbered_one_by_one(found: list[Breach]) -> None:
    """Strike numbers run 1, 2, 3 with no gap or repeat, and never more than the ladder holds
    before termination stops them."""
    standing = fresh()
    numbers: list[int] = []
    for n, item in enumerate(found):
        standing, actions, _ = apply(standing, item, T1 + timedelta(days=n))
        numbers += [a.number for a in actions if isinstance(a, StrikeIssued)]
    assert numbers == list(range(1, len(numbers) + 1))
    assert len(numbers) <= 3
