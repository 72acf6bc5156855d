"""The one-click POST through the real app (in memory): every body is answered 200 or refused
with a page that says why, never a 500."""

from __future__ import annotations

from collections.abc import Callable

from fuzzing.engine import Tally


def test_one_click(run_fuzz: Callable[..., Tally]) -> None:
    tally = run_fuzz("one-click")
    assert tally.accepted["unsubscribed"] > 0 and tally.rejected["bad-body"] > 0
