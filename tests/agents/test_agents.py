"""The keeper and the gate as agents: decode, decide, emit, and dead-letter bad input."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial

from streams.core.records import (
    DeadLetter,
    SendDecision,
    SuppressionChange,
)
from streams.gate.app import Gate
from streams.gate.deciding import decide_batch
from streams.gate.emit import CollectingEmitter
from tests.agents.conftest import (
    RequestRecord,
    ScriptedOffsets,
    deciding,
    emitted_until,
    still_ours,
)
from tests.support.factory import consent_event, send_request, unsubscribe_click

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)

request = partial(send_request, request_id="r1", requested_at=NOW)
"""Acme's newsletter to ana@example.com, request `r1` unless the test names another."""


async def opt_in(gate: Gate, address: str = "ana@example.com", partition: int = 0) -> None:
    """The recipient signs up to everything of account acme (express consent, single opt-in), so
    only the suppression rules are left to judge the sends of these tests."""
    grant = consent_event(recipient_key=gate.keyer.key(address), occurred_at=NOW)
    key = grant.recipient_key.encode()
    async with gate.agents["keep_consents"].test_context() as keeper:
        await keeper.put(gate.codec.encode(grant), key=key, partition=partition)


def decisions(gate: Gate, emitter: CollectingEmitter) -> list[SendDecision]:
    return [gate.codec.decode(e.value, SendDecision) for e in emitter.on(gate.decisions_topic)]


def dead_letters(gate: Gate, emitter: CollectingEmitter) -> list[DeadLetter]:
    return [gate.codec.decode(e.value, DeadLetter) for e in emitter.on(gate.dead_letters_topic)]


async def test_send_after_click_is_denied_and_the_change_is_audited(
    gate: Gate, emitter: CollectingEmitter, offsets: ScriptedOffsets
) -> None:
    """A folded list unsubscribe denies the next send to that list, naming the rule."""
    key = gate.keyer.key("ana@example.com").encode()
    async with gate.agents["keep_suppressions"].test_context() as keeper:
        await keeper.put(
            gate.codec.encode(unsubscribe_click(clicked_at=NOW)),
            key=key,
            partition=0,
            wait=False,
        )
        await emitted_until(emitter, lambda got: len(got) == 1)
    offsets.end[0] = 1
    async with deciding(gate) as gate_agent:
        await gate_agent.put(gate.codec.encode(request()), key=key, partition=0, wait=False)
        await emitted_until(emitter, lambda got: len(got) == 2)
    change = gate.codec.decode(
        emitter.on(gate.suppression_changes_topic)[0].value, SuppressionChange
    )
    assert change.outcome == "added"
    [decision] = decisions(gate, emitter)
    assert decision.verdict == "deny"
    assert [f.rule for f in decision.failures] == ["list-unsubscribed"]
    assert decision.state_offsets == {"agenttest-unsubscribe-clicks": 1}
    assert emitter.on(gate.decisions_topic)[0].key == key


async def test_gate_reads_ahead_a_click_the_keeper_has_not_applied(
    gate: Gate, emitter: CollectingEmitter, offsets: ScriptedOffsets
) -> None:
    """The send comes first; the broker already holds the click: the gate reads it and denies."""
    key = gate.keyer.key("ana@example.com").encode()
    offsets.end[0] = 1  # the click at offset 0 is acknowledged, the keeper has not seen it
    offsets.records[0] = [
        (
            0,
            key,
            gate.codec.encode(unsubscribe_click(clicked_at=NOW)),
        )
    ]
    async with deciding(gate) as gate_agent:
        await gate_agent.put(gate.codec.encode(request()), key=key, partition=0, wait=False)
        await emitted_until(emitter, lambda got: len(decisions(gate, emitter)) == 1)
    [decision] = decisions(gate, emitter)
    assert [f.rule for f in decision.failures] == ["list-unsubscribed"]
    assert decision.suppressions_seen[0].source == "agenttest-unsubscribe-clicks/0/0"
    assert emitter.on(gate.suppression_changes_topic) == []  # the keeper still owns the table


async def test_a_click_for_someone_else_read_ahead_changes_nothing(
    gate: Gate, emitter: CollectingEmitter, offsets: ScriptedOffsets
) -> None:
    """Read-ahead clicks apply only to their own recipient."""
    await opt_in(gate)
    other = unsubscribe_click(recipient_key=gate.keyer.key("other@example.com"), clicked_at=NOW)
    offsets.end[0] = 1
    offsets.records[0] = [(0, other.recipient_key.encode(), gate.codec.encode(other))]
    key = gate.keyer.key("ana@example.com").encode()
    async with deciding(gate) as gate_agent:
        await gate_agent.put(gate.codec.encode(request()), key=key, partition=0, wait=False)
        await emitted_until(emitter, lambda got: len(decisions(gate, emitter)) == 1)
    assert decisions(gate, emitter)[0].verdict == "allow"


async def test_committed_offset_is_the_floor_after_a_restart(
    gate: Gate, emitter: CollectingEmitter, offsets: ScriptedOffsets
) -> None:
    """Clicks below the group's committed offset were applied in an earlier life: no wait."""
    await opt_in(gate, "bo@example.com", partition=1)
    offsets.end[1] = 500
    offsets.committed[1] = 500
    key = gate.keyer.key("bo@example.com").encode()
    async with deciding(gate) as gate_agent:
        await gate_agent.put(
            gate.codec.encode(request(recipient="bo@example.com")), key=key, partition=1, wait=False
        )
        await emitted_until(emitter, lambda got: len(got) == 1)
    [decision] = decisions(gate, emitter)
    assert decision.verdict == "allow"


async def test_gate_fails_closed_when_the_clicks_cannot_be_read(
    gate: Gate, emitter: CollectingEmitter, offsets: ScriptedOffsets
) -> None:
    """If the state cannot be confirmed current within the timeout, the send is denied."""
    await opt_in(gate)
    offsets.end[0] = 3  # three clicks the broker cannot serve
    key = gate.keyer.key("ana@example.com").encode()
    async with deciding(gate) as gate_agent:
        await gate_agent.put(gate.codec.encode(request()), key=key, partition=0, wait=False)
        await emitted_until(emitter, lambda got: len(got) == 1, timeout_s=10)
    [decision] = decisions(gate, emitter)
    assert [f.rule for f in decision.failures] == ["suppressions-not-current"]


async def test_every_kind_of_bad_send_request_is_dead_lettered_and_the_gate_goes_on(
    gate: Gate, emitter: CollectingEmitter
) -> None:
    """Undecodable, unknown schema, invalid, mis-keyed: each to dead-letters; a good one after."""
    good_key = gate.keyer.key("ana@example.com").encode()
    unknown_schema = b"\xc3\x01" + b"\x00" * 8 + b"\x02"
    wrong_type = gate.codec.encode(unsubscribe_click(clicked_at=NOW))
    invalid = bytearray(gate.codec.encode(request()))
    bad = [
        (b"not avro at all", good_key, "undecodable"),
        (unknown_schema, good_key, "unknown_schema"),
        (wrong_type, good_key, "unknown_schema"),
        (bytes(invalid[:-3]), good_key, "undecodable"),
        (
            gate.codec.encode(request()),
            gate.keyer.key("someone-else@example.com").encode(),
            "invalid",
        ),
        (gate.codec.encode(request()), None, "invalid"),
    ]
    async with deciding(gate) as gate_agent:
        for value, key, _ in bad:
            await gate_agent.put(value, key=key, partition=0, wait=False)
        await gate_agent.put(gate.codec.encode(request()), key=good_key, partition=0, wait=False)
        await emitted_until(emitter, lambda got: len(got) == len(bad) + 1)
    letters = dead_letters(gate, emitter)
    assert [letter.error_kind for letter in letters] == [kind for _, _, kind in bad]
    assert [letter.origin_offset for letter in letters] == list(range(len(bad)))
    assert all(letter.origin_topic == "agenttest-send-requests" for letter in letters)
    assert [letter.original_value for letter in letters] == [value for value, _, _ in bad]
    assert all("ana@example.com" not in letter.reason for letter in letters)
    assert [d.request_id for d in decisions(gate, emitter)] == ["r1"]


async def test_bad_clicks_are_dead_lettered_and_the_keeper_goes_on(
    gate: Gate, emitter: CollectingEmitter
) -> None:
    """A click keyed by another recipient would land on the wrong partition: dead-lettered."""
    good = unsubscribe_click(clicked_at=NOW)
    async with gate.agents["keep_suppressions"].test_context() as keeper:
        await keeper.put(b"\x00garbage", key=b"k", partition=0, wait=False)
        await keeper.put(
            gate.codec.encode(good), key=gate.keyer.key("other@example.com").encode(), wait=False
        )
        await keeper.put(gate.codec.encode(good), key=good.recipient_key.encode(), wait=False)
        await emitted_until(emitter, lambda got: len(got) == 3)
    assert [d.error_kind for d in dead_letters(gate, emitter)] == ["undecodable", "invalid"]
    assert len(emitter.on(gate.suppression_changes_topic)) == 1


async def test_replayed_click_changes_nothing(gate: Gate, emitter: CollectingEmitter) -> None:
    """The same click twice: the table keeps one entry, the second is audited as a replay."""
    good = unsubscribe_click(clicked_at=NOW)
    key = good.recipient_key.encode()
    async with gate.agents["keep_suppressions"].test_context() as keeper:
        for _ in range(2):
            await keeper.put(gate.codec.encode(good), key=key, partition=0, wait=False)
        await emitted_until(emitter, lambda got: len(got) == 2)
    outcomes = [
        gate.codec.decode(e.value, SuppressionChange).outcome
        for e in emitter.on(gate.suppression_changes_topic)
    ]
    assert outcomes == ["added", "replayed"]


async def test_allowed_commercial_decisions_carry_the_list_headers_and_denials_do_not(
    gate: Gate, emitter: CollectingEmitter
) -> None:
    """The mailer adds List-Unsubscribe, List-Unsubscribe-Post and List-Id to an allowed
    commercial message; the one-click link's token names the recipient key, account, list and
    request (RFC 8058)."""
    await opt_in(gate)
    key = gate.keyer.key("ana@example.com").encode()
    receipt = request(request_id="r2", classification="transactional", list_id=None)
    role = request(recipient="info@example.com", request_id="r3")
    async with deciding(gate) as gate_agent:
        await gate_agent.put(gate.codec.encode(request()), key=key, partition=0, wait=False)
        await gate_agent.put(gate.codec.encode(receipt), key=key, partition=0, wait=False)
        role_key = gate.keyer.key("info@example.com").encode()
        await gate_agent.put(gate.codec.encode(role), key=role_key, partition=0, wait=False)
        await emitted_until(emitter, lambda got: len(decisions(gate, emitter)) == 3)
    by_id = {d.request_id: d for d in decisions(gate, emitter)}
    allowed = by_id["r1"]
    assert allowed.verdict == "allow"
    assert set(allowed.headers) == {"List-Unsubscribe", "List-Unsubscribe-Post", "List-Id"}
    link = allowed.headers["List-Unsubscribe"].split(",")[0].strip("<> ")
    token = gate.signing.tokens.verify(link.rsplit("/u/", 1)[1], now=allowed.decided_at)
    assert (token.recipient_key, token.account_id, token.list_id, token.request_id) == (
        key.decode(),
        "acme",
        "news",
        "r1",
    )
    assert link.startswith(gate.settings.unsubscribe_base_url)
    assert by_id["r2"].verdict == "allow" and by_id["r2"].headers == {}  # transactional
    assert by_id["r3"].verdict == "deny" and by_id["r3"].headers == {}


async def test_a_batch_that_moved_during_its_fence_is_dropped_undecided(
    gate: Gate, emitter: CollectingEmitter, offsets: ScriptedOffsets
) -> None:
    """A rebalance that started while the batch waited on its fences takes the partition away:
    the batch writes nothing, and its next owner decides it from the committed offset."""
    await opt_in(gate)
    key = gate.keyer.key("ana@example.com").encode()
    topic = gate.send_requests.get_topic_name()
    record = RequestRecord(topic, 0, 0, key, gate.codec.encode(request()))
    before = len(emitter.emitted)
    assert not await decide_batch(gate, [record], still_ours(False))
    assert len(emitter.emitted) == before
    assert await decide_batch(gate, [record], still_ours(True))
    assert [d.verdict for d in decisions(gate, emitter)] == ["allow"]
