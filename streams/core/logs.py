"""Logging for every sendgate process: text for a person, or one JSON object a line for a
collector, and repeated client errors folded into one line per interval.

Every process (worker, intake, web, ledger sink, the other commands) calls `configure_logging`
once; it puts one handler on the root logger, so records of faust, aiokafka, aiosmtpd and our own
modules all come out the same way. Two promises hold for whatever passes through it:

- No personal data. Our own log calls name records by topic, partition and offset, never by
  content; as a safety net for libraries that are less careful, anything shaped like an email
  address is masked in the message and in tracebacks, and a JSON line carries an exception's type
  and stack frames but not its message (a validation error quotes the value it refused).
- No flood. A Kafka client logs every failed connection attempt: thousands of lines a minute for
  one broker outage, which bury the line that matters. `RepeatThrottle` lets the first of a kind
  through, counts the rest, and reports the count with the next one after the interval.
"""

from __future__ import annotations

import atexit
import json
import logging
import re
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, TextIO

if TYPE_CHECKING:
    from streams.core.settings import Settings

__all__ = [
    "CONTEXT_FIELDS",
    "THROTTLED_LOGGERS",
    "ContextFilter",
    "JsonLineFormatter",
    "LogFormat",
    "RepeatThrottle",
    "TextFormatter",
    "configure_logging",
    "configure_process_logging",
    "mask_addresses",
    "where",
]

LogFormat = Literal["text", "json"]

CONTEXT_FIELDS = ("service", "worker", "topic", "partition", "offset")
"""Extra attributes a record may carry (`extra=`) that a JSON line names as fields of its own."""

THROTTLED_LOGGERS = (
    "aiokafka",
    "kafka",
    "faust",
    "mode",
    "streams.edges.producer",
    "streams.edges.admin",
    "streams.gate.decider",
    "streams.gate.broadcast",
    "streams.gate.watchdog",
)
"""Loggers whose warnings and errors repeat with every retry while a broker is away. Our record
level warnings (a dead letter, a skipped record) are not among them: each names another record."""

CHATTY_LIBRARIES = ("aiokafka", "kafka", "mail.log")
"""Libraries whose debug records carry message bytes (addresses): never below INFO."""

TEXT_FORMAT = "%(asctime)s %(levelname)s %(message)s"

_ADDRESS = re.compile(
    r"[\w.!#$%&'*+/=?^`{|}~-]+"  # local part
    r"@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)+"  # domain with a dot
)
_HANDLER_MARK = "_sendgate_handler"


def mask_addresses(text: str) -> str:
    """`text` with anything that looks like an email address replaced by `<address>`."""
    return _ADDRESS.sub("<address>", text)


def where(message: Any) -> dict[str, Any]:
    """The `extra=` that names a Kafka record (anything with topic, partition and offset)."""
    return {"topic": message.topic, "partition": message.partition, "offset": message.offset}


def _repeats(record: logging.LogRecord) -> str:
    count = getattr(record, "repeated", None)
    if count is None:
        return ""
    return f" (repeated {count} times in the last {getattr(record, 'repeated_s', 0):.0f} s)"


class TextFormatter(logging.Formatter):
    """Today's text lines, with the record's coordinates and repeat count appended."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def formatMessage(self, record: logging.LogRecord) -> str:
        context = " ".join(
            f"{name}={getattr(record, name)}"
            for name in CONTEXT_FIELDS
            if name != "service" and getattr(record, name, None) is not None
        )
        line = super().formatMessage(record) + _repeats(record)
        return f"{line} [{context}]" if context else line

    def format(self, record: logging.LogRecord) -> str:
        return mask_addresses(super().format(record))


class JsonLineFormatter(logging.Formatter):
    """One JSON object a line: ts, level, logger, message, the context fields present, and for
    an exception its type and stack frames (not its message, which may quote data)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": mask_addresses(record.getMessage() + _repeats(record)),
        }
        for name in CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        count = getattr(record, "repeated", None)
        if count is not None:
            entry["repeated"] = count
            entry["repeated_s"] = round(getattr(record, "repeated_s", 0.0), 1)
        if record.exc_info and record.exc_info[0] is not None:
            kind, _, trace = record.exc_info
            entry["exc_type"] = kind.__name__
            if trace is not None:
                entry["stack"] = mask_addresses("".join(traceback.format_tb(trace)))
        return json.dumps(entry, ensure_ascii=False, default=str)


class ContextFilter(logging.Filter):
    """Stamps which process (and which worker) wrote each record; never replaces a value the
    record already has."""

    def __init__(self, **fields: Any) -> None:
        super().__init__()
        self.fields = {name: value for name, value in fields.items() if value is not None}

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in self.fields.items():
            if getattr(record, name, None) is None:
                setattr(record, name, value)
        return True


@dataclass
class _Window:
    started: float
    suppressed: int = 0
    last: logging.LogRecord | None = None
    last_at: float = 0.0


class RepeatThrottle(logging.Filter):
    """Folds identical warnings and errors of the watched loggers: identical means the same
    logger, level and message template (not its arguments, which name a node or an attempt).

    The first of a kind passes and opens an interval; the rest within it are counted and dropped.
    The first after the interval passes with the count (`repeated`, occurrences since the previous
    line, itself included, over `repeated_s` seconds). A kind that stops recurring is not lost:
    its last occurrence goes to `sink` with its count once its interval is over and any record
    passes, or at exit (`flush`). No timer: logging stays synchronous and thread-agnostic.
    """

    MAX_KINDS = 1000
    """Kinds tracked at once; a new kind beyond them passes unthrottled."""

    def __init__(
        self,
        interval_s: float = 30.0,
        *,
        loggers: Iterable[str] = THROTTLED_LOGGERS,
        level: int = logging.WARNING,
        clock: Callable[[], float] = time.monotonic,
        sink: Callable[[logging.LogRecord], object] | None = None,
    ) -> None:
        super().__init__()
        self.interval_s = interval_s
        self._loggers = tuple(loggers)
        self._level = level
        self._clock = clock
        self.sink = sink
        self._windows: dict[tuple[str, int, str], _Window] = {}
        self._lock = threading.Lock()  # aiokafka logs from faust's consumer thread too

    def watches(self, record: logging.LogRecord) -> bool:
        return record.levelno >= self._level and any(
            record.name == name or record.name.startswith(name + ".") for name in self._loggers
        )

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "repeated", None) is not None:
            return True  # a count this filter reported
        now = self._clock()
        key = (record.name, record.levelno, str(record.msg)) if self.watches(record) else None
        with self._lock:
            due = self._close_windows(now, keep=key)
            passes = key is None or self._admit(key, record, now)
        self._report(due)
        return passes

    def flush(self) -> None:
        """Report every count not reported yet (at exit)."""
        with self._lock:
            due = self._close_windows(float("inf"), keep=None)
        self._report(due)

    def _admit(self, key: tuple[str, int, str], record: logging.LogRecord, now: float) -> bool:
        window = self._windows.get(key)
        if window is not None and now - window.started < self.interval_s:
            window.suppressed += 1
            window.last, window.last_at = record, now
            return False
        if window is not None and window.suppressed:
            record.repeated = window.suppressed + 1
            record.repeated_s = now - window.started
        if window is not None or len(self._windows) < self.MAX_KINDS:
            self._windows[key] = _Window(started=now)
        return True

    def _close_windows(
        self, now: float, keep: tuple[str, int, str] | None
    ) -> list[logging.LogRecord]:
        """Forget the intervals that are over (but `keep`'s, which `_admit` folds into the record
        in hand); the last dropped record of each, with its count."""
        due = []
        for key, window in list(self._windows.items()):
            if key == keep or now - window.started < self.interval_s:
                continue
            del self._windows[key]
            if window.suppressed and window.last is not None:
                window.last.repeated = window.suppressed
                window.last.repeated_s = window.last_at - window.started
                due.append(window.last)
        return due

    def _report(self, due: list[logging.LogRecord]) -> None:
        if self.sink is not None:
            for record in due:
                self.sink(record)


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever `sys.stderr` is at the time (a test runner swaps it)."""

    def __init__(self) -> None:
        logging.Handler.__init__(self)

    @property
    def stream(self) -> TextIO:  # type: ignore[override]
        return sys.stderr


def configure_logging(
    *,
    log_format: LogFormat = "text",
    level: str | int = logging.WARNING,
    service: str | None = None,
    worker: str | None = None,
    repeat_interval_s: float = 30.0,
    stream: TextIO | None = None,
) -> logging.Handler:
    """Route every logger through one handler on the root logger, in `log_format`.

    Calling it again (the CLI configures, then the worker command refines) replaces the handler
    it put there before and leaves any other (a test's capture) alone.
    """
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]:
        root.removeHandler(old)
        for throttle in (f for f in old.filters if isinstance(f, RepeatThrottle)):
            throttle.flush()
    handler: logging.Handler = (
        logging.StreamHandler(stream) if stream is not None else _StderrHandler()
    )
    setattr(handler, _HANDLER_MARK, True)
    handler.setFormatter(JsonLineFormatter() if log_format == "json" else TextFormatter())
    handler.addFilter(ContextFilter(service=service, worker=worker))
    throttle = RepeatThrottle(repeat_interval_s, sink=handler.handle)
    handler.addFilter(throttle)
    root.addHandler(handler)
    numeric = logging.getLevelName(level.upper()) if isinstance(level, str) else level
    root.setLevel(numeric)
    if numeric < logging.INFO:
        for name in CHATTY_LIBRARIES:
            logging.getLogger(name).setLevel(max(logging.getLogger(name).level, logging.INFO))
    atexit.register(throttle.flush)
    return handler


def configure_process_logging(
    settings: Settings,
    *,
    service: str,
    worker: str | None = None,
    level: str | int = logging.WARNING,
) -> logging.Handler:
    """`configure_logging` as the settings (SENDGATE_LOG_FORMAT and the repeat interval) ask."""
    return configure_logging(
        log_format=settings.log_format,
        level=level,
        service=service,
        worker=worker,
        repeat_interval_s=settings.log_repeat_interval_s,
    )
