"""What one test session gathered for the scan: the personal values it fed in, and the outputs to
look through. One object for the whole process, since the recorder's hooks sit in code that knows
nothing of pytest (a codec, a keyer, an admin client)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from streams.core.records import ConsentEvent, InboundMail, Record, SendRequest
from tests.support.personal_data.scanner import Output, OutputKind
from tests.support.personal_data.values import PersonalValues

__all__ = ["SESSION", "Collected"]


@dataclass
class Collected:
    values: PersonalValues = field(default_factory=PersonalValues)
    outputs: list[Output] = field(default_factory=list)
    files: dict[Path, OutputKind] = field(default_factory=dict)
    """Files to read when the session ends (a worker writes its log until it stops)."""
    dead_letter_topics: dict[str, str] = field(default_factory=dict)
    """Every dead-letters topic the session created, with its broker; read at deletion or at the
    end, then dropped from here."""
    dead_letter_topics_read: int = 0
    cli_runs: int = 0
    problems: list[str] = field(default_factory=list)
    """What kept the scan from seeing something it should (a log deleted before the end): the
    session fails."""
    notes: list[str] = field(default_factory=list)
    """What the scan could not read for a reason outside it (a dead-letters topic deleted while
    a fault test had the broker down): reported, not failed; the strict scan still fails when
    no dead letter at all was read."""
    current_test: str = "(outside any test)"
    temp_root: Path | None = None
    """The session's temporary folder: every `*.log` under it is scanned too."""

    def record(self, record: Record) -> None:
        """The personal fields of a record the session is about to write."""
        if isinstance(record, SendRequest):
            self.values.add_address(record.recipient)
        elif isinstance(record, ConsentEvent):
            self.values.add_ip(record.ip)
            self.values.add_user_agent(record.user_agent)
        elif isinstance(record, InboundMail):
            self.values.add_address(record.mail_from)
            self.values.add_mail(record.raw)

    def add_output(self, source: str, kind: OutputKind, text: str) -> None:
        self.outputs.append(Output(source, kind, text))

    def add_command_errors(self, stderr: str) -> None:
        """What a `sendgate` command run by the current test wrote to stderr (its errors)."""
        self.cli_runs += 1
        self.add_output(f"command line in {self.current_test}", "cli", stderr)

    def add_file(self, path: Path, kind: OutputKind = "log") -> None:
        self.files[path.resolve()] = kind

    def file_outputs(self) -> list[Output]:
        """The registered files, and every text `*.log` under the session's temporary folder
        (not a table's RocksDB write-ahead log, which shares the suffix). A registered file
        that is gone is a problem of the scan: it can no longer say what the file held."""
        files = dict(self.files)
        if self.temp_root is not None:
            files |= {p.resolve(): "log" for p in self.temp_root.rglob("*.log") if _text_log(p)}
        outputs = []
        for path, kind in sorted(files.items()):
            try:
                text = path.read_text(encoding="utf-8", errors="replace")
            except FileNotFoundError:
                self.problems.append(f"{path} was deleted before it could be scanned")
                continue
            outputs.append(Output(str(path), kind, text))
        return outputs


def _text_log(path: Path) -> bool:
    if not path.is_file() or any(part.endswith(".db") for part in path.parts):
        return False
    with path.open("rb") as file:
        return b"\0" not in file.read(8192)


SESSION = Collected()
