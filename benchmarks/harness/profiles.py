"""cProfile output summarised by whose code the time is spent in: ours, each library's, the
event loop's, or idle waiting.

A worker's profile has thousands of entries; what a reader needs first is the share each owner
takes, then the few functions that dominate.
"""

from __future__ import annotations

import os
import pstats
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from streams.core.settings import PROJECT_ROOT

__all__ = ["ProfileRow", "code_family", "profile_summary"]

_OUR_CODE = str(PROJECT_ROOT / "streams") + os.sep


def code_family(filename: str, function: str) -> str:
    """Whose code a profile entry is: ours, a library's, the event loop's, or idle waiting."""
    if filename == "~":  # a C function: tell by its name
        for marker, family in (
            ("'poll' of 'select.epoll'", "idle (epoll wait)"),
            ("'acquire' of '_thread.lock'", "idle (lock wait)"),
            ("fastavro", "fastavro"),
            ("pydantic_core", "pydantic"),
            ("rocksdict", "rocksdict"),
            ("hmac", "stdlib"),
            ("_hashlib", "stdlib"),
            ("socket", "sockets"),
        ):
            if marker in function:
                return family
        return "builtins"
    if filename.startswith(_OUR_CODE):
        return "sendgate (streams/)"
    for marker, family in (
        ("/faust/", "faust"),
        ("/aiokafka/", "aiokafka"),
        ("/kafka/", "aiokafka"),
        ("/mode/", "mode"),
        ("/fastavro/", "fastavro"),
        ("/pydantic/", "pydantic"),
        ("/pydantic_core/", "pydantic"),
        ("/email_validator/", "email-validator"),
        ("/rocksdict/", "rocksdict"),
        ("/asyncio/", "asyncio"),
    ):
        if marker in filename:
            return family
    if "site-packages" in filename:
        return "other libraries"
    return "stdlib"


@dataclass(frozen=True)
class ProfileRow:
    family: str
    function: str
    calls: int
    tottime: float
    cumtime: float


def profile_summary(path: Path) -> dict[str, object]:
    """Self time per code family, and the top functions by self and cumulative time."""
    stats = pstats.Stats(str(path))
    rows = []
    for (filename, line, function), (_, calls, tottime, cumtime, _) in stats.stats.items():  # type: ignore[attr-defined]
        family = code_family(filename, function)
        where = function if filename == "~" else f"{_short_path(filename)}:{line}({function})"
        rows.append(ProfileRow(family, where, calls, tottime, cumtime))
    by_family: dict[str, float] = defaultdict(float)
    for row in rows:
        by_family[row.family] += row.tottime
    total = sum(by_family.values())
    idle = sum(seconds for family, seconds in by_family.items() if family.startswith("idle"))
    ours = [row for row in rows if row.family == "sendgate (streams/)"]
    return {
        "total_s": total,
        "busy_s": total - idle,
        "by_family": dict(sorted(by_family.items(), key=lambda item: -item[1])),
        "top_tottime": sorted(rows, key=lambda row: -row.tottime)[:15],
        "top_cumtime_ours": sorted(ours, key=lambda row: -row.cumtime)[:15],
        "top_cumtime_libraries": sorted(
            (
                row
                for row in rows
                if row.family != "sendgate (streams/)" and not row.family.startswith("idle")
            ),
            key=lambda row: -row.cumtime,
        )[:15],
    }


def _short_path(filename: str) -> str:
    for marker in ("site-packages/", str(PROJECT_ROOT) + os.sep, "/lib/python3.11/"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename
