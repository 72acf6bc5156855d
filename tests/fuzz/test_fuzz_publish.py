"""`sendgate publish` input files: every file is valid or refused with problems that each name
a line of the file, a field and what is wrong; no traceback."""

from __future__ import annotations

from collections.abc import Callable

from fuzzing.engine import Tally


def test_publish(run_fuzz: Callable[..., Tally]) -> None:
    tally = run_fuzz("publish")
    assert tally.accepted and {"not-json", "bad-field"} <= set(tally.rejected)
