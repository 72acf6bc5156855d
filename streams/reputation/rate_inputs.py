"""What the rates count: delivery events, complaints and (where the policy says so) allowed sends,
read per recipient, checked once, and handed on per (account, provider).

Why a per-recipient stage. Sources redeliver (an MTA resends a delivery event, a feedback loop
sends the same report twice, our own topics are read again after a crash), so a rate must not
count an event id twice. Checking ids where the rates are kept, per (account, provider), means
keeping every id of window + lateness there: millions for a large sender, re-serialised on every
event. Per recipient the list is small: a person receives a few mails a day, so over window +
lateness (9 days by default) a recipient's list holds tens of ids, and the table is keyed by the
recipient key the source topics are already partitioned by. So `admit` checks the id here, once,
and hands the event on to `rate-events` twice: keyed `account|provider` for the per-provider
rates, and `account|*` for the account-wide ones (`rate_event_key`). The rate keeper
(`streams.reputation.rates`) then only has to recognise that topic read again, by offset.

The recipient is also where a complaint learns its provider: a feedback-loop report often names
no mailbox provider, but the recipient's earlier decisions and delivery events did
(`learn_provider`, and `admit` learns from every event that names one, whatever its outcome: it
says where the recipient's mail goes, not whether this event counts). The last one named wins.

Time follows `streams.reputation.rates`: an event older than the horizon (the end of the current
bucket minus window and lateness) can no longer be counted there, so it is `too_late` here too, and
its id need not be remembered any longer; the horizon is kept in the state and only moves forward.
An event more than `event_time_tolerance_s` ahead of the clock is `from_future`.

A bound anyway: `MAX_COUNTED` (2,000) ids per recipient. At the default 9 days that is over 200
events a day for one address, which no person receives; a spam trap, a test address or a role
account fed by a loop might. When the list is full the oldest ids (in event time) are forgotten
and the recipient's horizon moves just past them, so a replay of a forgotten event is `too_late`,
never counted twice. The price falls on that recipient only: a late event older than its 2,000
newest is not counted. Encoded, a full list takes about 86 kB with 36-character ids and 416 kB
with ASCII ids of the longest allowed (200 characters): a changelog record under Kafka's default
1 MB limit.

The residual: the agent sends the rate events before its table write is safe. A crash between
the two reads the source event again and hands it on again; see `streams.reputation.rates`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import ClassVar, Literal, NamedTuple
from urllib.parse import unquote

from pydantic import Field

from streams.core.clock import utc
from streams.core.records import Record, UtcMillis
from streams.reputation.policy import RatesPolicy
from streams.reputation.rates import EventKind, horizon

__all__ = [
    "ACCOUNT_WIDE",
    "MAX_COUNTED",
    "RECORDS",
    "Admission",
    "AdmitFold",
    "CountedEvent",
    "RateEvent",
    "RateTick",
    "RecipientRates",
    "admit",
    "learn_provider",
    "parse_rates_key",
    "rate_event_key",
]

Admission = Literal["admitted", "replayed", "too_late", "from_future", "no_account", "no_provider"]

MAX_COUNTED = 2_000
"""Most event ids one recipient remembers (see the module doc)."""


class RateEvent(Record):
    """One counted event for the rates (`rate-events`), keyed by `account|provider`, or by
    `account|*` for the account-wide count (`provider` None)."""

    AVRO_NAME: ClassVar[str] = "dev.sendgate.v1.RateEvent"

    event_id: str = Field(min_length=1, max_length=200)
    account_id: str = Field(min_length=1, max_length=200)
    provider: str | None = Field(default=None, min_length=1, max_length=255)
    kind: EventKind
    occurred_at: UtcMillis


class CountedEvent(Record):
    AVRO_NAME: ClassVar[str] = "dev.sendgate.v1.CountedEvent"

    event_id: str = Field(min_length=1, max_length=200)
    occurred_at: UtcMillis


class RateTick(Record):
    """A nudge for one (account, provider) key (`rate-ticks`, keyed like `rate-events`): judge
    the windows that closed while nothing happened for it. The rate keeper's timer sends one per
    key it holds once a day, since faust cannot write a table from a timer."""

    AVRO_NAME: ClassVar[str] = "dev.sendgate.v1.RateTick"

    account_id: str = Field(min_length=1, max_length=200)
    provider: str | None = Field(default=None, min_length=1, max_length=255)
    at: UtcMillis


class RecipientRates(Record):
    """The rate_inputs table value: one recipient's provider (learnt from decisions and delivery
    events, for the complaints that do not name it) and the events already handed on, until
    they are too old to be counted again."""

    AVRO_NAME: ClassVar[str] = "dev.sendgate.v1.RecipientRates"

    provider: str | None = Field(default=None, min_length=1, max_length=255)
    counted: tuple[CountedEvent, ...] = ()
    horizon: UtcMillis | None = None


RECORDS: tuple[type[Record], ...] = (RateEvent, RateTick, CountedEvent, RecipientRates)


class AdmitFold(NamedTuple):
    """The recipient's state after one event; the rate events to publish on `rate-events` (one
    keyed `account|provider`, one account-wide with provider None; empty unless admitted)."""

    state: RecipientRates
    events: tuple[RateEvent, ...]
    outcome: Admission


def admit(
    state: RecipientRates | None,
    *,
    event_id: str,
    kind: EventKind,
    account_id: str | None,
    provider: str | None,
    occurred_at: datetime,
    now: datetime,
    policy: RatesPolicy,
) -> AdmitFold:
    """Hand an event on to the rates once, or say why not.

    The provider is `provider` when given (and then remembered), else the recipient's
    remembered one. Checks, in order: no account, no provider, from the future, too late,
    replayed (its id already handed on). Only an admitted event records its id, prunes the ids
    behind the horizon and moves the horizon; otherwise the state is the one given (a new empty
    one for None), with the provider learnt.
    """
    occurred_at, now = utc(occurred_at), utc(now)
    known = learn_provider(state, provider) or state or RecipientRates()
    if not account_id:
        return AdmitFold(known, (), "no_account")
    if known.provider is None:
        return AdmitFold(known, (), "no_provider")
    if occurred_at > now + timedelta(seconds=policy.event_time_tolerance_s):
        return AdmitFold(known, (), "from_future")
    edge = _horizon(known, now, policy)
    if occurred_at < edge:
        return AdmitFold(known, (), "too_late")
    if any(counted.event_id == event_id for counted in known.counted):
        return AdmitFold(known, (), "replayed")
    counted = sorted(
        (*known.counted, CountedEvent(event_id=event_id, occurred_at=occurred_at)),
        key=lambda entry: entry.occurred_at,
    )
    kept = [entry for entry in counted if entry.occurred_at >= edge]
    if len(kept) > MAX_COUNTED:
        # Forget the oldest, and every id that shares the event time of the last one forgotten,
        # so the new horizon (a millisecond past it) refuses all of them and no more.
        forgotten_at = kept[-MAX_COUNTED - 1].occurred_at
        edge = forgotten_at + timedelta(milliseconds=1)
        kept = [entry for entry in kept if entry.occurred_at >= edge]
    after = RecipientRates(provider=known.provider, counted=tuple(kept), horizon=edge)
    events = tuple(
        RateEvent(
            event_id=event_id,
            account_id=account_id,
            provider=scope,
            kind=kind,
            occurred_at=occurred_at,
        )
        for scope in (known.provider, None)
    )
    return AdmitFold(after, events, "admitted")


def learn_provider(state: RecipientRates | None, provider: str | None) -> RecipientRates | None:
    """The state remembering `provider` as the recipient's, or None when that changes nothing
    (no provider given, or the one already remembered): the agent then skips a table write."""
    if not provider or (state is not None and state.provider == provider):
        return None
    if state is None:
        return RecipientRates(provider=provider)
    return RecipientRates(provider=provider, counted=state.counted, horizon=state.horizon)


ACCOUNT_WIDE = "*"
"""The provider part of the account-wide rates key."""


def rate_event_key(event: RateEvent | RateTick) -> bytes:
    """The `rate-events` key, which is also the rates table's key: `account|provider`, or
    `account|*` for the account-wide count.

    `%`, `|` (and `*` in a provider) are written as `%25`, `%7C` (and `%2A`), so two different
    (account, provider) pairs never share a key, and so a table value; ids without them, every
    real one, read as they are.
    """
    provider = ACCOUNT_WIDE if event.provider is None else _escaped(event.provider, "%|*")
    return f"{_escaped(event.account_id, '%|')}|{provider}".encode()


def parse_rates_key(key: bytes) -> tuple[str, str | None] | None:
    """(account, provider) of a rates table key, provider None for the account-wide count; None
    for a key that is not one (not UTF-8, no separator, or more than one)."""
    try:
        text = key.decode("utf-8")
    except UnicodeDecodeError:
        return None
    account, separator, provider = text.partition("|")
    if not separator or not account or not provider or "|" in provider:
        return None
    if provider == ACCOUNT_WIDE:
        return unquote(account), None
    return unquote(account), unquote(provider)


def _escaped(text: str, special: str) -> str:
    return "".join(f"%{ord(char):02X}" if char in special else char for char in text)


def _horizon(state: RecipientRates, now: datetime, policy: RatesPolicy) -> datetime:
    """As `streams.reputation.rates.horizon`: events older than this can no longer be counted there;
    or the state's own horizon, if a faster clock or a full list already moved it further."""
    at_now = horizon(None, now, policy)
    if state.horizon is not None and state.horizon > at_now:
        return state.horizon
    return at_now
