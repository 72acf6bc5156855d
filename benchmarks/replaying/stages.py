"""Where a replay's time goes, by stage: reading, decoding the requests, the decisions and
their recorded inputs, the rules, the signing, making the decision's fields, encoding and
comparing.

Each stage is the cumulative time of the one function that does it, from a cProfile of
`verify`. cProfile times a coroutine only while it runs, so the time spent waiting for the
broker is not in any stage but in the event loop's wait (`idle`); what is left of the replay's
own time after the stages is the loop, the generators and the bookkeeping between them.
"""

from __future__ import annotations

import pstats
from pathlib import Path
from typing import Any

__all__ = ["STAGES", "stage_times"]

STAGES: tuple[tuple[str, str, frozenset[str]], ...] = (
    (
        "read: aiokafka fetches, consumers started and stopped",
        "aiokafka/consumer/consumer.py",
        frozenset(
            {
                "getmany",
                "start",
                "stop",
                "position",
                "beginning_offsets",
                "end_offsets",
                "offsets_for_times",
            }
        ),
    ),
    (
        "read: partition counts (admin client)",
        "streams/edges/admin.py",
        frozenset({"partition_counts"}),
    ),
    (
        "decode requests (size check, codec)",
        "streams/topics.py",
        frozenset({"read_send_request"}),
    ),
    (
        "check request keys (recipient HMAC)",
        "streams/replay/recorded.py",
        frozenset({"_check_key"}),
    ),
    ("decode decisions and pair them", "streams/replay/recorded.py", frozenset({"_paired"})),
    ("decode inputs, rebuild the view", "streams/replay/redecide.py", frozenset({"view_of"})),
    ("gate_step: everything below", "streams/rules/step.py", frozenset({"gate_step"})),
    ("  rules (judge)", "streams/rules/__init__.py", frozenset({"judge"})),
    ("  sign: VERP return path", "streams/sending/verp.py", frozenset({"return_path"})),
    ("  sign: unsubscribe headers", "streams/sending/list_headers.py", frozenset({"list_headers"})),
    ("  decision fields", "streams/rules/__init__.py", frozenset({"decision_fields"})),
    ("encode and compare bytes", "streams/replay/redecide.py", frozenset({"same_decision"})),
    (
        "field by field (only on a difference)",
        "streams/replay/redecide.py",
        frozenset({"differences"}),
    ),
)
"""(stage, file it is in, functions whose cumulative time it is). Indented stages are parts of
the one above them, not added to the total again."""


def stage_times(path: Path) -> dict[str, Any]:
    """Seconds per stage of the profile at `path`, the replay's whole time (`verify`'s
    cumulative), the broker wait (epoll), and what is left."""
    stats: dict[tuple[str, int, str], tuple[Any, ...]] = pstats.Stats(str(path)).stats  # type: ignore[attr-defined]
    stages: dict[str, float] = {}
    for label, file, functions in STAGES:
        stages[label] = sum(
            entry[3]
            for (filename, _, function), entry in stats.items()
            if function in functions and filename.endswith(file)
        )
    total = max(
        (
            entry[3]
            for (filename, _, function), entry in stats.items()
            if function == "verify" and filename.endswith("streams/replay/runs.py")
        ),
        default=0.0,
    )
    waiting = sum(
        entry[2]
        for (filename, _, function), entry in stats.items()
        if filename == "~" and "'poll' of 'select.epoll'" in function
    )
    counted = sum(seconds for label, seconds in stages.items() if not label.startswith(" "))
    return {
        "verify_cumulative_s": total,
        "stages_s": stages,
        "broker_wait_s": waiting,
        "rest_s": max(total - counted, 0.0),
    }
