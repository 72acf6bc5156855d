"""The gate's per-send path, made cheaper without changing a decision: the decision written from
its fields (`streams.rules.decision_fields`, `Codec.encode_fields`) is the record `decide` builds,
byte for byte; it goes to the request's own partition; and the misuse detector reads a message
once however often it is asked."""

from __future__ import annotations

import types
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from streams.consent.fold import apply_consent_event
from streams.content.misuse import MisusePolicy, assess_misuse, memory
from streams.core.clock import FrozenClock
from streams.core.codec import Codec
from streams.core.records import (
    MessageBody,
    SendDecision,
    SendRequest,
)
from streams.core.settings import Settings
from streams.gate.app import Gate, build_gate
from streams.gate.deciding import decide_send
from streams.gate.emit import CollectingEmitter, Emitted, ProducerEmitter
from streams.policy import Policy, UnsubscribePolicy
from streams.reputation.standing import MisuseReport
from streams.rules import RecipientView, decide, decision_fields, judge
from streams.sending.list_headers import list_headers
from streams.sending.unsubscribe_tokens import UnsubscribeTokens
from tests.support.factory import (
    consent_entry,
    consent_event,
    recipient_view,
    send_request,
    sender_domains,
    suppression_entry,
)

KEY = "cd" * 32
DECIDED_AT = datetime(2026, 3, 4, 12, 0, 7, 654321, tzinfo=UTC)  # sub-millisecond on purpose
TOKENS = UnsubscribeTokens({3: b"k" * 32}, 3, valid_for=timedelta(days=365))
RETURN_PATH = "b-abcdefgh@bounces.example.net"
COUPON = "Thanks for your order.\nUse code SAVE20 for 20% off your next order!"


SUPPRESSED_SINCE = DECIDED_AT - timedelta(days=2, microseconds=1500)  # sub-millisecond too


def headers_for(send: SendRequest) -> Mapping[str, str]:
    return list_headers(
        send,
        recipient_key=KEY,
        tokens=TOKENS,
        base_url="https://unsubscribe.example.net/",
        mailto_domain="bounces.example.net",
        issued_at=DECIDED_AT,
        policy=UnsubscribePolicy(),
        cadence="weekly",
    )


def old_path(codec: Codec, send: SendRequest, view: RecipientView, policy: Policy) -> bytes:
    """How the gate wrote a decision before: the record, a copy with the headers, its dump."""
    decision = decide(
        send,
        view,
        policy,
        recipient_key=KEY,
        decided_at=DECIDED_AT,
        request_offset="send-requests/1/42",
        state_offsets={"unsubscribe-clicks": 17},
        return_path=RETURN_PATH,
    )
    if decision.verdict == "allow":
        headers = headers_for(send)
        if headers:
            decision = decision.model_copy(update={"headers": dict(headers)})
    return codec.encode(decision)


def new_path(codec: Codec, send: SendRequest, view: RecipientView, policy: Policy) -> bytes:
    """How `decide_send` writes it now: the judgement, then the fields, written as they are."""
    judgement = judge(send, view, policy, at=DECIDED_AT)
    allowed = judgement.verdict == "allow"
    fields = decision_fields(
        send,
        view,
        policy,
        judgement,
        recipient_key=KEY,
        decided_at=DECIDED_AT,
        request_offset="send-requests/1/42",
        state_offsets={"unsubscribe-clicks": 17},
        return_path=RETURN_PATH if allowed else None,
        headers=headers_for(send) if allowed else None,
    )
    return codec.encode_fields(SendDecision, fields)


def flagging(policy: Policy, *rules: str) -> Policy:
    content = policy.content.model_copy(update={"flag_only_rules": frozenset(rules)})
    return policy.model_copy(update={"content": content})


NO_ADDRESS = MessageBody.model_validate(
    {
        "text": "New season, new soles.\nUnsubscribe",
        "links": [{"url": "https://acme.example/unsubscribe", "text": "Unsubscribe"}],
    }
)


def cases(policy: Policy) -> dict[str, tuple[SendRequest, RecipientView, Policy, str]]:
    """(request, view, policy, expected verdict) per kind of decision."""
    return {
        "allowed with headers": (
            send_request(),
            recipient_view(
                consents=(consent_entry(), consent_entry(account_id="maple")),
                suppressions=(suppression_entry(list_id="other-list", since=SUPPRESSED_SINCE),),
                provider="gmail",
            ),
            policy,
            "allow",
        ),
        "denied, several failures": (
            send_request(body=NO_ADDRESS, from_address="Acme <news@elsewhere.example>"),
            recipient_view(
                consents=(),
                suppressions=(
                    suppression_entry(since=SUPPRESSED_SINCE),
                    suppression_entry(scope="account", account_id="maple", since=SUPPRESSED_SINCE),
                    suppression_entry(scope="platform", since=SUPPRESSED_SINCE),
                ),
                state_current=False,
            ),
            policy,
            "deny",
        ),
        "allowed with a flag": (
            send_request(body=NO_ADDRESS),
            recipient_view(provider="yahoo"),
            flagging(policy, "postal-address-missing"),
            "allow",
        ),
        "denied with flags": (
            send_request(body=NO_ADDRESS, subject="Re: your order"),
            recipient_view(consents=()),
            flagging(policy, "postal-address-missing", "subject-fake-reply"),
            "deny",
        ),
        "transactional misuse": (
            send_request(
                classification="transactional",
                body=MessageBody(text=COUPON + "\nAcme, 1 Main Street, Springfield, IL 62701"),
            ),
            recipient_view(consents=()),
            policy,
            "deny",
        ),
    }


@pytest.mark.parametrize(
    "case",
    [
        "allowed with headers",
        "denied, several failures",
        "allowed with a flag",
        "denied with flags",
        "transactional misuse",
    ],
)
def test_the_decision_written_from_its_fields_is_the_record_byte_for_byte(
    codec: Codec, policy: Policy, case: str
) -> None:
    send, view, decide_by, verdict = cases(policy)[case]
    old = old_path(codec, send, view, decide_by)
    new = new_path(codec, send, view, decide_by)
    assert new == old
    decision = codec.decode(new, SendDecision)  # validated, as every reader decodes it
    assert decision == codec.decode(old, SendDecision)
    assert decision.verdict == verdict
    assert decision.decided_at == DECIDED_AT.replace(microsecond=654000)


def test_the_cases_cover_headers_failures_and_flags(codec: Codec, policy: Policy) -> None:
    """What the byte comparison above stands on: each case has what it is named for."""
    found = {
        name: codec.decode(new_path(codec, send, view, decide_by), SendDecision)
        for name, (send, view, decide_by, _) in cases(policy).items()
    }
    assert {"List-Unsubscribe", "List-Unsubscribe-Post", "List-Id"} <= set(
        found["allowed with headers"].headers
    )
    assert found["allowed with headers"].return_path == RETURN_PATH
    assert len(found["denied, several failures"].failures) >= 4
    assert found["denied, several failures"].return_path is None
    assert found["denied, several failures"].headers == {}
    assert [flag.rule for flag in found["allowed with a flag"].flags] == ["postal-address-missing"]
    assert found["denied with flags"].failures and len(found["denied with flags"].flags) == 2
    assert [f.rule for f in found["transactional misuse"].failures] == ["transactional-misuse"]


def test_a_naive_decision_time_is_refused(policy: Policy) -> None:
    send, view, decide_by, _ = cases(policy)["allowed with headers"]
    judgement = judge(send, view, decide_by, at=DECIDED_AT)
    with pytest.raises(ValueError, match="timezone-aware"):
        decision_fields(
            send,
            view,
            decide_by,
            judgement,
            recipient_key=KEY,
            decided_at=DECIDED_AT.replace(tzinfo=None),
            request_offset="send-requests/1/42",
            state_offsets={},
        )


# --- Emitting to a named partition ------------------------------------------------------------


async def test_collecting_emitter_keeps_the_partition_it_was_told() -> None:
    emitter = CollectingEmitter()
    await emitter.emit("decisions", b"k", b"v", partition=3)
    await emitter.emit("reports", b"k", b"v")
    assert emitter.emitted == [
        Emitted("decisions", b"k", b"v", 3),
        Emitted("reports", b"k", b"v"),  # the old three-field shape still builds
    ]
    assert emitter.emitted[1].partition is None


async def test_producer_emitter_hands_the_partition_to_the_producer() -> None:
    sent: list[tuple[Any, ...]] = []

    class Producer:
        async def send(self, *args: Any) -> None:
            sent.append(args)

    emitter = ProducerEmitter(types.SimpleNamespace(producer=Producer()))  # type: ignore[arg-type]
    await emitter.emit("decisions", b"k", b"v", partition=5)
    await emitter.emit("reports", b"k", b"v")
    assert sent == [
        ("decisions", b"k", b"v", 5, None, None),
        ("reports", b"k", b"v", None, None, None),
    ]


# --- The gate's decide_send ------------------------------------------------------------------


class DictTable(dict[bytes, bytes]):
    """A recipient table as a dict; the gate reads a table's store (`data`), here itself."""

    @property
    def data(self) -> DictTable:
        return self


@pytest.fixture
def gate(tmp_path: Path) -> Gate:
    """A gate without a broker: its recipient tables as dicts, its emitter collecting."""
    settings = Settings(
        topic_prefix="hotpath-",
        topic_partitions=4,
        table_store="memory://",
        data_dir=tmp_path,
        recipient_key_secret=SecretStr("hot-path-test-secret-0123456789abcdef"),
    )
    built = build_gate(settings, emitter=CollectingEmitter(), clock=FrozenClock(DECIDED_AT))
    for table in (built.suppressions, built.consents, built.send_history):
        table.table = DictTable()
    built.sender_domains.apply(b"acme", built.codec.encode(sender_domains(changed_at=DECIDED_AT)))
    return built


def message(gate: Gate, send: SendRequest, partition: int) -> Any:
    key = gate.keyer.key(send.recipient).encode()
    return types.SimpleNamespace(
        topic="hotpath-send-requests",
        partition=partition,
        offset=9,
        key=key,
        value=gate.codec.encode(send),
    )


def opt_in(gate: Gate, send: SendRequest) -> None:
    event = consent_event(
        recipient_key=gate.keyer.key(send.recipient),
        account_id=send.account_id,
        occurred_at=DECIDED_AT - timedelta(days=1),
    )
    state = apply_consent_event(None, event, gate.policy.consent).state
    gate.consents.put(gate.keyer.key(send.recipient).encode(), state)


async def test_decisions_go_to_the_partition_of_their_request(gate: Gate) -> None:
    send = send_request()
    opt_in(gate, send)
    for partition in (2, 3):
        await decide_send(gate, message(gate, send, partition), {}, state_current=True)
    emitter: CollectingEmitter = gate.emitter  # type: ignore[assignment]
    decisions = emitter.on(gate.decisions_topic)
    assert [item.partition for item in decisions] == [2, 3]
    assert {item.key for item in decisions} == {message(gate, send, 0).key}
    decision = gate.codec.decode(decisions[0].value, SendDecision)
    assert decision.verdict == "allow" and decision.headers and decision.return_path


@pytest.fixture
def readings(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The subject of every message the misuse detector really reads (not remembered)."""
    read: list[str] = []
    real = memory.read_message

    def counting(subject: str, *args: Any) -> Any:
        read.append(subject)
        return real(subject, *args)

    monkeypatch.setattr(memory, "read_message", counting)
    return read


async def test_a_misuse_report_reads_the_message_once_and_is_keyed_by_account(
    gate: Gate, readings: list[str]
) -> None:
    """The rule and the report share one reading of the message; the report, keyed by the
    account, is left to the producer's partitioner."""
    send = send_request(
        classification="transactional",
        subject=f"Your order {uuid.uuid4().hex}",  # a message never read before in this process
        body=MessageBody(text=COUPON + "\nAcme, 1 Main Street, Springfield, IL 62701"),
    )
    await decide_send(gate, message(gate, send, 1), {}, state_current=True)
    emitter: CollectingEmitter = gate.emitter  # type: ignore[assignment]
    [decision] = emitter.on(gate.decisions_topic)
    assert decision.partition == 1
    [report] = emitter.on(gate.content_misuse_topic)
    assert (report.key, report.partition) == (b"acme", None)
    assert gate.codec.decode(report.value, MisuseReport).signals
    assert readings == [send.subject]


# --- The misuse detector remembers ------------------------------------------------------------


def test_a_remembered_assessment_is_the_assessment() -> None:
    body = MessageBody(text=COUPON + "\nShop now: new arrivals")
    policy = MisusePolicy()
    first = assess_misuse("Your order 1042", body, policy)
    assert assess_misuse("Your order 1042", body, policy) is first
    fresh = memory.read_message(
        "Your order 1042", body.text, tuple((link.url, link.text) for link in body.links), policy
    )
    assert first == fresh and first.is_misuse


def test_what_the_detector_reads_all_keys_the_memory(readings: list[str]) -> None:
    """Subject, text, link URL and link text, no body, and the policy object: each change is a
    new reading."""
    subject = f"Receipt {uuid.uuid4().hex}"
    link = {"url": "https://acme.example/account", "text": "Your account"}
    variants = [
        (subject, MessageBody.model_validate({"text": "Thanks.", "links": [link]})),
        (subject + " ", MessageBody.model_validate({"text": "Thanks.", "links": [link]})),
        (subject, MessageBody.model_validate({"text": "Thanks!", "links": [link]})),
        (
            subject,
            MessageBody.model_validate(
                {"text": "Thanks.", "links": [link | {"url": link["url"] + "/"}]}
            ),
        ),
        (
            subject,
            MessageBody.model_validate({"text": "Thanks.", "links": [link | {"text": "Shop"}]}),
        ),
        (subject, MessageBody(text="")),
        (subject, None),
    ]
    policy = MisusePolicy()
    for subject_, body in variants:
        assess_misuse(subject_, body, policy)
    assert len(readings) == len(variants)
    for subject_, body in variants:
        assess_misuse(subject_, body, policy)
    assert len(readings) == len(variants)  # all remembered
    assess_misuse(subject, variants[0][1], MisusePolicy(threshold=5))
    assert len(readings) == len(variants) + 1  # another policy object: read again


def test_the_memory_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory, "ASSESSMENTS_REMEMBERED", 3)
    policy = MisusePolicy()
    for number in range(10):
        assess_misuse(f"Receipt {number} of {uuid.uuid4().hex}", None, policy)
    assert len(memory._ASSESSMENTS) <= 3


def test_a_personalised_copy_reads_like_a_first_reading() -> None:
    """Segments are remembered across messages; a message made of remembered and new segments
    assesses as if read from scratch (evidence order and limits included)."""
    policy = MisusePolicy()
    template = (
        "Use code SAVE20 today.\nShop now.\nNew arrivals are in.\n"
        "Use code WELCOME5 too.\nAnd code SPRING30.\nAnd code AUTUMN40."
    )
    assess_misuse("Your order", MessageBody(text=template), policy)
    copy = MessageBody(text=f"Dear Ana, use code ANA2026 first.\n{template}")
    remembered = assess_misuse("Your order, Ana", copy, policy)
    fresh = memory.read_message("Your order, Ana", copy.text, (), policy)
    assert remembered == fresh
    [codes] = [signal for signal in fresh.signals if signal.name == "discount_code"]
    assert len(codes.evidence) == 3 and "ANA2026" in codes.evidence[0]
