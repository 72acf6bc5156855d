"""`benchmarks/soak.py`'s pure parts, without a broker: the send log, what each suppression
covers, the checker that must catch an allowed suppressed send (and must not cry wolf), whether
the gate kept up, memory figures, and the JSON line's keys.

The soak runs with `benchmarks/` first on `sys.path`; these tests import it the same way.
"""

from __future__ import annotations

import asyncio
import math
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
if str(BENCHMARKS) not in sys.path:
    sys.path.insert(0, str(BENCHMARKS))

from harness.broker import new_settings  # noqa: E402
from harness.producing import Background, paced_load  # noqa: E402
from harness.system import process_rss_bytes  # noqa: E402
from harness.workers import worker_log_findings  # noqa: E402
from soaking.checks import Checker, ProbeRecord, Registry, Suppression  # noqa: E402
from soaking.figures import (  # noqa: E402
    falling_behind,
    kept_up,
    rss_figures,
    second_half_slope,
    summary_line,
)
from soaking.workload import (  # noqa: E402
    ACCOUNTS,
    FLAGGED_ACCOUNT,
    LISTS,
    SendLog,
    Workload,
)

from streams.core.records import (  # noqa: E402
    RuleFailure,
    SendDecision,
    SendRequest,
    UnsubscribeClick,
)
from streams.reputation.standing import EnforcementEvent  # noqa: E402
from streams.topics import default_codec  # noqa: E402

KEY = b"a" * 64
OTHER_KEY = b"b" * 64
MIB = 1024 * 1024


def decision(request_id: str, verdict: str, account: str = "soak-0") -> SendDecision:
    failures = (
        (RuleFailure(rule="list-unsubscribed", law="law", explanation="left"),)
        if verdict == "deny"
        else ()
    )
    return SendDecision(
        request_id=request_id,
        account_id=account,
        recipient_key=KEY.decode(),
        verdict=verdict,
        failures=failures,
        policy_version="test",
        decided_at=datetime(2026, 1, 1, tzinfo=UTC),
        request_offset="send-requests/0/0",
    )


def logged(sends: SendLog, list_index: int, at: float) -> str:
    """A send recorded in the log as handed to the producer at wall time `at`."""
    request_id = sends.record(list_index)
    sends.requested_at[-1] = at
    return request_id


# --- the send log ---------------------------------------------------------------------------------


def test_send_log_numbers_requests_and_reads_them_back() -> None:
    sends = SendLog("tag")
    first, second = sends.record(0), sends.record(1)
    assert (first, second) == ("soak-tag-0", "soak-tag-1")
    assert (sends.number_of(first), sends.number_of(second)) == (0, 1)
    assert sends.list_of(1) == LISTS[1]
    assert sends.requested_at[0] <= sends.requested_at[1]
    assert sends.number_of("warm-up-tag") is None
    assert sends.number_of("soak-tag-2") is None  # not sent (yet)
    assert sends.number_of("soak-tag-x") is None
    assert sends.number_of("soak-other-0") is None


def test_workload_sends_are_the_accounts_mail_to_their_own_recipients(tmp_path: Path) -> None:
    settings = new_settings(bootstrap="127.0.0.1:1", partitions=3, data_dir=tmp_path)
    workload = Workload(settings, "tag", recipients=1000, seed=1)
    codec = default_codec()
    accounts = set()
    for _ in range(500):
        key, value = workload.next_send()
        request = codec.decode(value, SendRequest)
        accounts.add(request.account_id)
        assert key == workload.keyer.key(request.recipient).encode()
        assert request.list_id in LISTS
        number = workload.sends.number_of(request.request_id)
        assert number is not None and workload.sends.list_of(number) == request.list_id
    assert accounts <= {*ACCOUNTS, FLAGGED_ACCOUNT}
    assert set(ACCOUNTS) <= accounts
    assert len(workload.sends) == 500
    records = list(workload.state_records(datetime(2026, 1, 1, tzinfo=UTC)))
    assert len(records) == workload.state_size == 1000 + 2 * len(workload.flagged)


# --- what a suppression covers --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scope", "account", "list_id", "covered"),
    [
        ("list", "soak-0", "news", {("soak-0", "news")}),
        ("account", "soak-0", None, {("soak-0", "news"), ("soak-0", "offers")}),
        (
            "platform",
            None,
            None,
            {("soak-0", "news"), ("soak-0", "offers"), ("soak-1", "news"), ("soak-1", "offers")},
        ),
    ],
)
def test_a_suppression_covers_its_scope_only(
    scope: str, account: str | None, list_id: str | None, covered: set[tuple[str, str]]
) -> None:
    suppression = Suppression(scope, account, list_id, 10.0, "click")  # type: ignore[arg-type]
    every = {(a, lst) for a in ("soak-0", "soak-1") for lst in ("news", "offers")}
    assert {(a, lst) for a, lst in every if suppression.covers(a, lst)} == covered


# --- the checker ----------------------------------------------------------------------------------


def test_an_allow_requested_after_the_click_is_an_allowed_suppressed_send() -> None:
    registry, sends = Registry(), SendLog("tag")
    checker = Checker(registry, sends)
    registry.suppress(KEY, Suppression("list", "soak-0", "news", 100.0, "click"))
    before = logged(sends, 0, 99.0)  # news, before the acknowledgement: may be allowed
    after = logged(sends, 0, 100.5)  # news, after it
    other_list = logged(sends, 1, 101.0)  # offers: not covered
    for request_id in (before, after, other_list):
        checker.decision(KEY, decision(request_id, "allow"), 0)
    assert checker.allowed_suppressed == {"click": 1}
    assert checker.samples[0]["request_id"] == after
    assert checker.samples[0]["requested_after_s"] == 0.5
    assert (checker.distinct, checker.verdicts["allow"]) == (3, 3)


def test_a_deny_after_the_click_is_what_the_gate_promises() -> None:
    registry, sends = Registry(), SendLog("tag")
    checker = Checker(registry, sends)
    registry.suppress(KEY, Suppression("account", "soak-0", None, 100.0, "click"))
    checker.decision(KEY, decision(logged(sends, 1, 101.0), "deny"), 0)
    checker.decision(OTHER_KEY, decision(logged(sends, 1, 101.0), "allow"), 0)  # someone else
    assert sum(checker.allowed_suppressed.values()) == 0
    assert checker.deny_rules == {"list-unsubscribed": 1}


def test_a_decision_read_twice_is_counted_once_and_checked_again() -> None:
    registry, sends = Registry(), SendLog("tag")
    checker = Checker(registry, sends)
    registry.suppress(KEY, Suppression("platform", None, None, 100.0, "complaint"))
    request_id = logged(sends, 0, 101.0)
    checker.decision(KEY, decision(request_id, "allow"), 0)
    checker.decision(KEY, decision(request_id, "allow"), 0)
    assert (checker.distinct, checker.duplicates) == (1, 1)
    assert checker.allowed_suppressed == {"complaint": 2}


def test_decisions_of_other_requests_are_counted_apart() -> None:
    checker = Checker(Registry(), SendLog("tag"))
    checker.decision(KEY, decision("warm-up-tag", "allow"), 0)
    assert (checker.other_decisions, checker.distinct) == (1, 0)


def test_a_complaints_click_is_known_from_when_it_was_read() -> None:
    registry, sends = Registry(), SendLog("tag")
    checker = Checker(registry, sends)
    at = datetime(2026, 1, 1, tzinfo=UTC)
    own = UnsubscribeClick(
        click_id="soak-tag-click-0",
        recipient_key=KEY.decode(),
        scope="platform",
        method="one_click",
        clicked_at=at,
    )
    checker.click(KEY, own, 50.0)  # the soak's own: known from its acknowledgement already
    assert registry.suppressions == {}
    complaint = own.model_copy(
        update={
            "click_id": "feedback:arf-1",
            "scope": "account",
            "account_id": "soak-0",
            "reason": "complaint",
        }
    )
    checker.click(KEY, complaint, 60.0)
    assert registry.suppressions[KEY] == [Suppression("account", "soak-0", None, 60.0, "complaint")]
    assert checker.complaint_clicks == 1


def test_a_broadcast_allowed_after_the_block_was_read_is_counted() -> None:
    registry, sends = Registry(), SendLog("tag")
    checker = Checker(registry, sends)
    event = EnforcementEvent(
        event_id="e1",
        account_id=FLAGGED_ACCOUNT,
        action="broadcasts_disabled",
        at=datetime(2026, 1, 1, tzinfo=UTC),
        policy_version="test",
        explanation="strike 1",
        strike_number=1,
    )
    checker.enforcement_event(event, 100.0)
    checker.decision(KEY, decision(logged(sends, 0, 99.0), "allow", FLAGGED_ACCOUNT), 0)
    checker.decision(KEY, decision(logged(sends, 0, 101.0), "allow", FLAGGED_ACCOUNT), 0)
    checker.decision(KEY, decision(logged(sends, 0, 101.0), "allow", "soak-0"), 0)
    assert checker.allowed_after_block == 1
    assert checker.enforcement == {f"{FLAGGED_ACCOUNT}: broadcasts_disabled": 1}
    reinstated = event.model_copy(update={"action": "reinstated"})
    checker.enforcement_event(reinstated, 102.0)
    assert FLAGGED_ACCOUNT not in registry.blocked


def test_an_allow_after_a_withdrawal_is_counted_not_failed() -> None:
    registry, sends = Registry(), SendLog("tag")
    checker = Checker(registry, sends)
    registry.withdrawn[(KEY, "soak-0")] = 100.0
    checker.decision(KEY, decision(logged(sends, 0, 100.25), "allow"), 0)
    assert checker.allowed_after_withdrawal == 1
    assert checker.withdrawal_lag_s == 0.25
    assert sum(checker.allowed_suppressed.values()) == 0


def test_a_probe_counts_its_lists_later_sends_and_its_first_deny() -> None:
    registry, sends = Registry(), SendLog("tag")
    checker = Checker(registry, sends)
    probe = registry.probes[KEY] = ProbeRecord("soak-0", "news", acked=100.0)
    registry.suppress(KEY, Suppression("list", "soak-0", "news", 100.0, "probe"))
    checker.decision(KEY, decision(logged(sends, 0, 99.0), "allow"), 99_500)  # before the click
    checker.decision(KEY, decision(logged(sends, 1, 100.1), "allow"), 100_150)  # the other list
    checker.decision(KEY, decision(logged(sends, 0, 100.1), "deny"), 100_200)
    checker.decision(KEY, decision(logged(sends, 0, 100.2), "deny"), 100_300)
    assert (probe.decided, probe.allowed, probe.first_deny_ms) == (2, 0, 100_200)
    figures = checker.figures()
    assert figures["probe_latency"]["p50_ms"] == pytest.approx(200.0)
    assert (figures["probes"], figures["probe_allowed"], figures["allowed_suppressed"]) == (1, 0, 0)


def test_a_person_with_anything_on_them_is_not_probed() -> None:
    registry = Registry()
    assert registry.is_clear(KEY, "soak-0")
    registry.withdrawn[(KEY, "soak-0")] = 1.0
    assert not registry.is_clear(KEY, "soak-0")
    registry.blocked["soak-1"] = 1.0
    assert not registry.is_clear(OTHER_KEY, "soak-1")
    registry.suppress(OTHER_KEY, Suppression("list", "soak-0", "news", 1.0, "click"))
    assert not registry.is_clear(OTHER_KEY, "soak-0")


# --- kept up, memory, the JSON line ---------------------------------------------------------------


def test_slope_of_the_second_half() -> None:
    steady_then_rising = [(float(t), 0.0) for t in range(10)] + [
        (float(t), 100.0 * (t - 10)) for t in range(10, 20)
    ]
    assert second_half_slope(steady_then_rising) == pytest.approx(100.0)
    assert math.isnan(second_half_slope([(0.0, 1.0), (1.0, 2.0)]))


def test_kept_up_needs_a_small_lag_that_is_not_growing_and_a_drain() -> None:
    half_hour = 1800.0
    assert kept_up(500, 0.0, 1000.0, 10.0, half_hour, drained=True)
    assert not kept_up(500, 0.0, 1000.0, 10.0, half_hour, drained=False)
    assert not kept_up(10_001, 0.0, 1000.0, 10.0, half_hour, drained=True)  # > 10 s of load
    assert not kept_up(5000, 6.0, 1000.0, 10.0, half_hour, drained=True)  # 10.8 s at that pace
    assert kept_up(5000, 5.0, 1000.0, 10.0, half_hour, drained=True)  # 9 s at that pace


def test_a_short_soak_measures_its_lags_growth_against_its_own_length() -> None:
    assert not falling_behind(50.0, 1000.0, 10.0, 120.0)  # 6,000 over 2 minutes: under 10 s
    assert falling_behind(100.0, 1000.0, 10.0, 120.0)  # 12,000: over
    assert falling_behind(50.0, 1000.0, 10.0, 1800.0)  # the same pace over half an hour
    assert not falling_behind(math.nan, 1000.0, 10.0, 120.0)


def test_memory_figures_per_worker() -> None:
    series = [(60.0 * minute, (100 + 2 * minute) * MIB) for minute in range(11)]
    figures = rss_figures({"gate-1": series, "gate-2": []})
    assert list(figures) == ["gate-1"]
    gate = figures["gate-1"]
    assert (gate["start_mib"], gate["end_mib"], gate["max_mib"]) == (100.0, 120.0, 120.0)
    assert gate["growth_mib"] == 20.0
    assert gate["growth_mib_per_min"] == pytest.approx(2.0)
    assert gate["second_half_mib_per_min"] == pytest.approx(2.0)


def test_resident_memory_of_a_process() -> None:
    import os

    assert (process_rss_bytes(os.getpid()) or 0) > MIB
    assert process_rss_bytes(2**22 + 12345) is None  # above Linux's pid_max: no such process


def test_a_failed_soak_prints_the_same_keys_all_null() -> None:
    summary = summary_line({})
    assert "allowed_suppressed" in summary and "rss_growth_mib" in summary
    assert all(value is None for value in summary.values())


async def test_paced_load_sends_record_for_each_number_at_its_rate() -> None:
    sent: list[tuple[bytes, bytes]] = []

    class Producer:
        async def send(self, topic: str, value: bytes, key: bytes) -> asyncio.Future[None]:
            sent.append((key, value))
            ack: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            ack.set_result(None)
            return ack

    state, stop = Background(target_per_s=500.0), asyncio.Event()
    task = asyncio.create_task(
        paced_load(
            Producer(),  # type: ignore[arg-type]
            "sends",
            lambda number: (b"k", str(number).encode()),
            state,
            stop,
        )
    )
    await asyncio.sleep(0.2)
    stop.set()
    await task
    assert [value for _, value in sent] == [str(n).encode() for n in range(len(sent))]
    assert 50 <= state.sent == len(sent) <= 150


def test_a_workers_log_between_two_moments(tmp_path: Path) -> None:
    """What a worker said during the soak, apart from its start-up: a traceback's lines go with
    the stamped line before them."""
    log = tmp_path / "worker.log"
    log.write_text(
        "2026-01-01 10:00:00,100 WARNING producer buffer full size 795 [worker=w]\n"
        "[2026-01-01 10:00:05,000] [123] [WARNING] Heartbeat failed\n"
        "2026-01-01 10:00:07,900 ERROR the decider failed [worker=w]\n"
        "Traceback (most recent call last):\n"
        "2026-01-01 10:00:09,000 WARNING producer buffer full size 998 [worker=w]\n",
        encoding="utf-8",
    )
    start, end = datetime(2026, 1, 1, 10, 0, 4, 500_000), datetime(2026, 1, 1, 10, 0, 8)
    findings = worker_log_findings(log, between=(start, end))
    assert (findings["lines"], findings["tracebacks"], findings["problem_lines"]) == (3, 1, 3)
    assert not any("buffer full" in kind for kind in findings["problem_kinds"])
    assert worker_log_findings(log)["problem_lines"] == 5
