"""Figures from measured values: percentiles by nearest rank, latency summaries, JSON-safe values.

Pure functions, so the figures every benchmark prints are computed one way and can be tested
without a broker.
"""

from __future__ import annotations

import math
import statistics
from typing import Any

__all__ = ["json_safe", "latency_summary", "percentile", "timeout_for"]


def timeout_for(records: int, *, min_rate: float, floor_s: float = 60.0) -> float:
    """A phase's time limit: generous, but a hang ends with an error instead of forever."""
    return floor_s + records / min_rate


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100) by nearest rank; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]


def latency_summary(values: list[float]) -> dict[str, float]:
    """Percentiles (ms) of the measured values; NaN (not measured) left out."""
    values = [value for value in values if not math.isnan(value)]
    return {
        "n": len(values),
        "p50_ms": percentile(values, 50),
        "p95_ms": percentile(values, 95),
        "p99_ms": percentile(values, 99),
        "max_ms": max(values) if values else math.nan,
        "mean_ms": statistics.fmean(values) if values else math.nan,
    }


def json_safe(value: Any) -> Any:
    """NaN (a figure that could not be measured) as null; anything else unknown as text."""
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, dict):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    if value is None or isinstance(value, str | int | bool):
        return value
    return str(value)
