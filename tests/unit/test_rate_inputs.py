"""The per-recipient stage before the rates: each event id handed on once, the provider learnt.

Expected values come from the rates policy's defaults: daily UTC buckets, a 7-day window and 2
days of lateness, so on 14 Jan 2026 at noon the horizon is 15 Jan - 9 days = 6 Jan 00:00, and 5
minutes of clock skew are accepted on event times.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from unittest.mock import patch

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.reputation import rate_inputs
from streams.reputation.policy import RatesPolicy
from streams.reputation.rate_inputs import (
    MAX_COUNTED,
    AdmitFold,
    CountedEvent,
    RateEvent,
    RecipientRates,
    admit,
    learn_provider,
    rate_event_key,
)
from streams.topics import default_codec

POLICY = RatesPolicy()
NOW = datetime(2026, 1, 14, 12, 0, tzinfo=UTC)  # horizon: 6 Jan 00:00


def day(n: int, hour: int = 0) -> datetime:
    """n January 2026 at `hour` UTC."""
    return datetime(2026, 1, n, hour, tzinfo=UTC)


def take(
    state: RecipientRates | None,
    event_id: str = "ev-1",
    *,
    kind: str = "delivered",
    account_id: str | None = "acct-1",
    provider: str | None = "google",
    at: datetime = NOW,
    now: datetime = NOW,
) -> AdmitFold:
    return admit(
        state,
        event_id=event_id,
        kind=kind,  # type: ignore[arg-type]
        account_id=account_id,
        provider=provider,
        occurred_at=at,
        now=now,
        policy=POLICY,
    )


def full_state(times: list[datetime]) -> RecipientRates:
    """A recipient that has already handed on one event at each of `times` (ids `old-<n>`)."""
    return RecipientRates(
        provider="google",
        counted=tuple(
            CountedEvent(event_id=f"old-{n}", occurred_at=at) for n, at in enumerate(times)
        ),
        horizon=day(6),
    )


# --- admitted: two rate events ------------------------------------------------------------------


def test_an_admitted_event_is_handed_on_per_provider_and_account_wide() -> None:
    fold = take(None, "dsn-1", kind="hard_bounce", at=day(13, 9))
    assert fold.outcome == "admitted"
    assert fold.events == (
        RateEvent(
            event_id="dsn-1",
            account_id="acct-1",
            provider="google",
            kind="hard_bounce",
            occurred_at=day(13, 9),
        ),
        RateEvent(
            event_id="dsn-1",
            account_id="acct-1",
            provider=None,
            kind="hard_bounce",
            occurred_at=day(13, 9),
        ),
    )
    assert [rate_event_key(event) for event in fold.events] == [b"acct-1|google", b"acct-1|*"]
    assert fold.state == RecipientRates(
        provider="google",
        counted=(CountedEvent(event_id="dsn-1", occurred_at=day(13, 9)),),
        horizon=day(6),
    )


def test_the_same_id_again_is_replayed() -> None:
    """Whatever the replay carries and whenever it comes (inside the horizon), it is not handed
    on again, and the state is the one given."""
    first = take(None, "fbl-7", kind="complaint", at=day(12))
    for kind, at, now in (
        ("complaint", day(12), NOW),
        ("delivered", day(13), NOW),
        ("complaint", day(12), day(16)),  # horizon on 16 Jan: 8 Jan, still before 12 Jan
    ):
        again = take(first.state, "fbl-7", kind=kind, at=at, now=now)
        assert (again.outcome, again.events) == ("replayed", ())
        assert again.state is first.state


def test_distinct_ids_are_each_admitted() -> None:
    state = None
    for event_id in ("a", "b", "c"):
        fold = take(state, event_id)
        assert fold.outcome == "admitted"
        state = fold.state
    assert state is not None
    assert [entry.event_id for entry in state.counted] == ["a", "b", "c"]


def test_counted_ids_are_kept_in_event_time_order() -> None:
    state = take(None, "late", at=day(13)).state
    state = take(state, "early", at=day(7)).state
    state = take(state, "middle", at=day(10)).state
    assert [entry.event_id for entry in state.counted] == ["early", "middle", "late"]


# --- the provider ---------------------------------------------------------------------------------


def test_a_complaint_without_provider_takes_the_recipients() -> None:
    """A decision named the provider; the feedback report later names none."""
    state = learn_provider(None, "yahoo")
    fold = take(state, "fbl-1", kind="complaint", provider=None)
    assert fold.outcome == "admitted"
    assert [event.provider for event in fold.events] == ["yahoo", None]
    assert [rate_event_key(event) for event in fold.events] == [b"acct-1|yahoo", b"acct-1|*"]


@pytest.mark.parametrize("given_state", [None, RecipientRates()])
def test_no_provider_known(given_state: RecipientRates | None) -> None:
    fold = take(given_state, provider=None)
    assert (fold.outcome, fold.events) == ("no_provider", ())
    assert fold.state == RecipientRates()
    if given_state is not None:
        assert fold.state is given_state


def test_an_empty_provider_is_no_provider() -> None:
    assert take(None, provider="").outcome == "no_provider"
    assert take(learn_provider(None, "google"), provider="").events[0].provider == "google"


def test_the_last_provider_named_wins() -> None:
    state = take(None, "a", provider="google").state
    fold = take(state, "b", provider="microsoft")
    assert [event.provider for event in fold.events] == ["microsoft", None]
    assert fold.state.provider == "microsoft"


@pytest.mark.parametrize(
    ("event_id", "at", "account_id", "outcome"),
    [
        ("known", NOW, "acct-1", "replayed"),
        ("new", NOW + timedelta(hours=1), "acct-1", "from_future"),
        ("new", day(1), "acct-1", "too_late"),
        ("new", NOW, None, "no_account"),
    ],
)
def test_a_provider_is_learnt_whatever_the_outcome(
    event_id: str, at: datetime, account_id: str | None, outcome: str
) -> None:
    """The event says where the recipient's mail goes even when it is not counted."""
    state = take(None, "known", provider="google").state
    fold = take(state, event_id, at=at, account_id=account_id, provider="microsoft")
    assert (fold.outcome, fold.events) == (outcome, ())
    assert fold.state.provider == "microsoft"
    assert (fold.state.counted, fold.state.horizon) == (state.counted, state.horizon)


def test_learn_provider_returns_none_when_nothing_changes() -> None:
    state = RecipientRates(
        provider="google",
        counted=(CountedEvent(event_id="x", occurred_at=day(10)),),
        horizon=day(6),
    )
    assert learn_provider(state, "google") is None
    assert learn_provider(state, None) is None
    assert learn_provider(state, "") is None
    assert learn_provider(None, None) is None
    assert learn_provider(None, "google") == RecipientRates(provider="google")
    assert learn_provider(state, "yahoo") == RecipientRates(
        provider="yahoo", counted=state.counted, horizon=day(6)
    )


# --- no account -----------------------------------------------------------------------------------


@pytest.mark.parametrize("account_id", [None, ""])
def test_no_account(account_id: str | None) -> None:
    """Checked before the provider: an event of no account is never counted."""
    fold = take(None, account_id=account_id, provider=None)
    assert (fold.outcome, fold.events) == ("no_account", ())


# --- time -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("at", "outcome"),
    [
        (day(6), "admitted"),  # the horizon: 15 Jan - 7 days - 2 days
        (day(6) - timedelta(milliseconds=1), "too_late"),
        (day(5, 12), "too_late"),
        (NOW + timedelta(seconds=300), "admitted"),  # within the 5 minutes of clock skew
        (NOW + timedelta(seconds=301), "from_future"),
    ],
)
def test_lateness_and_the_future(at: datetime, outcome: str) -> None:
    state = take(None, "earlier", at=day(10)).state
    fold = take(state, "new", at=at)
    assert fold.outcome == outcome
    assert len(fold.events) == (2 if outcome == "admitted" else 0)
    if outcome != "admitted":
        assert fold.state is state


def test_a_late_replay_is_too_late_not_admitted() -> None:
    """Admitted on 14 Jan with the event time 6 Jan; on 15 Jan the horizon is 7 Jan, so the next
    admission prunes the id, and a replay of it is too late (the rates would refuse it too)."""
    state = take(None, "old", at=day(6)).state
    state = take(state, "fresh", now=day(15), at=day(15)).state
    assert [entry.event_id for entry in state.counted] == ["fresh"]
    assert state.horizon == day(7)
    replay = take(state, "old", at=day(6), now=day(15))
    assert (replay.outcome, replay.events) == ("too_late", ())


def test_the_horizon_never_moves_back() -> None:
    """A worker on 20 Jan moved the horizon to 12 Jan; one whose clock says 14 Jan (horizon 6 Jan)
    cannot admit an event of 11 Jan, whose id may already be forgotten."""
    state = take(None, "a", at=day(19), now=day(20)).state
    assert state.horizon == day(12)
    behind = take(state, "b", at=day(11), now=NOW)
    assert behind.outcome == "too_late"
    kept = take(state, "c", at=day(13), now=NOW)
    assert (kept.outcome, kept.state.horizon) == ("admitted", day(12))


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        take(None, at=datetime(2026, 1, 14))


# --- the bound ------------------------------------------------------------------------------------


def _minutes_after_day_7(count: int) -> list[datetime]:
    return [day(7) + timedelta(minutes=n) for n in range(count)]


def test_a_full_list_forgets_its_oldest_and_refuses_their_replays() -> None:
    """2,000 ids, one a minute from 7 Jan: a new one pushes out the oldest (7 Jan 00:00), and the
    recipient's horizon moves a millisecond past it so a replay of it is too late."""
    state = full_state(_minutes_after_day_7(MAX_COUNTED))
    fold = take(state, "new", at=NOW)
    assert fold.outcome == "admitted"
    assert len(fold.state.counted) == MAX_COUNTED
    assert fold.state.counted[0].event_id == "old-1"
    assert fold.state.counted[-1].event_id == "new"
    assert fold.state.horizon == day(7) + timedelta(milliseconds=1)
    assert take(fold.state, "old-0", at=day(7)).outcome == "too_late"
    assert take(fold.state, "old-1", at=day(7, 0) + timedelta(minutes=1)).outcome == "replayed"


def test_ids_sharing_the_time_of_the_last_one_forgotten_go_with_it() -> None:
    """old-0 and old-1 share 7 Jan 00:00. When old-0 must go, old-1 goes too: the horizon has to
    pass their common time to refuse old-0's replay, and then old-1 is behind it as well."""
    times = [day(7), *_minutes_after_day_7(MAX_COUNTED - 1)]
    state = full_state(times)
    fold = take(state, "new", at=NOW)
    assert fold.outcome == "admitted"
    assert len(fold.state.counted) == MAX_COUNTED - 1
    assert {"old-0", "old-1"}.isdisjoint(entry.event_id for entry in fold.state.counted)
    for forgotten in ("old-0", "old-1"):
        assert take(fold.state, forgotten, at=day(7)).outcome == "too_late"


def test_an_event_older_than_a_full_list_is_handed_on_and_forgotten() -> None:
    """Older than all 2,000 kept ids (all from 7 Jan on) but inside the horizon (6 Jan): it is
    admitted, is itself the oldest and is forgotten at once; its replay is too late."""
    state = full_state(_minutes_after_day_7(MAX_COUNTED))
    fold = take(state, "straggler", at=day(6, 12))
    assert (fold.outcome, len(fold.events)) == ("admitted", 2)
    assert fold.state.counted == state.counted
    assert fold.state.horizon == day(6, 12) + timedelta(milliseconds=1)
    assert take(fold.state, "straggler", at=day(6, 12)).outcome == "too_late"


def test_a_full_list_of_the_longest_ids_fits_a_kafka_record() -> None:
    """2,000 ASCII ids of 200 characters encode under Kafka's default 1 MB record limit."""
    state = RecipientRates(
        provider="google",
        counted=tuple(
            CountedEvent(event_id=f"{n:0200d}", occurred_at=at)
            for n, at in enumerate(_minutes_after_day_7(MAX_COUNTED))
        ),
        horizon=day(6),
    )
    assert len(default_codec().encode(state)) < 1_000_000


# --- keys -----------------------------------------------------------------------------------------


def _event(account_id: str, provider: str | None) -> RateEvent:
    return RateEvent(
        event_id="e", account_id=account_id, provider=provider, kind="delivered", occurred_at=NOW
    )


def test_keys_of_ordinary_ids_read_as_they_are() -> None:
    assert rate_event_key(_event("acct-1", "domain:example.co.uk")) == (
        b"acct-1|domain:example.co.uk"
    )
    assert rate_event_key(_event("acct-1", None)) == b"acct-1|*"


@pytest.mark.parametrize(
    ("one", "other"),
    [
        (("a|b", "c"), ("a", "b|c")),  # split at another bar
        (("a", "*"), ("a", None)),  # a provider called * and the account-wide count
        (("a%7Cb", "c"), ("a|b", "c")),  # an escape written literally
        (("a", "%2A"), ("a", "*")),
    ],
)
def test_different_pairs_never_share_a_key(
    one: tuple[str, str | None], other: tuple[str, str | None]
) -> None:
    assert rate_event_key(_event(*one)) != rate_event_key(_event(*other))


@settings(max_examples=300, deadline=None)
@given(
    one=st.tuples(st.text(min_size=1, max_size=8), st.none() | st.text(min_size=1, max_size=8)),
    other=st.tuples(st.text(min_size=1, max_size=8), st.none() | st.text(min_size=1, max_size=8)),
)
def test_keys_are_one_to_one(one, other) -> None:
    assert (rate_event_key(_event(*one)) == rate_event_key(_event(*other))) is (one == other)


# --- properties -----------------------------------------------------------------------------------

KINDS = ("delivered", "hard_bounce", "complaint")
# Event times from 4 Jan (too late on 14 Jan) to the end of 14 Jan (mostly more than 5 minutes
# ahead of NOW: from the future), in minutes. Each id always carries the same time and kind, as
# a redelivered source event does.
_ids = st.integers(min_value=0, max_value=15)


def _time_of(event_number: int, minutes: dict[int, int]) -> datetime:
    return day(4) + timedelta(minutes=minutes[event_number])


_minutes = st.dictionaries(
    _ids, st.integers(min_value=0, max_value=11 * 24 * 60 - 1), min_size=16, max_size=16
)


@settings(max_examples=200, deadline=None)
@given(sequence=st.lists(_ids, max_size=40), minutes=_minutes)
def test_outcomes_at_one_clock_follow_the_rules(sequence, minutes) -> None:
    """At a fixed clock every outcome can be worked out by hand: from the future past 14 Jan
    12:05, too late before 6 Jan, replayed once the id was admitted, else admitted."""
    state = None
    admitted: set[int] = set()
    for number in sequence:
        at = _time_of(number, minutes)
        fold = take(state, f"ev-{number}", kind=KINDS[number % 3], at=at)
        if at > NOW + timedelta(minutes=5):
            expected = "from_future"
        elif at < day(6):
            expected = "too_late"
        elif number in admitted:
            expected = "replayed"
        else:
            expected = "admitted"
            admitted.add(number)
        assert fold.outcome == expected
        state = fold.state


@settings(max_examples=200, deadline=None)
@given(
    sequence=st.lists(st.tuples(_ids, st.integers(min_value=0, max_value=20 * 24)), max_size=60),
    minutes=_minutes,
    limit=st.sampled_from([2, 3, 5, MAX_COUNTED]),
)
def test_each_id_is_handed_on_at_most_once(sequence, minutes, limit) -> None:
    """Any sequence of events with duplicates, read by workers whose clocks go back and forth
    over 20 days (and with lists bounded as low as 2 ids): no id is handed on twice, and the
    state stays within its bound, behind its horizon and never moves that horizon back."""
    state = None
    handed_on: list[str] = []
    with patch.object(rate_inputs, "MAX_COUNTED", limit):
        for number, clock_hours in sequence:
            fold = take(
                state,
                f"ev-{number}",
                kind=KINDS[number % 3],
                at=_time_of(number, minutes),
                now=day(4) + timedelta(hours=clock_hours),
            )
            handed_on.extend(event.event_id for event in fold.events if event.provider is None)
            assert len(fold.events) == (2 if fold.outcome == "admitted" else 0)
            after = fold.state
            assert len(after.counted) <= limit
            if after.horizon is not None:
                assert all(entry.occurred_at >= after.horizon for entry in after.counted)
            if state is not None and state.horizon is not None:
                assert after.horizon is not None and after.horizon >= state.horizon
            state = after
    assert len(handed_on) == len(set(handed_on))
