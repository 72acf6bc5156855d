"""Reinstatement: an operator gives back what enforcement took from an account.

Pure: the enforcer calls `reinstate` for each `ReinstatementRequest` on `account-commands` with
the account's standing, emits the `Reinstated` action it returns and writes the standing back.
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from streams.core.clock import utc
from streams.reputation.actions import Reinstated
from streams.reputation.strikes import REMEMBERED_REINSTATEMENTS, AccountStanding, Reinstatement

__all__ = ["ReinstatementFold", "reinstate"]


class ReinstatementFold(NamedTuple):
    standing: AccountStanding
    action: Reinstated | None
    """None when the reinstatement was already applied (a replay)."""


def reinstate(
    standing: AccountStanding,
    *,
    reinstatement_id: str,
    by: str,
    reason: str,
    now: datetime,
) -> ReinstatementFold:
    """Give back what enforcement took (broadcasts, commercial mail, paused providers,
    transactional mail), keeping the strikes. Lifting a transactional suspension forgives the
    misuse reports counted so far (the count starts again from zero). `reinstatement_id` (the
    request's event id) makes a replay change nothing."""
    now = utc(now)
    if any(r.reinstatement_id == reinstatement_id for r in standing.reinstatements):
        return ReinstatementFold(standing, None)
    restored: list[str] = []
    if standing.broadcasts_disabled:
        restored.append("broadcasts")
    if standing.terminated:
        restored.append("commercial_mail")
    misuse = standing.misuse
    if standing.transactional_suspended:
        restored.append("transactional_mail")
        misuse = tuple(entry.model_copy(update={"forgiven": True}) for entry in misuse)
    pauses = []
    for pause in standing.pauses:
        if pause.lifted_at is None:
            restored.append(f"provider:{pause.provider}" if pause.provider else "all_providers")
            pause = pause.model_copy(update={"lifted_at": now})
        pauses.append(pause)
    record = Reinstatement(
        reinstatement_id=reinstatement_id, by=by, reason=reason, at=now, restored=tuple(restored)
    )
    after = standing.model_copy(
        update={
            "broadcasts_disabled": False,
            "terminated": False,
            "pauses": tuple(pauses),
            "reinstatements": (*standing.reinstatements, record)[-REMEMBERED_REINSTATEMENTS:],
            "misuse": misuse,
            "transactional_suspended": False,
        }
    )
    action = Reinstated(
        account_id=standing.account_id,
        at=now,
        reinstatement_id=reinstatement_id,
        by=by,
        reason=reason,
        restored=tuple(restored),
        strikes_kept=len(standing.strikes),
    )
    return ReinstatementFold(after, action)
