"""An erasure through the agents: the request becomes a platform suppression, the suppression
keeper deletes the person's other state in the same step and reports it, later events about the
time before the erasure stay out, and only a fresh express consent lets one account mail again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import pytest
from pydantic import SecretStr

from streams.core.clock import FrozenClock
from streams.core.records import (
    ErasureEvent,
    ErasureRequest,
    SendDecision,
    UnsubscribeClick,
)
from streams.core.settings import Settings
from streams.gate.agents import register_agents
from streams.gate.app import Gate, build_gate
from streams.gate.emit import CollectingEmitter
from streams.gate.keepers import nudge_due_consents
from streams.gate.tables import stored
from streams.privacy.erasure import erasure_click
from tests.agents.conftest import ScriptedOffsets, deciding, emitted_until, verify_test_domains
from tests.support.factory import SECRET, consent_event, delivery_event, send_request

ADDRESS = "ana@example.com"
BEFORE = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
ERASED_AT = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
AFTER = ERASED_AT + timedelta(days=1)

request = partial(send_request, requested_at=AFTER + timedelta(hours=1))


def key_of(gate: Gate) -> bytes:
    return gate.keyer.key(ADDRESS).encode()


def erasure_request(gate: Gate) -> ErasureRequest:
    return ErasureRequest(
        request_id="dpo-2026-0042",
        recipient_key=gate.keyer.key(ADDRESS),
        requested_by="dpo@platform",
        requested_at=ERASED_AT,
    )


async def put(gate: Gate, agent: str, value: bytes, *, partition: int = 0) -> None:
    async with gate.agents[agent].test_context() as running:
        await running.put(value, key=key_of(gate), partition=partition)


async def fill_state(gate: Gate, emitter: CollectingEmitter) -> None:
    """Ana signed up to acme, bought from maple (implied consent, which lapses: a deadline),
    bounced softly once (bounce history, and the provider learnt for the rates), and was mailed."""
    for account, basis in (("acme", "express"), ("maple", "implied_purchase")):
        grant = consent_event(
            event_id=f"signup-{account}",
            recipient_key=gate.keyer.key(ADDRESS),
            account_id=account,
            basis=basis,
            jurisdiction="CA",
            occurred_at=BEFORE,
            ip="198.51.100.7",
            user_agent="Mozilla/5.0",
        )
        await put(gate, "keep_consents", gate.codec.encode(grant))
    bounce = delivery_event(
        recipient_key=gate.keyer.key(ADDRESS),
        kind="bounced",
        bounce_class="soft",
        reason="mailbox_full",
        provider="google",
        occurred_at=BEFORE,
    )
    await put(gate, "keep_bounce_history", gate.codec.encode(bounce))
    mailed = await decide(gate, emitter, request_id="before", requested_at=BEFORE)
    assert mailed.verdict == "allow"


async def erase(gate: Gate, emitter: CollectingEmitter, offsets: ScriptedOffsets) -> None:
    """The request, then the suppression it asks for folded by the keeper (as the broker would
    hand it over), acknowledged to the fence."""
    await put(gate, "act_on_erasure_requests", gate.codec.encode(erasure_request(gate)))
    asked = emitter.on(gate.clicks_topic)[-1]
    before = len(emitter.on(gate.erasure_events_topic))
    await put(gate, "keep_suppressions", asked.value)
    await emitted_until(emitter, lambda _: len(emitter.on(gate.erasure_events_topic)) >= before + 2)
    offsets.end[0] = len(emitter.on(gate.clicks_topic))


def steps(gate: Gate, emitter: CollectingEmitter) -> list[ErasureEvent]:
    return [gate.codec.decode(e.value, ErasureEvent) for e in emitter.on(gate.erasure_events_topic)]


async def decide(gate: Gate, emitter: CollectingEmitter, **fields: object) -> SendDecision:
    before = len(emitter.on(gate.decisions_topic))
    async with deciding(gate) as agent:
        await agent.put(gate.codec.encode(request(**fields)), key=key_of(gate), partition=0)
        await emitted_until(emitter, lambda _: len(emitter.on(gate.decisions_topic)) > before)
    return gate.codec.decode(emitter.on(gate.decisions_topic)[-1].value, SendDecision)


def rules(decision: SendDecision) -> list[str]:
    return [failure.rule for failure in decision.failures]


async def test_a_request_becomes_its_platform_suppression_on_the_clicks_partition(
    gate: Gate, emitter: CollectingEmitter
) -> None:
    await put(
        gate, "act_on_erasure_requests", gate.codec.encode(erasure_request(gate)), partition=1
    )
    [asked] = emitter.on(gate.clicks_topic)
    click = gate.codec.decode(asked.value, UnsubscribeClick)
    assert (click.scope, click.reason, click.recipient_key) == (
        "platform",
        "erasure",
        gate.keyer.key(ADDRESS),
    )
    assert click.clicked_at == ERASED_AT
    assert click == erasure_click(erasure_request(gate))
    assert (asked.key, asked.partition) == (key_of(gate), 1)


async def test_the_suppression_deletes_every_other_entry_and_reports_each_table(
    gate: Gate, emitter: CollectingEmitter, offsets: ScriptedOffsets
) -> None:
    await fill_state(gate, emitter)
    key = key_of(gate)
    held = {
        "gate table consents": gate.consents.get(key),
        "gate table bounces": gate.bounces.get(key),
        "gate table send_history": gate.send_history.get(key),
        "gate table rate_inputs": gate.enforcement.rate_inputs.get(key),
        "gate table consent_deadlines": stored(gate.deadline_table, key),
    }
    for table in ("consents", "bounces", "rate_inputs", "consent_deadlines"):
        assert held[f"gate table {table}"] is not None
    await erase(gate, emitter, offsets)
    assert gate.consents.get(key) is None
    assert gate.bounces.get(key) is None
    assert gate.send_history.get(key) is None
    assert gate.enforcement.rate_inputs.get(key) is None
    # what is left in the deadline table is the time of the erasure's sweep (below)
    assert stored(gate.deadline_table, key) != held["gate table consent_deadlines"]
    [entry] = gate.suppressions.get(key).entries
    assert (entry.scope, entry.reason, entry.since) == ("platform", "erasure", ERASED_AT)
    suppressed, erased = steps(gate, emitter)
    assert (suppressed.event_id, erased.event_id) == (
        "dpo-2026-0042/suppressed",
        "dpo-2026-0042/state_erased",
    )
    deleted = {place.place: place.count for place in erased.places}
    assert deleted == {place: int(value is not None) for place, value in held.items()}
    assert all(place.action == "deleted" for place in erased.places)
    assert [(p.place, p.action) for p in suppressed.places] == [("gate table suppressions", "kept")]


async def test_the_same_erasure_again_deletes_nothing_more_under_the_same_step_ids(
    gate: Gate, emitter: CollectingEmitter, offsets: ScriptedOffsets
) -> None:
    await fill_state(gate, emitter)
    await erase(gate, emitter, offsets)
    await erase(gate, emitter, offsets)
    first, again = steps(gate, emitter)[1], steps(gate, emitter)[3]
    assert first.event_id == again.event_id
    assert sum(place.count for place in again.places) == 0
    assert len(gate.suppressions.get(key_of(gate)).entries) == 1


async def test_events_from_before_the_erasure_do_not_bring_state_back(
    gate: Gate, emitter: CollectingEmitter, offsets: ScriptedOffsets
) -> None:
    """A late sign-up record and a late bounce, both about the time before the erasure."""
    await erase(gate, emitter, offsets)
    late_signup = consent_event(
        event_id="late", recipient_key=gate.keyer.key(ADDRESS), occurred_at=BEFORE
    )
    await put(gate, "keep_consents", gate.codec.encode(late_signup))
    at_the_moment = consent_event(
        event_id="same-moment", recipient_key=gate.keyer.key(ADDRESS), occurred_at=ERASED_AT
    )
    await put(gate, "keep_consents", gate.codec.encode(at_the_moment))
    late_bounce = delivery_event(
        recipient_key=gate.keyer.key(ADDRESS),
        kind="bounced",
        bounce_class="hard",
        reason="no_such_user",
        occurred_at=BEFORE,
    )
    changes_before = len(emitter.on(gate.bounce_changes_topic))
    await put(gate, "keep_bounce_history", gate.codec.encode(late_bounce))
    assert gate.consents.get(key_of(gate)) is None
    assert gate.bounces.get(key_of(gate)) is None
    assert gate.enforcement.rate_inputs.get(key_of(gate)) is None
    assert len(emitter.on(gate.bounce_changes_topic)) == changes_before


async def test_every_send_after_the_erasure_is_denied_as_platform_suppressed(
    gate: Gate, emitter: CollectingEmitter, offsets: ScriptedOffsets
) -> None:
    await fill_state(gate, emitter)
    await erase(gate, emitter, offsets)
    for account in ("acme", "maple"):
        decision = await decide(gate, emitter, request_id=f"after-{account}", account_id=account)
        assert decision.verdict == "deny"
        assert "platform-suppressed" in rules(decision)
        assert "personal data to be erased" in decision.failures[0].explanation


async def test_an_import_after_the_erasure_lifts_nothing(
    gate: Gate, emitter: CollectingEmitter, offsets: ScriptedOffsets
) -> None:
    await erase(gate, emitter, offsets)
    for kind in ("import", "review_approved"):
        imported = consent_event(
            event_id=f"imp-{kind}",
            kind=kind,
            recipient_key=gate.keyer.key(ADDRESS),
            occurred_at=AFTER,
        )
        await put(gate, "keep_consents", gate.codec.encode(imported))
    assert gate.consents.get(key_of(gate)) is not None  # new data, kept
    decision = await decide(gate, emitter, request_id="after-import")
    assert "platform-suppressed" in rules(decision)


async def test_a_fresh_express_sign_up_lets_that_account_alone_mail_again(
    gate: Gate, emitter: CollectingEmitter, offsets: ScriptedOffsets
) -> None:
    await fill_state(gate, emitter)
    await erase(gate, emitter, offsets)
    signup = consent_event(
        event_id="signup-again", recipient_key=gate.keyer.key(ADDRESS), occurred_at=AFTER
    )
    await put(gate, "keep_consents", gate.codec.encode(signup))
    assert (await decide(gate, emitter, request_id="acme-again")).verdict == "allow"
    other = await decide(gate, emitter, request_id="maple-again", account_id="maple")
    assert "platform-suppressed" in rules(other)


async def test_a_request_published_straight_to_its_topic_stops_mail_once_acknowledged(
    gate: Gate,
    emitter: CollectingEmitter,
    offsets: ScriptedOffsets,
    erasure_offsets: ScriptedOffsets,
) -> None:
    """A platform's own tool publishes the request alone: the broker has it, the erasure agent
    has not read it yet. The gate reads it ahead, as it does a click, and denies the send."""
    await put(
        gate,
        "keep_consents",
        gate.codec.encode(
            consent_event(
                event_id="signup", recipient_key=gate.keyer.key(ADDRESS), occurred_at=BEFORE
            )
        ),
    )
    assert (await decide(gate, emitter, request_id="before")).verdict == "allow"
    raw = gate.codec.encode(erasure_request(gate))
    erasure_offsets.end[0] = 1
    erasure_offsets.committed[0] = 0
    erasure_offsets.records[0] = [(0, key_of(gate), raw)]
    denied = await decide(gate, emitter, request_id="after")
    assert denied.verdict == "deny"
    assert "platform-suppressed" in rules(denied)
    assert emitter.on(gate.clicks_topic) == []  # the agent has not handed it on yet


async def test_the_agent_hands_the_suppression_on_before_it_counts_the_request_handled(
    gate: Gate, emitter: CollectingEmitter
) -> None:
    """Its click is flushed to the broker within the request's handling, so the clicks' fence,
    asked after the erasure fence, finds it once the request counts as handled."""
    await put(gate, "act_on_erasure_requests", gate.codec.encode(erasure_request(gate)))
    assert emitter.flushed_after == [len(emitter.emitted)]
    assert emitter.on(gate.clicks_topic)


# --- the sweep ----------------------------------------------------------------------------------


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(ERASED_AT + timedelta(seconds=1))


@pytest.fixture
def clocked(
    tmp_path: Path, offsets: ScriptedOffsets, emitter: CollectingEmitter, clock: FrozenClock
) -> Gate:
    """The gate on a clock the test moves (retention 1000 s: segments of 100 s)."""
    settings = Settings(
        topic_prefix="erasuretest-",
        topic_partitions=2,
        table_store="memory://",
        data_dir=tmp_path,
        recipient_key_secret=SecretStr(SECRET),
        state_fence_timeout_s=2.0,
        personal_topic_retention_s=1000,
    )
    gate = build_gate(
        settings, emitter=emitter, offsets=offsets, erasure_offsets=ScriptedOffsets(), clock=clock
    )
    register_agents(gate)
    gate.app.finalize()
    gate.app.conf.store = "memory://"
    verify_test_domains(gate)
    return gate


async def tick(gate: Gate, emitter: CollectingEmitter) -> None:
    """One consent timer tick, and the consent agent handling the nudges it sent."""
    before = len(emitter.on(gate.consent_deadlines_topic))
    await nudge_due_consents(gate)
    async with gate.agents["check_consent_deadlines"].test_context() as agent:
        for nudge in emitter.on(gate.consent_deadlines_topic)[before:]:
            await agent.put(nudge.value, key=nudge.key, partition=0)


async def test_a_segment_after_the_erasure_the_changelogs_get_a_tombstone_again(
    clocked: Gate, emitter: CollectingEmitter, offsets: ScriptedOffsets, clock: FrozenClock
) -> None:
    """Kafka compacts no active segment and rolls one only on a write: the sweep writes one more
    tombstone per table a segment (100 s) later, where the person still has no entry."""
    gate = clocked
    await fill_state(gate, emitter)
    await erase(gate, emitter, offsets)
    swept: list[tuple[str, bytes]] = []
    for table in (gate.consents, gate.bounces, gate.send_history, gate.enforcement.rate_inputs):
        name = table.table.name
        original = table.table.on_key_del
        table.table.on_key_del = lambda key, name=name, original=original: (  # type: ignore[method-assign]
            swept.append((name, key)),
            original(key),
        )
    await tick(gate, emitter)
    assert swept == []  # not due yet
    assert stored(gate.deadline_table, key_of(gate)) is not None
    clock.advance(timedelta(seconds=101))
    await tick(gate, emitter)
    assert sorted(name for name, _ in swept) == sorted(
        t.table.name
        for t in (gate.consents, gate.bounces, gate.send_history, gate.enforcement.rate_inputs)
    )
    assert {key for _, key in swept} == {key_of(gate)}
    assert stored(gate.deadline_table, key_of(gate)) is None
    assert gate.suppressions.get(key_of(gate)) is not None
    swept.clear()
    clock.advance(timedelta(days=1))
    await tick(gate, emitter)
    assert swept == []  # once


async def test_the_sweep_leaves_a_new_sign_up_alone(
    clocked: Gate, emitter: CollectingEmitter, offsets: ScriptedOffsets, clock: FrozenClock
) -> None:
    gate = clocked
    await erase(gate, emitter, offsets)
    signup = consent_event(
        event_id="signup-again",
        recipient_key=gate.keyer.key(ADDRESS),
        occurred_at=clock.now() + timedelta(seconds=10),
    )
    clock.advance(timedelta(seconds=20))
    await put(gate, "keep_consents", gate.codec.encode(signup))
    clock.advance(timedelta(seconds=100))
    await tick(gate, emitter)
    assert gate.consents.get(key_of(gate)) is not None
