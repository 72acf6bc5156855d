"""The replays the benchmark times, called in this process through the Python API the CLI uses
(`streams.replay.runs`): `verify` by each decision's own policy, and `what_if` under the shipped
policy and under a stricter one; each with a progress bar over the offsets it reads.

Every figure is the replay's own clock (`VerifyReport.seconds`, `WhatIfReport.seconds`): from
just before its first read (the topic's metadata, a consumer started per partition and topic)
to its last comparison. The policies are loaded, and the signing keys read, outside it for
what-if and on the first decision inside it for verify, as `sendgate replay` does.
"""

from __future__ import annotations

import cProfile
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from harness.errors import BenchError
from harness.report import progress_bar

from streams.core.errors import SendgateError
from streams.core.settings import Settings
from streams.policy import DEFAULT_POLICY_FILE, Policy, load_policy
from streams.replay.policies import PolicyBook
from streams.replay.processes import verify_in_processes
from streams.replay.recorded import ReadProgress, ReplayScope
from streams.replay.runs import VerifyReport, WhatIfReport, verify, what_if

__all__ = [
    "STRICTER_PRESET",
    "profiled_verify",
    "stricter_policy",
    "stricter_policy_text",
    "timed_verify",
    "timed_verify_in_processes",
    "timed_what_if",
]

STRICTER_PRESET = "strictest-when-unknown"
"""The consent preset that judges a request naming no country by every regime at once."""
_UNKNOWN_JURISDICTION = re.compile(r'(?m)^unknown_jurisdiction\s*=\s*"[A-Z]{2}"\s*$')
_NAME = re.compile(r'(?m)^name\s*=\s*"[^"]*"\s*$')


def stricter_policy_text(default_text: str) -> str:
    """The shipped policy with its `[consent]` section on the stricter preset, named for it.

    The preset replaces the `unknown_jurisdiction` line rather than sitting beside it: a key
    beside a preset overrides the preset's, so keeping the line would keep the old behaviour.
    """
    section = re.search(r"(?ms)^\[consent\]\n(.*?)(?=^\[|\Z)", default_text)
    if section is None:
        raise BenchError(f"no [consent] section in {DEFAULT_POLICY_FILE} to make stricter")
    body, count = _UNKNOWN_JURISDICTION.subn(f'preset = "{STRICTER_PRESET}"', section.group(1))
    if count != 1:
        raise BenchError(
            f'no `unknown_jurisdiction = ".."` line in the [consent] section of '
            f"{DEFAULT_POLICY_FILE} to replace with the {STRICTER_PRESET} preset"
        )
    changed = default_text[: section.start(1)] + body + default_text[section.end(1) :]
    return _NAME.sub(f'name = "{STRICTER_PRESET}"', changed, count=1)


def stricter_policy(folder: Path) -> tuple[Policy, Path]:
    """A shipped policy that judges unknown jurisdictions by every regime, if there is one;
    else the default made so in `folder`."""
    for path in sorted(DEFAULT_POLICY_FILE.parent.glob("*.toml")):
        try:
            policy = load_policy(path)
        except SendgateError:  # the providers table beside the policies
            continue
        if policy.consent.unknown_jurisdiction == "strictest":
            return policy, path
    path = folder / f"policy-{STRICTER_PRESET}.toml"
    path.write_text(
        stricter_policy_text(DEFAULT_POLICY_FILE.read_text(encoding="utf-8")), encoding="utf-8"
    )
    policy = load_policy(path)
    if policy.consent.unknown_jurisdiction != "strictest":
        raise BenchError(f"{path} did not come out stricter: {policy.consent}")
    return policy, path


@contextmanager
def reading_bar(what: str, total: int) -> Iterator[ReadProgress]:
    """A progress bar over every offset a replay reads (`total`: both topics' offsets), fed by
    the replay's own progress calls, one per fetch and partition."""
    done: dict[str, int] = {}
    with progress_bar() as progress:
        task = progress.add_task(what, total=total, rate="")
        started = time.monotonic()

        def on_progress(where: str, offsets: int, _: int) -> None:
            done[where] = offsets
            read = sum(done.values())
            rate = read / max(time.monotonic() - started, 1e-9)
            progress.update(task, completed=min(read, total), rate=f"{rate:,.0f} offsets/s")

        yield on_progress


async def timed_verify(
    settings: Settings, scope: ReplayScope, book: PolicyBook, *, offsets: int
) -> VerifyReport:
    with reading_bar("verify: read, decide again, compare", offsets) as on_progress:
        return await verify(settings, scope, book, on_progress=on_progress)


async def timed_verify_in_processes(
    settings: Settings, scope: ReplayScope, book: PolicyBook, *, processes: int, decisions: int
) -> VerifyReport:
    """`verify` as `sendgate replay verify` runs it: the partitions shared among `processes`
    worker processes; its clock includes starting them (a fresh interpreter each)."""
    with progress_bar() as progress:
        task = progress.add_task("verify, decided again", total=decisions, rate="")

        def on_decided(done: int) -> None:
            progress.update(task, completed=min(done, decisions))

        return await verify_in_processes(
            settings, scope, book, processes=processes, on_decided=on_decided
        )


async def timed_what_if(
    settings: Settings, scope: ReplayScope, policy: Policy, *, offsets: int, label: str
) -> WhatIfReport:
    with reading_bar(f"what-if under {label}", offsets) as on_progress:
        return await what_if(settings, scope, policy, on_progress=on_progress)


async def profiled_verify(
    settings: Settings, scope: ReplayScope, book: PolicyBook, path: Path, *, offsets: int
) -> VerifyReport:
    """`verify` again under cProfile (this thread: the replay runs on its event loop, and
    nothing else does meanwhile), its profile written to `path`."""
    profiler = cProfile.Profile()
    with reading_bar("verify under cProfile", offsets) as on_progress:
        profiler.enable()
        try:
            report = await verify(settings, scope, book, on_progress=on_progress)
        finally:
            profiler.disable()
    profiler.dump_stats(str(path))
    return report
