"""Correcting an address through the agents: the correction's consent events, folded by the
consent keeper, let the account mail the corrected address and no longer the mistyped one; the
mistyped address keeps its suppressions, and the corrected one gets none of them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import partial

from streams.core.records import (
    AddressCorrection,
    ConsentEvent,
    DeadLetter,
    ErasureRequest,
    SendDecision,
)
from streams.gate.app import Gate
from streams.gate.emit import CollectingEmitter
from streams.privacy.erasure import erasure_click
from streams.topics import CONSENT_EVENTS
from tests.agents.conftest import deciding, emitted_until
from tests.support.factory import consent_event, send_request, unsubscribe_click

MISTYPED = "ana@exmaple.com"
CORRECTED = "ana@example.com"
SIGNED_UP = datetime(2026, 2, 2, 9, 0, tzinfo=UTC)
CORRECTED_AT = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
LATER = CORRECTED_AT + timedelta(hours=1)

request = partial(send_request, requested_at=LATER)


def key(gate: Gate, address: str) -> str:
    return gate.keyer.key(address)


def correction(gate: Gate, **fields: object) -> AddressCorrection:
    values: dict[str, object] = {
        "correction_id": "dpo-2026-0121",
        "old_recipient_key": key(gate, MISTYPED),
        "new_recipient_key": key(gate, CORRECTED),
        "requested_by": "privacy-desk",
        "requested_at": CORRECTED_AT,
        **fields,
    }
    return AddressCorrection.model_validate(values)


async def put(gate: Gate, agent: str, value: bytes, key: bytes, *, partition: int = 0) -> None:
    async with gate.agents[agent].test_context() as running:
        await running.put(value, key=key, partition=partition)


async def sign_up(gate: Gate, account: str, address: str = MISTYPED, **fields: object) -> None:
    grant = consent_event(
        event_id=f"signup-{account}",
        recipient_key=key(gate, address),
        account_id=account,
        occurred_at=SIGNED_UP,
        **fields,
    )
    await put(gate, "keep_consents", gate.codec.encode(grant), key(gate, address).encode())


async def correct(
    gate: Gate, emitter: CollectingEmitter, value: bytes | None = None, *, partition: int = 0
) -> list[ConsentEvent]:
    """Hand the correction to its agent, then its consent events to the consent keeper, as the
    broker would; the events it emitted."""
    before = len(emitter.on(gate.topic_name(CONSENT_EVENTS)))
    value = value if value is not None else gate.codec.encode(correction(gate))
    old = key(gate, MISTYPED).encode()
    await put(gate, "act_on_address_corrections", value, old, partition=partition)
    emitted = emitter.on(gate.topic_name(CONSENT_EVENTS))[before:]
    for item in emitted:
        await put(gate, "keep_consents", item.value, item.key or b"")
    return [gate.codec.decode(item.value, ConsentEvent) for item in emitted]


async def decide(
    gate: Gate, emitter: CollectingEmitter, address: str, **fields: object
) -> SendDecision:
    before = len(emitter.on(gate.decisions_topic))
    async with deciding(gate) as agent:
        value = gate.codec.encode(request(recipient=address, **fields))
        await agent.put(value, key=key(gate, address).encode(), partition=0)
        await emitted_until(emitter, lambda _: len(emitter.on(gate.decisions_topic)) > before)
    return gate.codec.decode(emitter.on(gate.decisions_topic)[-1].value, SendDecision)


def rules(decision: SendDecision) -> list[str]:
    return [failure.rule for failure in decision.failures]


def dead_letters(gate: Gate, emitter: CollectingEmitter) -> list[DeadLetter]:
    return [gate.codec.decode(e.value, DeadLetter) for e in emitter.on(gate.dead_letters_topic)]


async def test_the_consent_moves_so_the_corrected_address_is_mailed_and_the_mistyped_is_not(
    gate: Gate, emitter: CollectingEmitter
) -> None:
    await sign_up(gate, "acme", jurisdiction="DE")
    assert (await decide(gate, emitter, MISTYPED, request_id="b1")).verdict == "allow"
    before = await decide(gate, emitter, CORRECTED, request_id="b2", jurisdiction="DE")
    assert before.verdict == "deny"

    await correct(gate, emitter)

    moved = await decide(gate, emitter, CORRECTED, request_id="a1", jurisdiction="DE")
    assert moved.verdict == "allow", rules(moved)
    left = await decide(gate, emitter, MISTYPED, request_id="a2", jurisdiction="DE")
    assert left.verdict == "deny"
    assert "consent-status-not-mailable" in rules(left)
    assert "gdpr-pecr-no-valid-consent" in rules(left)


async def test_the_new_keys_events_are_on_the_broker_before_the_old_keys_withdrawal(
    gate: Gate, emitter: CollectingEmitter
) -> None:
    await sign_up(gate, "acme")
    events = await correct(gate, emitter, partition=1)
    [grant, withdraw] = events
    assert (grant.kind, grant.recipient_key) == ("grant", key(gate, CORRECTED))
    assert (withdraw.kind, withdraw.recipient_key) == ("withdraw", key(gate, MISTYPED))
    on_topic = emitter.on(gate.topic_name(CONSENT_EVENTS))
    assert [(item.key, item.partition) for item in on_topic] == [
        (key(gate, CORRECTED).encode(), None),  # where the producer hashes the new key
        (key(gate, MISTYPED).encode(), 1),  # the correction's own partition
    ]
    assert emitter.flushed_after == [emitter.emitted.index(on_topic[1])]


async def test_the_mistyped_address_keeps_its_suppressions_and_the_corrected_gets_none(
    gate: Gate, emitter: CollectingEmitter
) -> None:
    """Ana left maple's mail at the mistyped address: maple may still not mail it, acme's
    consent moves, and the corrected address is suppressed for nothing."""
    await sign_up(gate, "acme")
    await sign_up(gate, "maple")
    click = unsubscribe_click(
        click_id="unsub-maple",
        recipient_key=key(gate, MISTYPED),
        scope="account",
        account_id="maple",
        clicked_at=SIGNED_UP + timedelta(days=3),
    )
    await put(gate, "keep_suppressions", gate.codec.encode(click), key(gate, MISTYPED).encode())
    suppressed = gate.suppressions.get(key(gate, MISTYPED).encode())

    events = await correct(gate, emitter)

    assert {event.account_id for event in events} == {"acme"}
    assert gate.suppressions.get(key(gate, MISTYPED).encode()) == suppressed
    assert gate.suppressions.get(key(gate, CORRECTED).encode()) is None
    old_maple = await decide(gate, emitter, MISTYPED, request_id="m1", account_id="maple")
    assert "account-unsubscribed" in rules(old_maple)
    new_maple = await decide(gate, emitter, CORRECTED, request_id="m2", account_id="maple")
    assert new_maple.verdict == "deny"
    assert not [
        rule for rule in rules(new_maple) if rule.endswith(("-suppressed", "-unsubscribed"))
    ]
    assert (await decide(gate, emitter, CORRECTED, request_id="a1")).verdict == "allow"


async def test_a_hard_bounce_stays_with_the_address_that_bounced(
    gate: Gate, emitter: CollectingEmitter
) -> None:
    await sign_up(gate, "acme")
    bounce = unsubscribe_click(
        click_id="bounce-1",
        recipient_key=key(gate, MISTYPED),
        scope="platform",
        reason="hard_bounce",
        method="bounce_policy",
        clicked_at=SIGNED_UP + timedelta(days=1),
    )
    await put(gate, "keep_suppressions", gate.codec.encode(bounce), key(gate, MISTYPED).encode())

    assert await correct(gate, emitter) == []

    assert gate.suppressions.get(key(gate, CORRECTED).encode()) is None
    assert "platform-suppressed" in rules(await decide(gate, emitter, MISTYPED, request_id="x"))


async def test_a_correction_read_again_changes_nothing(
    gate: Gate, emitter: CollectingEmitter
) -> None:
    await sign_up(gate, "acme", requires_confirmation=True)
    confirm = consent_event(
        event_id="click-1",
        kind="confirm",
        recipient_key=key(gate, MISTYPED),
        occurred_at=SIGNED_UP + timedelta(minutes=5),
    )
    await put(gate, "keep_consents", gate.codec.encode(confirm), key(gate, MISTYPED).encode())
    first = await correct(gate, emitter)
    states = [gate.consents.get(key(gate, a).encode()) for a in (MISTYPED, CORRECTED)]
    assert states[1] is not None and states[1].entries[0].status == "double_opt_in"

    assert await correct(gate, emitter) == []  # the old key has nothing live to move any more
    for event in first:  # and the events themselves, delivered twice, are replays
        await put(gate, "keep_consents", gate.codec.encode(event), event.recipient_key.encode())
    assert [gate.consents.get(key(gate, a).encode()) for a in (MISTYPED, CORRECTED)] == states


async def test_bad_corrections_are_dead_lettered_and_the_agent_goes_on(
    gate: Gate, emitter: CollectingEmitter
) -> None:
    await sign_up(gate, "acme")
    other_key = correction(gate, old_recipient_key=key(gate, "bo@example.org"))
    future = correction(gate, requested_at=datetime.now(UTC) + timedelta(days=1))
    for value in (b"not avro", gate.codec.encode(other_key), gate.codec.encode(future)):
        assert await correct(gate, emitter, value) == []
    reasons = [letter.reason for letter in dead_letters(gate, emitter)]
    assert len(reasons) == 3
    assert "old_recipient_key" in reasons[1]
    assert "in the future" in reasons[2]
    assert all(
        letter.agent == "act_on_address_corrections" for letter in dead_letters(gate, emitter)
    )
    assert len(await correct(gate, emitter)) == 2


async def test_a_corrected_address_erased_since_the_consent_was_given_stays_erased(
    gate: Gate, emitter: CollectingEmitter
) -> None:
    """The consent keeper ignores events from before an erasure: a consent moved from a typo
    is one of them, and does not bring mail back to a person who asked to be erased."""
    await sign_up(gate, "acme")
    erasure = erasure_click(
        ErasureRequest(
            request_id="dpo-9",
            recipient_key=key(gate, CORRECTED),
            requested_by="dpo",
            requested_at=SIGNED_UP + timedelta(days=1),
        )
    )
    await put(gate, "keep_suppressions", gate.codec.encode(erasure), key(gate, CORRECTED).encode())

    assert len(await correct(gate, emitter)) == 2

    assert gate.consents.get(key(gate, CORRECTED).encode()) is None
    assert "platform-suppressed" in rules(await decide(gate, emitter, CORRECTED, request_id="e"))
