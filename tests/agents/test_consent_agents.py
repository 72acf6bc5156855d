"""The consent keeper, the consent timer and the gate's consent rules, as agents."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import fastavro
import pytest
from pydantic import SecretStr

from streams.core.clock import FrozenClock
from streams.core.codec import MARKER
from streams.core.records import (
    ConsentEvent,
    ConsentNotice,
    DeadLetter,
    SendDecision,
    SendRequest,
)
from streams.core.settings import Settings
from streams.gate.agents import register_agents
from streams.gate.app import Gate, build_gate
from streams.gate.emit import CollectingEmitter
from streams.gate.keepers import nudge_due_consents
from tests.agents.conftest import ScriptedOffsets, deciding, emitted_until, verify_test_domains
from tests.support.factory import KEYER, SECRET, consent_event, send_request, unsubscribe_click

PURCHASE = datetime(2024, 5, 10, 15, 0, tzinfo=UTC)
ADDRESS = "lea@example.ca"


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime(2026, 1, 15, 9, 0, tzinfo=UTC))


@pytest.fixture
def gate(
    tmp_path: Path, offsets: ScriptedOffsets, emitter: CollectingEmitter, clock: FrozenClock
) -> Gate:
    settings = Settings(
        topic_prefix="consenttest-",
        topic_partitions=2,
        table_store="memory://",
        data_dir=tmp_path,
        recipient_key_secret=SecretStr(SECRET),
        state_fence_timeout_s=2.0,
    )
    gate = build_gate(
        settings, emitter=emitter, offsets=offsets, erasure_offsets=ScriptedOffsets(), clock=clock
    )
    register_agents(gate)
    gate.app.finalize()
    gate.app.conf.store = "memory://"
    verify_test_domains(gate)
    return gate


event = partial(
    consent_event,
    recipient_key=KEYER.key(ADDRESS),
    account_id="maple",
    jurisdiction="CA",
    occurred_at=PURCHASE,
)
"""Lea's consent to maple, in Canada; by default a sign-up on the day of her purchase."""
send = partial(
    send_request,
    request_id="r1",
    account_id="maple",
    list_id="deals",
    recipient=ADDRESS,
    jurisdiction="CA",
    requested_at=datetime(2026, 1, 15, 9, 0, tzinfo=UTC),
)
"""Maple's deals to Lea, requested at the time the gate's clock starts at."""


def encode_unchecked(gate: Gate, fields: dict[str, Any]) -> bytes:
    """Avro single-object bytes of `fields` as written by a producer that skips our validation."""
    version = gate.codec.current(ConsentEvent)
    body = io.BytesIO()
    fastavro.schemaless_writer(body, version.parsed, fields)
    return MARKER + version.fingerprint.to_bytes(8, "little") + body.getvalue()


async def feed_consents(gate: Gate, *events: ConsentEvent) -> None:
    key = gate.keyer.key(ADDRESS).encode()
    async with gate.agents["keep_consents"].test_context() as keeper:
        for item in events:
            await keeper.put(gate.codec.encode(item), key=key, partition=0)


async def decide(gate: Gate, emitter: CollectingEmitter, request: SendRequest) -> SendDecision:
    before = len(emitter.on(gate.decisions_topic))
    key = gate.keyer.key(request.recipient).encode()
    async with deciding(gate) as agent:
        await agent.put(gate.codec.encode(request), key=key, partition=0, wait=False)
        await emitted_until(emitter, lambda _: len(emitter.on(gate.decisions_topic)) > before)
    return gate.codec.decode(emitter.on(gate.decisions_topic)[-1].value, SendDecision)


def rules(decision: SendDecision) -> list[str]:
    return [failure.rule for failure in decision.failures]


async def test_consent_decides_sends_from_signup_to_withdrawal(
    gate: Gate, emitter: CollectingEmitter
) -> None:
    """No consent: denied; double opt-in pending: denied; confirmed: allowed; withdrawn: denied."""
    assert rules(await decide(gate, emitter, send())) == [
        "consent-status-not-mailable",
        "casl-no-valid-consent",
    ]
    await feed_consents(gate, event(requires_confirmation=True))
    assert rules(await decide(gate, emitter, send())) == ["consent-status-not-mailable"]
    await feed_consents(gate, event(event_id="e2", kind="confirm", basis=None))
    assert (await decide(gate, emitter, send())).verdict == "allow"
    await feed_consents(gate, event(event_id="e3", kind="withdraw", basis=None))
    denied = await decide(gate, emitter, send())
    assert rules(denied) == ["consent-status-not-mailable", "casl-no-valid-consent"]
    assert "withdrew consent on 2024-05-10" in denied.failures[0].explanation


async def test_an_unsubscribe_click_withdraws_consent_and_is_named_once(
    gate: Gate, emitter: CollectingEmitter, offsets: ScriptedOffsets
) -> None:
    """The click changes both tables; the denial names the unsubscribe, not a second rule."""
    await feed_consents(gate, event())
    click = unsubscribe_click(
        recipient_key=KEYER.key(ADDRESS),
        scope="account",
        account_id="maple",
        clicked_at=datetime(2025, 2, 1, tzinfo=UTC),
    )
    key = gate.keyer.key(ADDRESS).encode()
    async with gate.agents["keep_suppressions"].test_context() as keeper:
        await keeper.put(gate.codec.encode(click), key=key, partition=0, wait=False)
        await emitted_until(emitter, lambda got: len(got) == 1)
    offsets.end[0] = 1
    assert rules(await decide(gate, emitter, send())) == ["account-unsubscribed"]
    # Re-importing the person changes nothing: the withdrawal stands.
    await feed_consents(
        gate, event(event_id="imp-1", kind="import", source_kind="import", source_id="i-9")
    )
    await feed_consents(
        gate,
        event(event_id="rev-1", kind="review_approved", basis=None, source_id="i-9"),
    )
    assert rules(await decide(gate, emitter, send())) == ["account-unsubscribed"]


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"basis": None}, "needs a basis"),
        ({"jurisdiction": "UK"}, "unknown jurisdiction"),
        ({"jurisdiction": "ZZ"}, "unknown jurisdiction"),
        ({"occurred_at": datetime(2026, 1, 15, 9, 6, tzinfo=UTC)}, "in the future"),
        ({"kind": "import", "source_kind": "import"}, "names its import"),
    ],
)
async def test_bad_consent_events_are_dead_lettered_with_a_reason(
    gate: Gate, emitter: CollectingEmitter, fields: dict[str, Any], reason: str
) -> None:
    """Missing basis, an unknown country, a date past the 5-minute tolerance: dead letters."""
    raw = event().model_dump()
    raw.update(fields)
    encoded = encode_unchecked(gate, raw)
    key = gate.keyer.key(ADDRESS).encode()
    async with gate.agents["keep_consents"].test_context() as keeper:
        await keeper.put(encoded, key=key, partition=1, wait=False)
        await emitted_until(emitter, lambda got: len(got) == 1)
    [letter] = [gate.codec.decode(e.value, DeadLetter) for e in emitter.on(gate.dead_letters_topic)]
    assert reason in letter.reason
    assert (letter.origin_partition, letter.agent) == (1, "keep_consents")
    assert letter.original_value == encoded


async def test_a_consent_event_within_the_clock_tolerance_is_kept(
    gate: Gate, emitter: CollectingEmitter
) -> None:
    """A grant dated 4 minutes ahead (clock skew) is not a future date."""
    await feed_consents(gate, event(occurred_at=datetime(2026, 1, 15, 9, 4, tzinfo=UTC)))
    assert (await decide(gate, emitter, send())).verdict == "allow"
    assert emitter.on(gate.dead_letters_topic) == []


async def notices_after_tick(gate: Gate, emitter: CollectingEmitter) -> list[ConsentNotice]:
    """One timer tick, and the consent agent handling the nudges it sent."""
    nudges_before = len(emitter.on(gate.consent_deadlines_topic))
    await nudge_due_consents(gate)
    nudges = emitter.on(gate.consent_deadlines_topic)[nudges_before:]
    if nudges:
        async with gate.agents["check_consent_deadlines"].test_context() as agent:
            for nudge in nudges:
                await agent.put(nudge.value, key=nudge.key, partition=0)
    return [
        gate.codec.decode(e.value, ConsentNotice) for e in emitter.on(gate.consent_notices_topic)
    ]


async def test_implied_consent_expiring_and_expired_are_emitted_once(
    gate: Gate, emitter: CollectingEmitter, clock: FrozenClock
) -> None:
    """CASL: a purchase on 2024-05-10 implies consent to 2026-05-10; the policy warns 30 days
    before. Each notice comes once, however often the timer ticks."""
    await feed_consents(gate, event(basis="implied_purchase", source_kind="checkout"))
    assert await notices_after_tick(gate, emitter) == []
    clock.advance(datetime(2026, 4, 10, 15, 0, tzinfo=UTC) - clock.now())  # 30 days before
    [expiring] = await notices_after_tick(gate, emitter)
    assert (expiring.kind, expiring.expires_at) == (
        "expiring",
        datetime(2026, 5, 10, 15, 0, tzinfo=UTC),
    )
    assert len(await notices_after_tick(gate, emitter)) == 1
    clock.advance(timedelta(days=30))
    notices = await notices_after_tick(gate, emitter)
    assert [notice.kind for notice in notices] == ["expiring", "expired"]
    clock.advance(timedelta(days=3))
    assert len(await notices_after_tick(gate, emitter)) == 2
    # and the gate now denies commercial mail, naming the day it lapsed
    denied = await decide(gate, emitter, send(requested_at=clock.now()))
    assert rules(denied) == ["casl-implied-consent-expired"]
    assert "lapsed on 2026-05-10" in denied.failures[0].explanation


async def test_after_a_recovery_the_timer_finds_deadlines_in_the_table(
    gate: Gate, emitter: CollectingEmitter, clock: FrozenClock
) -> None:
    """The index is memory only: a recovered table is read again before the next tick."""
    await feed_consents(gate, event(basis="implied_inquiry", source_kind="form"))
    gate.deadlines.reset()  # what a restart or rebalance leaves behind
    assert len(gate.deadlines) == 0
    # the clock (2026-01-15) is long past the inquiry's 6 months (2024-11-10)
    assert [n.kind for n in await notices_after_tick(gate, emitter)] == ["expired"]
