"""The scan as part of every pytest session: hooks installed when the session starts, the check
when it ends, whatever tests ran and in whatever order.

A session-finish hook rather than a last test: it sees every test's outputs however the session
was selected or ordered, and a hit fails the session (exit status 1) with a section of its own in
the summary. The check is strict where the whole tree runs (`CI` set, or
`SENDGATE_PERSONAL_DATA_SCAN=strict`): every kind of input and output must have been seen, so a
recorder that silently stopped recording fails instead of passing on nothing. Elsewhere a session
that fed no personal value in while gate processes spoke fails too; one that did neither (a few
pure unit tests) only says there was nothing to check.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import time
from pathlib import Path

import pytest
from prometheus_client import generate_latest

from tests.support.personal_data.collected import SESSION, Collected
from tests.support.personal_data.recorder import install, read_dead_letters_of
from tests.support.personal_data.scanner import NoInputsError, Output, report, scan

__all__ = [
    "pytest_configure",
    "pytest_runtest_logstart",
    "pytest_sessionfinish",
    "pytest_terminal_summary",
    "scan_temp_root",
]

_REPORT = pytest.StashKey[list[str]]()
_FAILED = pytest.StashKey[bool]()


def strict() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes") or (
        os.environ.get("SENDGATE_PERSONAL_DATA_SCAN") == "strict"
    )


_LOG_FOLDER = pytest.StashKey[Path]()


def pytest_configure(config: pytest.Config) -> None:
    folder = Path(tempfile.mkdtemp(prefix="sendgate-personal-data-"))
    config.stash[_LOG_FOLDER] = folder
    install(folder / "test-process.log")


def pytest_runtest_logstart(nodeid: str) -> None:
    SESSION.current_test = nodeid


@pytest.fixture(scope="session", autouse=True)
def scan_temp_root(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Every log a test's processes wrote under the session's temporary folder (the demo's
    worker, a command's own log) is scanned, registered or not."""
    SESSION.temp_root = tmp_path_factory.getbasetemp()


def pytest_sessionfinish(session: pytest.Session) -> None:
    for topic, bootstrap in list(SESSION.dead_letter_topics.items()):
        asyncio.run(read_dead_letters_of(topic, bootstrap))
    lines, failed = check(SESSION, strict=strict())
    session.config.stash[_REPORT] = [*lines, *(f"note: {note}" for note in SESSION.notes)]
    session.config.stash[_FAILED] = failed
    if failed and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    if not failed:  # kept when it failed: the report names lines of it
        shutil.rmtree(session.config.stash[_LOG_FOLDER], ignore_errors=True)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    lines = terminalreporter.config.stash.get(_REPORT, [])
    failed = terminalreporter.config.stash.get(_FAILED, False)
    terminalreporter.section("personal data scan", red=failed, green=not failed)
    for line in lines:
        terminalreporter.line(line)


def check(collected: Collected, *, strict: bool) -> tuple[list[str], bool]:
    """The report's lines, and whether the session fails."""
    outputs = [
        *collected.outputs,
        *collected.file_outputs(),
        Output("prometheus registry of the test process", "metrics", generate_latest().decode()),
    ]
    seen = _seen(collected, outputs)
    summary = f"inputs: {_counts(collected.values.counts())}; outputs: {_counts(seen)}"
    problems = list(collected.problems)
    if strict:
        problems += [f"no {kind} seen (strict scan)" for kind, n in seen.items() if not n]
        problems += [
            f"no {kind} among the inputs (strict scan)"
            for kind, n in collected.values.counts().items()
            if not n
        ]
    gate_spoke = seen["worker logs"] or seen["dead-letters topics read"] or seen["command lines"]
    if not collected.values and not gate_spoke and not strict:
        return [summary, "nothing to check: no personal value was fed in"], bool(problems)
    started = time.monotonic()
    try:
        findings = scan(collected.values, outputs)
    except NoInputsError as exc:
        return [summary, f"FAILED: {exc}", *problems], True
    size = sum(len(output.text) for output in outputs)
    summary += f"; {size / 1e6:.1f} MB scanned in {time.monotonic() - started:.1f} s"
    if findings:
        header = f"FAILED: {len(findings)} personal values where none belong (values masked):"
        return [summary, header, *report(findings), *problems], True
    if problems:
        return [summary, "FAILED: the scan could not see everything:", *problems], True
    return [summary, "no personal value found in any output"], False


def _seen(collected: Collected, outputs: list[Output]) -> dict[str, int]:
    """How many of each kind of output the scan read, less the test process's own log and
    registry (always there, so they prove nothing about the recorder)."""
    logs = sum(1 for o in outputs if o.kind == "log") - 1
    scrapes = sum(1 for o in outputs if o.kind == "metrics") - 1
    return {
        "worker logs": max(logs, 0),
        "dead-letters topics read": collected.dead_letter_topics_read,
        "dead letters": sum(1 for o in outputs if o.kind == "dead letter"),
        "worker metrics scrapes": max(scrapes, 0),
        "command lines": collected.cli_runs,
    }


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {kind}" for kind, n in counts.items())
