"""A person's rights over their data: erasure (GDPR Art. 17), the request that starts it and the
events that say what was removed where and when; and rectification (Art. 16) of their address.

Neither record carries the address: an erasure is about a recipient key, and the request and its
events are kept for good, as the platform's proof that it honoured the request. What remains of an
erased person is that key (a keyed hash), the platform suppression that stops their mail, and these
records.

An address correction carries two recipient keys and no address either: it is kept for good as the
trail of why a consent moved from one key to another.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, model_validator

from streams.core.records.base import ID, RECIPIENT_KEY, Record, UtcMillis

__all__ = [
    "ERASURE_REQUEST_ID",
    "AddressCorrection",
    "ErasedPlace",
    "ErasureAction",
    "ErasureEvent",
    "ErasureEventKind",
    "ErasureRequest",
]

ErasureEventKind = Literal["suppressed", "state_erased", "ledger_erased", "completed"]
ErasureAction = Literal["deleted", "redacted", "expires", "kept"]

ERASURE_REQUEST_ID = Field(min_length=1, max_length=100)
"""A request id of the data-protection desk: short enough that the ids derived from it (the
suppression's click id, each step's event id) stay ids."""


class ErasureRequest(Record):
    """A person asked for their personal data to be erased (by a data-protection desk, a
    platform's own tools, or `sendgate erase`)."""

    AVRO_NAME: ClassVar[str] = "dev.sendgate.v1.ErasureRequest"

    request_id: str = ERASURE_REQUEST_ID
    recipient_key: str = RECIPIENT_KEY
    requested_by: str = ID
    requested_at: UtcMillis


class ErasedPlace(Record):
    """One place that held the person's data, and what became of it.

    `done_by` is when the data is gone from there: a past moment for what was deleted or
    redacted, a coming one for records a topic's retention deletes (`expires`). `kept` names what
    stays on purpose (the suppression, by recipient key only)."""

    AVRO_NAME: ClassVar[str] = "dev.sendgate.v1.ErasedPlace"

    place: str = Field(min_length=1, max_length=200)
    action: ErasureAction
    count: int = Field(ge=0)
    done_by: UtcMillis
    note: str | None = Field(default=None, max_length=500)


class ErasureEvent(Record):
    """A step of one erasure: the suppression in place, the worker's state erased, the ledger
    redacted, and finally `completed`, once every place is done (listing them all)."""

    AVRO_NAME: ClassVar[str] = "dev.sendgate.v1.ErasureEvent"

    event_id: str = ID
    request_id: str = ERASURE_REQUEST_ID
    recipient_key: str = RECIPIENT_KEY
    kind: ErasureEventKind
    places: tuple[ErasedPlace, ...] = ()
    at: UtcMillis


class AddressCorrection(Record):
    """A person had their address corrected (a typo fixed, GDPR Art. 16): their consents move
    from the old address's key to the new one's (`streams.privacy.rectification`).

    Keyed by the old key, whose partition holds the consents that move. The two keys must
    differ: a correction to the same address would withdraw the consents it means to move."""

    AVRO_NAME: ClassVar[str] = "dev.sendgate.v1.AddressCorrection"

    correction_id: str = ERASURE_REQUEST_ID
    old_recipient_key: str = RECIPIENT_KEY
    new_recipient_key: str = RECIPIENT_KEY
    requested_by: str = ID
    requested_at: UtcMillis

    @model_validator(mode="after")
    def _moves_somewhere(self) -> AddressCorrection:
        if self.old_recipient_key == self.new_recipient_key:
            raise ValueError(
                "the old and the new address are the same address (same recipient key): "
                "there is nothing to correct"
            )
        return self
