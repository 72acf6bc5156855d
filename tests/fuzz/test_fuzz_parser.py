"""`parse_message` on mutated corpus mail and generated messages: never raises, never takes a
second, and an `other` always says why; its catch-all must not be what saved a case."""

from __future__ import annotations

from collections.abc import Callable

from fuzzing.engine import Tally
from fuzzing.parser import seeds


def test_the_corpus_is_there() -> None:
    """The mutations start from real mail; without it the generated messages are all there is."""
    assert len(seeds()) > 50


def test_parser(run_fuzz: Callable[..., Tally]) -> None:
    tally = run_fuzz("parser")
    assert tally.accepted["dsn"] > 0 and tally.rejected
