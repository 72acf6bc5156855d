"""The SMTP intake's handler with a publisher in memory: every transaction is queued (and the
published record is the message) or refused with a reply that names why."""

from __future__ import annotations

from collections.abc import Callable

from fuzzing.engine import Tally


def test_intake(run_fuzz: Callable[..., Tally]) -> None:
    tally = run_fuzz("intake")
    assert tally.accepted and tally.rejected["recipient-not-accepted"] > 0
