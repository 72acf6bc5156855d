"""One account past the complaint line at one provider, three weeks running, on the real broker
with a real worker whose clock the test moves, and the enforcement history in PostgreSQL.

Week 1: 1,000 delivered at Gmail and 1,000 at Yahoo; 1 complaint at Gmail is 0.1%, on the line,
and nothing happens; the 2nd (0.2%) is strike 1: broadcasts are denied at every provider, while
one-off and transactional mail still go. Weeks 2 and 3 repeat the breach in windows that do not
overlap the last one: strike 2 warns, strike 3 terminates (no commercial mail at all; receipts
still go). Each complainer never opted in, so each complaint is fined.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pydantic import SecretStr
from sqlalchemy import text

from streams.core.clock import FileClock
from streams.core.recipient import RecipientKeyer
from streams.core.records import SendDecision
from streams.core.settings import Settings
from streams.edges.ledger import make_engine, run_ledger_sink
from streams.reputation.standing import EnforcementEvent
from streams.topics import ENFORCEMENT_EVENTS, SEND_DECISIONS, default_codec
from tests.support.enforcement import Mailer, act_at_once_policy
from tests.support.factory import consent_event, send_request
from tests.support.kafka import (
    TopicReader,
    create_all_topics,
    new_producer,
    publish_consents,
)
from tests.support.workers import GateWorker

WEEK_1 = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
PROBES = ("probe.one@yahoo.com", "probe.two@gmail.com", "probe.three@outlook.com")


async def wait_quietly(reader: TopicReader, seconds: float) -> list:
    """Read for `seconds` more (to see that nothing else arrives)."""
    loop = asyncio.get_running_loop()
    until = loop.time() + seconds
    return await reader.read_until(lambda _: loop.time() > until, seconds + 30, "quiet")


async def decide(settings: Settings, answers: TopicReader, sends: dict[str, tuple]) -> dict:
    """Publish the sends, return request id -> (verdict, failed rules)."""
    keyer, codec = RecipientKeyer(settings.recipient_secret()), default_codec()
    producer = await new_producer(settings)
    try:
        for request_id, (address, classification, kind) in sends.items():
            request = send_request(
                recipient=address,
                request_id=request_id,
                classification=classification,
                requested_at=datetime.now(UTC),
            )
            request = request.model_copy(update={"send_kind": kind})
            await producer.send_and_wait(
                settings.topic("send-requests"),
                codec.encode(request),
                key=keyer.key(address).encode(),
            )
    finally:
        await producer.stop()
    got = await answers.read_until(
        lambda ds: set(sends) <= {d.request_id for d in ds}, 60, f"decisions on {sorted(sends)}"
    )
    return {
        d.request_id: (d.verdict, [f.rule for f in d.failures])
        for d in got
        if d.request_id in sends
    }


async def test_strikes_one_two_three_from_complaints_at_one_provider(
    settings: Settings, tmp_path: Path, ledger_database_url: str
) -> None:
    clock_file = tmp_path / "clock"
    settings = settings.model_copy(
        update={
            "clock_file": clock_file,
            "policy_file": act_at_once_policy(tmp_path),
            "database_url": SecretStr(ledger_database_url),
        }
    )
    FileClock.write(clock_file, WEEK_1)
    await create_all_topics(settings)
    mailer = Mailer(settings)
    worker = GateWorker(settings, "enforcement-worker", tmp_path).start()
    try:
        keyer = RecipientKeyer(settings.recipient_secret())
        await publish_consents(
            settings,
            [
                consent_event(
                    recipient_key=keyer.key(probe),
                    event_id=f"grant-{n}",
                    occurred_at=WEEK_1 - timedelta(days=90),
                )
                for n, probe in enumerate(PROBES)
            ],
        )
        async with (
            TopicReader(
                settings, ENFORCEMENT_EVENTS.full_name(settings), EnforcementEvent
            ) as enforcement,
            TopicReader(settings, SEND_DECISIONS.full_name(settings), SendDecision) as answers,
        ):
            # Week 1: volume at two providers, then one complaint at Gmail: on the line, no strike.
            await mailer.deliver(1, "gmail.com", 1000, WEEK_1 - timedelta(hours=3))
            await mailer.deliver(1, "yahoo.com", 1000, WEEK_1 - timedelta(hours=3))
            await mailer.complain(1, 0, WEEK_1 - timedelta(hours=1))
            got = await enforcement.read_until(lambda es: len(es) >= 1, 60, "the first fine")
            await wait_quietly(enforcement, 3)
            assert [e.action for e in enforcement.records] == ["fine_assessed"]
            before = await decide(
                settings, answers, {"w1-before": (PROBES[0], "commercial", "bulk")}
            )
            assert before == {"w1-before": ("allow", [])}

            # The second complaint: 2 of 1,000 at Gmail (0.2%) is strike 1.
            await mailer.complain(1, 1, WEEK_1 - timedelta(minutes=30))
            got = await enforcement.read_until(
                lambda es: "broadcasts_disabled" in [e.action for e in es], 60, "strike 1"
            )
            strike = next(e for e in got if e.action == "strike_issued")
            assert (strike.strike_number, strike.provider, strike.count, strike.volume) == (
                1,
                "google",
                2,
                1000,
            )
            await asyncio.sleep(1)  # the accounts GlobalTable reaches the gate's store
            week_1 = await decide(
                settings,
                answers,
                {
                    "w1-yahoo-bulk": (PROBES[0], "commercial", "bulk"),
                    "w1-gmail-bulk": (PROBES[1], "commercial", "bulk"),
                    "w1-outlook-bulk": (PROBES[2], "commercial", "bulk"),
                    "w1-one-off": (PROBES[0], "commercial", "one_off"),
                    "w1-receipt": (PROBES[1], "transactional", "one_off"),
                },
            )
            assert week_1 == {
                "w1-yahoo-bulk": ("deny", ["account-broadcasts-disabled"]),
                "w1-gmail-bulk": ("deny", ["account-broadcasts-disabled"]),
                "w1-outlook-bulk": ("deny", ["account-broadcasts-disabled"]),
                "w1-one-off": ("allow", []),
                "w1-receipt": ("allow", []),
            }

            # Weeks 2 and 3: the same breach in windows after the struck one.
            for week, step in ((2, "warning_issued"), (3, "account_terminated")):
                now = WEEK_1 + timedelta(days=8 * (week - 1))
                FileClock.write(clock_file, now)
                await asyncio.sleep(0.5)
                await mailer.deliver(week, "gmail.com", 1000, now - timedelta(hours=3))
                await mailer.complain(week, 0, now - timedelta(hours=1))
                await mailer.complain(week, 1, now - timedelta(minutes=30))
                await enforcement.read_until(
                    lambda es, step=step: step in [e.action for e in es], 60, step
                )
            await asyncio.sleep(1)
            week_3 = await decide(
                settings,
                answers,
                {
                    "w3-one-off": (PROBES[0], "commercial", "one_off"),
                    "w3-receipt": (PROBES[1], "transactional", "one_off"),
                },
            )
            assert week_3 == {
                "w3-one-off": ("deny", ["account-terminated"]),
                "w3-receipt": ("allow", []),
            }
            await wait_quietly(enforcement, 2)
            actions = [e.action for e in enforcement.records]
            strikes = [e.strike_number for e in enforcement.records if e.action == "strike_issued"]
            assert strikes == [1, 2, 3]
            assert actions.count("fine_assessed") == 6
            assert enforcement.records[-1].status_after.status == "terminated"
    finally:
        worker.stop()
        if worker.alive():  # pragma: no cover - only when stop failed
            worker.kill()
    assert "Traceback" not in worker.log_tail(400), worker.log_tail(80)

    # The enforcement history, from the PostgreSQL ledger.
    await run_ledger_sink(settings, idle_exit_s=2)
    engine = make_engine(ledger_database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text(
                    "SELECT action, strike_number FROM enforcement_events "
                    "WHERE kafka_topic = :topic AND action = 'strike_issued' "
                    "ORDER BY strike_number"
                ),
                {"topic": ENFORCEMENT_EVENTS.full_name(settings)},
            ).all()
        assert [tuple(row) for row in rows] == [
            ("strike_issued", 1),
            ("strike_issued", 2),
            ("strike_issued", 3),
        ]
    finally:
        engine.dispose()
