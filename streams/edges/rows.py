"""Senders' input rows (a CSV line, a JSON object) as records, so that nobody re-implements the
recipient key.

`send_request_from_row`, `unsubscribe_from_row`, `consent_event_from_row` and
`sender_domains_from_row` turn loosely typed input into frozen records, or raise `RowError` naming
every bad field without echoing its value (a value may be an address). Nothing here talks to
Kafka, so validating a file (`sendgate publish --dry-run`) needs no broker and its tests no
client; the producer (`streams.edges.producer`) publishes what it returns.

An unsubscribe row without a `click_id` gets a deterministic one: a name-based UUID (RFC 4122
version 5) of everything the click says (scope, account, list, recipient key, method, reason and
`clicked_at` to the millisecond). Re-publishing the same file therefore yields the same click ids,
and the suppression keeper, which skips click ids it has applied, changes nothing twice. A row
without `clicked_at` is stamped with the current time, so re-publishing it is a new click; that
re-applies the same suppression, which is harmless, while the opposite (dropping a genuine later
unsubscribe as a duplicate) would not be.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any, TypeVar

from pydantic import ValidationError

from streams.core.clock import Clock, SystemClock, to_epoch_ms
from streams.core.errors import SendgateError
from streams.core.recipient import RecipientKeyer, is_valid_address
from streams.core.records import (
    ConsentEvent,
    Record,
    SenderDomains,
    SendRequest,
    UnsubscribeClick,
)

__all__ = [
    "CLICK_ID_NAMESPACE",
    "CONSENT_ID_NAMESPACE",
    "RowError",
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

R = TypeVar("R", bound=Record)


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


def _validated(
    record_type: type[R],
    fields: dict[str, Any],
    problems: list[tuple[str, str]],
    *,
    whole_record_field: str = "(row)",
) -> R:
    """The record of the row's fields, or `RowError` with the problems found so far and the
    record's own. Once the address was refused or missing (`_key_the_address`), the record's
    complaint that the recipient key is missing is not news, and is left out."""
    try:
        record = record_type.model_validate(fields)
    except ValidationError as exc:
        found = _validation_problems(exc, whole_record_field)
        if any(field == "recipient" for field, _ in problems):
            found = [problem for problem in found if problem[0] != "recipient_key"]
        raise RowError(problems + found) from None
    if problems:
        raise RowError(problems)
    return record


def send_request_from_row(row: Mapping[str, Any], *, clock: Clock | None = None) -> SendRequest:
    """A `SendRequest` from a row; `requested_at` defaults to now.

    The recipient is not checked for syntax here: an invalid address is still published, so the
    gate denies it with a named rule and the sender sees why.
    """
    clock = clock or SystemClock()
    fields = _present(row)
    problems: list[tuple[str, str]] = []
    fields["requested_at"] = _time_field(fields, "requested_at", clock, problems)
    return _validated(SendRequest, fields, problems)


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
    return _validated(SenderDomains, fields, problems)


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
    return _with_derived_id(
        UnsubscribeClick, fields, problems, "click_id", "scope", derive=click_id_for
    )


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
    return _with_derived_id(
        ConsentEvent, fields, problems, "event_id", "kind", derive=_event_id_for
    )


def _event_id_for(event: ConsentEvent) -> str:
    """The deterministic event id of a consent event's content."""
    return str(uuid.uuid5(CONSENT_ID_NAMESPACE, event.model_dump_json(exclude={"event_id"})))


def _with_derived_id(
    record_type: type[R],
    fields: dict[str, Any],
    problems: list[tuple[str, str]],
    id_field: str,
    whole_record_field: str,
    *,
    derive: Callable[[R], str],
) -> R:
    """The row's record; an id the row leaves out is derived from the rest of the validated
    record, so publishing the same file again makes the same records, not new ones."""
    derive_id = id_field not in fields
    if derive_id:
        fields[id_field] = "derived-after-validation"
    record = _validated(record_type, fields, problems, whole_record_field=whole_record_field)
    if derive_id:
        record = record.model_copy(update={id_field: derive(record)})
    return record
