"""How often an account may mail one person: the cadence the person agreed to, and the platform's
cap.

A consent can name a cadence ("weekly": the sign-up form promised one mail a week, or the person
chose it in the preference centre). Mail beyond it exceeds what the person agreed to: consent
under GDPR Art. 4(11) and CASL s.10 is consent to what was described. The platform may also cap
commercial mail per recipient and account per period (`cap_per_recipient`), whatever the consent.

Everything is in event time (`SendRequest.requested_at`), per recipient and account. The gate
keeps, per recipient key, the allowed commercial sends of the last `history_days` (`SendHistory`
in the `send_history` table), written only when a limit applies to the send, so an account
without cadences or caps pays nothing. A replayed request finds its own mark by request id and
neither counts against itself nor is recorded twice, so replaying `send-requests` decides the
same way.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from streams.core.records import ConsentEntry, Record, SendRequest, UtcMillis

__all__ = [
    "RECORDS",
    "Cadence",
    "FrequencyPolicy",
    "Limit",
    "SendHistory",
    "SentMark",
    "cadence_limit",
    "cadence_limits",
    "cadence_of",
    "cap_limit",
    "history_reach",
    "limits_for",
    "record_send",
    "sends_within",
]


class Cadence(BaseModel):
    """At most `sends` commercial messages per `days` days."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sends: int = Field(ge=1, le=1000, strict=True)
    days: int = Field(ge=1, le=366, strict=True)


class FrequencyPolicy(BaseModel):
    """The cadences consents may name, and the platform's own cap.

    - `cadences`: what each cadence word means. daily 1 in 1 day, weekly 1 in 7, monthly 1 in 30
      (a month as the 30 days Gmail's and most preference centres' "monthly" means). A consent
      naming a cadence not listed here is judged to allow nothing more until the policy defines
      it: the gate cannot tell what the person agreed to.
    - `cap_per_recipient` 0 (off): at most this many commercial messages per recipient and account
      in `cap_period_days` 7, whatever the consent says.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    cadences: dict[str, Cadence] = Field(
        default_factory=lambda: {
            "daily": Cadence(sends=1, days=1),
            "weekly": Cadence(sends=1, days=7),
            "monthly": Cadence(sends=1, days=30),
        }
    )
    cap_per_recipient: int = Field(default=0, ge=0, le=10_000, strict=True)
    cap_period_days: int = Field(default=7, ge=1, le=366, strict=True)

    @model_validator(mode="after")
    def _names_are_lower_case(self) -> FrequencyPolicy:
        for name in self.cadences:
            if name != name.strip().lower() or not name:
                raise ValueError(f"cadence names are lower-case words (got {name!r})")
        return self

    @property
    def history_days(self) -> int:
        """How far back the send history must reach for every limit."""
        spans = [cadence.days for cadence in self.cadences.values()]
        if self.cap_per_recipient:
            spans.append(self.cap_period_days)
        return max(spans, default=1)


class SentMark(Record):
    AVRO_NAME: ClassVar[str] = "dev.sendgate.v1.SentMark"

    account_id: str = Field(min_length=1, max_length=200)
    list_id: str | None = Field(default=None, min_length=1, max_length=200)
    request_id: str = Field(min_length=1, max_length=200)
    sent_at: UtcMillis


class SendHistory(Record):
    AVRO_NAME: ClassVar[str] = "dev.sendgate.v1.SendHistory"

    sends: tuple[SentMark, ...] = ()


class Limit(BaseModel):
    """One limit a send must keep: `sends` in `days`, over the sends of `account_id` to the
    lists in `lists` (empty: all of the account's), and where it comes from."""

    model_config = ConfigDict(frozen=True)

    account_id: str
    lists: tuple[str, ...]
    sends: int
    days: int
    source: str
    """"cadence <name>", "undefined cadence <name>" (allows nothing) or "platform cap"."""


def cadence_limit(entry: ConsentEntry, policy: FrequencyPolicy) -> Limit | None:
    """The limit a consent's cadence sets; None for a consent without one."""
    if entry.cadence is None:
        return None
    name = entry.cadence.strip().lower()
    cadence = policy.cadences.get(name)
    if cadence is None:
        return Limit(
            account_id=entry.account_id,
            lists=entry.lists,
            sends=0,
            days=1,
            source=f"undefined cadence {name}",
        )
    return Limit(
        account_id=entry.account_id,
        lists=entry.lists,
        sends=cadence.sends,
        days=cadence.days,
        source=f"cadence {name}",
    )


def cadence_of(consents: Iterable[ConsentEntry], request: SendRequest) -> str | None:
    """The cadence of the consent a send goes under (the first covering one that names one),
    for the preference centre behind its unsubscribe link."""
    return next(
        (
            entry.cadence
            for entry in consents
            if entry.cadence is not None and entry.covers(request.account_id, request.list_id)
        ),
        None,
    )


def cadence_limits(
    request: SendRequest, consents: Iterable[ConsentEntry], policy: FrequencyPolicy
) -> tuple[Limit, ...]:
    """The cadences of the consents that cover a commercial send. Transactional mail has none:
    a receipt is owed whenever."""
    if not request.commercial:
        return ()
    return tuple(
        limit
        for entry in consents
        if entry.covers(request.account_id, request.list_id)
        and (limit := cadence_limit(entry, policy)) is not None
    )


def cap_limit(request: SendRequest, policy: FrequencyPolicy) -> Limit | None:
    """The platform's cap on a commercial send, if the policy sets one."""
    if not request.commercial or not policy.cap_per_recipient:
        return None
    return Limit(
        account_id=request.account_id,
        lists=(),
        sends=policy.cap_per_recipient,
        days=policy.cap_period_days,
        source="platform cap",
    )


def limits_for(
    request: SendRequest, consents: Iterable[ConsentEntry], policy: FrequencyPolicy
) -> tuple[Limit, ...]:
    """Every limit that applies to a send: its consents' cadences and the platform's cap."""
    cap = cap_limit(request, policy)
    return cadence_limits(request, consents, policy) + ((cap,) if cap else ())


def sends_within(
    history: SendHistory | None, limit: Limit, *, at: datetime, request_id: str
) -> list[SentMark]:
    """The sends that count against `limit` for a send at `at` (event time): same account, a
    covered list, less than `days` away from `at`. The request's own mark (a replay) does not
    count.

    Less than `days` away on either side, not only before: a request that arrives late (its
    event time before sends already allowed) must not squeeze in between them. For one send per
    period this is exactly "no two sends closer than the period"; for several it errs on the
    strict side for late requests and is the trailing window for requests in order."""
    if history is None:
        return []
    span = timedelta(days=limit.days)
    return [
        mark
        for mark in history.sends
        if mark.account_id == limit.account_id
        and mark.request_id != request_id
        and (not limit.lists or mark.list_id in limit.lists)
        and abs(mark.sent_at - at) < span
    ]


def history_reach(history: SendHistory | None, policy: FrequencyPolicy) -> datetime | None:
    """The earliest moment the history is complete from: `record_send` drops marks more than
    `history_days` older than the newest, so a request whose window starts before this could
    miss a dropped send. None: nothing was ever dropped that matters (no marks)."""
    if history is None or not history.sends:
        return None
    return max(mark.sent_at for mark in history.sends) - timedelta(days=policy.history_days)


def record_send(
    history: SendHistory | None, request: SendRequest, policy: FrequencyPolicy
) -> SendHistory:
    """The history after an allowed send: its mark added once, marks past every limit dropped.
    Marks are kept in event-time order so a late request does not reorder what others read."""
    history = history or SendHistory()
    horizon = request.requested_at - timedelta(days=policy.history_days)
    kept = [
        mark
        for mark in history.sends
        if mark.sent_at > horizon
        and not (mark.account_id == request.account_id and mark.request_id == request.request_id)
    ]
    kept.append(
        SentMark(
            account_id=request.account_id,
            list_id=request.list_id,
            request_id=request.request_id,
            sent_at=request.requested_at,
        )
    )
    kept.sort(key=lambda mark: (mark.sent_at, mark.account_id, mark.request_id))
    return SendHistory(sends=tuple(kept[-MAX_MARKS:]))


MAX_MARKS = 1000
"""A bound on one person's history: no sane limit needs more marks than this."""

RECORDS: tuple[type[Record], ...] = (SentMark, SendHistory)
