"""The fuzz tier: the targets of `benchmarks/fuzz.py`, a few hundred cases each.

`SENDGATE_FUZZ_CASES` sets the cases per target (default 300, so the tier takes well under a
minute); the benchmark runs 100,000. Hypothesis drives each target's generator through a
`Random` it seeds, derandomized, so a run is the same on every machine and in CI; its own
deadline is off because the per-case limit (1 s) is the engine's, measured on every case.

The generators and oracles live in `benchmarks/fuzzing/` (imported by package name with
`benchmarks/` on `sys.path`, as `tests/unit/test_benchmark_harness.py` imports the harness).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
if str(BENCHMARKS) not in sys.path:
    sys.path.insert(0, str(BENCHMARKS))

from fuzzing.engine import CASE_LIMIT_S, Tally, run_case  # noqa: E402
from fuzzing.targets import get_target  # noqa: E402

CASES = int(os.environ.get("SENDGATE_FUZZ_CASES", "300"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).resolve().parent
    for item in items:
        if here in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.fuzz)


def fuzz(name: str, cases: int = CASES) -> Tally:
    """Run `cases` cases of a target under hypothesis; the tally, checked for crashes."""
    target = get_target(name)
    tally = Tally(name)

    @settings(
        max_examples=cases,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(st.randoms(use_true_random=True))
    def one(rnd: object) -> None:
        run_case(target, target.generate(rnd), tally)

    one()
    assert tally.crashes == 0, "\n".join(tally.crash_samples)
    assert tally.slow == 0 and tally.max_s <= CASE_LIMIT_S
    assert tally.cases == cases
    seen = set(tally.rejected)
    assert all(reason for reason in seen) and seen <= target.reasons
    return tally


@pytest.fixture
def run_fuzz() -> Callable[..., Tally]:
    return fuzz
