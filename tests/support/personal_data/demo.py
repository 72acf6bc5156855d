"""`python -m tests.support.personal_data.demo [DEMO OPTIONS]`: `sendgate demo` through the
personal-data scan.

The demo is the one run of the whole gate that people watch, at any size, so it gets the same
check as the tests: it runs in this process with the recorder's hooks in (every send, consent and
address it feeds the gate is recorded), then its output, its worker's log, its dead letters and
this process's metrics are scanned. Broker and database come from the SENDGATE_* environment, as
for `sendgate demo`. Exit status: the demo's own, or 1 when the scan finds something.
"""

from __future__ import annotations

import asyncio
import io
import shutil
import sys
import tempfile
from pathlib import Path
from typing import TextIO

from streams.cli import main as sendgate
from streams.core.settings import Settings
from tests.support.personal_data.collected import SESSION
from tests.support.personal_data.plugin import check
from tests.support.personal_data.recorder import install, read_dead_letters_of

__all__ = ["main"]


class _Tee(io.TextIOBase):
    """What the demo prints goes to the terminal as ever, and to the scan."""

    def __init__(self, terminal: TextIO) -> None:
        self.terminal = terminal
        self.kept = io.StringIO()

    def write(self, text: str) -> int:
        self.kept.write(text)
        return self.terminal.write(text)

    def flush(self) -> None:
        self.terminal.flush()

    def isatty(self) -> bool:
        return False

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "utf-8"


def main(argv: list[str]) -> int:
    folder = Path(tempfile.mkdtemp(prefix="sendgate-personal-data-"))
    install(folder / "demo-process.log")
    out, err = _Tee(sys.stdout), _Tee(sys.stderr)
    sys.stdout, sys.stderr = out, err
    try:
        sendgate(["demo", *argv])
        status = 0
    except SystemExit as exit_:
        status = exit_.code if isinstance(exit_.code, int) else 1
    finally:
        sys.stdout, sys.stderr = out.terminal, err.terminal
    SESSION.add_output("demo output", "cli", out.kept.getvalue())
    SESSION.add_output("demo errors", "cli", err.kept.getvalue())
    SESSION.add_file(Settings().data_dir / "demo" / "worker.log")
    for topic, bootstrap in list(SESSION.dead_letter_topics.items()):  # --keep-topics
        asyncio.run(read_dead_letters_of(topic, bootstrap))
    lines, failed = check(SESSION, strict=False)
    print("personal data scan:", *lines, *SESSION.notes, sep="\n  ")
    if failed:
        return 1
    shutil.rmtree(folder, ignore_errors=True)
    return status


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
