"""Where an erasure stands, read from the ledger alone: the request, each step reported so far,
and what each place did with the person's data.

The ledger copies `erasure-requests` into `erasures` (with when it carried the request out, and
what the person's consent chain said just before) and `erasure-events` into `erasure_steps`, its
own `ledger_erased` step among them. So `sendgate erase --status ID` needs the database only, not
the broker, and says the same thing after the topics are long compacted or the workers gone.

`erasure_status` reads; `status_from_rows`, pure, assembles, so what a status says can be tested
without a database. `completions_due` finds the requests whose `completed` step is due: the ledger
holds every step the erasure waits for, so the sink, which reads them all, is the one that says
when an erasure is complete (`streams.privacy.erasure.completion` decides). A request is
complete once its `completed` step is stored; until then the status lists the steps there are and
the ones still awaited.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, get_args

from sqlalchemy import Connection, Engine, select
from sqlalchemy.orm import Session

from streams.core.records import ErasedPlace, ErasureEvent, ErasureEventKind, ErasureRequest
from streams.edges.ledger.models import ErasureRow, ErasureStepRow, metadata
from streams.privacy.erasure import completion

__all__ = [
    "STEP_KINDS",
    "ErasurePlaceLine",
    "ErasureStatus",
    "ErasureStep",
    "completions_due",
    "erasure_status",
    "status_from_rows",
]

STEP_KINDS: tuple[ErasureEventKind, ...] = get_args(ErasureEventKind)
"""An erasure's steps in the order they are expected: suppressed, state_erased, ledger_erased,
completed."""
_ERASURES = metadata.tables[ErasureRow.__tablename__]
_STEPS = metadata.tables[ErasureStepRow.__tablename__]


@dataclass(frozen=True, slots=True)
class ErasureStep:
    """One step of an erasure as reported on `erasure-events` and stored by the ledger."""

    kind: ErasureEventKind
    event_id: str
    at: datetime
    places: tuple[ErasedPlace, ...]


@dataclass(frozen=True, slots=True)
class ErasurePlaceLine:
    """One row of a per-place table: a place, what became of the person's data there, and the
    step that said so."""

    step: ErasureEventKind
    place: str
    action: str
    """`deleted`, `redacted`, `expires` (gone by `done_by`, by a topic's retention) or `kept`."""
    count: int
    done_by: datetime
    note: str | None


@dataclass(frozen=True, slots=True)
class ErasureStatus:
    """Everything the ledger knows of one erasure request.

    The request's fields are None when the ledger has read steps of it but not (yet) the request
    itself (two topics, read side by side). `ledger_processed_at` is when the ledger carried the
    request out in its own tables; `chain_before` what the person's consent chain said just
    before ("verified", or why not)."""

    request_id: str
    recipient_key: str
    requested_by: str | None
    requested_at: datetime | None
    ledger_processed_at: datetime | None
    chain_before: str | None
    steps: tuple[ErasureStep, ...]
    """The steps stored, in `STEP_KINDS` order."""
    completed_at: datetime | None
    """When the `completed` step says every place was done; None until it is stored."""

    @property
    def completed(self) -> bool:
        return self.completed_at is not None

    @property
    def awaited(self) -> tuple[ErasureEventKind, ...]:
        """The steps not stored yet, in order."""
        stored = {step.kind for step in self.steps}
        return tuple(kind for kind in STEP_KINDS if kind not in stored)

    def step(self, kind: ErasureEventKind) -> ErasureStep | None:
        return next((step for step in self.steps if step.kind == kind), None)

    @property
    def places(self) -> tuple[ErasurePlaceLine, ...]:
        """The per-place table: the `completed` step's places once there is one (it lists every
        place), else every stored step's places, step by step."""
        completed = self.step("completed")
        steps = (completed,) if completed is not None else self.steps
        return tuple(
            ErasurePlaceLine(
                step=step.kind,
                place=place.place,
                action=place.action,
                count=place.count,
                done_by=place.done_by,
                note=place.note,
            )
            for step in steps
            for place in step.places
        )

    @property
    def gone_by(self) -> datetime | None:
        """The latest `done_by` of a place whose data goes (kept places aside): when the last
        copy is gone or expires. None while no such place is reported."""
        moments = [line.done_by for line in self.places if line.action != "kept"]
        return max(moments) if moments else None


def erasure_status(source: Engine | Connection | Session, request_id: str) -> ErasureStatus | None:
    """The status of erasure request `request_id`; None if the ledger holds neither the request
    nor any step of it."""
    if isinstance(source, Engine):
        with source.connect() as connection:
            return _read(connection, request_id)
    if isinstance(source, Session):
        return _read(source.connection(), request_id)
    return _read(source, request_id)


def _read(connection: Connection, request_id: str) -> ErasureStatus | None:
    request = (
        connection.execute(select(_ERASURES).where(_ERASURES.c.request_id == request_id))
        .mappings()
        .first()
    )
    steps = connection.execute(
        select(_STEPS).where(_STEPS.c.request_id == request_id).order_by(_STEPS.c.id)
    ).mappings()
    return status_from_rows(
        request_id, dict(request) if request else None, [dict(step) for step in steps]
    )


def status_from_rows(
    request_id: str,
    request: Mapping[str, Any] | None,
    steps: Sequence[Mapping[str, Any]],
) -> ErasureStatus | None:
    """The status from the request's `erasures` row and its `erasure_steps` rows. Pure.

    A kind stored twice (two events of one kind under different ids, which no sendgate
    component sends) counts once: the first stored."""
    if request is None and not steps:
        return None
    by_kind: dict[str, ErasureStep] = {}
    for row in steps:
        if row["kind"] in by_kind or row["kind"] not in STEP_KINDS:
            continue
        by_kind[row["kind"]] = ErasureStep(
            kind=row["kind"],
            event_id=row["event_id"],
            at=row["at"],
            places=tuple(ErasedPlace.model_validate(place) for place in row["places"] or ()),
        )
    ordered = tuple(by_kind[kind] for kind in STEP_KINDS if kind in by_kind)
    completed = by_kind.get("completed")
    recipient_key = request["recipient_key"] if request else steps[0]["recipient_key"]
    return ErasureStatus(
        request_id=request_id,
        recipient_key=recipient_key,
        requested_by=request["requested_by"] if request else None,
        requested_at=request["requested_at"] if request else None,
        ledger_processed_at=request["processed_at"] if request else None,
        chain_before=request["chain_before"] if request else None,
        steps=ordered,
        completed_at=completed.at if completed else None,
    )


def completions_due(
    engine: Engine, horizons: Mapping[str, float], now: datetime
) -> list[ErasureEvent]:
    """The `completed` steps due at `now`: for every request the ledger carried out that has no
    `completed` step stored yet, the step once the worker's and the ledger's steps are stored
    and every topic in `horizons` is past its horizon."""
    completed = select(_STEPS.c.request_id).where(_STEPS.c.kind == "completed")
    with engine.connect() as connection:
        pending = connection.execute(
            select(_ERASURES.c.request_id).where(_ERASURES.c.request_id.not_in(completed))
        ).scalars()
        statuses = [_read(connection, request_id) for request_id in pending.all()]
    due = []
    for status in statuses:
        if status is None or status.requested_at is None or status.requested_by is None:
            continue
        request = ErasureRequest(
            request_id=status.request_id,
            recipient_key=status.recipient_key,
            requested_by=status.requested_by,
            requested_at=status.requested_at,
        )
        steps = [
            ErasureEvent(
                event_id=step.event_id,
                request_id=status.request_id,
                recipient_key=status.recipient_key,
                kind=step.kind,
                places=step.places,
                at=step.at,
            )
            for step in status.steps
        ]
        step = completion(request, steps, horizons, now)
        if step is not None:
            due.append(step)
    return due
