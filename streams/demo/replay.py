"""The demo's last act: its own traffic replayed, as an analyst would the next morning.

First `verify`: every decision of the run is decided again on the state it recorded, by the
policy it names, and must come out the same to the byte (the run's signing keys are here, so
the return paths and unsubscribe links are compared too). Then `what-if`: the same requests
under the stricter policy shipped in `streams/policies/strict.toml`, with the flips by rule and
by account. Both read the run's topics with no consumer group; nothing is written anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from streams.core.settings import Settings
from streams.policy import DEFAULT_POLICY_FILE, load_policy
from streams.replay.policies import policy_book
from streams.replay.reading import TimeRange
from streams.replay.recorded import ReplayScope
from streams.replay.render import render_verify, render_what_if
from streams.replay.runs import VerifyReport, WhatIfReport, verify, what_if

__all__ = ["STRICT_POLICY_FILE", "DemoReplay", "replay_the_run"]

STRICT_POLICY_FILE = DEFAULT_POLICY_FILE.parent / "strict.toml"
_SAMPLE = 3


@dataclass(frozen=True)
class DemoReplay:
    verified: VerifyReport
    what_if: WhatIfReport


async def replay_the_run(settings: Settings, worker_data_dir: Path, console: Console) -> DemoReplay:
    """Verify the run's decisions, then show them under the strict policy."""
    # The worker made its signing keys in its own data folder; the replay reads them there.
    replaying = settings.model_copy(update={"data_dir": worker_data_dir})
    scope = ReplayScope(TimeRange())
    book = policy_book(replaying)
    console.print()
    console.print("[bold]Replay[/]: the run's decisions decided again on what each recorded")
    verified = await verify(replaying, scope, book)
    render_verify(verified, console, show=5)
    strict = load_policy(STRICT_POLICY_FILE)
    console.print()
    console.print(
        f"[bold]What if[/] the run had used {STRICT_POLICY_FILE.name} (every consent regime "
        "when a request names no country, at most 4 commercial mails a week per person):"
    )
    changed = await what_if(replaying, scope, strict, sample_size=_SAMPLE, recorded_policies=book)
    render_what_if(changed, console)
    return DemoReplay(verified, changed)
