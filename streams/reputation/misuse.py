"""Transactional misuse: marketing sent as transactional, counted per account until the
account's transactional sending is suspended.

Transactional streams bypass unsubscribes (a receipt is owed whatever the recipient chose), so a
platform cannot let marketing ride on them. The gate denies such a send (rule
`transactional-misuse`) and reports it (`MisuseReport`, `content-misuse`); the enforcer folds
each report into the account's standing with `apply_misuse`. Pure: no faust, Kafka or database.

- The count is event time: the reports whose `detected_at` lies in the `misuse_window_days`
  (30) before the newest report seen for the account (the account's watermark). A report
  detected exactly that long before it no longer counts.
- Each new report yields `transactional_misuse`, with the count in the window after it. When
  the count reaches `misuse_suspend_after` (3; 0: never suspend) the account's transactional
  sending is suspended (`transactional_suspended`, once: not again while it is suspended) until
  an operator reinstates the account (`streams.reputation.reinstatement.reinstate`), which also
  forgives the reports counted so far.
- Reports are remembered by id while they are in the window, so a replayed report changes
  nothing; older ones are forgotten (the state stays bounded), and a report that old when it
  arrives is stale: it could be a replay of a forgotten one, and it is outside the window anyway.
- At most `REMEMBERED_MISUSE` (1,000) reports are remembered, the newest: an account that sends
  a whole newsletter as transactional makes one report per recipient. Past that the count is a
  floor ("at least 1000"), and a report no newer than the oldest remembered one is stale too.
  The suspension is always decided exactly (the policy's `misuse_suspend_after` is at most 1,000).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal, NamedTuple

from streams.core.clock import utc
from streams.reputation.actions import TransactionalMisuse, TransactionalSuspended
from streams.reputation.policy import EnforcementPolicy
from streams.reputation.standing import MisuseReport
from streams.reputation.strikes import REMEMBERED_MISUSE, AccountStanding, CountedMisuse

__all__ = ["MisuseFold", "MisuseOutcome", "apply_misuse", "misuse_in_window"]

MisuseOutcome = Literal["counted", "suspended", "replayed", "stale"]


class MisuseFold(NamedTuple):
    standing: AccountStanding
    actions: tuple[TransactionalMisuse | TransactionalSuspended, ...]
    outcome: MisuseOutcome


def misuse_in_window(standing: AccountStanding, end: datetime, window_days: int) -> int:
    """The account's misuse reports that count in the `window_days` up to `end` (event time):
    detected after `end - window_days` and not after `end`, and not forgiven."""
    end = utc(end)
    start = end - timedelta(days=window_days)
    return sum(
        1 for entry in standing.misuse if not entry.forgiven and start < entry.detected_at <= end
    )


def apply_misuse(
    standing: AccountStanding,
    report: MisuseReport,
    *,
    now: datetime,
    policy: EnforcementPolicy,
) -> MisuseFold:
    """The standing after `report`, and the actions to emit (none for a replayed or stale one).

    `now` (processing time) only stamps the actions; the window is in event time.
    """
    now = utc(now)
    if any(entry.report_id == report.report_id for entry in standing.misuse):
        return MisuseFold(standing, (), "replayed")
    window = timedelta(days=policy.misuse_window_days)
    watermark = max((entry.detected_at for entry in standing.misuse), default=None)
    if watermark is not None and report.detected_at <= watermark - window:
        return MisuseFold(standing, (), "stale")
    if len(standing.misuse) >= REMEMBERED_MISUSE and report.detected_at <= min(
        entry.detected_at for entry in standing.misuse
    ):
        return MisuseFold(standing, (), "stale")
    end = report.detected_at if watermark is None else max(watermark, report.detected_at)
    start = end - window
    remembered = tuple(
        sorted(
            (
                *(entry for entry in standing.misuse if entry.detected_at > start),
                CountedMisuse(report_id=report.report_id, detected_at=report.detected_at),
            ),
            key=lambda entry: entry.detected_at,
        )
    )[-REMEMBERED_MISUSE:]
    after = standing.model_copy(update={"misuse": remembered})
    count = misuse_in_window(after, end, policy.misuse_window_days)
    threshold = policy.misuse_suspend_after
    suspend = threshold > 0 and count >= threshold and not standing.transactional_suspended
    if suspend:
        after = after.model_copy(update={"transactional_suspended": True})
    common = {
        "account_id": standing.account_id,
        "at": now,
        "report_id": report.report_id,
        "count": count,
        "window_start": start,
        "window_end": end,
        "window_days": policy.misuse_window_days,
        "suspend_after": threshold,
    }
    actions: list[TransactionalMisuse | TransactionalSuspended] = [
        TransactionalMisuse(
            **common,
            request_id=report.request_id,
            signals=report.signals,
            suspended=after.transactional_suspended,
        )
    ]
    if suspend:
        actions.append(TransactionalSuspended(**common))
    return MisuseFold(after, tuple(actions), "suspended" if suspend else "counted")
