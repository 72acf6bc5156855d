"""Deciding a recorded request again, and saying exactly how the new decision differs.

The gate's decision is a pure function of (request, the state it saw, policy, moment):
`streams.rules.step.gate_step`. A recorded decision carries the state (its `suppressions_seen`
and `inputs`), its moment (`decided_at`, which `gate_step` itself cuts to the recorded
millisecond) and its policy's version, so deciding again means calling the same function with
the same arguments. A replay under the recorded policy that comes out different in any field is
a bug in the gate (non-determinism, or a change of behaviour the policy version does not
show); a replay under another policy shows what that policy would have changed.

Comparison is of the whole record. When the recorded value was written with the current
schema, the new decision is encoded the same way and the bytes compared, which is both the
strictest test and the cheapest; only when they differ (or the schema moved on) are the fields
compared one by one to say which differ.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from streams.core.codec import Codec
from streams.core.errors import CodecError, InvalidRecordError
from streams.core.records import SendDecision, SendRequest
from streams.policy import Policy
from streams.rules import RecipientView
from streams.rules.inputs import DecisionInputs, recorded_view
from streams.rules.memo import ContentFindings
from streams.rules.step import SendOutcome, Signing, gate_step

__all__ = [
    "SIGNED_FIELDS",
    "FieldDifference",
    "Unavailable",
    "decide_again",
    "differences",
    "same_decision",
    "view_of",
]

SIGNED_FIELDS = frozenset({"return_path", "headers"})
"""The fields made with the platform's signing keys (the VERP return path, the unsubscribe
links): a replay without the keys cannot remake them, and compares everything else."""


@dataclass(frozen=True, slots=True)
class Unavailable:
    """Why a recorded decision cannot be decided again: the replay says so, and never guesses."""

    reason: str


@dataclass(frozen=True, slots=True)
class FieldDifference:
    """One field in which the decision made again differs from the recorded one."""

    field: str
    recorded: Any
    replayed: Any


def decide_again(
    request: SendRequest,
    decision: SendDecision,
    policy: Policy,
    *,
    codec: Codec,
    signing: Signing,
    content: ContentFindings | None = None,
) -> SendOutcome | Unavailable:
    """`gate_step` on the request, the state `decision` recorded and its moment, under `policy`
    (the recorded one to verify, another to ask what it would have done); `content`: the content
    rules' findings remembered across the replay's requests."""
    view = view_of(decision, codec)
    if isinstance(view, Unavailable):
        return view
    outcome = gate_step(
        request,
        view,
        policy,
        decision.decided_at,
        recipient_key=decision.recipient_key,
        signing=signing,
        request_offset=decision.request_offset,
        state_offsets=decision.state_offsets,
        content=content,
    )
    outcome.decision["inputs"] = decision.inputs
    return outcome


def view_of(decision: SendDecision, codec: Codec) -> RecipientView | Unavailable:
    """The view `decision` was made on, from what it recorded."""
    if decision.inputs is None:
        return Unavailable(
            "the decision records only its suppressions (written before decisions carried "
            "their inputs), not enough to decide it again"
        )
    try:
        inputs = codec.decode(decision.inputs, DecisionInputs)
    except (CodecError, InvalidRecordError) as exc:
        return Unavailable(f"the decision's recorded inputs do not decode: {exc}")
    return recorded_view(
        inputs,
        suppressions=decision.suppressions_seen,
        provider=decision.provider,
        at=decision.decided_at,
    )


def same_decision(
    recorded: bytes,
    replayed_fields: Mapping[str, Any],
    *,
    codec: Codec,
) -> bool | None:
    """Whether the decision made again encodes to the recorded bytes; None when the recorded
    value was written with another schema version, so bytes cannot tell."""
    if not codec.is_current(recorded, SendDecision):
        return None
    return codec.encode_fields(SendDecision, replayed_fields) == recorded


def differences(
    recorded: SendDecision, replayed_fields: Mapping[str, Any], *, compare_signed: bool = True
) -> tuple[FieldDifference, ...]:
    """Every field in which the two decisions differ, in the record's field order (the signed
    ones only when `compare_signed`)."""
    replayed = SendDecision.model_validate(replayed_fields)
    found = []
    for name in SendDecision.model_fields:
        if not compare_signed and name in SIGNED_FIELDS:
            continue
        before, after = getattr(recorded, name), getattr(replayed, name)
        if before != after:
            found.append(FieldDifference(name, _shown(before), _shown(after)))
    return tuple(found)


def _shown(value: Any) -> Any:
    """A field's value as JSON shows it (records as their fields)."""
    if isinstance(value, tuple):
        return [_shown(item) for item in value]
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if isinstance(value, bytes):
        return value.hex()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value
