"""What a decision records of the state it was made on, so that it can be made again.

A decision already names the suppressions it saw, its policy version, its time and the
recipient's provider. The rest of the gate's view (`RecipientView`) goes into `DecisionInputs`,
carried inside the decision as its own single-object-encoded value: exact (the very entries the
rules read, with any unsubscribe the gate folded in ahead of its keeper), cheap to skip for
readers that only want the verdict, and enough for `streams.replay` to rebuild the view and call
the same pure `gate_step`. Rebuilding the view from the input topics instead would need every
keeper's position at each decision and the tables' full history, which compacted changelogs do
not keep.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from pydantic import field_serializer

from streams.core.records import ConsentEntry, Record, SuppressionEntry
from streams.reputation.standing import AccountSnapshot
from streams.rules.base import RecipientView
from streams.sending.frequency import SendHistory

__all__ = ["DecisionInputs", "inputs_fields", "recorded_view"]


class DecisionInputs(Record):
    AVRO_NAME: ClassVar[str] = "dev.sendgate.v1.DecisionInputs"

    consents: tuple[ConsentEntry, ...] = ()
    state_current: bool = True
    account: AccountSnapshot | None = None
    send_history: SendHistory | None = None
    sender_domains: tuple[str, ...] | None = None

    @field_serializer("sender_domains")
    def _domains_as_list(self, domains: tuple[str, ...] | None) -> list[str] | None:
        # fastavro reads a tuple in a union as (branch name, value): give it a list.
        return None if domains is None else list(domains)


def inputs_fields(view: RecipientView) -> dict[str, Any]:
    """The view's parts a decision does not already carry, shaped for `Codec.encode_fields`.

    The domains are a set in the view; they are written sorted, so the same view always makes
    the same bytes. A record in a union is named (fastavro's `(name, value)` form): left to
    find the branch itself, fastavro checks the value against the record's whole schema, which
    was a third of the encoding's time."""
    account, history = view.account, view.send_history
    return {
        "consents": [entry.model_dump() for entry in view.consents],
        "state_current": view.state_current,
        "account": None if account is None else (account.AVRO_NAME, account.model_dump()),
        "send_history": None if history is None else (history.AVRO_NAME, history.model_dump()),
        "sender_domains": None if view.sender_domains is None else sorted(view.sender_domains),
    }


def recorded_view(
    inputs: DecisionInputs,
    *,
    suppressions: tuple[SuppressionEntry, ...],
    provider: str | None,
    at: datetime,
) -> RecipientView:
    """The view a decision was made on, from what it recorded (`at` is its `decided_at`)."""
    return RecipientView(
        suppressions=suppressions,
        consents=inputs.consents,
        at=at,
        state_current=inputs.state_current,
        provider=provider,
        account=inputs.account,
        send_history=inputs.send_history,
        sender_domains=None if inputs.sender_domains is None else frozenset(inputs.sender_domains),
    )
