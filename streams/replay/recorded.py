"""The recorded traffic of a time range: each send request with the decisions the gate wrote
for it, read from `send-requests` and `send-decisions`, and what could not be paired.

A decision names its request by Kafka coordinates (`request_offset`), and the two topics are
co-partitioned with the decisions written in request order, so the pairing is done one
partition at a time: the requests of the range are read into memory (a partition's share of
the range, not the whole topic), then the decisions from the range's start until
`decided_within` after its end. A request is in the range by its event time (`requested_at`);
the topics are read by Kafka timestamp (publish time) widened by `skew` on both sides, so a
request published a little before or after the moment it names is still found.

Every request of the range ends in exactly one of: one or more `RecordedSend`s (a request can
be decided twice after a worker's crash: at-least-once), or one `NotReplayed` saying why.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Collection
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal

from streams.core.codec import Codec
from streams.core.errors import CodecError, InvalidRecordError
from streams.core.recipient import RecipientKeyer
from streams.core.records import SendDecision, SendRequest
from streams.core.settings import Settings
from streams.edges.admin import partition_counts
from streams.replay.reading import TimeRange, read_between
from streams.topics import SEND_DECISIONS, SEND_REQUESTS, read_send_request

__all__ = [
    "NotReplayed",
    "ReadProgress",
    "RecordedSend",
    "ReplayScope",
    "recorded_sends",
]

NotReplayedKind = Literal[
    "invalid-request", "no-decision", "no-inputs", "no-policy", "decided-invalid"
]

ReadProgress = Callable[[str, int, int], None]
"""(what is being read, offsets read, offsets to read)."""


@dataclass(frozen=True, slots=True)
class ReplayScope:
    """Which recorded requests a replay decides again."""

    when: TimeRange
    account: str | None = None
    skew: timedelta = timedelta(hours=1)
    """How far a request's publish time may be from its `requested_at`."""
    decided_within: timedelta = timedelta(hours=1)
    """How long after a request's publish time its decision is looked for."""

    def covers(self, request: SendRequest) -> bool:
        start, end = self.when.start, self.when.end
        return (
            (self.account is None or request.account_id == self.account)
            and (start is None or request.requested_at >= start)
            and (end is None or request.requested_at < end)
        )


@dataclass(frozen=True, slots=True)
class RecordedSend:
    """A send request and one decision the gate recorded for it (`value`: its bytes)."""

    request: SendRequest
    decision: SendDecision
    value: bytes


@dataclass(frozen=True, slots=True)
class NotReplayed:
    """A request of the range that cannot be decided again, and why."""

    request_offset: str
    kind: NotReplayedKind
    reason: str
    request_id: str | None = None
    account_id: str | None = None


@dataclass
class _Partition:
    """One partition's requests of the range, by offset, while their decisions are read."""

    wanted: dict[int, SendRequest] = field(default_factory=dict)
    invalid: dict[int, str] = field(default_factory=dict)
    decided: set[int] = field(default_factory=set)


def _check_key(key: bytes | None, request: SendRequest, keyer: RecipientKeyer | None) -> None:
    """The gate decides a request only when its Kafka key is its recipient's key; without the
    platform's secret (`keyer` None) the replay can check only that there is a key."""
    if not key:
        raise InvalidRecordError("record has no key; it must be keyed by the recipient key")
    if keyer is not None and key != keyer.key(request.recipient).encode("ascii"):
        raise InvalidRecordError("record key is not the recipient key of its recipient address")


def _request_offset(coordinates: str) -> tuple[str, int, int] | None:
    topic, _, rest = coordinates.rpartition("/")
    topic, _, partition = topic.rpartition("/")
    try:
        return topic, int(partition), int(rest)
    except ValueError:
        return None


async def recorded_sends(
    settings: Settings,
    scope: ReplayScope,
    *,
    codec: Codec,
    keyer: RecipientKeyer | None = None,
    partitions: Collection[int] | None = None,
    on_progress: ReadProgress | None = None,
    timeout_s: float = 10.0,
) -> AsyncIterator[RecordedSend | NotReplayed]:
    """Every request of `scope` with its recorded decisions, partition by partition (`keyer`:
    the platform's recipient keys, to set aside what the gate set aside for a wrong key;
    `partitions`: only these, for a replay shared among processes)."""
    requests_topic = SEND_REQUESTS.full_name(settings)
    decisions_topic = SEND_DECISIONS.full_name(settings)
    counts = await partition_counts(settings, [requests_topic], timeout_s=timeout_s)
    start, end = scope.when.start, scope.when.end
    request_range = TimeRange(
        None if start is None else start - scope.skew, None if end is None else end + scope.skew
    )
    decision_range = TimeRange(
        request_range.start,
        None if request_range.end is None else request_range.end + scope.decided_within,
    )
    existing = range(counts.get(requests_topic) or 0)
    for partition in existing if partitions is None else sorted(set(partitions) & set(existing)):
        found = _Partition()

        def progress(what: str, done: int, total: int, partition: int = partition) -> None:
            if on_progress is not None:
                on_progress(f"{what} {partition}", done, total)

        async for message in read_between(
            settings,
            requests_topic,
            request_range,
            partitions=[partition],
            timeout_s=timeout_s,
            on_progress=lambda done, total: progress("send-requests", done, total),
        ):
            try:
                request = read_send_request(message.value, codec)
                _check_key(message.key, request, keyer)
            except (CodecError, InvalidRecordError) as exc:
                found.invalid[message.offset] = str(exc)
                continue
            if scope.covers(request):
                found.wanted[message.offset] = request
        if not found.wanted and not found.invalid:
            continue
        async for message in read_between(
            settings,
            decisions_topic,
            decision_range,
            partitions=[partition],
            timeout_s=timeout_s,
            on_progress=lambda done, total: progress("send-decisions", done, total),
        ):
            for item in _paired(message, found, requests_topic, partition, codec):
                yield item
        for item in _unpaired(found, requests_topic, partition, scope):
            yield item


def _paired(
    message: object, found: _Partition, requests_topic: str, partition: int, codec: Codec
) -> list[RecordedSend | NotReplayed]:
    value: bytes = getattr(message, "value", None) or b""
    try:
        decision = codec.decode(value, SendDecision)
    except (CodecError, InvalidRecordError):
        return []  # not a decision of ours: the ledger sink dead-letters it, not the replay
    place = _request_offset(decision.request_offset)
    if place is None or place[0] != requests_topic or place[1] != partition:
        return []
    offset = place[2]
    request = found.wanted.get(offset)
    if request is not None:
        found.decided.add(offset)
        return [RecordedSend(request, decision, value)]
    if offset in found.invalid:
        found.decided.add(offset)
        return [
            NotReplayed(
                decision.request_offset,
                "decided-invalid",
                f"the gate decided it ({decision.verdict}) but it does not read as a send "
                f"request now: {found.invalid[offset]}",
                decision.request_id,
                decision.account_id,
            )
        ]
    return []


def _unpaired(
    found: _Partition, requests_topic: str, partition: int, scope: ReplayScope
) -> list[NotReplayed]:
    missing = []
    for offset, request in found.wanted.items():
        if offset not in found.decided:
            missing.append(
                NotReplayed(
                    f"{requests_topic}/{partition}/{offset}",
                    "no-decision",
                    "no decision for it on send-decisions within "
                    f"{scope.decided_within} of the range (not decided yet, or lost)",
                    request.request_id,
                    request.account_id,
                )
            )
    if scope.account is None:
        for offset, reason in found.invalid.items():
            if offset not in found.decided:
                missing.append(
                    NotReplayed(
                        f"{requests_topic}/{partition}/{offset}",
                        "invalid-request",
                        f"the gate sets it aside as a dead letter: {reason}",
                    )
                )
    return missing
