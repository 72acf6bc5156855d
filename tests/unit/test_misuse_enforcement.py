"""Transactional misuse: reports counted per account in a 30-day event-time window;
the third suspends transactional sending once; a replay changes nothing; reinstatement lifts the
suspension and forgives the reports that led to it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.policy import EnforcementPolicy
from streams.reputation.actions import TransactionalMisuse, TransactionalSuspended
from streams.reputation.denials import gate_view
from streams.reputation.events import enforcement_events
from streams.reputation.misuse import apply_misuse, misuse_in_window
from streams.reputation.reinstatement import reinstate
from streams.reputation.standing import MisuseReport, misuse_report_id
from streams.reputation.strikes import REMEMBERED_MISUSE, AccountStanding

ACCOUNT = "acct-maple"
POLICY = EnforcementPolicy()  # 3 reports within 30 days suspend
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
NOW = datetime(2026, 6, 1, tzinfo=UTC)
"""Processing time: far after every report, to show that only event time counts."""
KEY = "ab" * 32


def report(request_id: str, detected_at: datetime, *, account: str = ACCOUNT) -> MisuseReport:
    return MisuseReport(
        report_id=misuse_report_id(account, request_id),
        account_id=account,
        request_id=request_id,
        recipient_key=KEY,
        score=0.87,
        signals=("discount_code", "promotional_link"),
        policy_version="default@test",
        detected_at=detected_at,
    )


def fresh() -> AccountStanding:
    return AccountStanding(account_id=ACCOUNT)


def days(n: float) -> datetime:
    return T0 + timedelta(days=n)


def fold_all(
    standing: AccountStanding, *reports: MisuseReport, policy: EnforcementPolicy = POLICY
) -> tuple[AccountStanding, list[object]]:
    actions: list[object] = []
    for item in reports:
        standing, found, _ = apply_misuse(standing, item, now=NOW, policy=policy)
        actions += found
    return standing, actions


def counts(actions: list[object]) -> list[tuple[str, int]]:
    return [(a.action, a.count) for a in actions]  # type: ignore[attr-defined]


# --- the report id --------------------------------------------------------------------------------


def test_report_id_is_stable_and_names_account_and_request_apart() -> None:
    """The same request gives the same id; a separator in an id cannot make two requests one."""
    first = misuse_report_id("acct-1", "req-9")
    assert first == misuse_report_id("acct-1", "req-9")
    assert first.startswith("misuse-")
    assert len(first) == len("misuse-") + 64
    int(first.removeprefix("misuse-"), 16)
    assert misuse_report_id("a|b", "c") != misuse_report_id("a", "b|c")
    assert misuse_report_id("acct-1", "req-9") != misuse_report_id("acct-2", "req-9")


# --- below, at and above the threshold ------------------------------------------------------------


def test_below_the_threshold_each_report_is_counted_and_nothing_is_suspended() -> None:
    standing, actions = fold_all(fresh(), report("r1", days(0)), report("r2", days(1)))
    assert counts(actions) == [("transactional_misuse", 1), ("transactional_misuse", 2)]
    assert not standing.transactional_suspended
    assert not any(a.suspended for a in actions)  # type: ignore[attr-defined]
    assert gate_view(standing).denials(commercial=False, send_kind="one_off", provider=None) == ()


def test_the_third_report_in_the_window_suspends_transactional_sending() -> None:
    standing, _ = fold_all(fresh(), report("r1", days(0)), report("r2", days(1)))
    standing, actions, outcome = apply_misuse(
        standing, report("r3", days(2)), now=NOW, policy=POLICY
    )
    assert outcome == "suspended"
    assert [type(action) for action in actions] == [TransactionalMisuse, TransactionalSuspended]
    misuse, suspended = actions
    assert isinstance(misuse, TransactionalMisuse)
    assert (misuse.count, misuse.suspended, misuse.request_id) == (3, True, "r3")
    assert (suspended.count, suspended.report_id) == (3, misuse_report_id(ACCOUNT, "r3"))
    assert (suspended.window_start, suspended.window_end) == (days(2) - timedelta(days=30), days(2))
    assert standing.transactional_suspended
    view = gate_view(standing)
    assert view.denials(commercial=False, send_kind="one_off", provider="google") == (
        "account-transactional-suspended",
    )
    assert view.denials(commercial=True, send_kind="bulk", provider="google") == ()


def test_above_the_threshold_the_suspension_is_not_announced_again() -> None:
    standing, actions = fold_all(fresh(), *(report(f"r{n}", days(n)) for n in range(5)))
    assert counts(actions) == [
        ("transactional_misuse", 1),
        ("transactional_misuse", 2),
        ("transactional_misuse", 3),
        ("transactional_suspended", 3),
        ("transactional_misuse", 4),
        ("transactional_misuse", 5),
    ]
    assert standing.transactional_suspended


def test_suspend_after_zero_only_reports() -> None:
    policy = EnforcementPolicy(misuse_suspend_after=0)
    standing, actions = fold_all(
        fresh(), *(report(f"r{n}", days(n)) for n in range(5)), policy=policy
    )
    assert counts(actions) == [("transactional_misuse", n) for n in range(1, 6)]
    assert not standing.transactional_suspended
    events = enforcement_events(actions, standing_after=standing, policy_version="p")  # type: ignore[arg-type]
    assert "suspend" not in events[-1].explanation
    assert events[-1].explanation.endswith("That makes 5 such message(s) in the last 30 days.")


# --- the window, in event time --------------------------------------------------------------------


def test_reports_older_than_the_window_stop_counting_and_are_forgotten() -> None:
    """Days 0 and 10, then day 40: day 10 is exactly 30 days before and no longer counts. The
    processing time (NOW, months later) plays no part."""
    standing, actions = fold_all(
        fresh(), report("r1", days(0)), report("r2", days(10)), report("r3", days(40))
    )
    assert counts(actions) == [("transactional_misuse", n) for n in (1, 2, 1)]
    assert not standing.transactional_suspended
    assert [entry.report_id for entry in standing.misuse] == [misuse_report_id(ACCOUNT, "r3")]


def test_three_reports_just_inside_the_window_suspend() -> None:
    _, actions = fold_all(
        fresh(),
        report("r1", days(0)),
        report("r2", days(15)),
        report("r3", days(30) - timedelta(milliseconds=1)),
    )
    assert counts(actions)[-1] == ("transactional_suspended", 3)


def test_a_late_report_inside_the_window_counts() -> None:
    """Out of order but within 30 days of the newest report: counted (the window ends at the
    newest report's time)."""
    standing, actions = fold_all(
        fresh(), report("r1", days(20)), report("r2", days(5)), report("r3", days(21))
    )
    assert counts(actions) == [
        ("transactional_misuse", 1),
        ("transactional_misuse", 2),
        ("transactional_misuse", 3),
        ("transactional_suspended", 3),
    ]
    assert [entry.detected_at for entry in standing.misuse] == [days(5), days(20), days(21)]


def test_a_report_older_than_the_window_when_it_arrives_is_stale() -> None:
    standing, _ = fold_all(fresh(), report("r1", days(40)))
    after, actions, outcome = apply_misuse(standing, report("r0", days(10)), now=NOW, policy=POLICY)
    assert (after, actions, outcome) == (standing, (), "stale")


def test_misuse_in_window_at_a_given_time() -> None:
    standing, _ = fold_all(fresh(), report("r1", days(0)), report("r2", days(10)))
    assert misuse_in_window(standing, days(10), 30) == 2
    assert misuse_in_window(standing, days(30), 30) == 1
    assert misuse_in_window(standing, days(41), 30) == 0


# --- replays --------------------------------------------------------------------------------------


def test_a_replayed_report_changes_nothing() -> None:
    standing, _ = fold_all(fresh(), report("r1", days(0)), report("r2", days(1)))
    after, actions, outcome = apply_misuse(standing, report("r2", days(1)), now=NOW, policy=POLICY)
    assert (after, actions, outcome) == (standing, (), "replayed")


def test_a_replay_of_the_suspending_report_does_not_suspend_twice() -> None:
    reports = [report(f"r{n}", days(n)) for n in range(3)]
    standing, _ = fold_all(fresh(), *reports)
    again, actions = fold_all(standing, *reports)
    assert (again, actions) == (standing, [])


@settings(max_examples=200, deadline=None)
@given(
    offsets=st.lists(st.integers(min_value=0, max_value=90 * 24), min_size=1, max_size=12),
    replay=st.lists(st.booleans(), min_size=12, max_size=12),
)
def test_replaying_each_report_right_after_it_changes_nothing(
    offsets: list[int], replay: list[bool]
) -> None:
    """Any arrival order over 90 days (hours), with any report delivered twice: the same
    standing and the same actions as delivering each once."""
    reports = [report(f"r{n}", T0 + timedelta(hours=h)) for n, h in enumerate(offsets)]
    once = fold_all(fresh(), *reports)
    twice = fold_all(
        fresh(),
        *(
            r
            for r, again in zip(reports, replay[: len(reports)], strict=True)
            for r in ((r, r) if again else (r,))
        ),
    )
    assert twice == once
    standing = once[0]
    assert len({entry.report_id for entry in standing.misuse}) == len(standing.misuse)
    suspensions = [count for action, count in counts(once[1]) if action.endswith("suspended")]
    assert suspensions in ([], [3])  # once at most, on reaching the threshold


def test_the_remembered_reports_are_capped_and_the_count_becomes_a_floor() -> None:
    """A whole newsletter sent as transactional (one report per recipient): the standing keeps
    the newest REMEMBERED_MISUSE reports, the count stops there and says so, and the older
    reports, replayed, are stale."""
    reports = [report(f"r{n}", T0 + timedelta(seconds=n)) for n in range(REMEMBERED_MISUSE + 5)]
    standing, actions = fold_all(fresh(), *reports)
    assert len(standing.misuse) == REMEMBERED_MISUSE
    assert standing.misuse[0].report_id == reports[5].report_id
    last = actions[-1]
    assert isinstance(last, TransactionalMisuse)
    assert last.count == REMEMBERED_MISUSE
    (event,) = enforcement_events((last,), standing_after=standing, policy_version="p")
    assert f"That makes at least {REMEMBERED_MISUSE} such message(s)" in event.explanation
    assert fold_all(standing, *reports) == (standing, [])


def test_every_policy_threshold_is_decided_on_remembered_reports() -> None:
    """The cap is no lower than the largest `misuse_suspend_after` a policy may set."""
    field = EnforcementPolicy.model_fields["misuse_suspend_after"]
    (largest,) = [m.le for m in field.metadata if getattr(m, "le", None) is not None]
    assert largest <= REMEMBERED_MISUSE


# --- reinstatement --------------------------------------------------------------------------------


def suspended() -> AccountStanding:
    standing, _ = fold_all(fresh(), *(report(f"r{n}", days(n)) for n in range(3)))
    assert standing.transactional_suspended
    return standing


def test_reinstatement_lifts_the_suspension_and_starts_the_count_again() -> None:
    standing, action = reinstate(
        suspended(), reinstatement_id="rein-1", by="ops:maria", reason="reviewed", now=days(3)
    )
    assert action is not None
    assert action.restored == ("transactional_mail",)
    assert not standing.transactional_suspended
    assert gate_view(standing).denials(commercial=False, send_kind="bulk", provider=None) == ()
    assert misuse_in_window(standing, days(3), 30) == 0
    # The next report counts from one; the old ones, replayed, change nothing.
    standing, actions = fold_all(standing, report("r0", days(0)), report("r9", days(4)))
    assert counts(actions) == [("transactional_misuse", 1)]


def test_a_replayed_reinstatement_changes_nothing() -> None:
    standing, _ = reinstate(
        suspended(), reinstatement_id="rein-1", by="ops", reason="reviewed", now=days(3)
    )
    again, action = reinstate(
        standing, reinstatement_id="rein-1", by="ops", reason="reviewed", now=days(4)
    )
    assert (again, action) == (standing, None)


def test_a_reinstatement_without_suspension_keeps_the_misuse_count() -> None:
    """An account reinstated for something else (a strike) keeps its misuse reports: they were
    not what the operator reviewed."""
    standing, _ = fold_all(fresh(), report("r1", days(0)), report("r2", days(1)))
    standing, action = reinstate(
        standing, reinstatement_id="rein-1", by="ops", reason="strike reviewed", now=days(2)
    )
    assert action is not None and action.restored == ()
    standing, actions = fold_all(standing, report("r3", days(2)))
    assert counts(actions)[-1] == ("transactional_suspended", 3)


# --- the events -----------------------------------------------------------------------------------


def test_events_carry_the_count_the_report_and_a_sentence_to_paste() -> None:
    standing, _ = fold_all(fresh(), report("r1", days(0)), report("r2", days(1)))
    after, actions, _ = apply_misuse(standing, report("r3", days(2)), now=NOW, policy=POLICY)
    events = enforcement_events(actions, standing_after=after, policy_version="p")
    assert [e.action for e in events] == ["transactional_misuse", "transactional_suspended"]
    misuse, suspension = events
    assert (misuse.report_id, misuse.count, misuse.at) == (
        misuse_report_id(ACCOUNT, "r3"),
        3,
        NOW,
    )
    assert misuse.window_end == days(2)
    assert all(
        e.status_after is not None and e.status_after.transactional_suspended for e in events
    )
    assert misuse.explanation == (
        "Message r3 was sent as transactional but carried marketing (discount_code, "
        "promotional_link), so it was not sent: transactional mail skips unsubscribe choices, so "
        "marketing must go as commercial mail. That makes 3 such message(s) in the last 30 days; "
        "transactional sending is suspended until the account is reinstated."
    )
    assert suspension.explanation.startswith(
        "Transactional sending is suspended: 3 messages sent as transactional carried marketing "
        "in the last 30 days (the limit is 3)."
    )
    # Stable ids: the same report gives the same events on a replay of the whole partition.
    replayed = enforcement_events(actions, standing_after=after, policy_version="p")
    assert [e.event_id for e in replayed] == [e.event_id for e in events]
    assert len({e.event_id for e in events}) == 2


def test_below_the_threshold_the_sentence_says_when_it_would_suspend() -> None:
    after, actions, _ = apply_misuse(fresh(), report("r1", days(0)), now=NOW, policy=POLICY)
    (event,) = enforcement_events(actions, standing_after=after, policy_version="p")
    assert event.explanation.endswith(
        "That makes 1 such message(s) in the last 30 days; at 3 the account's transactional "
        "sending is suspended until it is reinstated."
    )
    assert event.status_after is not None and not event.status_after.transactional_suspended


def test_reinstated_sentence_names_transactional_mail() -> None:
    standing, action = reinstate(
        suspended(), reinstatement_id="rein-1", by="ops:maria", reason="reviewed", now=days(3)
    )
    assert action is not None
    (event,) = enforcement_events((action,), standing_after=standing, policy_version="p")
    assert "Restored: transactional_mail" in event.explanation
    assert event.status_after is not None and not event.status_after.transactional_suspended


@pytest.mark.parametrize("score", [float("nan"), float("inf")])
def test_a_report_needs_a_finite_score(score: float) -> None:
    with pytest.raises(ValueError, match="finite"):
        MisuseReport.model_validate({**report("r1", days(0)).model_dump(), "score": score})
