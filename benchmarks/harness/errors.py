"""The benchmarks' one error: a phase that failed or ran out of time says which and why."""

from __future__ import annotations

__all__ = ["BenchError"]


class BenchError(Exception):
    """A benchmark phase failed or ran out of time; the message says which and why."""
