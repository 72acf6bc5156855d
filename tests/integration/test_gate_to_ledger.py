"""From send request to PostgreSQL: the gate's decisions and suppression changes reach the
ledger once, however often the topics are replayed into it."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr
from sqlalchemy import delete, select

from streams.codec import default_codec
from streams.ledger import (
    ConsumerOffset,
    SendDecisionRow,
    ledger_counts,
    make_engine,
    run_ledger_sink,
)
from streams.recipient import RecipientKeyer
from streams.records import SendDecision
from streams.settings import Settings
from streams.topics import SEND_DECISIONS, SEND_REQUESTS, UNSUBSCRIBE_CLICKS
from tests.support.kafka import (
    TopicReader,
    click_for,
    create_all_topics,
    delete_all_topics,
    new_producer,
    send_for,
)
from tests.support.workers import GateWorker

SENDS = 300
CLICKS = 100


async def test_decisions_and_suppression_changes_land_in_postgres_once(
    settings: Settings, ledger_database_url: str, tmp_path: Path
) -> None:
    """Replaying both topics into the ledger from the start adds no row."""
    settings = settings.model_copy(update={"database_url": SecretStr(ledger_database_url)})
    codec = default_codec()
    keyer = RecipientKeyer(settings.recipient_secret())
    await create_all_topics(settings)
    producer = await new_producer(settings)
    try:
        with GateWorker(settings, "ledger-worker", tmp_path):
            for i in range(CLICKS):
                click = click_for(keyer, f"gone{i}@example.com", f"gone-{i}", scope="account")
                await producer.send(
                    UNSUBSCRIBE_CLICKS.full_name(settings),
                    key=click.recipient_key.encode(),
                    value=codec.encode(click),
                )
            await producer.flush()
            for i in range(SENDS):
                address = f"gone{i}@example.com" if i < CLICKS else f"here{i}@example.org"
                await producer.send(
                    SEND_REQUESTS.full_name(settings),
                    key=keyer.key(address).encode(),
                    value=codec.encode(send_for(address, f"req-{i}")),
                )
            await producer.flush()
            async with TopicReader(
                settings, SEND_DECISIONS.full_name(settings), SendDecision
            ) as reader:
                await reader.read_until(lambda got: len(got) >= SENDS, 120, "every decision")

        first = await run_ledger_sink(settings, idle_exit_s=2)
        engine = make_engine(ledger_database_url)
        counts = ledger_counts(engine)
        assert first.rows_inserted == SENDS + CLICKS
        assert counts["send_decisions"] == SENDS
        assert counts["suppression_changes"] == CLICKS

        with engine.begin() as connection:
            connection.execute(delete(ConsumerOffset))  # forget where the ledger was: replay all
        replay = await run_ledger_sink(settings, idle_exit_s=2)
        assert replay.records_read == SENDS + CLICKS
        assert replay.rows_inserted == 0
        assert ledger_counts(engine) == counts

        with engine.connect() as connection:
            denied = connection.execute(
                select(SendDecisionRow.failed_rules).where(SendDecisionRow.verdict == "deny")
            ).scalars()
            assert sorted(set(denied)) == ["account-unsubscribed"]
        engine.dispose()
    finally:
        await producer.stop()
        await delete_all_topics(settings)
