"""Deciding recorded decisions again: the same inputs make the same bytes, a changed input shows
field by field, and another policy's flips are counted by rule and account.

Decisions here are recorded the way the gate records them (`streams.gate.deciding`): the fields
`gate_step` returns, the view's `DecisionInputs` encoded beside them, the whole written with the
codec, then read back as a consumer of `send-decisions` reads it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest
import typer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.cli.replay import parse_bound
from streams.core.records import SendDecision, SendRequest
from streams.core.settings import Settings
from streams.policy import DEFAULT_POLICY_FILE, Policy, load_policy
from streams.replay.output import open_rows_file
from streams.replay.policies import policy_book
from streams.replay.redecide import Unavailable, decide_again, differences, same_decision
from streams.replay.whatif import WhatIfTally, stateful_changes, what_if_row
from streams.reputation.standing import AccountSnapshot
from streams.rules import RecipientView, judge
from streams.rules.inputs import DecisionInputs, inputs_fields
from streams.rules.memo import ContentFindings
from streams.rules.step import Signing, gate_step
from streams.sending.frequency import SendHistory, SentMark
from streams.sending.unsubscribe_tokens import UnsubscribeTokens
from streams.sending.verp import VerpSigner
from streams.topics import default_codec
from tests.support.factory import (
    ACCOUNT,
    AT,
    KEY,
    LIST,
    consent_entry,
    recipient_view,
    send_request,
    suppression_entry,
)

STRICT_POLICY_FILE = DEFAULT_POLICY_FILE.parent / "strict.toml"
SIGNING = Signing(
    verp=VerpSigner({1: b"v" * 32}, 1, "bounces.example.net"),
    tokens=UnsubscribeTokens({1: b"u" * 32}, 1, valid_for=timedelta(days=365)),
    unsubscribe_base_url="https://unsubscribe.example.net",
    bounce_domain="bounces.example.net",
)
CODEC = default_codec()
DEFAULT = load_policy()
STRICT = load_policy(STRICT_POLICY_FILE)


def recorded(
    request: SendRequest, view: RecipientView, policy: Policy, now: datetime
) -> tuple[SendDecision, bytes]:
    """What the gate writes to send-decisions for `request` on `view` at `now`, as read back."""
    outcome = gate_step(
        request,
        view,
        policy,
        now,
        recipient_key=KEY,
        signing=SIGNING,
        request_offset="send-requests/3/1042",
        state_offsets={"unsubscribe-clicks": 18},
    )
    outcome.decision["inputs"] = CODEC.encode_fields(DecisionInputs, inputs_fields(view))
    value = CODEC.encode_fields(SendDecision, outcome.decision)
    return CODEC.decode(value, SendDecision), value


# --- the same inputs, the same decision ---------------------------------------------------------

_statuses = st.sampled_from(["single_opt_in", "double_opt_in", "unconfirmed", "pending_review"])
_bases = st.sampled_from([None, "express", "implied_purchase", "implied_inquiry", "soft_opt_in"])
_consents = st.lists(
    st.builds(
        lambda status, basis, days, expires, cadence: consent_entry(
            status=status,
            basis=basis,
            cadence=cadence,
            granted_at=AT - timedelta(days=days),
            expires_at=None if expires is None else AT + timedelta(milliseconds=expires),
        ),
        _statuses,
        _bases,
        st.integers(0, 900),
        st.none() | st.integers(-5, 5),
        st.sampled_from([None, "daily", "weekly"]),
    ),
    max_size=3,
)
_suppressions = st.lists(
    st.sampled_from(["list", "account", "platform"]).map(
        lambda scope: suppression_entry(scope=scope)
    ),
    max_size=2,
)
_accounts = st.none() | st.builds(
    lambda status, broadcasts, paused: AccountSnapshot(
        account_id=ACCOUNT,
        status=status,
        broadcasts_denied=broadcasts,
        paused_providers=paused,
        as_of=AT - timedelta(days=1),
    ),
    st.sampled_from(["active", "broadcasts_disabled", "warned"]),
    st.booleans(),
    st.sampled_from([(), ("google",)]),
)
_histories = st.none() | st.builds(
    lambda hours: SendHistory(
        sends=tuple(
            SentMark(
                account_id=ACCOUNT,
                list_id=LIST,
                request_id=f"earlier-{n}",
                sent_at=AT - timedelta(hours=h),
            )
            for n, h in enumerate(sorted(hours, reverse=True))
        )
    ),
    st.lists(st.integers(1, 200), max_size=6, unique=True),
)
_subjects = st.sampled_from(
    [None, "Re: your order", "Your receipt, order 1042", "Last chance: 40% off everything"]
)
_requests = st.builds(
    lambda classification, jurisdiction, kind, subject: send_request(
        classification=classification,
        jurisdiction=jurisdiction,
        send_kind=kind,
        **({} if subject is None else {"subject": subject}),
    ),
    st.sampled_from(["commercial", "transactional"]),
    st.sampled_from([None, "US", "CA", "DE", "AU"]),
    st.sampled_from(["bulk", "one_off"]),
    _subjects,
)
# One memo for every example, as one replay keeps one: a finding remembered for one request's
# content must be right for every later request with that content.
CONTENT = ContentFindings()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    request=_requests,
    consents=_consents,
    suppressions=_suppressions,
    account=_accounts,
    history=_histories,
    domains=st.sampled_from([None, frozenset(), frozenset({f"{ACCOUNT}.example"})]),
    current=st.booleans(),
    micros=st.integers(0, 999_999),
    policy=st.sampled_from([DEFAULT, STRICT]),
)
def test_a_recorded_decision_decided_again_is_the_same_bytes(
    request: SendRequest,
    consents: list,
    suppressions: list,
    account: AccountSnapshot | None,
    history: SendHistory | None,
    domains: frozenset[str] | None,
    current: bool,
    micros: int,
    policy: Policy,
) -> None:
    """Whatever the state, the policy and the moment (to the microsecond, which the record
    keeps only to the millisecond), a replay on what the decision recorded writes the very
    bytes the gate wrote, also when the content rules' findings come from the replay's memo
    (the gate judges every request in full)."""
    view = RecipientView(
        suppressions=tuple(suppressions),
        consents=tuple(consents),
        state_current=current,
        provider="google",
        account=account,
        send_history=history,
        sender_domains=domains,
    )
    decision, value = recorded(request, view, policy, AT + timedelta(microseconds=micros))

    for content in (None, CONTENT):
        outcome = decide_again(
            request, decision, policy, codec=CODEC, signing=SIGNING, content=content
        )

        assert not isinstance(outcome, Unavailable)
        assert same_decision(value, outcome.decision, codec=CODEC) is True
        assert differences(decision, outcome.decision) == ()


def test_the_gates_encoding_of_the_inputs_is_the_records_own() -> None:
    """The gate encodes the inputs from the view's parts (`inputs_fields`), not from a built
    record; the bytes must be those of the record the replay reads back."""
    view = recipient_view(
        account=AccountSnapshot(account_id=ACCOUNT, status="warned", strikes=2, as_of=AT),
        send_history=SendHistory(
            sends=(SentMark(account_id=ACCOUNT, list_id=LIST, request_id="r-1", sent_at=AT),)
        ),
    )
    record = DecisionInputs(
        consents=view.consents,
        state_current=True,
        account=view.account,
        send_history=view.send_history,
        sender_domains=tuple(sorted(view.sender_domains or ())),
    )

    encoded = CODEC.encode_fields(DecisionInputs, inputs_fields(view))

    assert encoded == CODEC.encode(record)
    assert CODEC.decode(encoded, DecisionInputs) == record


def test_a_decision_whose_recorded_state_was_altered_shows_what_changed() -> None:
    """Taking the consent out of what a decision recorded turns an allowed bulk send into a
    denial (the platform's opt-in rule: no opt-in, no bulk commercial mail); the replay names
    the verdict, the failures and the unsigned fields that an allowed decision alone carries."""
    request = send_request()
    decision, value = recorded(request, recipient_view(), DEFAULT, AT)
    assert decision.verdict == "allow"
    altered = decision.model_copy(
        update={
            "inputs": CODEC.encode_fields(
                DecisionInputs, inputs_fields(recipient_view(consents=()))
            )
        }
    )

    outcome = decide_again(request, altered, DEFAULT, codec=CODEC, signing=SIGNING)

    assert not isinstance(outcome, Unavailable)
    assert same_decision(value, outcome.decision, codec=CODEC) is False
    changed = {difference.field for difference in differences(altered, outcome.decision)}
    assert {"verdict", "failures", "return_path", "headers"} <= changed
    verdict = next(d for d in differences(altered, outcome.decision) if d.field == "verdict")
    assert (verdict.recorded, verdict.replayed) == ("allow", "deny")
    unsigned = differences(altered, outcome.decision, compare_signed=False)
    assert {difference.field for difference in unsigned} == changed - {"return_path", "headers"}


def test_a_decision_without_recorded_inputs_is_not_decided_again() -> None:
    decision, _ = recorded(send_request(), recipient_view(), DEFAULT, AT)

    outcome = decide_again(
        send_request(),
        decision.model_copy(update={"inputs": None}),
        DEFAULT,
        codec=CODEC,
        signing=SIGNING,
    )

    assert isinstance(outcome, Unavailable)
    assert "inputs" in outcome.reason


# --- what another policy would have done --------------------------------------------------------


def test_strict_policy_denies_a_soft_opt_in_to_a_request_that_names_no_country() -> None:
    """Under the default a request without a country is judged by CAN-SPAM (no consent needed)
    and the platform's opt-in rule, which a single opt-in meets. The strict policy judges it by
    every regime: the soft opt-in is GDPR/PECR's (PECR reg. 22(3)) but CASL s.10(9) and the Spam
    Act's Schedule 2 do not know it, so both deny it; GDPR/PECR does not."""
    request = send_request(jurisdiction=None)
    view = recipient_view(consents=(consent_entry(basis="soft_opt_in"),))
    decision, _ = recorded(request, view, DEFAULT, AT)
    assert decision.verdict == "allow"

    row = what_if_row(request, decision, judge(request, view, STRICT, at=AT), "strict")
    tally = WhatIfTally()
    tally.add(row)
    tally.add(what_if_row(request, decision, judge(request, view, DEFAULT, at=AT), "default"))

    assert (row.verdict_before, row.verdict_after) == ("allow", "deny")
    assert set(row.rules_added) == {"casl-no-valid-consent", "spam-act-no-valid-consent"}
    assert (tally.requests, tally.allowed_before, tally.allowed_after) == (2, 2, 1)
    assert tally.flips.newly_denied == 1 and tally.flips.newly_allowed == 0
    assert {rule for rule, _ in tally.rules_by_flips()} == set(row.rules_added)
    assert tally.by_account[ACCOUNT].newly_denied == 1
    assert tally.sample == [row]


def test_a_what_if_says_which_policy_changes_it_cannot_show() -> None:
    """The strict policy changes [consent], [rates] and [frequency]; consent and frequency are
    decided by the gate's rules, the complaint line only through strikes (recorded state)."""
    notes = stateful_changes(STRICT, [DEFAULT])

    assert len(notes) == 1 and notes[0].startswith("[rates]")
    assert stateful_changes(DEFAULT, [DEFAULT]) == []


def test_rows_read_back_in_duckdb_as_written(tmp_path: Path) -> None:
    request = send_request(jurisdiction=None)
    view = recipient_view(consents=(consent_entry(basis="soft_opt_in"),))
    decision, _ = recorded(request, view, DEFAULT, AT)
    row = what_if_row(request, decision, judge(request, view, STRICT, at=AT), "strict")
    for name in ("rows.parquet", "rows.csv"):
        rows = open_rows_file(tmp_path / name)
        rows.write(row)
        rows.close()

    parquet = duckdb.sql(
        f"select request_id, verdict_before, verdict_after, flipped, rules_after, decided_at "
        f"from '{tmp_path / 'rows.parquet'}'"
    ).fetchall()
    csv_rows = duckdb.sql(
        f"select request_id, rules_after from read_csv_auto('{tmp_path / 'rows.csv'}')"
    ).fetchall()

    assert parquet == [
        (
            request.request_id,
            "allow",
            "deny",
            True,
            list(row.rules_after),
            decision.decided_at,
        )
    ]
    assert csv_rows == [(request.request_id, ";".join(row.rules_after))]


def test_rows_go_only_to_parquet_or_csv(tmp_path: Path) -> None:
    with pytest.raises(Exception, match=r"\.parquet or \.csv"):
        open_rows_file(tmp_path / "rows.xlsx")


# --- bounds and policies ------------------------------------------------------------------------


def test_a_bound_is_a_date_at_midnight_utc_or_a_time_with_its_offset() -> None:
    assert parse_bound("2026-12-01", "--from") == datetime(2026, 12, 1, tzinfo=UTC)
    assert parse_bound("2026-12-01T10:00:00+01:00", "--from") == datetime(
        2026, 12, 1, 9, tzinfo=UTC
    )
    assert parse_bound(None, "--from") is None
    with pytest.raises(typer.BadParameter, match="no time zone"):
        parse_bound("2026-12-01T10:00:00", "--from")
    with pytest.raises(typer.BadParameter, match="not an ISO-8601 time"):
        parse_bound("last tuesday", "--to")


def test_the_policy_book_finds_shipped_policies_by_their_recorded_version(tmp_path: Path) -> None:
    tightened = tmp_path / "tightened.toml"
    tightened.write_text('name = "tightened"\nversion = "1"\n[frequency]\ncap_per_recipient = 2\n')

    book = policy_book(Settings(), [tmp_path])

    assert book.get(DEFAULT.policy_version) == DEFAULT
    assert book.get(STRICT.policy_version) == STRICT
    assert book.get(load_policy(tightened).policy_version) is not None
    assert book.get("default@0+000000000000") is None
    with pytest.raises(Exception, match="does not exist"):
        policy_book(Settings(), [tmp_path / "missing.toml"])
