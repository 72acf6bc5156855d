"""`sendgate accounts status` tables stay readable: at 80 columns counts and rates are two tables
with whole words; on a wide terminal one. Blocks are shown beside hard bounces and complaints."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from rich.console import Console

from streams.cli.accounts.render import _rates_tables
from streams.policy import load_policy
from streams.reputation.account_report import account_status
from streams.reputation.rates import RateBucket, RateState

AT = datetime(2026, 12, 7, 12, tzinfo=UTC)
DAY = datetime(2026, 12, 6, tzinfo=UTC)


def _render(width: int) -> str:
    def state(delivered: int, hard: int, complained: int, blocked: int) -> RateState:
        bucket = RateBucket(
            start=DAY,
            delivered=delivered,
            hard_bounced=hard,
            complained=complained,
            blocked=blocked,
        )
        return RateState(buckets=(bucket,))

    states = {
        "google": state(1790, 3, 2, 210),
        "microsoft": state(150, 1, 0, 2),
        None: state(1940, 4, 2, 212),
    }
    view = account_status("acme", rate_states=states, standing=None, at=AT, policy=load_policy())
    out = io.StringIO()
    console = Console(file=out, width=width, color_system=None)
    for table in _rates_tables(view, width):
        console.print(table)
    return out.getvalue()


@pytest.mark.parametrize("width", [80, 160])
def test_every_word_whole_and_every_line_within_the_width(width: int) -> None:
    """No line past the width, no ellipsis, headers and provider names whole."""
    output = _render(width)
    assert all(len(line) <= width for line in output.splitlines())
    assert "…" not in output
    for word in ("microsoft", "all providers", "blocked", "block rate", "hard bounced"):
        assert word in output


def test_blocks_and_the_block_rate_are_shown() -> None:
    """210 of 2,003 attempted at Google = 10.5%: over the 10% strike line and the 2% review."""
    output = _render(160)
    assert "210" in output and "10.5%" in output
    assert "block strike (10%)" in output and "block review (2%)" in output


def test_a_narrow_terminal_gets_two_tables() -> None:
    output = _render(80)
    assert "counts in" in output and "rates in" in output
    assert "counts and rates in" in _render(160)
