"""The hooks that fill `SESSION`: wrapped in once, at the start of the session, where every
test's inputs and the gate's outputs already pass, so that no test has to remember the scan.

- inputs: every record the test process encodes (`Codec.encode`: what the tests, the demo, the
  intake and the web server publish) and every address it turns into a recipient key
  (`RecipientKeyer.key`: also the rows of files given to `sendgate publish`);
- the test process's own log: a handler on the root logger writing, through sendgate's own
  formatter, what a sendgate process would write, to one file;
- command-line errors: what every `CliRunner` invocation wrote to stderr, and the message of an
  exception it ended with (stdout is the command's answer, which may rightly name the person an
  operator asked about, as a consent proof does);
- dead letters: every dead-letters topic an admin client creates is remembered, and read just
  before an admin client deletes it (`dead_letters`).

Worker logs and scrapes are registered where the workers are started (`tests.support.workers`).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click.testing
import typer.testing
from aiokafka.admin import AIOKafkaAdminClient

from streams.core.codec import Codec
from streams.core.logs import TextFormatter
from streams.core.recipient import RecipientKeyer
from streams.core.records import Record
from tests.support.personal_data.collected import SESSION
from tests.support.personal_data.dead_letters import is_dead_letters_topic, read_dead_letters

__all__ = ["DEAD_LETTER_READ_BUDGET_S", "install", "read_dead_letters_of"]

DEAD_LETTER_READ_BUDGET_S = 6.0
"""Within the 10 s sendgate's admin gives a deletion; an empty topic takes well under a second."""

_INSTALLED = "_personal_data_scan"


def install(log_path: Path) -> None:
    """Wrap the hooks in (once per process) and start the test process's log file."""
    if getattr(Codec, _INSTALLED, False):
        return
    _wrap(Codec, "encode", _encoding)
    _wrap(RecipientKeyer, "key", _keying)
    for runner in {click.testing.CliRunner, typer.testing.CliRunner}:
        _wrap(runner, "invoke", _invoking)
    _wrap(AIOKafkaAdminClient, "__init__", _admin_made)
    _wrap(AIOKafkaAdminClient, "create_topics", _creating)
    _wrap(AIOKafkaAdminClient, "delete_topics", _deleting)
    _log_to(log_path)
    setattr(Codec, _INSTALLED, True)


def _wrap(owner: type, name: str, wrapper: Callable[..., Any]) -> None:
    """`owner.name` calls `wrapper(original, self, ...)` from now on."""
    original = getattr(owner, name)

    @functools.wraps(original)
    def wrapped(self: Any, *args: Any, **kwargs: Any) -> Any:
        return wrapper(original, self, *args, **kwargs)

    setattr(owner, name, wrapped)


def _encoding(original: Callable[..., bytes], codec: Codec, record: Record) -> bytes:
    SESSION.record(record)
    return original(codec, record)


def _keying(original: Callable[..., str], keyer: RecipientKeyer, address: str) -> str:
    SESSION.values.add_address(address)
    return original(keyer, address)


def _invoking(original: Callable[..., Any], runner: Any, *args: Any, **kwargs: Any) -> Any:
    result = original(runner, *args, **kwargs)
    said = [result.stderr]
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        said.append(f"{type(result.exception).__name__}: {result.exception}")
    SESSION.add_command_errors("\n".join(said))
    return result


def _admin_made(original: Callable[..., None], admin: Any, *args: Any, **kwargs: Any) -> None:
    original(admin, *args, **kwargs)
    servers = kwargs.get("bootstrap_servers", "localhost")
    admin._personal_data_bootstrap = servers if isinstance(servers, str) else ",".join(servers)


async def _creating(
    original: Callable[..., Any], admin: Any, new_topics: Any, *a: Any, **k: Any
) -> Any:
    for topic in new_topics:
        if is_dead_letters_topic(topic.name):
            SESSION.dead_letter_topics[topic.name] = admin._personal_data_bootstrap
    return await original(admin, new_topics, *a, **k)


async def _deleting(
    original: Callable[..., Any], admin: Any, topics: Any, *a: Any, **k: Any
) -> Any:
    for topic in topics:
        if is_dead_letters_topic(topic):
            await read_dead_letters_of(topic, admin._personal_data_bootstrap)
    return await original(admin, topics, *a, **k)


async def read_dead_letters_of(topic: str, bootstrap: str) -> None:
    """Add the topic's dead letters to the outputs; a topic that cannot be read in time is
    noted in the report (never silently skipped)."""
    SESSION.dead_letter_topics.pop(topic, None)
    try:
        outputs = await read_dead_letters(bootstrap, topic, budget_s=DEAD_LETTER_READ_BUDGET_S)
    except Exception as exc:
        SESSION.notes.append(f"dead-letters topic {topic} not read: {type(exc).__name__}")
        return
    SESSION.dead_letter_topics_read += 1
    SESSION.outputs += outputs


class ScanLogHandler(logging.FileHandler):
    """The test process's log file: test machinery, not one of sendgate's handlers."""


def _log_to(path: Path) -> None:
    """Every record the test process logs, as a sendgate process would write it (`streams`
    at INFO, as the workers run; the root keeps the level pytest gives it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = ScanLogHandler(path, encoding="utf-8")
    handler.setFormatter(TextFormatter())
    logging.getLogger().addHandler(handler)
    ours = logging.getLogger("streams")
    if ours.level == logging.NOTSET:
        ours.setLevel(logging.INFO)
    SESSION.add_file(path)
