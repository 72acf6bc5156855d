"""`sendgate replay state` on the real broker: one person signs up, unsubscribes from the account,
then hard-bounces, each published the normal way and folded by a real worker; the replay at a
moment after each step shows what the law and policy say the gate knew then, and the worker's
committed offsets are where they were before the replay (it reads with no consumer group).
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import typer
from aiokafka.admin import AIOKafkaAdminClient
from typer.testing import CliRunner

from streams.cli.replay.state import state
from streams.core.recipient import RecipientKeyer
from streams.core.settings import Settings
from streams.edges.producer import SendgateProducer
from streams.replay.person_reading import partition_for
from streams.topics import DELIVERY_EVENTS, UNSUBSCRIBE_CLICKS
from tests.support.factory import consent_event, delivery_event, unsubscribe_click
from tests.support.kafka import create_all_topics, wait_until_consumed
from tests.support.workers import GateWorker

ADDRESS = "Rosa.Diaz@example.org"  # keyed like rosa.diaz@ (the local part is lower-cased)
ACCOUNT = "acme"


def replay_app() -> typer.Typer:
    app = typer.Typer()
    app.command("state")(state)

    @app.callback()
    def _root() -> None:
        """(a group, so the command keeps its name, as under `sendgate replay`)"""

    return app


async def replay(settings: Settings, at: datetime, *extra: str) -> dict:
    """The command as a person runs it (its own event loop, so in a thread of its own here)."""
    result = await asyncio.to_thread(
        CliRunner().invoke,
        replay_app(),
        ["state", ADDRESS, "--at", at.isoformat(), "--format", "json", *extra],
        obj=settings,
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


async def committed(settings: Settings) -> dict:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(settings.app_id)
    finally:
        await admin.close()
    return {(tp.topic, tp.partition): meta.offset for tp, meta in offsets.items()}


async def moment_after() -> datetime:
    await asyncio.sleep(0.05)
    moment = datetime.now(UTC)
    await asyncio.sleep(0.05)
    return moment


async def test_replay_state_at_three_moments(settings: Settings, tmp_path: Path) -> None:
    key = RecipientKeyer(settings.recipient_secret()).key(ADDRESS)
    clicks = UNSUBSCRIBE_CLICKS.full_name(settings)
    await create_all_topics(settings)
    worker = GateWorker(settings, "replay-worker", tmp_path).start()
    try:
        async with SendgateProducer(settings) as producer:
            before = await moment_after()
            grant = consent_event(
                recipient_key=key, event_id="signup-1", occurred_at=datetime.now(UTC)
            )
            written = await producer.publish_consent(grant)
            # The partition the replay computes is the one the producer's partitioner chose.
            assert written.partition == partition_for(key.encode(), settings.topic_partitions)
            await wait_until_consumed(settings, settings.app_id, written.topic, timeout_s=90)
            signed_up = await moment_after()

            click = unsubscribe_click(
                recipient_key=key,
                click_id="unsub-1",
                scope="account",
                account_id=ACCOUNT,
                clicked_at=datetime.now(UTC),
            )
            await producer.publish_unsubscribe(click)
            await wait_until_consumed(settings, settings.app_id, clicks, timeout_s=90)
            unsubscribed = await moment_after()

            bounce = delivery_event(
                recipient_key=key,
                event_id="dsn-1",
                kind="bounced",
                bounce_class="hard",
                reason="userunknown",
                occurred_at=datetime.now(UTC),
            )
            await producer.publish(bounce)
        await wait_until_consumed(
            settings, settings.app_id, DELIVERY_EVENTS.full_name(settings), timeout_s=90
        )
        # The bounce's platform suppression comes back through the clicks; wait for it too.
        for _ in range(240):
            await wait_until_consumed(settings, settings.app_id, clicks, timeout_s=90)
            done = await committed(settings)
            if sum(o for (t, _), o in done.items() if t == clicks) >= 2:
                break
            await asyncio.sleep(0.25)
        bounced = await moment_after()

        offsets_before = await committed(settings)

        nothing = await replay(settings, before)
        assert nothing["suppressions"] == [] and nothing["consents"] == []
        assert nothing["sections"]["suppressions"]["source"] == "topics"

        first = await replay(settings, signed_up)
        assert first["recipient_key_prefix"] == key[:12]
        [consent] = first["consents"]
        assert (consent["account_id"], consent["status"]) == (ACCOUNT, "single_opt_in")
        assert first["suppressions"] == []
        assert first["accounts"] == {ACCOUNT: None}  # good standing: no enforcement event

        second = await replay(settings, unsubscribed)
        [suppression] = second["suppressions"]
        assert (suppression["scope"], suppression["reason"]) == ("account", "unsubscribe")
        assert second["consents"][0]["status"] == "transactional_only"
        assert second["bounces"] is None

        third = await replay(settings, bounced, "--account", ACCOUNT)
        assert third["bounces"]["hard_bounced"] is True
        assert {(s["scope"], s["reason"]) for s in third["suppressions"]} == {
            ("account", "unsubscribe"),
            ("platform", "hard_bounce"),
        }
        assert third["consents"][0]["status"] == "hard_bounce"
        assert list(third["accounts"]) == [ACCOUNT]
        assert all(s["source"] == "topics" for s in third["sections"].values())

        # The replay read with no group: the worker's committed offsets did not move.
        assert await committed(settings) == offsets_before
    finally:
        worker.stop()
    assert worker.process is not None and worker.process.returncode is not None, worker.log_tail()


def test_bad_arguments_and_a_broker_away_end_in_one_line_and_exit_2(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from streams import cli

    away = settings.model_copy(update={"kafka_bootstrap_servers": "127.0.0.1:1"})
    monkeypatch.setattr(cli, "get_settings", lambda: away)
    for args, says in (
        (["--at", "yesterday"], "not an ISO-8601 time"),
        (["--at", "2026-01-01T00:00:00"], "no time zone"),
        (["not an address", "--at", "2026-01-01"], "not a valid email address"),
        (["--at", "2026-01-01"], "not reachable"),
    ):
        argv = ["replay", "state", *([ADDRESS] if args[0].startswith("--") else []), *args]
        with pytest.raises(SystemExit) as ended:
            cli.main(argv)
        assert ended.value.code == 2
        err = capsys.readouterr().err
        assert says in err and "Traceback" not in err
        assert ADDRESS not in err
