"""Unsubscribe tokens, mutated and forged: `verify` refuses each with its typed problem (or as
expired) and raises nothing else."""

from __future__ import annotations

from collections.abc import Callable

from fuzzing.engine import Tally


def test_token(run_fuzz: Callable[..., Tally]) -> None:
    tally = run_fuzz("token")
    assert tally.accepted["message"] > 0
    assert {"malformed", "bad-tag"} <= set(tally.rejected)
