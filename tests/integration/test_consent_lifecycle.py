"""One person through signup, double opt-in, purchase, unsubscribe, re-import and expiry, on the
real broker with a real worker whose clock the test moves (a file clock), restarted on the way.

Each later decision is checked against the rule the issue names for that moment; the expiry
notices must come once each, the restart notwithstanding.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from streams.core.clock import FileClock
from streams.core.recipient import RecipientKeyer
from streams.core.records import ConsentNotice, SendDecision
from streams.core.settings import Settings
from streams.edges.ledger import make_engine, run_ledger_sink
from streams.edges.ledger.proof import prove_consent
from streams.policy import load_policy
from streams.topics import (
    CONSENT_NOTICES,
    SEND_DECISIONS,
    SEND_REQUESTS,
    UNSUBSCRIBE_CLICKS,
    default_codec,
)
from tests.support.factory import consent_event, send_request, unsubscribe_click
from tests.support.kafka import (
    TopicReader,
    create_all_topics,
    new_producer,
    publish_consents,
)
from tests.support.workers import GateWorker

ADDRESS = "lea.tremblay@example.ca"
SIGNUP = datetime(2025, 1, 10, 12, 0, tzinfo=UTC)
PURCHASE = datetime(2025, 2, 1, 9, 0, tzinfo=UTC)
UNSUBSCRIBED = datetime(2025, 2, 1, 10, 0, tzinfo=UTC)
LAPSES = datetime(2027, 2, 1, 9, 0, tzinfo=UTC)  # CASL s.10(10)(a): two years after the purchase


class Person:
    """Publishes for the one person of this test and reads the gate's answers."""

    def __init__(self, settings: Settings, clock_file: Path) -> None:
        self.settings = settings
        self.clock_file = clock_file
        self.keyer = RecipientKeyer(settings.recipient_secret())
        self.codec = default_codec()
        self.sent = 0

    async def set_clock(self, at: datetime) -> None:
        """Move the worker's time (it rereads its clock file every 0.2 s; give it time to)."""
        FileClock.write(self.clock_file, at)
        await asyncio.sleep(0.5)

    async def consent(self, event_id: str, at: datetime, **fields: Any) -> None:
        event = consent_event(
            recipient_key=self.keyer.key(ADDRESS),
            event_id=event_id,
            account_id="maple",
            jurisdiction="CA",
            occurred_at=at,
            **fields,
        )
        await publish_consents(self.settings, [event])

    async def unsubscribe(self, list_id: str, at: datetime) -> None:
        producer = await new_producer(self.settings)
        try:
            click = unsubscribe_click(
                recipient_key=self.keyer.key(ADDRESS),
                click_id="click-1",
                account_id="maple",
                list_id=list_id,
                clicked_at=datetime.now(UTC),
            )
            click = click.model_copy(update={"clicked_at": at})
            await producer.send_and_wait(
                UNSUBSCRIBE_CLICKS.full_name(self.settings),
                key=click.recipient_key.encode(),
                value=self.codec.encode(click),
            )
        finally:
            await producer.stop()

    async def send(self, reader: TopicReader, list_id: str) -> list[str]:
        """The failed rules of a commercial bulk send to `list_id` (empty: allowed)."""
        self.sent += 1
        request_id = f"req-{self.sent}"
        request = send_request(
            recipient=ADDRESS,
            request_id=request_id,
            account_id="maple",
            list_id=list_id,
            requested_at=datetime.now(UTC),
        )
        request = request.model_copy(update={"jurisdiction": "CA"})
        producer = await new_producer(self.settings)
        try:
            await producer.send_and_wait(
                SEND_REQUESTS.full_name(self.settings),
                key=self.keyer.key(ADDRESS).encode(),
                value=self.codec.encode(request),
            )
        finally:
            await producer.stop()
        found: Callable[[list[SendDecision]], bool] = lambda got: any(  # noqa: E731
            d.request_id == request_id for d in got
        )
        decisions = await reader.read_until(found, 60, f"the decision on {request_id}")
        [decision] = [d for d in decisions if d.request_id == request_id]
        return [failure.rule for failure in decision.failures]


async def test_a_person_from_signup_to_lapsed_implied_consent(
    settings: Settings, tmp_path: Path, ledger_database_url: str
) -> None:
    clock_file = tmp_path / "clock"
    settings = settings.model_copy(
        update={
            "clock_file": clock_file,
            "consent_timer_interval_s": 0.5,
            "database_url": SecretStr(ledger_database_url),
        }
    )
    person = Person(settings, clock_file)
    FileClock.write(clock_file, SIGNUP)
    await create_all_topics(settings)
    worker = GateWorker(settings, "consent-worker", tmp_path).start()
    try:
        async with (
            TopicReader(settings, SEND_DECISIONS.full_name(settings), SendDecision) as answers,
            TopicReader(settings, CONSENT_NOTICES.full_name(settings), ConsentNotice) as notices,
        ):
            # Nothing on record: the platform's opt-in rule and CASL s.6(1)(a) both refuse.
            assert await person.send(answers, "deals") == [
                "consent-status-not-mailable",
                "casl-no-valid-consent",
            ]
            # Signup to the deals list, which uses double opt-in: unconfirmed, so no bulk mail.
            await person.consent("signup-1", SIGNUP, lists=("deals",), requires_confirmation=True)
            assert await person.send(answers, "deals") == ["consent-status-not-mailable"]
            # The confirmation click: double opt-in, express consent.
            await person.consent(
                "confirm-1",
                SIGNUP + timedelta(minutes=3),
                kind="confirm",
                basis=None,
                lists=("deals",),
            )
            assert await person.send(answers, "deals") == []
            # Not the news list: nothing covers it yet.
            assert await person.send(answers, "news") == [
                "consent-status-not-mailable",
                "casl-no-valid-consent",
            ]
            # A purchase: implied consent to the whole account for two years (CASL s.10(10)(a)).
            await person.set_clock(PURCHASE)
            await person.consent(
                "order-1", PURCHASE, basis="implied_purchase", source_kind="checkout"
            )
            assert await person.send(answers, "news") == []
            assert await person.send(answers, "deals") == []
            # Unsubscribe from deals (acknowledged before the next send: the fence honours it).
            await person.unsubscribe("deals", UNSUBSCRIBED)
            assert await person.send(answers, "deals") == ["list-unsubscribed"]
            assert await person.send(answers, "news") == []
            # The account re-imports the person, and the import is approved: nothing reopens.
            await person.consent(
                "import-1",
                PURCHASE + timedelta(days=2),
                kind="import",
                lists=("deals",),
                source_kind="import",
                source_id="import-77",
            )
            await person.consent(
                "review-1",
                PURCHASE + timedelta(days=3),
                kind="review_approved",
                basis=None,
                source_kind="import",
                source_id="import-77",
            )
            assert await person.send(answers, "deals") == ["list-unsubscribed"]

            # 30 days before the implied consent lapses: consent-expiring, once.
            await person.set_clock(LAPSES - timedelta(days=30))
            got = await notices.read_until(lambda n: len(n) >= 1, 60, "consent-expiring")
            assert [(n.kind, n.expires_at, n.account_id) for n in got] == [
                ("expiring", LAPSES, "maple")
            ]
            assert await person.send(answers, "news") == []  # not lapsed yet

            # The worker restarts; then the consent lapses: consent-expired, once, and no
            # second consent-expiring from the restarted worker.
            worker.stop()
            await person.set_clock(LAPSES + timedelta(hours=1))
            worker = GateWorker(settings, "consent-worker", tmp_path).start()
            got = await notices.read_until(lambda n: len(n) >= 2, 90, "consent-expired")
            assert [n.kind for n in got] == ["expiring", "expired"]
            rules = await person.send(answers, "news")
            assert rules == ["casl-implied-consent-expired"]
            # A day later, after many more ticks of the timer: still exactly two notices.
            await person.set_clock(LAPSES + timedelta(days=1))
            quiet_until = time.monotonic() + 4
            await notices.read_until(lambda _: time.monotonic() > quiet_until, 30, "quiet")
            assert await person.send(answers, "news") == ["casl-implied-consent-expired"]
            assert [n.kind for n in notices.records] == ["expiring", "expired"]
            assert len({n.notice_id for n in notices.records}) == 2
    finally:
        worker.stop()
        if worker.alive():  # pragma: no cover - only when stop failed
            worker.kill()
    assert "Traceback" not in worker.log_tail(400), worker.log_tail(80)

    # The proof, from the PostgreSQL ledger: every consent event, chained, and the same answers.
    await run_ledger_sink(settings, idle_exit_s=2)
    engine = make_engine(ledger_database_url)
    try:
        key = person.keyer.key(ADDRESS)

        def proof(at: datetime, list_id: str | None) -> Any:
            return prove_consent(engine, key, "maple", list_id=list_id, at=at, policy=load_policy())

        final = proof(LAPSES + timedelta(days=1), "news")
        assert final.consent_events == 5  # signup, confirm, order, import, review
        assert final.chain.verified
        assert not final.verdict.permitted
        assert [f.rule for f in final.verdict.failures] == ["casl-implied-consent-expired"]
        assert proof(SIGNUP + timedelta(minutes=1), "deals").verdict.permitted is False
        assert proof(SIGNUP + timedelta(minutes=4), "deals").verdict.permitted is True
        assert proof(PURCHASE + timedelta(minutes=30), "deals").verdict.permitted is True
        assert proof(PURCHASE + timedelta(days=1), "news").verdict.permitted is True
        assert proof(UNSUBSCRIBED + timedelta(minutes=1), "deals").verdict.permitted is False
    finally:
        engine.dispose()
