"""A worker's copy of a whole topic: the latest usable value per key (streams.gate.broadcast).

The fence over the copies needs a broker: tests/integration/test_broadcast_state.py has it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from functools import partial

from streams.gate.broadcast import TopicCopy
from streams.gate.copies import account_of_record, domains_of_record
from streams.reputation.standing import AccountSnapshot, EnforcementEvent
from streams.topics import default_codec
from tests.support.factory import sender_domains

AT = datetime(2026, 11, 23, tzinfo=UTC)
CODEC = default_codec()


def test_the_latest_record_of_a_key_wins_and_unusable_ones_change_nothing() -> None:
    copy: TopicCopy[frozenset[str]] = TopicCopy("sender-domains", partial(domains_of_record, CODEC))
    first = CODEC.encode(sender_domains(changed_at=AT))
    second = CODEC.encode(
        sender_domains(domains=("acme.example", "mail.acme.example"), changed_at=AT)
    )
    copy.apply(b"acme", first)
    copy.apply(b"acme", second)
    copy.apply(b"acme", b"not avro")  # undecodable: the agent dead-letters it
    copy.apply(b"globex", second)  # keyed by another account than it names
    copy.apply(None, second)
    assert copy.get(b"acme") == frozenset({"acme.example", "mail.acme.example"})
    assert copy.get(b"globex") is None
    assert len(copy) == 1


def _event(action: str, event_id: str, status: AccountSnapshot | None, **extra: object) -> bytes:
    event = EnforcementEvent(
        event_id=event_id,
        account_id="blastmail",
        action=action,
        at=AT,
        policy_version="test@1",
        explanation="test",
        status_after=status,
        **extra,
    )
    return CODEC.encode(event)


def test_an_account_keeps_the_status_of_its_latest_status_bearing_event() -> None:
    """A fine carries no status (it changes nothing the gate denies): it must not wipe the strike
    that came before it."""
    copy: TopicCopy[AccountSnapshot] = TopicCopy(
        "enforcement-events", partial(account_of_record, CODEC)
    )
    struck = AccountSnapshot(
        account_id="blastmail",
        status="broadcasts_disabled",
        broadcasts_denied=True,
        strikes=1,
        as_of=AT,
    )
    copy.apply(b"blastmail", _event("broadcasts_disabled", "e1", struck))
    copy.apply(
        b"blastmail",
        _event("fine_assessed", "e2", None, fine_amount=Decimal("250.00"), fine_currency="USD"),
    )
    copy.apply(b"other", _event("account_terminated", "e3", struck))  # wrong key
    assert copy.get(b"blastmail") == struck
    assert copy.get(b"other") is None

    reinstated = struck.model_copy(update={"status": "active", "broadcasts_denied": False})
    copy.apply(b"blastmail", _event("reinstated", "e4", reinstated))
    assert copy.get(b"blastmail") == reinstated
