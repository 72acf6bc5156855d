"""`benchmarks/replay_speed.py`'s pure parts, without a broker: the stricter policy it tries,
the check that the verify came out identical (and that it fails loudly when not), the stages of
its profile, the table's rows and the JSON line's keys.

The benchmark runs with `benchmarks/` first on `sys.path`; these tests import it the same way.
"""

from __future__ import annotations

import cProfile
import io
import math
import pstats
import sys
from pathlib import Path
from typing import Any

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
if str(BENCHMARKS) not in sys.path:
    sys.path.insert(0, str(BENCHMARKS))

from harness import report  # noqa: E402
from harness.errors import BenchError  # noqa: E402
from replaying.figures import (  # noqa: E402
    SUMMARY_KEYS,
    summary_line,
    verify_figures,
    verify_problems,
)
from replaying.printing import print_results, speed_rows  # noqa: E402
from replaying.raw import RawRead  # noqa: E402
from replaying.replays import stricter_policy, stricter_policy_text  # noqa: E402
from replaying.stages import stage_times  # noqa: E402

from streams.policy import DEFAULT_POLICY_FILE, load_policy  # noqa: E402
from streams.replay.recorded import NotReplayed  # noqa: E402
from streams.replay.redecide import FieldDifference  # noqa: E402
from streams.replay.runs import Mismatch, VerifyReport  # noqa: E402


@pytest.fixture
def printed(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    buffer = io.StringIO()
    monkeypatch.setattr(report.console, "_file", buffer)
    return buffer


def identical(decisions: int = 10) -> VerifyReport:
    return VerifyReport(requests=decisions, decisions=decisions, matched=decisions, seconds=0.5)


# --- the stricter policy --------------------------------------------------------------------------


def test_stricter_policy_judges_unknown_countries_by_every_regime(tmp_path: Path) -> None:
    text = stricter_policy_text(DEFAULT_POLICY_FILE.read_text(encoding="utf-8"))
    path = tmp_path / "stricter.toml"
    path.write_text(text, encoding="utf-8")
    stricter, default = load_policy(path), load_policy(DEFAULT_POLICY_FILE)
    assert stricter.consent.unknown_jurisdiction == "strictest"
    assert stricter.consent.regimes_for(None) == ("casl", "gdpr_pecr", "spam_act", "can_spam")
    assert stricter.name == "strictest-when-unknown"
    assert stricter.policy_version != default.policy_version
    # Nothing else moved: the consent section keeps its other keys, the rest its values.
    assert stricter.consent.model_dump(exclude={"unknown_jurisdiction"}) == (
        default.consent.model_dump(exclude={"unknown_jurisdiction"})
    )
    assert stricter.rates == default.rates


def test_stricter_policy_is_made_when_none_is_shipped(tmp_path: Path) -> None:
    policy, path = stricter_policy(tmp_path)
    assert policy.consent.unknown_jurisdiction == "strictest"
    assert path.parent in (tmp_path, DEFAULT_POLICY_FILE.parent)


def test_a_policy_without_the_line_to_replace_is_refused() -> None:
    with pytest.raises(BenchError, match="unknown_jurisdiction"):
        stricter_policy_text('name = "x"\n[consent]\nexpiry_notice_days = 30\n')
    with pytest.raises(BenchError, match=r"\[consent\]"):
        stricter_policy_text('name = "x"\n[rates]\nwindow_days = 7\n')


# --- the verify's check ---------------------------------------------------------------------------


def test_an_identical_verify_has_no_problems() -> None:
    assert verify_problems(identical(), requests=10, decisions=10, dead_letters=0) == []


def test_every_way_a_verify_falls_short_is_a_problem() -> None:
    found = identical()
    found.matched = 9
    found.mismatches.append(
        Mismatch(None, {}, (FieldDifference("verdict", "allow", "deny"),))  # type: ignore[arg-type]
    )
    found.not_replayed.append(NotReplayed("t/0/1", "no-decision", "lost"))
    found.set_aside.append(NotReplayed("t/0/2", "invalid-request", "bad"))
    found.signed_compared = False
    problems = verify_problems(found, requests=11, decisions=12, dead_letters=0)
    text = " | ".join(problems)
    assert "1 decisions came out different (['verdict'])" in text
    assert "not replayed: {'no-decision': 1}" in text
    assert "10 decisions replayed of 12 recorded" in text
    assert "9 of 10 decisions matched" in text
    assert "10 requests seen of 11 sent" in text
    assert "1 requests set aside as invalid, the gate dead-lettered 0" in text
    assert "signed fields were not compared" in text


def test_set_aside_dead_letters_are_no_problem() -> None:
    found = identical()
    found.set_aside.append(NotReplayed("t/0/2", "invalid-request", "bad"))
    assert verify_problems(found, requests=10, decisions=10, dead_letters=1) == []


# --- figures and tables ---------------------------------------------------------------------------


def test_a_failed_run_prints_every_key_null() -> None:
    assert tuple(summary_line({})) == SUMMARY_KEYS
    assert all(value is None for value in summary_line({}).values())


def what_if(per_s: float, *, flips: int) -> dict[str, Any]:
    return {
        "policy_version": "p@1+ab",
        "requests": 1000,
        "seconds": 1000 / per_s,
        "per_s": per_s,
        "flips": flips,
        "newly_denied": flips,
        "newly_allowed": 0,
        "by_rule": {"gdpr-pecr-no-valid-consent": flips} if flips else {},
    }


def results() -> dict[str, Any]:
    raw = RawRead(requests=1000, decisions=1000, seconds=0.1)
    return {
        "options": {"partitions": 6},
        "workload": {"sends": 1000},
        "gate": {"decisions": 1000, "seconds": 0.5, "per_s": 2000.0},
        "gate_decisions": {
            "decisions": 1000,
            "distinct_request_ids": 1000,
            "allow": 700,
            "deny": 300,
            "expected_denials": 300,
            "dead_letters": 0,
            "problems": [],
        },
        "raw_read": {
            "decisions": raw.decisions,
            "seconds": raw.seconds,
            "per_s": raw.per_second,
            "records": raw.records,
            "records_per_s": raw.records_per_second,
        },
        "verify": verify_figures(VerifyReport(1000, 1000, 1000, seconds=0.08)),
        "verify_problems": [],
        "what_if": {
            "default": what_if(15_000.0, flips=0),
            "stricter": what_if(math.nan, flips=3),
        },
    }


def test_headline_ratios_and_the_target() -> None:
    summary = summary_line(results())
    assert tuple(summary) == SUMMARY_KEYS
    assert summary["replay_per_s"] == 12_500.0
    assert summary["replay_ratio_to_gate"] == 6.25
    assert summary["raw_read_per_s"] == pytest.approx(10_000.0)
    assert summary["raw_read_records_per_s"] == pytest.approx(20_000.0)
    assert summary["replay_ratio_to_raw"] == pytest.approx(1.25)
    assert summary["target_met"] is True
    assert summary["what_if_stricter_per_s"] is None  # not a number: null in JSON
    assert (summary["verify_problems"], summary["decision_problems"]) == (0, 0)
    assert (summary["sends"], summary["partitions"]) == (1000, 6)


def test_the_speed_table_has_the_gate_the_replay_and_the_raw_read(printed: io.StringIO) -> None:
    rows = speed_rows(results())
    assert [row[3] for row in rows] == [2000.0, 12_500.0, None, pytest.approx(10_000.0)]
    print_results(results(), {"cpu cores": "2"})
    out = printed.getvalue()
    assert "6.25x" in out and "NOT met" not in out
    assert "1,000 identical, 0 different" in out
    assert "3 (+3 deny, +0 allow)" in out


# --- the profile's stages -------------------------------------------------------------------------


def test_stages_are_the_cumulative_times_of_their_functions(tmp_path: Path) -> None:
    profiler = cProfile.Profile()
    profiler.enable()
    profiler.disable()
    stats = pstats.Stats(profiler)

    def entry(cumulative: float, own: float = 0.0) -> tuple[int, int, float, float, dict]:
        return (1, 1, own, cumulative, {})

    stats.stats = {  # type: ignore[attr-defined]
        ("/x/streams/replay/runs.py", 137, "verify"): entry(10.0),
        ("/x/streams/topics.py", 100, "read_send_request"): entry(2.0),
        ("/x/streams/rules/step.py", 57, "gate_step"): entry(5.0),
        ("/x/streams/rules/__init__.py", 120, "judge"): entry(4.0),
        ("/x/site-packages/aiokafka/consumer/consumer.py", 1, "getmany"): entry(1.0),
        ("~", 0, "<method 'poll' of 'select.epoll' objects>"): entry(0.5, 0.5),
    }
    path = tmp_path / "replay.prof"
    stats.dump_stats(str(path))
    found = stage_times(path)
    assert found["verify_cumulative_s"] == 10.0
    assert found["stages_s"]["decode requests (size check, codec)"] == 2.0
    assert found["stages_s"]["  rules (judge)"] == 4.0
    assert found["broker_wait_s"] == 0.5
    # The parts of gate_step are inside it, not counted twice: 10 - (1 + 2 + 5).
    assert found["rest_s"] == 2.0
