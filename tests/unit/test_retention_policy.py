"""The retention policy, pure: its defaults are the law's periods, a period counts back whole
calendar years, the last relationship event is the latest of a person's events with an account
(a platform event counts for every account), and evidence is due only once the period has run out
(the boundary day)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from streams.core.errors import PolicyError
from streams.privacy.retention import (
    DEFAULT_RETENTION_FILE,
    Period,
    RelationshipEvent,
    RetentionPolicy,
    due_pairs,
    last_relationships,
    load_retention_policy,
)

T = datetime(2025, 6, 2, 8, 0, tzinfo=UTC)
THREE_YEARS_ON = datetime(2028, 6, 2, 8, 0, tzinfo=UTC)
"""T plus three calendar years, spelled out rather than computed."""
DAY = timedelta(days=1)


def test_the_defaults_are_three_years_each_as_casl_s13_and_its_limitation_need() -> None:
    """CASL: consent must be provable (s. 13) for as long as proceedings can be brought, three
    years; decisions follow the same window."""
    policy = RetentionPolicy()

    assert policy.consent_evidence == Period(years=3)
    assert policy.decisions == Period(years=3)
    assert "CASL s. 13" in (RetentionPolicy.model_fields["consent_evidence"].description or "")
    assert "Art. 5(1)(e)" in (RetentionPolicy.model_fields["decisions"].description or "")


def test_the_shipped_file_says_what_the_defaults_say() -> None:
    assert DEFAULT_RETENTION_FILE.name == "retention.toml"
    assert load_retention_policy() == RetentionPolicy()
    assert load_retention_policy(None) == load_retention_policy(DEFAULT_RETENTION_FILE)


def test_a_period_counts_back_calendar_years() -> None:
    assert Period(years=3).cutoff(THREE_YEARS_ON) == T
    assert Period(days=30).cutoff(datetime(2025, 3, 31, tzinfo=UTC)) == datetime(
        2025, 3, 1, tzinfo=UTC
    )
    # 29 February counted three years back from the 28th: that day is not yet three years on.
    assert Period(years=3).cutoff(datetime(2027, 2, 28, tzinfo=UTC)) == datetime(
        2024, 2, 28, tzinfo=UTC
    )


def test_a_period_refuses_nothing_and_naive_times() -> None:
    with pytest.raises(ValidationError, match="at least one day"):
        Period()
    with pytest.raises(ValidationError):
        Period(years=-1)
    with pytest.raises(ValueError, match="naive"):
        Period(years=3).cutoff(datetime(2028, 1, 1))


def test_decisions_cannot_go_before_the_evidence_they_keep_alive() -> None:
    with pytest.raises(ValidationError, match="at least as long as consent evidence"):
        RetentionPolicy(consent_evidence=Period(years=3), decisions=Period(years=2))
    assert RetentionPolicy(consent_evidence=Period(years=2), decisions=Period(years=5))


def test_a_bad_file_is_a_policy_error_naming_the_key(tmp_path: Path) -> None:
    path = tmp_path / "retention.toml"
    path.write_text("consent_evidence = { yeers = 3 }\n")
    with pytest.raises(PolicyError, match=r"retention policy file .* consent_evidence\.yeers"):
        load_retention_policy(path)
    path.write_text("decisions = { years = 1 }\n")
    with pytest.raises(PolicyError, match="at least as long"):
        load_retention_policy(path)
    with pytest.raises(PolicyError, match="not found"):
        load_retention_policy(tmp_path / "missing.toml")


def test_a_file_can_lengthen_a_period(tmp_path: Path) -> None:
    path = tmp_path / "retention.toml"
    path.write_text("consent_evidence = { years = 4 }\ndecisions = { years = 4, days = 10 }\n")
    policy = load_retention_policy(path)
    assert policy.consent_evidence == Period(years=4)
    assert policy.decisions == Period(years=4, days=10)


# --- the last relationship event ------------------------------------------------------------------


def event(key: str, account: str | None, at: datetime) -> RelationshipEvent:
    return RelationshipEvent(key, account, at)


def test_the_last_relationship_is_the_latest_event_per_person_and_account() -> None:
    events = [
        event("ana", "acme", T),
        event("ana", "acme", T + 400 * DAY),
        event("ana", "acme", T + 10 * DAY),
        event("ana", "maple", T + 5 * DAY),
        event("bo", "acme", T + 2 * DAY),
    ]
    assert last_relationships(events) == {
        ("ana", "acme"): T + 400 * DAY,
        ("ana", "maple"): T + 5 * DAY,
        ("bo", "acme"): T + 2 * DAY,
    }


def test_a_platform_event_counts_for_every_account_of_its_person_only() -> None:
    """A platform-wide opt-out concerns every sender of the person, none of anyone else's."""
    events = [
        event("ana", "acme", T),
        event("ana", "maple", T + 900 * DAY),
        event("ana", None, T + 500 * DAY),
        event("bo", "acme", T),
    ]
    assert last_relationships(events) == {
        ("ana", "acme"): T + 500 * DAY,
        ("ana", "maple"): T + 900 * DAY,
        ("bo", "acme"): T,
    }


def test_a_platform_event_alone_names_no_account() -> None:
    assert last_relationships([event("ana", None, T)]) == {}
    assert last_relationships([]) == {}


# --- what is due --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "due"),
    [
        (THREE_YEARS_ON - DAY, False),
        (THREE_YEARS_ON - timedelta(milliseconds=1), False),
        (THREE_YEARS_ON, True),
        (THREE_YEARS_ON + DAY, True),
    ],
)
def test_evidence_is_due_once_three_years_have_run_out(now: datetime, due: bool) -> None:
    last = {("ana", "acme"): T}
    assert due_pairs(last, RetentionPolicy(), now) == ({("ana", "acme")} if due else set())


def test_only_the_expired_pairs_are_due() -> None:
    last = {("ana", "acme"): T, ("ana", "maple"): T + 2 * DAY, ("bo", "acme"): T - DAY}
    assert due_pairs(last, RetentionPolicy(), THREE_YEARS_ON + DAY) == {
        ("ana", "acme"),
        ("bo", "acme"),
    }
