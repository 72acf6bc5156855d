"""The skipped-records watchdog: a record faust dropped is still found and read again, and a
broker coming back after an outage is not mistaken for one."""

from __future__ import annotations

from streams.gate.progress import PartitionProgress

TP = ("unsubscribe-clicks", 0)
OTHER = ("unsubscribe-clicks", 1)
CHECK_EVERY_S = 3.0
STALL_AFTER_S = 12.0


def check(progress: PartitionProgress, ends: dict, at: float, *, took_s: float = 0.05) -> dict:
    """One watchdog check that asked the broker at `at` and had its answer `took_s` later."""
    return progress.stalled(ends, at + took_s, STALL_AFTER_S, asked_at=at)


def test_a_hole_that_persists_is_named_with_the_offset_to_seek_back_to() -> None:
    progress = PartitionProgress()
    progress.set_floor(TP, 0, now=0.0)
    for offset in (0, 1, 3, 4):  # faust dropped offset 2 and went on
        progress.record(TP, offset, now=1.0)
    found = {}
    at = 0.0
    while not found and at < 60:
        at += CHECK_EVERY_S
        found = check(progress, {TP: 5}, at)
    assert found == {TP: 2}
    assert 1.0 + STALL_AFTER_S <= at < 1.0 + STALL_AFTER_S + CHECK_EVERY_S
    # After the seek back the record comes again and closes the hole; nothing more to report.
    progress.touch(TP, at)
    progress.record(TP, 2, now=at + 1)
    assert progress.next_offset(TP) == 5
    assert check(progress, {TP: 5}, at + 30) == {}


def test_records_dropped_at_the_tail_are_named_too() -> None:
    progress = PartitionProgress()
    progress.set_floor(TP, 10, now=0.0)
    progress.record(TP, 10, now=0.5)
    assert check(progress, {TP: 14}, 6.0) == {}
    assert check(progress, {TP: 14}, 9.0) == {}
    assert check(progress, {TP: 14}, 12.0) == {}
    assert check(progress, {TP: 14}, 15.0) == {TP: 11}


def test_a_broker_outage_that_failed_the_checks_is_not_reported_when_it_returns() -> None:
    progress = PartitionProgress()
    for tp in (TP, OTHER):
        progress.set_floor(tp, 0, now=0.0)
        for offset in range(10):
            progress.record(tp, offset, now=1.0)
    assert check(progress, {TP: 10, OTHER: 10}, 3.0) == {}
    for _ in range(12):  # 38 s of outage: every check fails
        progress.lost_sight()
    # The broker is back; producers wrote while the worker could not fetch yet.
    assert check(progress, {TP: 25, OTHER: 40}, 42.0) == {}
    assert check(progress, {TP: 25, OTHER: 40}, 45.0) == {}
    for offset in range(10, 25):  # fetching resumes and catches up
        progress.record(TP, offset, now=46.0)
    for offset in range(10, 40):
        progress.record(OTHER, offset, now=47.0)
    for at in (48.0, 51.0, 54.0, 57.0, 60.0, 63.0):
        assert check(progress, {TP: 25, OTHER: 40}, at) == {}


def test_a_check_that_hung_through_the_outage_is_not_reported_either() -> None:
    """A ListOffsets request waits for the broker rather than failing: the answer comes the
    moment the broker returns, 38 s after the question and long past the stall limit."""
    progress = PartitionProgress()
    progress.set_floor(TP, 0, now=0.0)
    progress.record(TP, 0, now=1.0)
    assert check(progress, {TP: 1}, 3.0) == {}
    assert check(progress, {TP: 30}, 6.0, took_s=38.0) == {}
    assert check(progress, {TP: 30}, 47.0) == {}


def test_a_record_really_skipped_before_the_outage_is_still_found_after_it() -> None:
    progress = PartitionProgress()
    progress.set_floor(TP, 0, now=0.0)
    for offset in (0, 1, 3):
        progress.record(TP, offset, now=1.0)
    progress.lost_sight()
    assert check(progress, {TP: 4}, 40.0) == {}  # the broker is back: clocks restart
    reports = [check(progress, {TP: 4}, 40.0 + n * CHECK_EVERY_S) for n in range(1, 6)]
    assert {TP: 2} in reports
    assert reports.index({TP: 2}) == 3  # one stall limit (12 s) after the broker returned


def test_records_read_again_after_the_group_moved_back_count_as_movement() -> None:
    """After an outage the group may resume at its committed offset, below the progress: those
    records flow toward the progress, and the partition is not stalled meanwhile."""
    progress = PartitionProgress()
    progress.set_floor(TP, 0, now=0.0)
    for offset in range(100):
        progress.record(TP, offset, now=1.0)
    progress.lost_sight()
    assert check(progress, {TP: 150}, 40.0) == {}
    for n, offset in enumerate(range(50, 100)):  # replayed from the committed offset 50
        progress.record(TP, offset, now=41.0 + n * 0.3)
    assert check(progress, {TP: 150}, 55.0) == {}
    for offset in range(100, 150):
        progress.record(TP, offset, now=56.0)
    assert check(progress, {TP: 150}, 70.0) == {}
    assert progress.next_offset(TP) == 150
