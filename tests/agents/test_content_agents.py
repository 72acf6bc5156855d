"""The gate's content side as agents: verified domains, cadences, the size limit, and
transactional misuse handed to the enforcer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import partial

from streams.core.records import (
    MAX_SEND_REQUEST_BYTES,
    BodyLink,
    DeadLetter,
    MessageBody,
    SendDecision,
    SendRequest,
)
from streams.gate.app import Gate
from streams.gate.emit import CollectingEmitter
from streams.reputation.standing import MisuseReport, misuse_report_id
from tests.agents.conftest import deciding, emitted_until
from tests.support.factory import consent_event, send_request, sender_domains

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
ADDRESS = "ana@example.com"


send = partial(send_request, recipient=ADDRESS, requested_at=NOW)
"""Acme's newsletter, or a receipt, to `ADDRESS`."""


async def opt_in(gate: Gate, cadence: str | None = None) -> None:
    grant = consent_event(
        recipient_key=gate.keyer.key(ADDRESS), cadence=cadence, occurred_at=NOW - timedelta(days=30)
    )
    async with gate.agents["keep_consents"].test_context() as keeper:
        await keeper.put(gate.codec.encode(grant), key=grant.recipient_key.encode(), partition=0)


async def decide(gate: Gate, emitter: CollectingEmitter, *requests: SendRequest) -> None:
    before = len(emitter.on(gate.decisions_topic))
    async with deciding(gate) as agent:
        for request in requests:
            key = gate.keyer.key(request.recipient).encode()
            await agent.put(gate.codec.encode(request), key=key, partition=0, wait=False)
        await emitted_until(
            emitter, lambda _: len(emitter.on(gate.decisions_topic)) >= before + len(requests)
        )


def decisions(gate: Gate, emitter: CollectingEmitter) -> list[SendDecision]:
    return [gate.codec.decode(e.value, SendDecision) for e in emitter.on(gate.decisions_topic)]


def rules(decision: SendDecision) -> list[str]:
    return [failure.rule for failure in decision.failures]


async def test_the_gate_allows_only_from_domains_the_platform_verified(
    gate: Gate, emitter: CollectingEmitter
) -> None:
    """An account with no verified domain is denied; once its `sender-domains` record reaches
    the worker's copy, allowed; a record keyed by another account is dead-lettered by the
    agent and left out of the copy."""
    await opt_in(gate)
    globex = send(request_id="g1", from_address="Globex <news@globex.example>", account_id="globex")
    await decide(gate, emitter, globex)
    assert "from-domain-not-verified" in rules(decisions(gate, emitter)[-1])

    record = gate.codec.encode(sender_domains(account_id="globex", changed_at=NOW))
    async with gate.agents["keep_sender_domains"].test_context() as keeper:
        await keeper.put(record, key=b"acme", partition=0)  # mis-keyed
        await keeper.put(record, key=b"globex", partition=0)
    [letter] = [gate.codec.decode(e.value, DeadLetter) for e in emitter.on(gate.dead_letters_topic)]
    assert letter.agent == "keep_sender_domains"
    assert "account id" in letter.reason

    gate.sender_domains.apply(b"acme", record)  # what each worker's copy reads, in order
    gate.sender_domains.apply(b"globex", record)
    assert gate.sender_domains.get(b"acme") == frozenset({"acme.example"})  # unchanged
    await decide(gate, emitter, globex.model_copy(update={"request_id": "g2"}))
    assert "from-domain-not-verified" not in rules(decisions(gate, emitter)[-1])


async def test_a_weekly_consent_holds_the_account_to_one_send_a_week(
    gate: Gate, emitter: CollectingEmitter
) -> None:
    """Event time: Monday goes, Wednesday waits, next Monday goes; replaying Monday's request
    decides it the same way and records nothing twice."""
    await opt_in(gate, cadence="weekly")
    monday = send(request_id="mon", requested_at=NOW)
    await decide(
        gate,
        emitter,
        monday,
        send(request_id="wed", requested_at=NOW + timedelta(days=2)),
        send(request_id="next-mon", requested_at=NOW + timedelta(days=7)),
        monday,
    )
    got = decisions(gate, emitter)
    assert [(d.request_id, rules(d)) for d in got] == [
        ("mon", []),
        ("wed", ["cadence-exceeded"]),
        ("next-mon", []),
        ("mon", []),
    ]
    key = gate.keyer.key(ADDRESS).encode()
    history = gate.send_history.get(key)
    assert [mark.request_id for mark in history.sends] == ["mon", "next-mon"]


async def test_without_a_cadence_the_gate_keeps_no_history(
    gate: Gate, emitter: CollectingEmitter
) -> None:
    await opt_in(gate)
    await decide(
        gate,
        emitter,
        send(request_id="a"),
        send(request_id="b", requested_at=NOW + timedelta(hours=1)),
    )
    assert [rules(d) for d in decisions(gate, emitter)] == [[], []]
    assert gate.send_history.get(gate.keyer.key(ADDRESS).encode()) is None


async def test_an_oversized_send_request_is_dead_lettered_with_the_limit(
    gate: Gate, emitter: CollectingEmitter
) -> None:
    """Valid fields, too many bytes: 60,000 characters of text in each of many links would pass
    each field's own limit, not the request's."""
    await opt_in(gate)
    links = tuple(
        BodyLink(url=f"https://www.acme.example/p/{i}", text="x" * 999) for i in range(300)
    )
    big = send(request_id="big", body=MessageBody(text="Acme Inc., 100 Main Street", links=links))
    assert len(gate.codec.encode(big)) > MAX_SEND_REQUEST_BYTES
    async with deciding(gate) as agent:
        key = gate.keyer.key(ADDRESS).encode()
        await agent.put(gate.codec.encode(big), key=key, partition=0, wait=False)
        await agent.put(gate.codec.encode(send(request_id="ok")), key=key, partition=0, wait=False)
        await emitted_until(emitter, lambda _: len(emitter.on(gate.decisions_topic)) == 1)
    [letter] = [gate.codec.decode(e.value, DeadLetter) for e in emitter.on(gate.dead_letters_topic)]
    assert letter.error_kind == "invalid"
    assert f"{MAX_SEND_REQUEST_BYTES:,}" in letter.reason
    assert [d.request_id for d in decisions(gate, emitter)] == ["ok"]


async def test_marketing_sent_as_transactional_is_denied_and_reported_to_the_enforcer(
    gate: Gate, emitter: CollectingEmitter
) -> None:
    """The receipt with a coupon is denied; a MisuseReport keyed by the account goes to
    content-misuse, under the same id when the request is decided again."""
    coupon = MessageBody(
        text=(
            "Thank you for your order 1042. Total charged: USD 42.00.\n"
            "Use code SAVE20 for 20% off your next order - shop now!\n"
            "Acme Inc., 100 Main Street, Springfield, IL 62701, USA"
        ),
        links=(BodyLink(url="https://www.acme.example/sale", text="Shop now"),),
    )
    receipt = send(request_id="receipt-1", classification="transactional", body=coupon)
    await decide(gate, emitter, receipt, receipt)
    first, again = decisions(gate, emitter)
    assert rules(first) == rules(again) == ["transactional-misuse"]
    assert "SAVE20" in first.failures[0].explanation or "code" in first.failures[0].explanation
    reports = emitter.on(gate.content_misuse_topic)
    assert [r.key for r in reports] == [b"acme", b"acme"]
    parsed = [gate.codec.decode(r.value, MisuseReport) for r in reports]
    assert {p.report_id for p in parsed} == {misuse_report_id("acme", "receipt-1")}
    assert {"discount_code", "money_off"} <= set(parsed[0].signals)
    assert parsed[0].detected_at == NOW


async def test_a_clean_receipt_is_not_reported(gate: Gate, emitter: CollectingEmitter) -> None:
    await decide(gate, emitter, send(request_id="receipt-2", classification="transactional"))
    assert decisions(gate, emitter)[0].verdict == "allow"
    assert emitter.on(gate.content_misuse_topic) == []
