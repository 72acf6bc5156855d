"""Retention in the ledger (SQLite), on rows the ledger's own writer stored: at three years less a
day after the last relationship event nothing changes; a day after three years the evidence is
gone (redacted while another account of the chain is live, the whole chain once none is), the
decisions of that time are deleted, every chain left still verifies, and a person with a recent
relationship keeps everything. A second run changes nothing; a dry run counts and keeps; small
batches do what one big one does; the sink runs the job on its clock; the CLI prints the counts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from streams.cli import app
from streams.core.clock import FrozenClock
from streams.core.recipient import RecipientKeyer
from streams.core.records import Record, SendDecision, SuppressionChange
from streams.core.settings import Settings
from streams.edges.ledger import (
    LEDGER_TOPICS,
    ConsentEventRow,
    LedgerItem,
    LedgerWriter,
    make_engine,
    metadata,
    upgrade,
)
from streams.edges.ledger.chain import GENESIS_HASH, verify_chain
from streams.edges.ledger.retention import RetentionReport, apply_retention
from streams.edges.ledger.sink import _copy
from streams.privacy.retention import Period, RetentionPolicy
from streams.topics import default_codec
from tests.support.factory import consent_event, feedback_report, suppression_entry

KEYER = RecipientKeyer(b"ledger-retention-unit-secret-0123456789")
GONE = KEYER.key("gone@example.com")
"""Signed up to acme at T; nothing since."""
SENT = KEYER.key("sent@example.com")
"""Signed up to acme at T; acme mailed them (allowed) two years later."""
TWO = KEYER.key("two@example.com")
"""Signed up to acme at T and to maple two years later: acme's evidence expires, maple's not."""
OPTED = KEYER.key("opted@example.com")
"""Signed up to acme at T; opted out of everything (platform) two years later."""
PLAINED = KEYER.key("complained@example.com")
"""Signed up to acme at T; complained about acme's mail two years later."""
T = datetime(2025, 6, 2, 8, 0, tzinfo=UTC)
LATER = T + timedelta(days=730)
THREE_YEARS_ON = datetime(2028, 6, 2, 8, 0, tzinfo=UTC)
"""T plus three calendar years (the policy's default, CASL's limitation), spelled out."""
DAY = timedelta(days=1)
IP, AGENT, SOURCE = "203.0.113.9", "Mozilla/5.0 (retention test)", "spring-form"
GROUP = "sendgate-ledger"


def signup(key: str, n: int, account: str = "acme", at: datetime = T) -> Any:
    return consent_event(
        event_id=f"evt-{key[:6]}-{n}",
        recipient_key=key,
        account_id=account,
        lists=("news",),
        source_id=SOURCE,
        ip=IP,
        user_agent=AGENT,
        occurred_at=at,
    )


def decision(n: int, key: str, at: datetime, verdict: str = "allow") -> SendDecision:
    failures = (
        [] if verdict == "allow" else [{"rule": "no-consent", "law": "CASL", "explanation": "x"}]
    )
    return SendDecision.model_validate(
        {
            "request_id": f"send-{n}",
            "account_id": "acme",
            "recipient_key": key,
            "verdict": verdict,
            "failures": failures,
            "policy_version": "p1",
            "decided_at": at,
            "request_offset": f"send-requests/0/{n}",
        }
    )


def story() -> list[LedgerItem]:
    consents = [
        signup(GONE, 0),
        signup(GONE, 1),
        signup(SENT, 0),
        signup(TWO, 0),
        signup(TWO, 1, account="maple", at=LATER),
        signup(OPTED, 0),
        signup(PLAINED, 0),
    ]
    decisions = [
        decision(1, GONE, T),
        decision(2, SENT, T),
        decision(3, SENT, LATER),
        decision(4, GONE, T + DAY, verdict="deny"),
    ]
    optout = SuppressionChange(
        recipient_key=OPTED,
        entry=suppression_entry(scope="platform", since=LATER),
        outcome="added",
        changed_at=LATER,
    )
    complaint = feedback_report(report_id="rep-1", recipient_key=PLAINED, received_at=LATER)
    return [
        *(LedgerItem("consent-events", 0, n, c) for n, c in enumerate(consents)),
        *(LedgerItem("send-decisions", 0, n, d) for n, d in enumerate(decisions)),
        LedgerItem("send-decisions", 0, len(decisions), decision(2, SENT, T + DAY)),  # a repeat
        LedgerItem("suppression-changes", 0, 0, optout),
        LedgerItem("feedback-reports", 0, 0, complaint),
    ]


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'ledger.sqlite3'}"


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    upgrade(database_url)
    engine = make_engine(database_url)
    LedgerWriter(engine, clock=FrozenClock(T)).write_batch(GROUP, story())
    yield engine
    engine.dispose()


def everything(engine: Engine) -> dict[str, list[dict[str, Any]]]:
    with engine.connect() as connection:
        return {
            name: [dict(row) for row in connection.execute(select(table)).mappings()]
            for name, table in sorted(metadata.tables.items())
        }


def chain(engine: Engine, key: str) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        rows = connection.execute(
            select(ConsentEventRow.__table__)
            .where(ConsentEventRow.recipient_key == key)
            .order_by(ConsentEventRow.chain_seq)
        ).mappings()
        return [dict(row) for row in rows]


def request_ids(engine: Engine, table: str) -> list[str]:
    with engine.connect() as connection:
        return sorted(
            r["request_id"] for r in connection.execute(select(metadata.tables[table])).mappings()
        )


def test_a_day_before_three_years_nothing_goes(engine: Engine) -> None:
    before = everything(engine)
    report = apply_retention(engine, RetentionPolicy(), THREE_YEARS_ON - DAY)
    assert report.total == 0
    assert everything(engine) == before


def test_a_day_after_three_years_the_evidence_and_the_decisions_go(engine: Engine) -> None:
    report = apply_retention(engine, RetentionPolicy(), THREE_YEARS_ON + DAY)

    # Nothing since T: the whole chain is gone.
    assert chain(engine, GONE) == []
    # acme's evidence of TWO is redacted, maple's kept, and the chain still verifies.
    two = chain(engine, TWO)
    assert [(r["account_id"], r["ip"], r["user_agent"], r["source_id"]) for r in two] == [
        ("acme", None, None, None),
        ("maple", IP, AGENT, SOURCE),
    ]
    assert two[0]["personal_salt"] is None
    assert two[0]["erased_at"] == THREE_YEARS_ON + DAY
    assert two[0]["personal_commitment"] is not None
    assert verify_chain(two).verified
    # A recent allowed send, a platform opt-out, a complaint: each keeps the evidence whole.
    for key in (SENT, OPTED, PLAINED):
        [row] = chain(engine, key)
        assert (row["ip"], row["user_agent"], row["source_id"]) == (IP, AGENT, SOURCE), key
        assert row["erased_at"] is None
        assert verify_chain([row]).verified
    # Decisions made at T and T+1d are past three years; the one two years on is not.
    assert request_ids(engine, "send_decisions") == ["send-3"]
    assert request_ids(engine, "send_decision_repeats") == []

    assert report.rows("consent_events", "deleted") == 2
    assert report.rows("consent_events", "redacted") == 1
    assert report.chains_deleted == 1
    assert report.rows("send_decisions", "deleted") == 3
    assert report.rows("send_decision_repeats", "deleted") == 1


def test_the_last_relationship_runs_out_too(engine: Engine) -> None:
    """Three years after the later events everything of the story is gone."""
    apply_retention(engine, RetentionPolicy(), LATER + timedelta(days=3 * 366))
    for key in (GONE, SENT, TWO, OPTED, PLAINED):
        assert chain(engine, key) == [], key
    assert request_ids(engine, "send_decisions") == []


def test_a_second_run_at_the_same_moment_changes_nothing(engine: Engine) -> None:
    apply_retention(engine, RetentionPolicy(), THREE_YEARS_ON + DAY)
    after = everything(engine)

    again = apply_retention(engine, RetentionPolicy(), THREE_YEARS_ON + DAY)

    assert again.total == 0
    assert again.chains_deleted == 0
    assert everything(engine) == after


def test_a_dry_run_counts_what_a_run_does_and_changes_nothing(engine: Engine) -> None:
    before = everything(engine)
    dry = apply_retention(engine, RetentionPolicy(), THREE_YEARS_ON + DAY, dry_run=True)
    assert everything(engine) == before

    real = apply_retention(engine, RetentionPolicy(), THREE_YEARS_ON + DAY)

    assert dry.dry_run
    assert dry.counts == real.counts
    assert dry.chains_deleted == real.chains_deleted == 1


def test_batches_of_one_do_what_one_batch_does(engine: Engine, tmp_path: Path) -> None:
    other_url = f"sqlite:///{tmp_path / 'other.sqlite3'}"
    upgrade(other_url)
    other = make_engine(other_url)
    LedgerWriter(other, clock=FrozenClock(T)).write_batch(GROUP, story())

    small = apply_retention(engine, RetentionPolicy(), THREE_YEARS_ON + DAY, batch_size=1)
    big = apply_retention(other, RetentionPolicy(), THREE_YEARS_ON + DAY, batch_size=10_000)

    assert small.counts == big.counts
    # The salts are random, so the hashes differ between the two ledgers: compare the rest.
    strip = {"id", "personal_salt", "personal_commitment", "prev_hash", "entry_hash"}
    for name in ("consent_events", "send_decisions", "send_decision_repeats"):
        mine = [{k: v for k, v in r.items() if k not in strip} for r in everything(engine)[name]]
        theirs = [{k: v for k, v in r.items() if k not in strip} for r in everything(other)[name]]
        assert mine == theirs, name
    other.dispose()


def test_a_longer_policy_keeps_longer(engine: Engine) -> None:
    policy = RetentionPolicy(consent_evidence=Period(years=4), decisions=Period(years=4))
    before = everything(engine)
    assert apply_retention(engine, policy, THREE_YEARS_ON + DAY).total == 0
    assert everything(engine) == before


def test_a_consent_after_the_chain_went_starts_a_new_chain(engine: Engine) -> None:
    apply_retention(engine, RetentionPolicy(), THREE_YEARS_ON + DAY)
    back = signup(GONE, 9, at=THREE_YEARS_ON + 2 * DAY)
    LedgerWriter(engine, clock=FrozenClock(THREE_YEARS_ON)).write_batch(
        GROUP, [LedgerItem("consent-events", 0, 100, back)]
    )
    [row] = chain(engine, GONE)
    assert (row["chain_seq"], row["prev_hash"], row["ip"]) == (1, GENESIS_HASH, IP)
    assert verify_chain([row]).verified


# --- the sink runs it -----------------------------------------------------------------------------


class FakeConsumer:
    def __init__(self, fetches: list[list[SimpleNamespace]]) -> None:
        self._fetches = fetches

    async def getmany(self, timeout_ms: int, max_records: int) -> dict[str, list[SimpleNamespace]]:
        if not self._fetches:
            return {}
        return {"any": self._fetches.pop(0)}


def message(offset: int, record: Record) -> SimpleNamespace:
    return SimpleNamespace(
        topic="consent-events",
        partition=0,
        offset=offset,
        key=b"k",
        value=default_codec().encode(record),
    )


async def test_the_sink_runs_retention_at_start_and_every_interval_on_its_clock(
    engine: Engine,
) -> None:
    clock = FrozenClock(T)
    runs: list[datetime] = []
    steps = iter([timedelta(hours=1), timedelta(hours=23), 6 * 366 * DAY, timedelta(hours=1)])

    async def retain(now: datetime) -> RetentionReport:
        runs.append(now)
        return await asyncio.to_thread(apply_retention, engine, RetentionPolicy(), now)

    async def publish(letters: Sequence[Any]) -> None:
        raise AssertionError("no dead letter expected")

    def advance(_: Any) -> None:
        clock.advance(next(steps))

    fetches = [[message(200 + n, signup(SENT, 50 + n, at=T))] for n in range(4)]
    await _copy(
        FakeConsumer(fetches),  # type: ignore[arg-type]
        LedgerWriter(engine, clock=clock),
        GROUP,
        {entry.topic.name: entry.record_type for entry in LEDGER_TOPICS},
        publish=publish,
        stop=asyncio.Event(),
        on_progress=advance,
        idle_exit_s=0,
        clock=clock,
        retain=retain,
        retention_interval_s=86_400,
    )

    # At start; not an hour on; a day on; years on (the run that deletes); not an hour after.
    assert runs == [T, T + DAY, T + DAY + 6 * 366 * DAY]
    # The sign-up read after the run that deleted SENT's chain starts a new one.
    assert [(r["event_id"], r["chain_seq"]) for r in chain(engine, SENT)] == [
        (f"evt-{SENT[:6]}-53", 1)
    ]
    assert chain(engine, GONE) == []
    assert request_ids(engine, "send_decisions") == []


# --- the command ----------------------------------------------------------------------------------


def invoke(database_url: str, *args: str) -> Any:
    settings = Settings(database_url=SecretStr(database_url))
    return CliRunner().invoke(
        app, ["ledger", "retention", *args], obj=settings, env={"COLUMNS": "200"}
    )


def test_the_command_prints_the_counts_and_a_dry_run_changes_nothing(
    engine: Engine, database_url: str
) -> None:
    before = everything(engine)
    dry = invoke(database_url, "--at", "2028-06-03T08:00:00Z", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "dry run" in dry.output
    assert "would be deleted" in dry.output
    assert everything(engine) == before

    done = invoke(database_url, "--at", "2028-06-03T08:00:00Z")
    assert done.exit_code == 0, done.output
    lines = {
        line.split("│")[1].strip() + "/" + line.split("│")[2].strip(): line.split("│")[3].strip()
        for line in done.output.splitlines()
        if line.count("│") == 5
    }
    assert lines == {
        "consent_events/redacted": "1",
        "consent_events/deleted": "2",
        "send_decisions/deleted": "3",
        "send_decision_repeats/deleted": "1",
    }
    assert chain(engine, GONE) == []


@pytest.mark.parametrize("at", ["yesterday", "2028-06-03T08:00:00"])
def test_the_command_refuses_a_bad_moment(engine: Engine, database_url: str, at: str) -> None:
    result = invoke(database_url, "--at", at)
    assert result.exit_code == 2
    assert "--at" in result.output
