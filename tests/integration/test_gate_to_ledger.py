"""From send request to PostgreSQL: the gate's decisions and suppression changes reach the
ledger once, however often the topics are replayed into it, and each request has one decision
there."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from pydantic import SecretStr
from sqlalchemy import Engine, delete, func, select

from streams.core.recipient import RecipientKeyer
from streams.core.records import SendDecision
from streams.core.settings import Settings
from streams.edges.ledger import (
    ConsumerOffset,
    SendDecisionRepeatRow,
    SendDecisionRow,
    SuppressionChangeRow,
    ledger_consumer_group,
    make_engine,
    run_ledger_sink,
)
from streams.topics import SEND_DECISIONS, SEND_REQUESTS, UNSUBSCRIBE_CLICKS, default_codec
from tests.support.factory import consent_event, send_request, unsubscribe_click
from tests.support.kafka import (
    TopicReader,
    create_all_topics,
    delete_all_topics,
    new_producer,
    publish_consents,
)
from tests.support.workers import GateWorker


def rows_of_this_test(engine: Engine, settings: Settings) -> dict[str, int]:
    """Rows from this test's topics (the session's database is shared)."""
    with engine.connect() as connection:
        return {
            row.__tablename__: connection.execute(
                select(func.count()).where(row.kafka_topic.startswith(settings.topic_prefix))
            ).scalar_one()
            for row in (SendDecisionRow, SendDecisionRepeatRow, SuppressionChangeRow)
        }


SENDS = 300
CLICKS = 100


async def test_decisions_and_suppression_changes_land_in_postgres_once(
    settings: Settings, ledger_database_url: str, tmp_path: Path
) -> None:
    """Replaying both topics into the ledger from the start adds no row."""
    settings = settings.model_copy(update={"database_url": SecretStr(ledger_database_url)})
    codec = default_codec()
    keyer = RecipientKeyer(settings.recipient_secret())
    addresses = [
        f"gone{i}@example.com" if i < CLICKS else f"here{i}@example.org" for i in range(SENDS)
    ]
    opt_ins = [
        consent_event(
            recipient_key=keyer.key(address),
            event_id=f"opt-in-{address}",
            occurred_at=datetime.now(UTC),
        )
        for address in addresses
    ]
    await create_all_topics(settings)
    producer = await new_producer(settings)
    try:
        with GateWorker(settings, "ledger-worker", tmp_path):
            # Everyone mailed opted in first; a hundred of them unsubscribe before the sends.
            await publish_consents(settings, opt_ins, timeout_s=120)
            for i in range(CLICKS):
                click = unsubscribe_click(
                    recipient_key=keyer.key(f"gone{i}@example.com"),
                    click_id=f"gone-{i}",
                    scope="account",
                    clicked_at=datetime.now(UTC),
                )
                await producer.send(
                    UNSUBSCRIBE_CLICKS.full_name(settings),
                    key=click.recipient_key.encode(),
                    value=codec.encode(click),
                )
            await producer.flush()
            for i, address in enumerate(addresses):
                await producer.send(
                    SEND_REQUESTS.full_name(settings),
                    key=keyer.key(address).encode(),
                    value=codec.encode(
                        send_request(
                            recipient=address, request_id=f"req-{i}", requested_at=datetime.now(UTC)
                        )
                    ),
                )
            await producer.flush()
            async with TopicReader(
                settings, SEND_DECISIONS.full_name(settings), SendDecision
            ) as reader:
                await reader.read_until(lambda got: len(got) >= SENDS, 120, "every decision")

        first = await run_ledger_sink(settings, idle_exit_s=2)
        engine = make_engine(ledger_database_url)
        counts = rows_of_this_test(engine, settings)
        # One decision per request; a request the gate decided twice (at-least-once) has its
        # second decision among the repeats, so that rows still equal records.
        repeats = counts["send_decision_repeats"]
        # The opt-ins are ledger rows too (the proof of consent), and replayed like the others.
        records = SENDS + repeats + CLICKS + len(opt_ins)
        assert first.rows_inserted == records
        assert counts == {
            "send_decisions": SENDS,
            "send_decision_repeats": repeats,
            "suppression_changes": CLICKS,
        }
        with engine.connect() as connection:
            requests = connection.execute(
                select(func.count(func.distinct(SendDecisionRow.request_id))).where(
                    SendDecisionRow.kafka_topic == SEND_DECISIONS.full_name(settings)
                )
            ).scalar_one()
        assert requests == SENDS

        with engine.begin() as connection:
            # Forget where this ledger was: the next run replays both topics from the start.
            connection.execute(
                delete(ConsumerOffset).where(
                    ConsumerOffset.consumer_group == ledger_consumer_group(settings)
                )
            )
        replay = await run_ledger_sink(settings, idle_exit_s=2)
        assert replay.records_read == records
        assert replay.rows_inserted == 0
        assert rows_of_this_test(engine, settings) == counts

        with engine.connect() as connection:
            denied = connection.execute(
                select(SendDecisionRow.failed_rules).where(
                    SendDecisionRow.verdict == "deny",
                    SendDecisionRow.kafka_topic == SEND_DECISIONS.full_name(settings),
                )
            ).scalars()
            assert sorted(set(denied)) == ["account-unsubscribed"]
        engine.dispose()
    finally:
        await producer.stop()
        await delete_all_topics(settings)
