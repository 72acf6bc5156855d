"""`sendgate replay verify` and `what-if` on the real broker, beside a live worker.

A real worker decides sends to people who opted in on different legal grounds, some of whom
unsubscribed first. Then, with the worker still running:

- `verify` decides every recorded send again and finds each the same, signed fields included;
- `what-if` under the strict policy flips exactly the sends the law says it should: with no
  country named, every regime applies, so a soft opt-in fails CASL s.10(9) and the Spam Act
  (neither knows it), and consent implied by a purchase fails GDPR Art. 6(1)(a) / PECR reg. 22
  (express consent or the soft opt-in only); the rows land in Parquet and read back in DuckDB;
- nothing a live worker owns moved: its group's committed offsets, every topic's end offsets
  (table changelogs included, so no table was written) and the set of consumer groups are what
  they were before the replays.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from typer.testing import CliRunner

from streams.cli import app
from streams.core.recipient import RecipientKeyer
from streams.core.records import SendDecision
from streams.core.settings import Settings
from streams.policy import DEFAULT_POLICY_FILE
from streams.topics import SEND_DECISIONS, SEND_REQUESTS, UNSUBSCRIBE_CLICKS, default_codec
from tests.support.factory import consent_event, send_request, unsubscribe_click
from tests.support.kafka import TopicReader, create_all_topics, new_producer, publish_consents
from tests.support.workers import GateWorker

PEOPLE = 120
STRICT = DEFAULT_POLICY_FILE.parent / "strict.toml"


def basis_of(i: int) -> str:
    return ("express", "soft_opt_in", "express", "implied_purchase")[i % 4]


def unsubscribed(i: int) -> bool:
    return i % 10 == 0


async def broker_snapshot(settings: Settings) -> tuple[dict, dict, set[str]]:
    """The worker group's committed offsets, every topic's end offsets, every group's name."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    await consumer.start()
    try:
        committed = {
            (tp.topic, tp.partition): meta.offset
            for tp, meta in (await admin.list_consumer_group_offsets(settings.app_id)).items()
        }
        topics = sorted(
            name for name in await consumer.topics() if name.startswith(settings.topic_prefix)
        )
        assert SEND_DECISIONS.full_name(settings) in topics
        assert any(name.endswith("-changelog") for name in topics)
        partitions = [
            TopicPartition(name, p)
            for name in topics
            for p in consumer.partitions_for_topic(name) or ()
        ]
        ends = await consumer.end_offsets(partitions)
        groups = {group for group, *_ in await admin.list_consumer_groups()}
    finally:
        await consumer.stop()
        await admin.close()
    return committed, {(tp.topic, tp.partition): end for tp, end in ends.items()}, groups


async def quiet_snapshot(settings: Settings) -> tuple[dict, dict, set[str]]:
    """A snapshot once the worker has finished committing what it decided: two in a row, a few
    seconds apart, the same (else the comparison after the replays would catch the worker's
    own late commits, not the replay's)."""
    last = await broker_snapshot(settings)
    for _ in range(20):
        await asyncio.sleep(3)
        now = await broker_snapshot(settings)
        if now == last:
            return now
        last = now
    raise AssertionError("the worker's offsets never settled")


async def run(settings: Settings, *args: str) -> tuple[int, str]:
    result = await asyncio.to_thread(CliRunner().invoke, app, list(args), obj=settings)
    return result.exit_code, result.stdout


async def test_verify_and_what_if_beside_a_live_worker(settings: Settings, tmp_path: Path) -> None:
    codec = default_codec()
    keyer = RecipientKeyer(settings.recipient_secret())
    now = datetime.now(UTC)
    addresses = [f"person{i}@example.org" for i in range(PEOPLE)]
    consents = [
        consent_event(
            recipient_key=keyer.key(address),
            event_id=f"opt-in-{i}",
            basis=basis_of(i),
            source_kind="checkout" if basis_of(i) != "express" else "form",
            occurred_at=now - timedelta(days=30),
        )
        for i, address in enumerate(addresses)
    ]
    started = now - timedelta(minutes=1)
    await create_all_topics(settings)
    producer = await new_producer(settings)
    try:
        with GateWorker(settings, "replay-worker", tmp_path) as worker:
            await publish_consents(settings, consents, timeout_s=120)
            for i, address in enumerate(addresses):
                if unsubscribed(i):
                    click = unsubscribe_click(
                        recipient_key=keyer.key(address),
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
                            recipient=address,
                            request_id=f"req-{i}",
                            requested_at=datetime.now(UTC),
                        )
                    ),
                )
            await producer.flush()
            async with TopicReader(
                settings, SEND_DECISIONS.full_name(settings), SendDecision
            ) as reader:
                decided = await reader.read_until(
                    lambda got: len({d.request_id for d in got}) >= PEOPLE, 120, "every decision"
                )
            by_request = {decision.request_id: decision for decision in decided}
            assert all(
                (by_request[f"req-{i}"].verdict == "deny") == unsubscribed(i) for i in range(PEOPLE)
            ), "the default policy allows every opted-in person who did not unsubscribe"

            before = await quiet_snapshot(settings)
            window = ["--from", started.isoformat(), "--to", (now + timedelta(hours=1)).isoformat()]

            code, out = await run(settings, "replay", "verify", *window, "--json")
            assert code == 0, out
            verified = json.loads(out)
            assert verified["ok"] is True
            assert verified["requests"] == PEOPLE
            assert verified["decisions"] == verified["same"] == len(decided)
            assert verified["signed_fields_compared"] is True

            rows = tmp_path / "flips.parquet"
            code, out = await run(
                settings,
                "replay",
                "what-if",
                "--policy",
                str(STRICT),
                *window,
                "--output",
                str(rows),
                "--json",
            )
            assert code == 0, out
            flipped = json.loads(out)
            allowed = [i for i in range(PEOPLE) if not unsubscribed(i)]
            soft = [i for i in allowed if basis_of(i) == "soft_opt_in"]
            implied = [i for i in allowed if basis_of(i) == "implied_purchase"]
            assert flipped["requests"] == PEOPLE
            assert flipped["newly_allowed"] == 0
            assert flipped["newly_denied"] == len(soft) + len(implied)
            assert flipped["by_rule"] == {
                "casl-no-valid-consent": {"newly_denied": len(soft), "newly_allowed": 0},
                "gdpr-pecr-no-valid-consent": {"newly_denied": len(implied), "newly_allowed": 0},
                "spam-act-no-valid-consent": {"newly_denied": len(soft), "newly_allowed": 0},
            }
            table = duckdb.sql(
                f"select request_id from '{rows}' where flipped order by request_id"
            ).fetchall()
            assert sorted(request for (request,) in table) == sorted(
                f"req-{i}" for i in soft + implied
            )
            assert duckdb.sql(f"select count(*) from '{rows}'").fetchone() == (PEOPLE,)

            after = await broker_snapshot(settings)
            assert worker.alive(), worker.log_tail()
    finally:
        await producer.stop()
    committed_before, ends_before, groups_before = before
    committed_after, ends_after, groups_after = after
    assert committed_after == committed_before
    assert ends_after == ends_before
    assert groups_after == groups_before
