"""Subject access on the real path: records published to the real broker, copied by the ledger
sink into the real PostgreSQL, read back by `sendgate subject-access` as JSON and as a page.

Uses the session's fresh database (`ledger_database_url`) and topics of the test's own prefix; the
person's address carries the run's token, so no other test's rows are theirs. An unreachable
broker or database fails the test, never skips it.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from pydantic import SecretStr
from sqlalchemy import text
from typer.testing import CliRunner

from streams.cli import app
from streams.core.recipient import RecipientKeyer
from streams.core.records import (
    BounceChange,
    ConsentEvent,
    FeedbackReport,
    RuleFailure,
    SendDecision,
    SuppressionChange,
    SuppressionEntry,
)
from streams.core.settings import Settings
from streams.edges.ledger import LEDGER_TOPICS, make_engine, run_ledger_sink
from streams.topics import (
    BOUNCE_CHANGES,
    CONSENT_EVENTS,
    FEEDBACK_REPORTS,
    SEND_DECISIONS,
    SUPPRESSION_CHANGES,
    default_codec,
)

pytestmark = pytest.mark.integration

T0 = datetime(2025, 4, 7, 8, 30, tzinfo=UTC)
DAY = timedelta(days=1)
PARTITIONS = 3
Keyed = ConsentEvent | SuppressionChange | SendDecision | BounceChange | FeedbackReport
"""The records about a person, each keyed by its recipient key on its topic."""
UNSUBSCRIBED = RuleFailure(rule="list-unsubscribed", law="CAN-SPAM", explanation="Unsubscribed.")


def published(run: str, key: str, other_key: str) -> dict[str, list[Keyed]]:
    """What the platform's keepers and gate would have published about the person (and one
    record about someone else), by topic."""

    def decision(request: str, at: datetime, *, deny: bool, who: str = key) -> SendDecision:
        return SendDecision(
            request_id=f"{run}-{request}",
            account_id="acme",
            recipient_key=who,
            verdict="deny" if deny else "allow",
            failures=(UNSUBSCRIBED,) if deny else (),
            policy_version="2025.2+it",
            decided_at=at,
            request_offset=f"send-requests/0/{request}",
        )

    return {
        CONSENT_EVENTS.name: [
            ConsentEvent(
                event_id=f"{run}-signup",
                recipient_key=key,
                kind="grant",
                account_id="acme",
                lists=("news",),
                basis="express",
                requires_confirmation=True,
                jurisdiction="FR",
                source_kind="form",
                source_id="newsletter-box",
                wording_hash="ab" * 32,
                wording_version="fr-v2",
                ip="198.51.100.77",
                user_agent="Mozilla/5.0 (Macintosh)",
                occurred_at=T0,
            ),
            ConsentEvent(
                event_id=f"{run}-confirm",
                recipient_key=key,
                kind="confirm",
                account_id="acme",
                lists=("news",),
                source_kind="confirmation_link",
                occurred_at=T0 + timedelta(minutes=3),
            ),
        ],
        SUPPRESSION_CHANGES.name: [
            SuppressionChange(
                recipient_key=key,
                entry=SuppressionEntry(
                    scope="list",
                    account_id="acme",
                    list_id="news",
                    reason="unsubscribe",
                    since=T0 + 20 * DAY,
                    source="unsubscribe-clicks/1/5",
                    source_event_id=f"{run}-click",
                ),
                outcome="added",
                changed_at=T0 + 20 * DAY,
            )
        ],
        SEND_DECISIONS.name: [
            decision("req-1", T0 + DAY, deny=False),
            decision("req-2", T0 + 21 * DAY, deny=True),
            decision("req-1", T0 + 22 * DAY, deny=True),  # req-1 decided again, differently
            decision("req-other", T0, deny=False, who=other_key),
        ],
        BOUNCE_CHANGES.name: [
            BounceChange(
                recipient_key=key,
                event_id=f"{run}-delivery",
                outcome="counted",
                consecutive_soft_before=0,
                consecutive_soft_after=1,
                policy="consecutive(4)",
                source="delivery-events/2/9",
                changed_at=T0 + 2 * DAY,
            )
        ],
        FEEDBACK_REPORTS.name: [
            FeedbackReport(
                report_id=f"{run}-report",
                recipient_key=key,
                feedback_type="abuse",
                reporter="fbl.example.net",
                account_id="acme",
                list_id="news",
                received_at=T0 + 3 * DAY,
                source="fbl",
            )
        ],
    }


async def create_topics(bootstrap: str, names: list[str]) -> None:
    """Create the topics and wait until the broker serves their metadata (the sink refuses a
    topic it cannot describe)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(name, num_partitions=PARTITIONS, replication_factor=1) for name in names]
        )
        for _ in range(100):
            described = await admin.describe_topics(names)
            if all(not topic["error_code"] and topic["partitions"] for topic in described):
                return
            await asyncio.sleep(0.1)
        raise AssertionError(f"the broker did not serve the new topics {names}")
    finally:
        await admin.close()


async def delete_topics(bootstrap: str, names: Sequence[str]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.delete_topics(list(names))
    finally:
        await admin.close()


async def publish(settings: Settings, records: dict[str, list[Keyed]]) -> None:
    codec = default_codec()
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all")
    await producer.start()
    try:
        for topic, batch in records.items():
            for record in batch:
                await producer.send_and_wait(
                    settings.topic(topic),
                    codec.encode(record),
                    key=record.recipient_key.encode(),
                )
    finally:
        await producer.stop()


async def test_the_report_names_everything_published_about_the_person(
    kafka_bootstrap: str, ledger_database_url: str, tmp_path: Path
) -> None:
    run = f"sa{uuid.uuid4().hex[:10]}"
    settings = Settings(
        kafka_bootstrap_servers=kafka_bootstrap,
        topic_prefix=f"t{uuid.uuid4().hex[:10]}-",
        database_url=SecretStr(ledger_database_url),
        recipient_key_secret=SecretStr("subject-access-it-secret-" + run),
    )
    address = f"{run}.person@example.org"
    keyer = RecipientKeyer(settings.recipient_secret())
    records = published(run, keyer.key(address), keyer.key(f"{run}.other@example.org"))
    names = [entry.topic.full_name(settings) for entry in LEDGER_TOPICS]
    await create_topics(kafka_bootstrap, names)
    try:
        await publish(settings, records)
        progress = await run_ledger_sink(settings, idle_exit_s=3)
    finally:
        await delete_topics(kafka_bootstrap, names)
    assert progress.records_read == sum(len(batch) for batch in records.values())

    runner = CliRunner()
    as_json = runner.invoke(
        app, ["subject-access", address, "--format", "json"], obj=settings, env={"COLUMNS": "200"}
    )
    page_file = tmp_path / "report.html"
    as_page = runner.invoke(
        app, ["subject-access", address, "--output", str(page_file)], obj=settings
    )

    assert as_json.exit_code == 0, as_json.output
    assert as_page.exit_code == 0, as_page.output
    document = json.loads(as_json.stdout)
    signup, confirm = records[CONSENT_EVENTS.name]
    events = document["consents"]["events"]
    assert [e["event_id"] for e in events] == [signup.event_id, confirm.event_id]
    for name in ("kind", "account_id", "basis", "jurisdiction", "source_kind", "source_id"):
        assert events[0][name] == getattr(signup, name)
    assert (events[0]["wording_hash"], events[0]["wording_version"]) == (
        signup.wording_hash,
        signup.wording_version,
    )
    assert (events[0]["ip"], events[0]["user_agent"]) == (signup.ip, signup.user_agent)
    assert (events[1]["ip"], events[1]["user_agent"]) == (None, None)
    assert document["consents"]["chain"] == {
        "verified": True,
        "entries": 2,
        "first_bad_seq": None,
        "problem": None,
        "explanation": "",
    }
    [click] = records[SUPPRESSION_CHANGES.name]
    [suppression] = document["suppressions"]
    assert (suppression["source_event_id"], suppression["reason"], suppression["list_id"]) == (
        click.entry.source_event_id,
        click.entry.reason,
        click.entry.list_id,
    )
    first, second, repeat, _other = records[SEND_DECISIONS.name]
    decisions = document["decisions"]
    assert [(d["request_id"], d["verdict"]) for d in decisions] == [
        (first.request_id, first.verdict),
        (second.request_id, second.verdict),
    ]
    assert [(r["verdict"], r["same_decision"]) for r in decisions[0]["repeats"]] == [
        (repeat.verdict, False)
    ]
    assert decisions[1]["failures"] == [UNSUBSCRIBED.model_dump(mode="json")]
    [bounce] = records[BOUNCE_CHANGES.name]
    assert [b["event_id"] for b in document["bounces"]] == [bounce.event_id]
    [report] = records[FEEDBACK_REPORTS.name]
    assert [(c["report_id"], c["feedback_type"]) for c in document["complaints"]] == [
        (report.report_id, report.feedback_type)
    ]
    assert document["erasure"]["status"] == "none_recorded"
    assert "req-other" not in as_json.stdout

    page = page_file.read_text(encoding="utf-8")
    for value in (
        signup.source_id,
        signup.ip,
        signup.wording_version,
        click.entry.source_event_id,
        second.request_id,
        bounce.event_id,
        report.report_id,
        "No erasure request is recorded.",
        "not held",
    ):
        assert value in page


def test_every_query_of_the_report_uses_an_index(ledger_database_url: str) -> None:
    """With sequential scans priced out, each table's read by recipient key is an index scan:
    the index exists (on PostgreSQL, after every migration)."""
    tables = (
        ("consent_events", "uq_consent_events_chain"),
        ("suppression_changes", "ix_suppression_changes_recipient_key"),
        ("send_decisions", "ix_send_decisions_recipient_key"),
        ("send_decision_repeats", "ix_send_decision_repeats_recipient_key"),
        ("bounce_changes", "_recipient"),
        ("feedback_reports", "ix_feedback_reports_recipient_key"),
    )
    engine = make_engine(ledger_database_url)
    try:
        with engine.begin() as connection:
            connection.execute(text("SET LOCAL enable_seqscan = off"))
            for table, index in tables:
                plan = "\n".join(
                    connection.execute(
                        text(f"EXPLAIN SELECT * FROM {table} WHERE recipient_key = :key"),
                        {"key": "0" * 64},
                    ).scalars()
                )
                assert index in plan, (table, plan)
    finally:
        engine.dispose()
