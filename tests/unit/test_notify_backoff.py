"""The waits between a notifier's tries: exponential, capped, equal jitter, Retry-After."""

from __future__ import annotations

import pytest

from streams.edges.notify.backoff import RetryPolicy, backoff_s

POLICY = RetryPolicy(tries=6, base_s=1.0, max_s=10.0, timeout_s=5.0)


@pytest.mark.parametrize(
    ("retry", "low", "high"),
    [(1, 0.5, 1.0), (2, 1.0, 2.0), (3, 2.0, 4.0), (4, 4.0, 8.0), (5, 5.0, 10.0), (60, 5.0, 10.0)],
)
def test_equal_jitter_waits_between_half_and_all_of_each_doubled_step(
    retry: int, low: float, high: float
) -> None:
    assert backoff_s(retry, base_s=1.0, max_s=10.0, fraction=0.0) == low
    assert backoff_s(retry, base_s=1.0, max_s=10.0, fraction=0.5) == (low + high) / 2
    assert low < backoff_s(retry, base_s=1.0, max_s=10.0, fraction=0.999) < high


def test_full_jitter_waits_anywhere_up_to_the_step() -> None:
    assert backoff_s(3, base_s=1.0, max_s=10.0, fraction=0.0, jitter="full") == 0.0
    assert backoff_s(3, base_s=1.0, max_s=10.0, fraction=0.5, jitter="full") == 2.0
    assert backoff_s(9, base_s=1.0, max_s=10.0, fraction=0.5, jitter="full") == 5.0


def test_a_huge_retry_number_stays_at_the_cap() -> None:
    assert backoff_s(10_000, base_s=0.5, max_s=300.0, fraction=0.0) == 150.0


def test_the_steps_never_shrink() -> None:
    lows = [backoff_s(retry, base_s=0.3, max_s=7.0, fraction=0.0) for retry in range(1, 20)]
    assert lows == sorted(lows)


@pytest.mark.parametrize(("retry", "fraction"), [(0, 0.5), (-1, 0.5), (1, 1.0), (1, -0.1)])
def test_out_of_range_arguments_are_refused(retry: int, fraction: float) -> None:
    with pytest.raises(ValueError):
        backoff_s(retry, base_s=1.0, max_s=10.0, fraction=fraction)


def test_a_longer_retry_after_is_honoured_up_to_the_cap() -> None:
    assert POLICY.wait_s(1, 0.0, retry_after_s=3.0) == 3.0
    assert POLICY.wait_s(1, 0.0, retry_after_s=3600.0) == 10.0


def test_a_shorter_retry_after_does_not_shorten_the_backoff() -> None:
    assert POLICY.wait_s(4, 0.0, retry_after_s=0.0) == 4.0
    assert POLICY.wait_s(4, 0.0) == 4.0


def test_the_schedule_has_one_wait_between_each_two_tries() -> None:
    assert POLICY.schedule_s([0.0] * 5) == [0.5, 1.0, 2.0, 4.0, 5.0]
    with pytest.raises(ValueError, match="6 tries have 5 waits"):
        POLICY.schedule_s([0.0] * 6)


def test_the_default_policy_gives_up_after_4_to_9_minutes_of_waiting() -> None:
    """What the README and the setting's description promise."""
    policy = RetryPolicy(tries=10, base_s=1.0, max_s=300.0, timeout_s=10.0)
    assert 4 * 60 <= sum(policy.schedule_s([0.0] * 9)) <= 5 * 60
    assert 8 * 60 <= sum(policy.schedule_s([0.9999] * 9)) <= 9 * 60


@pytest.mark.parametrize(
    "fields",
    [
        {"tries": 0, "base_s": 1.0, "max_s": 1.0, "timeout_s": 1.0},
        {"tries": 1, "base_s": 0.0, "max_s": 1.0, "timeout_s": 1.0},
        {"tries": 1, "base_s": 1.0, "max_s": 1.0, "timeout_s": 0.0},
    ],
)
def test_a_policy_that_cannot_work_is_refused(fields: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**fields)  # type: ignore[arg-type]
