"""The producer senders use, so that nobody re-implements the recipient key.

Two halves, both for senders:

- building records from rows (a CSV line, a JSON object): `send_request_from_row` and
  `unsubscribe_from_row` turn loosely typed input into frozen records, or raise `RowError`
  naming every bad field without echoing its value (a value may be an address);
- publishing them: `SendgateProducer` keys each record the way the gate reads it (the recipient
  key as ASCII bytes, never the address), encodes it with our Avro codec and waits for every
  in-sync replica (`acks="all"`, idempotent, so a retried batch is not written twice).

An unsubscribe row without a `click_id` gets a deterministic one: a name-based UUID (RFC 4122
version 5) of everything the click says (scope, account, list, recipient key, method, reason and
`clicked_at` to the millisecond). Re-publishing the same file therefore yields the same click ids,
and the suppression keeper, which skips click ids it has applied, changes nothing twice. A row
without `clicked_at` is stamped with the current time, so re-publishing it is a new click; that
re-applies the same suppression, which is harmless, while the opposite (dropping a genuine later
unsubscribe as a duplicate) would not be.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any, Self

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError, KafkaError
from aiokafka.structs import RecordMetadata
from pydantic import ValidationError

from streams.core.clock import Clock, SystemClock, to_epoch_ms
from streams.core.codec import Codec
from streams.core.errors import SendgateError, ServiceUnavailableError
from streams.core.recipient import RecipientKeyer, is_valid_address
from streams.core.records import (
    ConsentEvent,
    DeliveryEvent,
    FeedbackReport,
    Record,
    SenderDomains,
    SendRequest,
    UnsubscribeClick,
)
from streams.core.settings import Settings
from streams.topics import (
    CONSENT_EVENTS,
    DELIVERY_EVENTS,
    FEEDBACK_REPORTS,
    SEND_REQUESTS,
    SENDER_DOMAINS,
    UNSUBSCRIBE_CLICKS,
    TopicSpec,
    default_codec,
)

Published = (
    SendRequest | UnsubscribeClick | ConsentEvent | DeliveryEvent | FeedbackReport | SenderDomains
)
"""What senders and the platform's own services (the mail infrastructure: deliveries and
feedback-loop reports) publish through the producer."""

__all__ = [
    "CLICK_ID_NAMESPACE",
    "CONSENT_ID_NAMESPACE",
    "PublishCounts",
    "RowError",
    "SendgateProducer",
    "click_id_for",
    "consent_event_from_row",
    "send_request_from_row",
    "sender_domains_from_row",
    "unsubscribe_from_row",
]

CLICK_ID_NAMESPACE = uuid.UUID("5b0f3d9e-6a43-5c1e-9f0e-2f1c6c1b7a20")
"""Namespace of derived click ids. Changing it changes every derived id: never do."""
CONSENT_ID_NAMESPACE = uuid.UUID("0c6f6d1e-3b5a-5d8e-b1f4-7a2d9e0c4b13")
"""Namespace of derived consent event ids; fixed for the same reason."""

_EXAMPLE_TIME = "2025-01-31T09:00:00Z"
_TOPIC_GRACE_S = 2.0
"""How long a topic that is not (yet) in the metadata is looked for before it counts as missing."""
_PIPELINE_DEPTH = 1000
"""Records in flight before `publish_many` waits for their acknowledgements."""


# --- rows -> records -----------------------------------------------------------------------------


class RowError(SendgateError):
    """A row cannot become a record; `problems` holds (field, problem) pairs, values never shown."""

    def __init__(self, problems: Iterable[tuple[str, str]]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(f"{field}: {problem}" for field, problem in self.problems))


def _present(row: Mapping[str, Any]) -> dict[str, Any]:
    """The row's fields, without empty CSV cells and JSON nulls (both mean "not given")."""
    return {
        str(name).strip(): value for name, value in row.items() if value is not None and value != ""
    }


def _time_field(
    fields: dict[str, Any], name: str, clock: Clock, problems: list[tuple[str, str]]
) -> datetime:
    """An ISO-8601 time with a UTC offset, or now when absent; naive times are refused."""
    raw = fields.get(name)
    if raw is None:
        return clock.now()
    if not isinstance(raw, str):
        problems.append((name, f"must be an ISO-8601 time string, e.g. {_EXAMPLE_TIME}"))
        return clock.now()
    try:
        moment = datetime.fromisoformat(raw.strip())
    except ValueError:
        problems.append((name, f"not an ISO-8601 time, e.g. {_EXAMPLE_TIME}"))
        return clock.now()
    if moment.tzinfo is None:
        problems.append(
            (name, f"has no UTC offset; write e.g. {_EXAMPLE_TIME} or ...T10:00:00+01:00")
        )
        return clock.now()
    return moment


def _validation_problems(exc: ValidationError, whole_record_field: str) -> list[tuple[str, str]]:
    """Pydantic's complaints as (field, problem), without the offending values."""
    problems = []
    for error in exc.errors(include_input=False, include_url=False, include_context=False):
        field = ".".join(str(part) for part in error["loc"]) or whole_record_field
        if error["type"] == "extra_forbidden":
            problem = "unknown field"
        elif error["type"] == "missing":
            problem = "required, missing"
        else:
            problem = error["msg"].removeprefix("Value error, ")
        problems.append((field, problem))
    return problems


def send_request_from_row(row: Mapping[str, Any], *, clock: Clock | None = None) -> SendRequest:
    """A `SendRequest` from a row; `requested_at` defaults to now.

    The recipient is not checked for syntax here: an invalid address is still published, so the
    gate denies it with a named rule and the sender sees why.
    """
    clock = clock or SystemClock()
    fields = _present(row)
    problems: list[tuple[str, str]] = []
    fields["requested_at"] = _time_field(fields, "requested_at", clock, problems)
    try:
        request = SendRequest.model_validate(fields)
    except ValidationError as exc:
        raise RowError(problems + _validation_problems(exc, "(row)")) from None
    if problems:
        raise RowError(problems)
    return request


def sender_domains_from_row(row: Mapping[str, Any], *, clock: Clock | None = None) -> SenderDomains:
    """An account's verified domains from a row: `domains` a JSON list, or names separated by
    `;` (CSV); `changed_at` defaults to now, `source` to "sendgate publish"."""
    clock = clock or SystemClock()
    fields = _present(row)
    problems: list[tuple[str, str]] = []
    domains = fields.get("domains")
    if isinstance(domains, str):
        fields["domains"] = [name.strip() for name in domains.split(";") if name.strip()]
    fields.setdefault("source", "sendgate publish")
    fields["changed_at"] = _time_field(fields, "changed_at", clock, problems)
    try:
        record = SenderDomains.model_validate(fields)
    except ValidationError as exc:
        raise RowError(problems + _validation_problems(exc, "(row)")) from None
    if problems:
        raise RowError(problems)
    return record


def click_id_for(click: UnsubscribeClick) -> str:
    """The deterministic click id of a click's content (see the module docstring)."""
    name = "\x1f".join(
        (
            click.scope,
            click.account_id or "",
            click.list_id or "",
            click.recipient_key,
            click.method,
            click.reason,
            str(to_epoch_ms(click.clicked_at)),
        )
    )
    return str(uuid.uuid5(CLICK_ID_NAMESPACE, name))


def _key_the_address(fields: dict[str, Any], keyer: RecipientKeyer) -> list[tuple[str, str]]:
    """Replace the row's `recipient` address by its `recipient_key`, in place; the problems.

    An address that does not parse is refused (unlike in a send request): a suppression or a
    consent under the key of a mistyped address would silently reach nobody.
    """
    problems: list[tuple[str, str]] = []
    address = fields.pop("recipient", None)
    if "recipient_key" in fields:
        problems.append(("recipient_key", "give the address in 'recipient'; the key is computed"))
    if address is None:
        problems.append(("recipient", "required, missing"))
    elif not isinstance(address, str) or not is_valid_address(address):
        problems.append(("recipient", "not a valid email address (value not shown)"))
    else:
        fields["recipient_key"] = keyer.key(address)
    return problems


def unsubscribe_from_row(
    row: Mapping[str, Any], keyer: RecipientKeyer, *, clock: Clock | None = None
) -> UnsubscribeClick:
    """An `UnsubscribeClick` from a row that names its recipient by address.

    The address becomes the recipient key and is dropped: the click never carries it. Unlike a
    send request, an address that does not parse is refused, because a suppression under the key
    of a mistyped address would silently suppress nobody. `clicked_at` defaults to now and
    `click_id` to `click_id_for(click)`.
    """
    clock = clock or SystemClock()
    fields = _present(row)
    problems = _key_the_address(fields, keyer)
    fields["clicked_at"] = _time_field(fields, "clicked_at", clock, problems)
    derive_click_id = "click_id" not in fields
    if derive_click_id:
        fields["click_id"] = "derived-after-validation"
    try:
        click = UnsubscribeClick.model_validate(fields)
    except ValidationError as exc:
        found = _validation_problems(exc, "scope")
        if problems:  # a missing or refused address was reported: its key's absence is not news
            found = [problem for problem in found if problem[0] != "recipient_key"]
        problems += found
    if problems:
        raise RowError(problems)
    if derive_click_id:
        click = click.model_copy(update={"click_id": click_id_for(click)})
    return click


def consent_event_from_row(
    row: Mapping[str, Any], keyer: RecipientKeyer, *, clock: Clock | None = None
) -> ConsentEvent:
    """A `ConsentEvent` from a row that names its recipient by address (a sign-up export, an
    import file). The address becomes the recipient key and is dropped, as for unsubscribes.

    `lists` may be a JSON list or, in CSV, ids separated by `;`. `occurred_at` defaults to now,
    `event_id` to an id derived from the rest, so re-publishing a file changes nothing twice.
    """
    clock = clock or SystemClock()
    fields = _present(row)
    problems = _key_the_address(fields, keyer)
    lists = fields.get("lists")
    if isinstance(lists, str):
        fields["lists"] = [name.strip() for name in lists.split(";") if name.strip()]
    if isinstance(fields.get("requires_confirmation"), str):
        flag = fields["requires_confirmation"].strip().lower()
        fields["requires_confirmation"] = flag in ("true", "yes", "1")
    fields["occurred_at"] = _time_field(fields, "occurred_at", clock, problems)
    derive_id = "event_id" not in fields
    if derive_id:
        fields["event_id"] = "derived-after-validation"
    try:
        event = ConsentEvent.model_validate(fields)
    except ValidationError as exc:
        found = _validation_problems(exc, "kind")
        if problems:
            found = [problem for problem in found if problem[0] != "recipient_key"]
        problems += found
    if problems:
        raise RowError(problems)
    if derive_id:
        content = event.model_dump_json(exclude={"event_id"})
        event = event.model_copy(
            update={"event_id": str(uuid.uuid5(CONSENT_ID_NAMESPACE, content))}
        )
    return event


# --- records -> Kafka ----------------------------------------------------------------------------


@dataclass(frozen=True)
class PublishCounts:
    """How many records Kafka acknowledged, in total and per full topic name."""

    total: int
    by_topic: Mapping[str, int]


ProgressCallback = Callable[[int], None]


def _kafka_failure(settings: Settings, action: str, exc: BaseException) -> SendgateError:
    """A Kafka client error as ours: retriable ones say the broker is unavailable."""
    detail = str(exc) or type(exc).__name__
    if isinstance(exc, TimeoutError | OSError) or getattr(exc, "retriable", False):
        return ServiceUnavailableError(
            f"Kafka broker at {settings.kafka_bootstrap_servers} did not answer while {action}: "
            f"{detail}; is it running? (scripts/services status)"
        )
    return SendgateError(f"Kafka refused {action}: {detail}")


class SendgateProducer:
    """Publishes sendgate records keyed by recipient key; use as `async with`.

    Nothing here logs a record, a key or an address.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        keyer: RecipientKeyer | None = None,
        codec: Codec | None = None,
        connect_timeout_s: float = 10.0,
        request_timeout_ms: int = 30_000,
    ) -> None:
        self._settings = settings
        self._keyer = keyer or RecipientKeyer(settings.recipient_secret())
        self._codec = codec or default_codec()
        self._connect_timeout_s = connect_timeout_s
        self._request_timeout_ms = request_timeout_ms
        self._producer: AIOKafkaProducer | None = None
        self._known_topics: set[str] = set()

    async def __aenter__(self) -> Self:
        producer = AIOKafkaProducer(
            bootstrap_servers=self._settings.kafka_bootstrap_servers,
            client_id="sendgate-producer",
            acks="all",
            enable_idempotence=True,
            linger_ms=5,
            request_timeout_ms=self._request_timeout_ms,
        )
        try:
            await asyncio.wait_for(producer.start(), self._connect_timeout_s)
        except (KafkaError, OSError, TimeoutError) as exc:
            await producer.stop()
            refused = isinstance(exc, KafkaConnectionError)
            reason = "connection failed" if refused else "no answer in time"
            raise ServiceUnavailableError(
                f"Kafka broker at {self._settings.kafka_bootstrap_servers} is not reachable: "
                f"{reason}; start it with scripts/services start"
            ) from None
        self._producer = producer
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()  # flushes what is still buffered

    def key_of(self, record: Record) -> bytes:
        """The Kafka key of a record: its recipient key as ASCII bytes."""
        if isinstance(record, SendRequest):
            return self._keyer.key(record.recipient).encode("ascii")
        if isinstance(record, UnsubscribeClick | ConsentEvent | DeliveryEvent | FeedbackReport):
            return record.recipient_key.encode("ascii")
        if isinstance(record, SenderDomains):
            return record.account_id.encode("utf-8")
        raise TypeError(f"senders do not publish {type(record).__name__} records")

    @staticmethod
    def topic_of(record: Record) -> TopicSpec:
        if isinstance(record, SendRequest):
            return SEND_REQUESTS
        if isinstance(record, UnsubscribeClick):
            return UNSUBSCRIBE_CLICKS
        if isinstance(record, ConsentEvent):
            return CONSENT_EVENTS
        if isinstance(record, DeliveryEvent):
            return DELIVERY_EVENTS
        if isinstance(record, FeedbackReport):
            return FEEDBACK_REPORTS
        if isinstance(record, SenderDomains):
            return SENDER_DOMAINS
        raise TypeError(f"senders do not publish {type(record).__name__} records")

    async def require_topics(self, topic_specs: Iterable[TopicSpec]) -> None:
        """Fail at once on a missing topic (auto-creation is off) rather than after a timeout."""
        producer = self._started()
        names = {spec.full_name(self._settings) for spec in topic_specs} - self._known_topics
        if not names:
            return
        missing = sorted(names)
        deadline = asyncio.get_running_loop().time() + _TOPIC_GRACE_S
        while missing:
            try:
                metadata = await producer.client.fetch_all_metadata()
            except (KafkaError, OSError, TimeoutError) as exc:
                raise _kafka_failure(self._settings, "reading topic metadata", exc) from None
            missing = sorted(names - metadata.topics())
            if not missing or asyncio.get_running_loop().time() >= deadline:
                break
            await asyncio.sleep(0.2)  # a topic created a moment ago may not be served yet
        if missing:
            raise SendgateError(
                f"topic '{missing[0]}' does not exist on {self._settings.kafka_bootstrap_servers};"
                " create it with: sendgate topics create"
            )
        self._known_topics |= names

    def _started(self) -> AIOKafkaProducer:
        if self._producer is None:
            raise RuntimeError("use SendgateProducer as 'async with SendgateProducer(...)'")
        return self._producer

    async def _enqueue(
        self, topic_spec: TopicSpec, key: bytes, value: bytes
    ) -> asyncio.Future[RecordMetadata]:
        """Hand a record to the producer's buffer; the future resolves on acknowledgement."""
        producer = self._started()
        await self.require_topics([topic_spec])
        topic = topic_spec.full_name(self._settings)
        try:
            return await producer.send(topic, value=value, key=key)
        except (KafkaError, OSError, TimeoutError) as exc:
            raise _kafka_failure(self._settings, f"publishing to '{topic}'", exc) from None

    async def send(self, topic_spec: TopicSpec, key: bytes, value: bytes) -> RecordMetadata:
        """Publish already-encoded bytes and wait for the acknowledgement."""
        future = await self._enqueue(topic_spec, key, value)
        try:
            return await future
        except (KafkaError, OSError, TimeoutError) as exc:
            topic = topic_spec.full_name(self._settings)
            raise _kafka_failure(self._settings, f"publishing to '{topic}'", exc) from None

    async def publish(self, record: Published) -> RecordMetadata:
        """Publish one record to its topic, keyed by its recipient key."""
        value = self._codec.encode(record)
        return await self.send(self.topic_of(record), self.key_of(record), value)

    async def publish_send_request(self, request: SendRequest) -> RecordMetadata:
        return await self.publish(request)

    async def publish_unsubscribe(self, click: UnsubscribeClick) -> RecordMetadata:
        return await self.publish(click)

    async def publish_consent(self, event: ConsentEvent) -> RecordMetadata:
        return await self.publish(event)

    async def publish_many(
        self,
        records: Iterable[Published],
        on_progress: ProgressCallback | None = None,
    ) -> PublishCounts:
        """Publish records in order, many in flight at once; `on_progress(1)` per acknowledgement.

        Records for one recipient keep their order (same key, same partition, idempotent
        producer). If Kafka fails, the error says how many records were acknowledged before it;
        the rest may or may not have been written.
        """
        counts: Counter[str] = Counter()
        in_flight: list[asyncio.Future[RecordMetadata]] = []

        def report(future: asyncio.Future[RecordMetadata]) -> None:
            if on_progress is not None and not future.cancelled() and future.exception() is None:
                on_progress(1)

        async def settle() -> None:
            results = await asyncio.gather(*in_flight, return_exceptions=True)
            in_flight.clear()
            counts.update(result.topic for result in results if isinstance(result, RecordMetadata))
            failures = [result for result in results if isinstance(result, BaseException)]
            if failures:
                raise _kafka_failure(
                    self._settings,
                    f"publishing (after {counts.total()} records were acknowledged)",
                    failures[0],
                )

        for record in records:
            topic_spec, key = self.topic_of(record), self.key_of(record)
            future = await self._enqueue(topic_spec, key, self._codec.encode(record))
            future.add_done_callback(report)
            in_flight.append(future)
            if len(in_flight) >= _PIPELINE_DEPTH:
                await settle()
        await settle()
        return PublishCounts(total=counts.total(), by_topic=dict(counts))
