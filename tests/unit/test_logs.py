"""Logging: JSON lines an operator's collector can read, no personal data, and a broker outage
that costs a handful of lines instead of thousands."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from streams.core.logs import (
    JsonLineFormatter,
    RepeatThrottle,
    TextFormatter,
    configure_logging,
    configure_process_logging,
    mask_addresses,
)
from streams.core.settings import Settings

CONNECT_FAILED = "Unable connect to node with id %s: %s"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def record(
    message: str = CONNECT_FAILED,
    *args: Any,
    name: str = "aiokafka.conn",
    level: int = logging.ERROR,
    exc_info: Any = None,
    **extra: Any,
) -> logging.LogRecord:
    made = logging.LogRecord(name, level, __file__, 1, message, args or None, exc_info)
    for key, value in extra.items():
        setattr(made, key, value)
    return made


@pytest.fixture
def root_handlers() -> Iterator[None]:
    """Put the root logger back as it was (the tests configure it)."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    chatty = {name: logging.getLogger(name).level for name in ("aiokafka", "kafka", "mail.log")}
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, chatty_level in chatty.items():
        logging.getLogger(name).setLevel(chatty_level)


# --- JSON lines --------------------------------------------------------------------------------


def test_a_record_with_the_usual_extras_is_one_json_object_a_line() -> None:
    formatter = JsonLineFormatter()
    lines = [
        formatter.format(
            record(
                "re-reading %s/%s from offset %s: records were skipped",
                "unsubscribe-clicks",
                3,
                1207,
                name="streams.gate.agents",
                level=logging.WARNING,
                service="worker",
                worker="worker-2",
                topic="unsubscribe-clicks",
                partition=3,
                offset=1207,
            )
        ),
        formatter.format(record("a message\nover two lines", name="faust", level=logging.INFO)),
    ]
    text = "\n".join(lines) + "\n"
    parsed = [json.loads(line) for line in text.splitlines()]
    assert len(parsed) == 2
    first = parsed[0]
    assert first["level"] == "WARNING"
    assert first["logger"] == "streams.gate.agents"
    assert first["message"] == (
        "re-reading unsubscribe-clicks/3 from offset 1207: records were skipped"
    )
    assert (first["service"], first["worker"]) == ("worker", "worker-2")
    assert (first["topic"], first["partition"], first["offset"]) == ("unsubscribe-clicks", 3, 1207)
    assert first["ts"].endswith("+00:00")
    assert parsed[1]["message"] == "a message\nover two lines"
    assert "topic" not in parsed[1] and "worker" not in parsed[1]


def test_an_exception_gives_its_type_and_frames_but_not_its_message() -> None:
    try:
        raise ValueError("not a valid recipient: jane.doe@example.com")
    except ValueError:
        exc_info = sys.exc_info()
    line = JsonLineFormatter().format(record("decode failed", exc_info=exc_info))
    entry = json.loads(line)
    assert entry["exc_type"] == "ValueError"
    assert "test_logs.py" in entry["stack"]
    assert "jane.doe" not in line
    assert "\n" not in line


def test_addresses_never_reach_the_log_in_either_format() -> None:
    message = record(
        "refused %s for <%s>",
        "MAIL FROM",
        "Jane.Doe+news@mail.example.co.uk",
        name="mail.log",
        level=logging.WARNING,
    )
    for formatter in (JsonLineFormatter(), TextFormatter()):
        line = formatter.format(message)
        assert "Jane.Doe" not in line and "mail.example" not in line
        assert "<address>" in line
    assert mask_addresses("node 127.0.0.1:9092 id 1") == "node 127.0.0.1:9092 id 1"


def test_text_lines_keep_todays_shape_and_name_the_record() -> None:
    line = TextFormatter().format(
        record(
            "ledger: empty value at %s[%d]@%d skipped",
            "send-decisions",
            1,
            42,
            name="streams.edges.ledger.sink",
            level=logging.WARNING,
            service="ledger",
            topic="send-decisions",
            partition=1,
            offset=42,
        )
    )
    assert " WARNING ledger: empty value at send-decisions[1]@42 skipped " in line
    assert line.endswith("[topic=send-decisions partition=1 offset=42]")


# --- repeated errors ---------------------------------------------------------------------------


def throttled(
    records: list[tuple[float, logging.LogRecord]], interval_s: float = 30.0
) -> tuple[list[logging.LogRecord], RepeatThrottle]:
    """What a handler behind the throttle writes, given (time, record) pairs."""
    clock = FakeClock()
    written: list[logging.LogRecord] = []
    throttle = RepeatThrottle(interval_s, clock=clock, sink=written.append)
    for at, item in records:
        clock.now = at
        if throttle.filter(item):
            written.append(item)
    return written, throttle


def test_an_outage_of_5000_errors_in_38_s_is_a_handful_of_lines_with_counts() -> None:
    errors = [
        (i * 38.0 / 5000, record(CONNECT_FAILED, 1, "[Errno 111] Connect call failed"))
        for i in range(5000)
    ]
    written, throttle = throttled(errors)
    throttle.flush()  # the outage is over; the process exits (or another record comes)
    assert len(written) <= 4
    assert written[0].getMessage().startswith("Unable connect to node with id 1")
    assert getattr(written[0], "repeated", None) is None
    counted = [getattr(line, "repeated", 0) for line in written[1:]]
    assert all(counted)
    assert 1 + sum(counted) == 5000  # every occurrence is accounted for
    rendered = JsonLineFormatter().format(written[1])
    assert "repeated" in json.loads(rendered)
    assert "times in the last 30 s" in json.loads(rendered)["message"]


def test_the_count_comes_with_any_later_record_when_the_errors_stop() -> None:
    outage = [(float(t), record(CONNECT_FAILED, 1, "refused")) for t in range(10)]
    later = record("rebalance done", name="faust", level=logging.WARNING)
    written, _ = throttled([*outage, (45.0, later)])
    assert [getattr(line, "repeated", None) for line in written] == [None, 9, None]
    assert written[-1] is later


def test_distinct_messages_are_not_merged() -> None:
    written, _ = throttled(
        [
            (0.0, record(CONNECT_FAILED, 1, "refused")),
            (0.1, record("Heartbeat failed for group %s: %s", "sendgate", "coordinator gone")),
            (0.2, record(CONNECT_FAILED, 1, "refused", level=logging.WARNING)),
            (0.3, record(CONNECT_FAILED, 1, "refused", name="aiokafka.consumer.fetcher")),
            (0.4, record(CONNECT_FAILED, 1, "refused")),
        ]
    )
    assert len(written) == 4


def test_only_the_noisy_loggers_warnings_and_errors_are_throttled() -> None:
    ours = [
        (i * 0.1, record("%s: dead-lettered %s (%s)", "keep", f"t/0/{i}", "invalid", name=n))
        for i, n in enumerate(["streams.gate.agents"] * 5)
    ]
    info = [(i * 0.1, record(CONNECT_FAILED, 1, "x", level=logging.INFO)) for i in range(5)]
    written, _ = throttled([*ours, *info])
    assert len(written) == 10


def test_a_configured_process_throttles_aiokafka_through_its_handler(
    root_handlers: None,
) -> None:
    out = io.StringIO()
    logging.getLogger("aiokafka").setLevel(logging.NOTSET)  # a CLI test may have silenced it
    configure_logging(log_format="json", service="intake", stream=out)
    kafka = logging.getLogger("aiokafka.conn")
    for _ in range(200):
        kafka.error(CONNECT_FAILED, 1, "refused")
    logging.getLogger("streams.edges.intake").warning("message not accepted")
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert len(lines) == 2
    assert {line["service"] for line in lines} == {"intake"}


def test_configuring_again_replaces_only_our_handler(root_handlers: None) -> None:
    root = logging.getLogger()
    other = logging.NullHandler()
    root.addHandler(other)
    configure_process_logging(Settings(log_format="text"), service="sendgate")
    configure_process_logging(
        Settings(log_format="json"), service="worker", worker="worker-1", level="debug"
    )
    ours = [h for h in root.handlers if h is not other and not _is_test_capture(h)]
    assert len(ours) == 1
    assert isinstance(ours[0].formatter, JsonLineFormatter)
    assert other in root.handlers
    assert root.level == logging.DEBUG
    # Debug records of the Kafka client carry message bytes: never written.
    assert logging.getLogger("aiokafka").getEffectiveLevel() >= logging.INFO


def _is_test_capture(handler: logging.Handler) -> bool:
    """pytest's capture, or the personal-data scan's log of the test process."""
    return type(handler).__module__.startswith(("_pytest", "tests.support"))


def test_the_log_format_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENDGATE_LOG_FORMAT", "json")
    monkeypatch.setenv("SENDGATE_LOG_REPEAT_INTERVAL_S", "10")
    settings = Settings()
    assert (settings.log_format, settings.log_repeat_interval_s) == ("json", 10.0)
    monkeypatch.setenv("SENDGATE_LOG_FORMAT", "xml")
    with pytest.raises(ValueError, match="log_format"):
        Settings()
