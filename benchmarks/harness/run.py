"""A benchmark script's outer frame: is the broker there, run the scenario, and clean up after
it whatever happens (workers stopped, the run's topics deleted, its data folder removed, or kept
when the run failed, for the worker logs).

The clean-up runs on failure and on Ctrl-C too: a run leaves nothing behind on a shared broker.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar, cast

import typer

from harness.broker import delete_run_topics
from harness.errors import BenchError
from harness.report import console
from harness.workers import WorkerProcess
from streams.core.errors import SendgateError
from streams.core.settings import Settings
from streams.edges.admin import check_broker

__all__ = ["check_json_out", "require_broker", "run_then_clean_up"]

T = TypeVar("T")


def check_json_out(json_out: Path | None) -> None:
    """Refuse `--json-out` into a folder that does not exist before the run, not after it."""
    if json_out is not None and not json_out.resolve().parent.is_dir():
        raise typer.BadParameter(
            f"folder {json_out.resolve().parent} does not exist", param_hint="--json-out"
        )


def require_broker(settings: Settings, data_dir: Path) -> None:
    """Exit with 2 and a hint when the broker does not answer, before anything is made."""
    try:
        asyncio.run(check_broker(settings, timeout_s=10))
    except SendgateError as exc:
        shutil.rmtree(data_dir, ignore_errors=True)
        console.print(f"[red bold]cannot run:[/] {exc}")
        console.print("Is Kafka running? `scripts/services status`, or pass --bootstrap.")
        raise typer.Exit(2) from None


def run_then_clean_up(
    settings: Settings,
    data_dir: Path,
    scenario: Callable[[], Coroutine[Any, Any, T]],
    *,
    kept: str,
    stop_on_interrupt: bool = True,
    on_failure: Callable[[str], None] | None = None,
) -> T:
    """Run `scenario` and clean up; its results, or exit with 1 after `on_failure(reason)`.

    A `BenchError` is reported as the benchmark's failure; a Ctrl-C as an interruption, unless
    `stop_on_interrupt` is off (then it propagates after the clean-up). `kept` names what the
    data folder holds for a failed run ("worker logs").
    """
    failed = True
    error = ""
    results: T | None = None
    try:
        results = asyncio.run(scenario())
        failed = False
    except BenchError as exc:
        error = str(exc)
        console.print(f"[red bold]benchmark failed:[/] {exc}")
    except KeyboardInterrupt:
        if not stop_on_interrupt:
            raise
        console.print("[yellow]interrupted[/]")
    finally:
        WorkerProcess.stop_all()
        try:
            deleted = asyncio.run(delete_run_topics(settings))
            console.print(f"[dim]deleted {len(deleted)} topics under {settings.topic_prefix!r}[/]")
        except Exception as exc:
            console.print(f"[yellow]could not delete the run's topics: {exc!r}[/]")
        if failed:
            console.print(f"{kept} kept in {data_dir}")
        else:
            shutil.rmtree(data_dir, ignore_errors=True)
    if failed:
        if on_failure is not None:
            on_failure(error)
        raise typer.Exit(1)
    return cast(T, results)
