"""`Codec.decode` on random bytes and mutated valid encodings of every record type: a record,
or one of our codec errors with its kind, nothing else."""

from __future__ import annotations

from collections.abc import Callable

from fuzzing.engine import Tally


def test_codec(run_fuzz: Callable[..., Tally]) -> None:
    tally = run_fuzz("codec")
    assert tally.accepted and {"no-marker", "broken-body"} <= set(tally.rejected)
