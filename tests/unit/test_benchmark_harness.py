"""The benchmarks' pure machinery: percentiles, figures as JSON, tables, CPU shares, paced sends,
the headline line's keys and the scripts' argument parsing, all without a broker.

The scripts run with `benchmarks/` first on `sys.path` and import `harness.<job>`; these tests
import them the same way.
"""

from __future__ import annotations

import asyncio
import importlib
import io
import json
import math
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
if str(BENCHMARKS) not in sys.path:
    sys.path.insert(0, str(BENCHMARKS))

from harness import report  # noqa: E402
from harness.consuming import TopicWindow  # noqa: E402
from harness.content import (  # noqa: E402
    BACKGROUND_POOL,
    background_pool,
    check_content_compliant,
    commercial_request,
    list_click,
)
from harness.errors import BenchError  # noqa: E402
from harness.producing import Background, background_load, send_at_interval  # noqa: E402
from harness.stats import json_safe, latency_summary, percentile, timeout_for  # noqa: E402
from harness.system import CpuMeter, LoadSampler  # noqa: E402
from harness.workers import cli_worker_code, worker_log_findings  # noqa: E402
from throughput.figures import (  # noqa: E402
    Contender,
    Keeper,
    keeper_figures,
    summary_line,
    throughput_figures,
)

from streams.core.recipient import RecipientKeyer  # noqa: E402
from streams.core.records import SendRequest  # noqa: E402
from streams.core.settings import Settings  # noqa: E402
from streams.policy import Policy  # noqa: E402
from streams.topics import default_codec  # noqa: E402

SCRIPTS = (
    "gate_throughput",
    "enforcement_latency",
    "unsubscribe_latency",
    "takeover",
    "large_state",
    "soak",
    "consent_proof",
    "misuse_accuracy",
    "parse_accuracy",
    "replay_speed",
)

SUMMARY_KEYS = [
    "raw_per_s",
    "forward_per_s",
    "forward_ratio_to_raw",
    "gate_per_s",
    "gate_ratio_to_raw",
    "personalised_gate_per_s",
    "personalised_ratio_to_raw",
    "keepers_per_s",
    "keepers_ratio_to_raw",
    "raw_keepers_per_s",
    "consent_keeper_per_s",
    "consent_keeper_ratio_to_raw",
    "raw_consents_per_s",
    "suppression_keeper_per_s",
    "suppression_keeper_ratio_to_raw",
    "raw_clicks_per_s",
    "faust_forward_consents_per_s",
    "faust_forward_consents_ratio_to_raw",
    "click_p50_ms",
    "click_p99_ms",
    "click_background_per_s",
    "click_allowed",
    "decision_problems",
    "sends",
    "partitions",
]
"""gate_throughput's JSON line, as other tools read it (benchmarks/README.md)."""


@pytest.fixture
def printed(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """What the benchmarks' console prints meanwhile, at its usual width. (Its file is swapped
    underneath: the `file` property would hand back, and so pin, pytest's capture stream.)"""
    buffer = io.StringIO()
    monkeypatch.setattr(report.console, "_file", buffer)
    yield buffer


def window(records: int, first_ms: int, last_ms: int) -> TopicWindow:
    return TopicWindow(records=records, first_ms=first_ms, last_ms=last_ms)


class FakeProducer:
    """Takes sends like aiokafka's producer: the acknowledgement is a future, settled at once."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.sent: list[tuple[str, bytes, bytes]] = []
        self.error = error

    async def send(self, topic: str, value: bytes, key: bytes) -> asyncio.Future[None]:
        self.sent.append((topic, key, value))
        ack: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.error is None:
            ack.set_result(None)
        else:
            ack.set_exception(self.error)
        return ack


# --- stats ----------------------------------------------------------------------------------------


def test_percentile_is_by_nearest_rank() -> None:
    """The q-th percentile is the value at rank ceil(q/100 * n), never an interpolation."""
    values = [float(value) for value in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile(values, 100) == 100.0
    assert percentile([3.0, 1.0, 2.0], 0) == 1.0
    assert percentile([7.0], 99) == 7.0


def test_percentile_of_nothing_is_not_a_number() -> None:
    assert math.isnan(percentile([], 50))


def test_with_few_values_the_p99_is_the_slowest() -> None:
    """What the latency tables say under 100 probes: the p99 by nearest rank is the maximum."""
    values = [float(value) for value in range(30)]
    assert percentile(values, 99) == max(values)


def test_latency_summary_leaves_out_what_was_not_measured() -> None:
    summary = latency_summary([10.0, math.nan, 30.0, 20.0])
    assert summary == {
        "n": 3,
        "p50_ms": 20.0,
        "p95_ms": 30.0,
        "p99_ms": 30.0,
        "max_ms": 30.0,
        "mean_ms": 20.0,
    }


def test_latency_summary_of_nothing() -> None:
    summary = latency_summary([])
    assert summary["n"] == 0
    assert all(math.isnan(summary[key]) for key in ("p50_ms", "p99_ms", "max_ms", "mean_ms"))


def test_timeout_grows_with_the_records() -> None:
    assert timeout_for(3000, min_rate=300) == 70.0
    assert timeout_for(0, min_rate=150, floor_s=180) == 180.0


def test_json_safe_turns_unmeasured_figures_into_null() -> None:
    value = {"a": math.nan, "b": [math.inf, 1.5, (2, None)], 3: {"c": True}, "d": Path("/x")}
    assert json_safe(value) == {"a": None, "b": [None, 1.5, [2, None]], "3": {"c": True}, "d": "/x"}
    json.dumps(json_safe(value), allow_nan=False)


# --- report ---------------------------------------------------------------------------------------


def test_milliseconds_cell() -> None:
    assert report.ms(1234.56) == "1,234.6"
    assert report.ms(None) == "-"
    assert report.ms(math.nan) == "-"


def test_latency_cells_follow_the_table_columns() -> None:
    """n, p50, p95, p99, max, mean: the order of every latency table's columns."""
    cells = report.latency_cells(latency_summary([1.0, 2.0, 4.0]))
    assert cells == ["3", "2.0", "4.0", "4.0", "4.0", "2.3"]


def test_json_line_is_one_line_and_refuses_nan(capsys: pytest.CaptureFixture[str]) -> None:
    report.print_json_line({"gate_per_s": 2710.5, "click_p99_ms": None})
    out = capsys.readouterr().out
    assert out == '{"gate_per_s": 2710.5, "click_p99_ms": null}\n'
    with pytest.raises(ValueError):
        report.print_json_line({"gate_per_s": math.nan})


def test_json_line_with_text_for_the_unknown(capsys: pytest.CaptureFixture[str]) -> None:
    """takeover's line: NaN allowed, anything JSON cannot hold as text."""
    report.print_json_line({"runs": [Path("/x")]}, allow_nan=True, default=str)
    assert json.loads(capsys.readouterr().out) == {"runs": ["/x"]}


def test_figures_file_has_null_for_unmeasured(tmp_path: Path, printed: io.StringIO) -> None:
    path = tmp_path / "figures.json"
    report.write_figures(path, {"p99_ms": math.nan, "probes": 3})
    assert json.loads(path.read_text(encoding="utf-8")) == {"p99_ms": None, "probes": 3}
    assert f"figures written to {path}" in printed.getvalue()


def test_machine_table(printed: io.StringIO) -> None:
    report.print_machine({"cpu model": "Example CPU", "partitions": "6"})
    text = printed.getvalue()
    assert "Machine" in text
    assert "Example CPU" in text
    assert "partitions" in text


def test_worker_log_line_and_its_problem_kinds(printed: io.StringIO) -> None:
    log = {
        "path": "/tmp/w.log",
        "lines": 10,
        "tracebacks": 0,
        "problem_lines": 2,
        "problem_kinds": {"WARNING [x]": 2},
    }
    report.print_worker_log("Dead letters: 0. ", 0, log)
    text = printed.getvalue()
    assert text.startswith(
        "Dead letters: 0. Worker exit code 0; its log (10 lines, kept at /tmp/w.log): "
        "0 tracebacks, 2 lines with warnings or errors"
    )
    assert "    2 x WARNING [x]" in text


# --- system and workers ---------------------------------------------------------------------------


def test_cpu_share_is_cores_between_two_samples() -> None:
    meter = CpuMeter({"worker": None})
    meter.samples = [(10.0, {"worker": 5.0, "broker": 1.0}), (12.0, {"worker": 7.0})]
    assert meter.share() == {"worker": 1.0}


def test_load_sampler_adds_the_whole_machine_and_everyone_else() -> None:
    sampler = LoadSampler({})
    sampler.meter.samples = [(0.0, {"worker": 0.0}), (2.0, {"worker": 1.0})]
    sampler.machine = [100.0, 103.0]
    sampler.wall = [0.0, 2.0]
    assert sampler.shares() == {"worker": 0.5, "whole machine": 1.5, "everything else": 1.0}


def test_load_sampler_with_one_sample_says_nothing() -> None:
    sampler = LoadSampler({})
    sampler.meter.samples = [(0.0, {})]
    assert sampler.shares() == {}


def test_worker_log_findings_group_problems_by_their_text(tmp_path: Path) -> None:
    log = tmp_path / "worker.log"
    log.write_text(
        "[2026-01-01 10:00:00,000] [123] [WARNING] producer buffer full 17\n"
        "[2026-01-01 10:00:01,000] [123] [WARNING] producer buffer full 18\n"
        "[2026-01-01 10:00:02,000] [123] [INFO] ready\n"
        "Traceback (most recent call last):\n",
        encoding="utf-8",
    )
    findings = worker_log_findings(log)
    assert findings["lines"] == 4
    assert findings["tracebacks"] == 1
    assert findings["problem_lines"] == 3
    assert findings["problem_kinds"]["[WARNING] producer buffer full N"] == 2
    assert worker_log_findings(tmp_path / "missing.log") == {"read": False}


def test_cli_worker_code_runs_sendgate_worker() -> None:
    code = cli_worker_code("bench-gate", loglevel="info")
    assert "from streams.cli import main" in code
    assert "['worker', '--name', 'bench-gate', '--loglevel', 'info', '--no-create-topics']" in code
    compile(code, "worker", "exec")


# --- producing ------------------------------------------------------------------------------------


def test_topic_window_rate() -> None:
    assert window(3000, 1000, 2500).seconds == 1.5
    assert window(3000, 1000, 2500).per_second == 2000.0
    assert window(5, 7, 7).per_second == math.inf


async def test_paced_sends_number_their_requests_and_keep_their_times() -> None:
    """A probe's sends: one request per tick, numbered from 0, each kept with its send time."""
    producer = FakeProducer()
    sent: dict[str, float] = {}
    stop = asyncio.Event()
    errors: list[BaseException] = []

    def request_for(number: int) -> SendRequest:
        return commercial_request(f"probe-{number:05d}", "acme", "subscriber@example.com")

    request_for(0)  # the account's content facts, made once, before the clock matters
    task = asyncio.create_task(
        send_at_interval(
            producer,  # type: ignore[arg-type]
            "sends",
            b"key",
            request_for,
            sent=sent,
            interval_s=0.01,
            stop=stop,
            errors=errors,
        )
    )
    started = time.monotonic()
    while len(sent) < 5 and time.monotonic() - started < 5:
        await asyncio.sleep(0.005)
    stop.set()
    await task
    assert len(sent) >= 5
    assert list(sent) == [f"probe-{number:05d}" for number in range(len(sent))]
    assert list(sent.values()) == sorted(sent.values())
    assert {(topic, key) for topic, key, _ in producer.sent} == {("sends", b"key")}
    assert errors == []


async def test_background_load_stops_on_a_failed_send() -> None:
    producer = FakeProducer(error=RuntimeError("broker gone"))
    state = Background(target_per_s=1000.0)
    with pytest.raises(BenchError, match="background load failed"):
        await asyncio.wait_for(
            background_load(
                producer,  # type: ignore[arg-type]
                "sends",
                [(b"k", b"v")],
                state,
                asyncio.Event(),
            ),
            5,
        )
    assert state.sent > 0
    assert state.stopped >= state.started


def test_background_rate_is_sent_over_its_time() -> None:
    state = Background(target_per_s=1000.0, sent=500, started=10.0, stopped=10.5)
    assert state.achieved_per_s == 1000.0


# --- content --------------------------------------------------------------------------------------


def test_benchmark_sends_pass_the_content_rules(policy: Policy) -> None:
    """Every benchmark's commercial mail is a compliant template: the content rules deny none."""
    requests = [
        commercial_request(f"check-{account}", account, "subscriber.0.abc@example.com")
        for account in ("acme", "steady", "probe-0")
    ]
    assert check_content_compliant(requests, policy, what="test") == 3


def test_background_pool_is_the_steady_accounts_mail() -> None:
    keyer = RecipientKeyer(b"benchmark-test-secret-0123456789")
    pool = background_pool(keyer, "tag")
    assert len(pool) == BACKGROUND_POOL
    request = default_codec().decode(pool[1][1], SendRequest)
    assert request.account_id == "steady"
    assert request.recipient == "member1.tag@example.org"
    assert pool[1][0] == keyer.key("member1.tag@example.org").encode()
    assert pool[1000][0] == pool[0][0]  # 1,000 recipients, cycled


def test_list_click_is_a_one_click_list_unsubscribe() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    click = list_click("c1", "a" * 64, "acme", "news", at)
    assert (click.scope, click.method, click.account_id, click.list_id) == (
        "list",
        "one_click",
        "acme",
        "news",
    )


# --- gate_throughput's figures --------------------------------------------------------------------


def test_headline_keys_stay_as_other_tools_read_them() -> None:
    """A failed run prints the same keys, every figure null."""
    summary = summary_line({})
    assert list(summary) == SUMMARY_KEYS
    assert summary["decision_problems"] == 0
    assert all(value is None for key, value in summary.items() if key != "decision_problems")


def test_headline_figures_from_the_contenders_and_keepers() -> None:
    contenders = [
        Contender("(a)", window(3000, 0, 1500), 3.0, {"contender": 1.0}, "raw"),
        Contender("(b)", window(3000, 0, 5000), 9.0, {}, "forward"),
        Contender("(c)", window(3000, 0, 10_000), 20.0, {}, "gate"),
    ]
    keepers = [
        Keeper("consents", "consents", 2000, window(2000, 0, 2000), window(2000, 0, 200)),
        Keeper("clicks", "clicks", 1000, window(1000, 0, 2000), window(1000, 0, 100)),
    ]
    results: dict[str, Any] = {
        "throughput": throughput_figures(contenders),
        "keepers": keeper_figures(keepers, window(2000, 0, 1000)),
        "latency": {"p99_ms": math.nan, "background_achieved_per_s": 1000.0},
        "gate_decisions": {"problems": ["one"]},
        "workload": {"sends": 3000},
        "options": {"partitions": 6},
    }
    summary = summary_line(results)
    assert list(summary) == SUMMARY_KEYS
    assert summary["raw_per_s"] == 2000.0
    assert summary["gate_ratio_to_raw"] == 0.15
    assert summary["personalised_gate_per_s"] is None
    assert summary["keepers_per_s"] == 750.0  # 3,000 records over 2 + 2 s
    assert summary["raw_keepers_per_s"] == pytest.approx(10_000.0)  # 3,000 over 0.2 + 0.1 s
    assert summary["faust_forward_consents_ratio_to_raw"] == 0.2
    assert summary["click_p99_ms"] is None
    assert summary["decision_problems"] == 1
    assert (summary["sends"], summary["partitions"]) == (3000, 6)


# --- the scripts ----------------------------------------------------------------------------------


@pytest.mark.parametrize("script", SCRIPTS)
def test_every_script_imports(script: str) -> None:
    module = importlib.import_module(script)
    assert callable(module.main)


def test_gate_throughput_options_reach_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """The command line becomes the run's options; the run itself is not started here."""
    gate_throughput = importlib.import_module("gate_throughput")
    seen: dict[str, Any] = {}

    async def run_benchmark(settings: Settings, options: Any, data_dir: Path) -> dict[str, Any]:
        seen.update(settings=settings, options=options)
        return {}

    def run_then_clean_up(settings: Settings, data_dir: Path, scenario: Any, **_: Any) -> Any:
        asyncio.run(scenario())
        data_dir.rmdir()
        raise typer.Exit(0)

    monkeypatch.setattr(gate_throughput, "run_benchmark", run_benchmark)
    monkeypatch.setattr(gate_throughput, "run_then_clean_up", run_then_clean_up)
    app = typer.Typer()
    app.command()(gate_throughput.main)
    result = CliRunner().invoke(
        app,
        [
            "--sends",
            "3000",
            "--partitions",
            "3",
            "--no-personalised",
            "--skip-profile",
            "--bootstrap",
            "broker.example:9092",
        ],
    )
    assert result.exit_code == 0, result.output
    options = seen["options"]
    assert (options.sends, options.partitions, options.personalised) == (3000, 3, False)
    assert (options.skip_profile, options.suppressed, options.probes) == (True, 100_000, 200)
    assert options.bootstrap == "broker.example:9092"
    assert seen["settings"].topic_prefix.startswith("bench")
    assert seen["settings"].topic_partitions == 3


@pytest.mark.parametrize(
    ("script", "arguments"),
    [
        ("gate_throughput", ["--partitions", "0"]),
        ("enforcement_latency", ["--probe-timeout-s", "1"]),
        ("unsubscribe_latency", ["--partitions", "65"]),
        ("soak", ["--load", "2"]),
        ("soak", ["--minutes", "0.1"]),
        ("large_state", ["--recipients", "5"]),
        ("replay_speed", ["--sends", "10"]),
    ],
)
def test_options_out_of_range_are_refused(script: str, arguments: list[str]) -> None:
    app = typer.Typer()
    app.command()(importlib.import_module(script).main)
    result = CliRunner().invoke(app, arguments)
    assert result.exit_code == 2


def test_json_out_into_a_missing_folder_is_refused_before_the_run(tmp_path: Path) -> None:
    app = typer.Typer()
    app.command()(importlib.import_module("enforcement_latency").main)
    missing = tmp_path / "missing"
    result = CliRunner().invoke(
        app, ["--json-out", str(missing / "figures.json")], env={"COLUMNS": "300"}
    )
    assert result.exit_code == 2
    assert f"folder {missing} does not exist" in result.output


def test_the_seeded_state_holds_what_it_says_for_whom() -> None:
    """Consents for the first n recipients, account suppressions from n/2 to 3n/2 - 1, each for
    the recipient's own account, values as the folds make them."""
    from harness.seed import SeededState, account_of, address_of, seed_records

    from streams.core.recipient import RecipientKeyer
    from streams.core.records import ConsentState, SuppressionState
    from streams.policy import load_policy

    keyer = RecipientKeyer(b"seed-test-secret-0123456789abcdef")
    codec = default_codec()
    seeded = SeededState(200)
    held: dict[bytes, dict[str, Any]] = {}
    for topic, key, value in seed_records(
        seeded, keyer, codec, load_policy(None), suppressions_topic="s", consents_topic="c"
    ):
        held.setdefault(key, {})[topic] = value
    assert len(held) == 300
    for index in (0, 99, 100, 199, 200, 299):
        state = held[keyer.key(address_of(index)).encode()]
        assert ("c" in state) == (index < 200)
        assert ("s" in state) == (index >= 100)
        assert seeded.allowed(index) == (index < 100)
        if "c" in state:
            (entry,) = codec.decode(state["c"], ConsentState).entries
            assert (entry.account_id, entry.basis) == (account_of(index), "express")
        if "s" in state:
            (entry,) = codec.decode(state["s"], SuppressionState).entries
            assert (entry.scope, entry.account_id) == ("account", account_of(index))
