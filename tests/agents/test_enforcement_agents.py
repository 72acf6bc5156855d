"""Complaint rates to enforcement, through the real agents: delivery events and feedback reports
-> rate events -> rates -> breach -> strike -> accounts table -> the gate's denials.

The records each stage emits are handed to the next stage's agent by the test (`pipe`), as Kafka
would; tests/integration/test_enforcement.py runs the same chain on the real broker.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from streams.core.clock import FrozenClock
from streams.core.records import (
    DeliveryEvent,
    FeedbackReport,
    SendDecision,
    SendRequest,
)
from streams.core.settings import Settings
from streams.gate.agents import register_agents
from streams.gate.app import Gate, build_gate
from streams.gate.emit import CollectingEmitter, Emitted
from streams.gate.enforcer import tick_rates
from streams.policy import load_policy
from streams.reputation.policy import RatesPolicy
from streams.reputation.standing import (
    AccountSnapshot,
    EnforcementEvent,
    MisuseReport,
    ReinstatementRequest,
    misuse_report_id,
)
from streams.topics import ACCOUNT_COMMANDS
from tests.agents.conftest import ScriptedOffsets, deciding, verify_test_domains
from tests.support.factory import (
    consent_event,
    delivery_event,
    feedback_report,
    send_request,
)

NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
ACCOUNT = "acme"


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(NOW)


def make_gate(
    tmp_path: Path,
    offsets: ScriptedOffsets,
    emitter: CollectingEmitter,
    clock: FrozenClock,
    rates: RatesPolicy | None = None,
) -> Gate:
    settings = Settings(
        topic_prefix="enforcetest-",
        topic_partitions=1,
        table_store="memory://",
        data_dir=tmp_path,
        recipient_key_secret=SecretStr("enforcement-agent-test-secret-0123456789"),
        state_fence_timeout_s=2.0,
    )
    default = load_policy()
    rates = rates or default.rates.model_copy(update={"act_at_once": True})
    policy = default.model_copy(update={"rates": rates})
    gate = build_gate(
        settings,
        policy=policy,
        emitter=emitter,
        offsets=offsets,
        erasure_offsets=ScriptedOffsets(),
        clock=clock,
    )
    register_agents(gate)
    gate.app.finalize()
    gate.app.conf.store = "memory://"
    verify_test_domains(gate)
    return gate


@pytest.fixture
def gate(
    tmp_path: Path, offsets: ScriptedOffsets, emitter: CollectingEmitter, clock: FrozenClock
) -> Gate:
    return make_gate(tmp_path, offsets, emitter, clock)


class Pipe:
    """Hands what one stage emitted on a topic to the agent that reads it, once each."""

    def __init__(self, gate: Gate, emitter: CollectingEmitter) -> None:
        self.gate, self.emitter = gate, emitter
        self.taken: dict[str, int] = {}

    async def __call__(self, topic: str, agent: str) -> int:
        records = self.emitter.on(topic)[self.taken.get(topic, 0) :]
        self.taken[topic] = self.taken.get(topic, 0) + len(records)
        if records:
            async with self.gate.agents[agent].test_context() as context:
                for record in records:
                    await context.put(record.value, key=record.key, partition=0)
        if topic == self.gate.enforcement_events_topic:
            # What every worker's copy of the topic reads (streams.gate.broadcast), in log order.
            for record in records:
                self.gate.accounts.apply(record.key, record.value)
        return len(records)


def address(index: int, domain: str = "gmail.com") -> str:
    return f"reader{index}@{domain}"


def delivered(gate: Gate, index: int, domain: str = "gmail.com") -> DeliveryEvent:
    """The MTA delivered the account's mail to reader `index` at `domain`."""
    reader = address(index, domain)
    return delivery_event(
        event_id=f"d{index}@{domain}",
        recipient_key=gate.keyer.key(reader),
        occurred_at=NOW - timedelta(hours=2),
        source="mta",
        provider=gate.enforcement.providers.provider_of_address(reader),
    )


def complaint(gate: Gate, index: int) -> FeedbackReport:
    """The Gmail reader `index` reports the account's mail as spam."""
    return feedback_report(
        report_id=f"arf-{index}",
        recipient_key=gate.keyer.key(address(index)),
        reporter="Yahoo! Inc.",
        received_at=NOW - timedelta(hours=1),
    )


request = partial(send_request, list_id=None, subject="Spring offers", requested_at=NOW)
"""A broadcast of the account (another `classification` or `send_kind` if the test says)."""


async def deliver_and_complain(gate: Gate, pipe: Pipe, *, volume: int, complaints: int) -> None:
    async with gate.agents["keep_bounce_history"].test_context() as bounces:
        for index in range(volume):
            event = delivered(gate, index)
            await bounces.put(gate.codec.encode(event), key=event.recipient_key.encode())
    async with gate.agents["act_on_feedback"].test_context() as feedback:
        for index in range(complaints):
            report = complaint(gate, index)
            await feedback.put(gate.codec.encode(report), key=report.recipient_key.encode())
    await pipe(gate.rate_events_topic, "keep_rates")


async def run_enforcement(gate: Gate, pipe: Pipe) -> None:
    await pipe(gate.rate_breaches_topic, "enforce_accounts")
    await pipe(gate.enforcement_events_topic, "check_enforcement_events")


def enforcement(gate: Gate, emitter: CollectingEmitter) -> list[EnforcementEvent]:
    return [
        gate.codec.decode(e.value, EnforcementEvent)
        for e in emitter.on(gate.enforcement_events_topic)
    ]


async def decide(gate: Gate, emitter: CollectingEmitter, *requests: SendRequest) -> list[Any]:
    before = len(emitter.on(gate.decisions_topic))
    async with gate.agents["keep_consents"].test_context() as keeper:
        for item in requests:  # everyone opted in: only the account rules can deny
            grant = consent_event(
                event_id=f"g-{item.request_id}",
                recipient_key=gate.keyer.key(item.recipient),
                occurred_at=NOW - timedelta(days=30),
            )
            await keeper.put(gate.codec.encode(grant), key=grant.recipient_key.encode())
    async with deciding(gate) as gate_agent:
        for item in requests:
            key = gate.keyer.key(item.recipient).encode()
            await gate_agent.put(gate.codec.encode(item), key=key, partition=0)
    return [
        gate.codec.decode(e.value, SendDecision) for e in emitter.on(gate.decisions_topic)[before:]
    ]


async def test_one_complaint_in_1000_is_on_the_line_and_strikes_nobody(
    gate: Gate, emitter: CollectingEmitter
) -> None:
    pipe = Pipe(gate, emitter)
    await deliver_and_complain(gate, pipe, volume=1000, complaints=1)
    assert emitter.on(gate.rate_breaches_topic) == []
    await run_enforcement(gate, pipe)
    assert [e.action for e in enforcement(gate, emitter)] == ["fine_assessed"]


async def test_two_complaints_in_1000_at_one_provider_strike_and_disable_broadcasts(
    gate: Gate, emitter: CollectingEmitter
) -> None:
    pipe = Pipe(gate, emitter)
    await deliver_and_complain(gate, pipe, volume=1000, complaints=2)
    await run_enforcement(gate, pipe)

    events = enforcement(gate, emitter)
    actions = [e.action for e in events]
    # Both complainers had no consent on record: a fine each (RFC 5965 "abuse" reports).
    assert actions.count("fine_assessed") == 2
    # The reports name no provider: the fines take the one learnt from the deliveries.
    assert {e.provider for e in events if e.action == "fine_assessed"} == {"google"}
    strike = next(e for e in events if e.action == "strike_issued")
    assert (strike.strike_number, strike.provider, strike.count, strike.volume) == (
        1,
        "google",
        2,
        1000,
    )
    assert strike.rate == Decimal("0.002")  # 2 / 1,000, over the 0.001 line
    assert strike.line == Decimal("0.001")
    assert "broadcasts_disabled" in actions
    status = gate.accounts.get(ACCOUNT.encode())
    assert (status.status, status.broadcasts_denied, status.strikes) == (
        "broadcasts_disabled",
        True,
        1,
    )

    decisions = await decide(
        gate,
        emitter,
        # another provider: still a broadcast
        request(recipient="new1@yahoo.com", request_id="bulk-yahoo"),
        request(recipient="new2@gmail.com", request_id="bulk-gmail"),
        request(recipient="new3@yahoo.com", request_id="one-off", send_kind="one_off"),
        request(recipient="new4@gmail.com", request_id="receipt", classification="transactional"),
    )
    verdicts = {d.request_id: (d.verdict, [f.rule for f in d.failures]) for d in decisions}
    assert verdicts == {
        "bulk-yahoo": ("deny", ["account-broadcasts-disabled"]),
        "bulk-gmail": ("deny", ["account-broadcasts-disabled"]),
        "one-off": ("allow", []),
        "receipt": ("allow", []),
    }
    assert {d.request_id: d.provider for d in decisions}["bulk-yahoo"] == "yahoo"


async def test_replayed_rate_events_and_breaches_change_nothing(
    gate: Gate, emitter: CollectingEmitter
) -> None:
    pipe = Pipe(gate, emitter)
    await deliver_and_complain(gate, pipe, volume=1000, complaints=2)
    await run_enforcement(gate, pipe)
    first = enforcement(gate, emitter)

    # The same delivery events and reports again (an upstream replay): handed on never again.
    rate_events = len(emitter.on(gate.rate_events_topic))
    await deliver_and_complain(gate, pipe, volume=1000, complaints=2)
    assert len(emitter.on(gate.rate_events_topic)) == rate_events
    # The same breach again (a replay of rate-breaches): the strike is not issued twice.
    pipe.taken[gate.rate_breaches_topic] = 0
    await run_enforcement(gate, pipe)
    assert [e.event_id for e in enforcement(gate, emitter)] == [e.event_id for e in first]


async def test_reinstatement_reenables_broadcasts_and_keeps_the_strike(
    gate: Gate, emitter: CollectingEmitter
) -> None:
    pipe = Pipe(gate, emitter)
    await deliver_and_complain(gate, pipe, volume=1000, complaints=2)
    await run_enforcement(gate, pipe)

    command = ReinstatementRequest(
        reinstatement_id="rein-1",
        account_id=ACCOUNT,
        by="ops:maria",
        reason="passed the best-practice test",
        requested_at=NOW,
    )
    commands = ACCOUNT_COMMANDS.full_name(gate.settings)
    emitter.emitted.append(
        type(emitter.emitted[0])(commands, ACCOUNT.encode(), gate.codec.encode(command))
    )
    emitter.emitted.append(
        type(emitter.emitted[0])(commands, ACCOUNT.encode(), gate.codec.encode(command))
    )  # twice: a replayed command
    await pipe(commands, "enforce_accounts")
    await pipe(gate.enforcement_events_topic, "check_enforcement_events")

    reinstated = [e for e in enforcement(gate, emitter) if e.action == "reinstated"]
    assert len(reinstated) == 1
    assert (reinstated[0].by, reinstated[0].reason, reinstated[0].strikes_kept) == (
        "ops:maria",
        "passed the best-practice test",
        1,
    )
    status = gate.accounts.get(ACCOUNT.encode())
    assert (status.broadcasts_denied, status.strikes) == (False, 1)
    decisions = await decide(
        gate, emitter, request(recipient="new5@yahoo.com", request_id="bulk-after")
    )
    assert [d.verdict for d in decisions] == ["allow"]


async def test_an_opted_in_complainer_costs_no_fine(gate: Gate, emitter: CollectingEmitter) -> None:
    grant = consent_event(
        event_id="g-complainer",
        recipient_key=gate.keyer.key(address(0)),
        occurred_at=NOW - timedelta(days=60),
    )
    async with gate.agents["keep_consents"].test_context() as keeper:
        await keeper.put(gate.codec.encode(grant), key=grant.recipient_key.encode())
    pipe = Pipe(gate, emitter)
    await deliver_and_complain(gate, pipe, volume=10, complaints=1)
    await run_enforcement(gate, pipe)
    assert enforcement(gate, emitter) == []


async def test_a_bad_rate_event_is_dead_lettered_and_the_keeper_goes_on(
    gate: Gate, emitter: CollectingEmitter
) -> None:
    async with gate.agents["keep_rates"].test_context() as keeper:
        await keeper.put(b"\x00not avro", key=b"acme|google", partition=0)
    async with gate.agents["enforce_accounts"].test_context() as enforcer:
        await enforcer.put(b"\x00not avro", key=b"acme", partition=0)
    letters = emitter.on(gate.dead_letters_topic)
    assert len(letters) == 2


async def test_a_complaint_rate_over_the_ses_pause_level_pauses_that_provider_only(
    tmp_path: Path, offsets: ScriptedOffsets, emitter: CollectingEmitter, clock: FrozenClock
) -> None:
    """Preset ses-pauses: 6 complaints of 1,000 at Google (0.6%) pass SES's pause level (0.5%):
    strike 1 and a pause at Google; mail to Yahoo readers still goes (if it is no broadcast)."""
    gate = make_gate(
        tmp_path, offsets, emitter, clock, RatesPolicy.preset("ses-pauses", act_at_once=True)
    )
    pipe = Pipe(gate, emitter)
    await deliver_and_complain(gate, pipe, volume=1000, complaints=6)
    await run_enforcement(gate, pipe)
    actions = {e.action for e in enforcement(gate, emitter)}
    assert {"review_flagged", "strike_issued", "provider_paused"} <= actions
    status = gate.accounts.get(ACCOUNT.encode())
    assert status.paused_providers == ("google",)

    decisions = await decide(
        gate,
        emitter,
        request(
            recipient="buyer@gmail.com", request_id="receipt-gmail", classification="transactional"
        ),
        request(
            recipient="buyer@yahoo.com", request_id="receipt-yahoo", classification="transactional"
        ),
    )
    verdicts = {d.request_id: [f.rule for f in d.failures] for d in decisions}
    assert verdicts == {"receipt-gmail": ["provider-paused"], "receipt-yahoo": []}


async def test_hard_bounces_over_7_percent_of_the_account_strike(
    gate: Gate, emitter: CollectingEmitter
) -> None:
    """The bounce rate is judged per account, over every provider: 15 hard bounces of 200
    attempted (7.5%, over the 7% line) split between Gmail and Yahoo readers."""
    pipe = Pipe(gate, emitter)
    async with gate.agents["keep_bounce_history"].test_context() as bounces:
        for index in range(185):
            domain = "gmail.com" if index % 2 else "yahoo.com"
            event = delivered(gate, index, domain)
            await bounces.put(gate.codec.encode(event), key=event.recipient_key.encode())
        for index in range(185, 200):
            domain = "gmail.com" if index % 2 else "yahoo.com"
            event = delivered(gate, index, domain).model_copy(
                update={"kind": "bounced", "bounce_class": "hard", "status": "5.1.1"}
            )
            await bounces.put(gate.codec.encode(event), key=event.recipient_key.encode())
    await pipe(gate.rate_events_topic, "keep_rates")
    await run_enforcement(gate, pipe)
    [strike] = [e for e in enforcement(gate, emitter) if e.action == "strike_issued"]
    assert (strike.breach_kind, strike.provider, strike.count, strike.volume) == (
        "bounce",
        None,
        15,
        200,
    )


async def test_refusals_of_the_sender_strike_the_account_at_that_provider_and_suppress_nobody(
    gate: Gate, emitter: CollectingEmitter
) -> None:
    """21 of 200 Gmail readers' mail refused because of the sender (10.5% blocks, over the 10%
    line): the account is struck at Gmail for blocks, and not one reader is suppressed."""
    pipe = Pipe(gate, emitter)
    async with gate.agents["keep_bounce_history"].test_context() as bounces:
        for index in range(200):
            event = delivered(gate, index)
            if index >= 179:
                event = event.model_copy(
                    update={
                        "kind": "bounced",
                        "bounce_class": "soft",
                        "reason": "blocked",
                        "status": "5.7.1",
                    }
                )
            await bounces.put(gate.codec.encode(event), key=event.recipient_key.encode())
    assert emitter.on(gate.clicks_topic) == []
    await pipe(gate.rate_events_topic, "keep_rates")
    await run_enforcement(gate, pipe)
    [strike] = [e for e in enforcement(gate, emitter) if e.action == "strike_issued"]
    assert (strike.breach_kind, strike.provider, strike.count, strike.volume) == (
        "block",
        "google",
        21,
        200,
    )


async def test_the_daily_tick_judges_a_window_that_closed_with_no_event_since(
    tmp_path: Path, offsets: ScriptedOffsets, emitter: CollectingEmitter, clock: FrozenClock
) -> None:
    """Default policy (judge closed windows): the week's deliveries and 2 complaints arrive,
    then nothing more for the account. Three days later, with the window [Feb 26, Mar 5) closed
    and its 48 hours of lateness passed, only the timer's tick can judge it: strike 1."""
    gate = make_gate(tmp_path, offsets, emitter, clock, load_policy().rates)
    pipe = Pipe(gate, emitter)
    await deliver_and_complain(gate, pipe, volume=1000, complaints=2)
    await run_enforcement(gate, pipe)
    assert emitter.on(gate.rate_breaches_topic) == []  # the window is still open

    clock.advance(timedelta(days=3))
    ticks = await tick_rates(gate)
    assert ticks == 2  # acme|google and acme|*
    assert await tick_rates(gate) == 0  # once a day
    await pipe(gate.rate_ticks_topic, "keep_rates")
    await run_enforcement(gate, pipe)
    [strike] = [e for e in enforcement(gate, emitter) if e.action == "strike_issued"]
    assert (strike.provider, strike.count, strike.volume) == ("google", 2, 1000)
    assert (strike.window_start, strike.window_end) == (
        datetime(2026, 2, 26, tzinfo=UTC),
        datetime(2026, 3, 5, tzinfo=UTC),
    )


async def test_allowed_sends_count_as_volume_when_the_policy_says_so(
    tmp_path: Path, offsets: ScriptedOffsets, emitter: CollectingEmitter, clock: FrozenClock
) -> None:
    """`enforcement.volume = "allowed_sends"`: a platform whose mailers report no deliveries
    counts allowed decisions instead; denied ones count for nothing."""
    settings = Settings(
        topic_prefix="volumetest-",
        topic_partitions=1,
        table_store="memory://",
        data_dir=tmp_path,
        recipient_key_secret=SecretStr("volume-agent-test-secret-0123456789abcd"),
        state_fence_timeout_s=2.0,
    )
    default = load_policy()
    policy = default.model_copy(
        update={
            "rates": default.rates.model_copy(update={"act_at_once": True}),
            "enforcement": default.enforcement.model_copy(update={"volume": "allowed_sends"}),
        }
    )
    gate = build_gate(
        settings,
        policy=policy,
        emitter=emitter,
        offsets=offsets,
        erasure_offsets=ScriptedOffsets(),
        clock=clock,
    )
    register_agents(gate)
    gate.app.finalize()
    gate.app.conf.store = "memory://"
    verify_test_domains(gate)
    assert "count_allowed_sends" in gate.agents

    requests = [request(recipient=address(index), request_id=f"r{index}") for index in range(1000)]
    requests.append(request(recipient="info@gmail.com", request_id="to-a-role"))  # a role: denied
    await decide(gate, emitter, *requests)
    pipe = Pipe(gate, emitter)
    await pipe(gate.decisions_topic, "count_allowed_sends")
    async with gate.agents["act_on_feedback"].test_context() as feedback:
        for index in range(2):
            report = complaint(gate, index)
            await feedback.put(gate.codec.encode(report), key=report.recipient_key.encode())
    await pipe(gate.rate_events_topic, "keep_rates")
    await run_enforcement(gate, pipe)
    [strike] = [e for e in enforcement(gate, emitter) if e.action == "strike_issued"]
    assert (strike.provider, strike.count, strike.volume) == ("google", 2, 1000)


def misuse_report(gate: Gate, index: int) -> MisuseReport:
    """What the gate emits for a transactional send it denied as carrying marketing."""
    request_id = f"receipt-{index}"
    return MisuseReport(
        report_id=misuse_report_id(ACCOUNT, request_id),
        account_id=ACCOUNT,
        request_id=request_id,
        recipient_key=gate.keyer.key(address(index)),
        score=0.9,
        signals=("discount_code",),
        policy_version=gate.policy.policy_version,
        detected_at=NOW - timedelta(days=3 - index),
    )


def account_status(gate: Gate) -> AccountSnapshot:
    return gate.accounts.get(ACCOUNT.encode())


async def test_three_misuse_reports_suspend_transactional_sending_until_reinstated(
    gate: Gate, emitter: CollectingEmitter
) -> None:
    """Three transactional sends denied as marketing within 30 days (default policy)
    give two `transactional_misuse` events, then the third with `transactional_suspended`; a
    replayed report changes nothing; reinstatement lifts the suspension."""
    pipe = Pipe(gate, emitter)
    topic = gate.content_misuse_topic
    reports = [misuse_report(gate, index) for index in range(3)]
    for report in reports:
        emitter.emitted.append(Emitted(topic, ACCOUNT.encode(), gate.codec.encode(report)))
    await pipe(topic, "enforce_accounts")
    await pipe(gate.enforcement_events_topic, "check_enforcement_events")

    events = enforcement(gate, emitter)
    assert [(e.action, e.count) for e in events] == [
        ("transactional_misuse", 1),
        ("transactional_misuse", 2),
        ("transactional_misuse", 3),
        ("transactional_suspended", 3),
    ]
    assert [e.report_id for e in events[:3]] == [r.report_id for r in reports]
    assert "receipt-0 was sent as transactional but carried marketing" in events[0].explanation
    status = account_status(gate)
    assert (status.transactional_suspended, status.status, status.commercial_denied) == (
        True,
        "active",
        False,
    )

    # The second report again (a replay of content-misuse): nothing new.
    emitter.emitted.append(Emitted(topic, ACCOUNT.encode(), gate.codec.encode(reports[1])))
    await pipe(topic, "enforce_accounts")
    assert len(enforcement(gate, emitter)) == len(events)

    command = ReinstatementRequest(
        reinstatement_id="rein-misuse-1",
        account_id=ACCOUNT,
        by="ops:maria",
        reason="marketing moved to the newsletter stream",
        requested_at=NOW,
    )
    commands = ACCOUNT_COMMANDS.full_name(gate.settings)
    emitter.emitted.append(Emitted(commands, ACCOUNT.encode(), gate.codec.encode(command)))
    await pipe(commands, "enforce_accounts")
    await pipe(gate.enforcement_events_topic, "check_enforcement_events")
    reinstated = enforcement(gate, emitter)[-1]
    assert (reinstated.action, reinstated.restored) == ("reinstated", ("transactional_mail",))
    assert not account_status(gate).transactional_suspended

    # Counting starts again: one new report is the first in the window, and suspends nothing.
    emitter.emitted.append(
        Emitted(topic, ACCOUNT.encode(), gate.codec.encode(misuse_report(gate, 3)))
    )
    await pipe(topic, "enforce_accounts")
    last = enforcement(gate, emitter)[-1]
    assert (last.action, last.count) == ("transactional_misuse", 1)


async def test_a_misuse_report_under_another_accounts_key_is_dead_lettered(
    gate: Gate, emitter: CollectingEmitter
) -> None:
    report = misuse_report(gate, 0)
    async with gate.agents["enforce_accounts"].test_context() as enforcer:
        await enforcer.put(gate.codec.encode(report), key=b"someone-else", partition=0)
    assert len(emitter.on(gate.dead_letters_topic)) == 1
    assert enforcement(gate, emitter) == []
