"""`sendgate publish`: validate a whole input file, then publish it with the sendgate producer.

Input files are `.jsonl` (one JSON object per line) or `.csv` (a header row naming the fields);
the fields are those of the record (see `schemas/`), except that an unsubscribe or consent row
names its recipient by address in `recipient`, which `streams.edges.rows` turns into the recipient
key. Each kind of file goes to its topic of the catalogue (`streams.topics`). Empty CSV
cells and JSON nulls mean "not given"; blank lines are skipped.

Every row is validated before anything is published, so a bad file is refused as a whole rather
than half-published. Up to `MAX_REPORTED_PROBLEMS` problems are collected, so one round of fixes
usually suffices; each names file, line (as an editor numbers it) and field, never the value.
A line that cannot be read at all (broken JSON, a CSV row with the wrong number of cells) ends
the reading there. The file and its valid records are held in memory until they are published.

A broker that is away is waited for (`Settings.publish_retry_s`, 90 s without an acknowledgement)
with "waiting for Kafka (retrying, N s left)" on the status line. When the producer gives up, the
command says how many records were acknowledged and writes the rest beside the input
(`NAME.unacknowledged.jsonl` or `.csv`): publishing that file finishes the job without publishing
again what was acknowledged. Re-publishing a record publishes the same ids (request ids are the
sender's, click and consent event ids derive from the row), but the gate decides a repeated
request id again (README, "Publishing through an outage"), so the remainder file is the safe re-run.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Annotated, Any, Literal, overload

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from streams.core.clock import Clock, SystemClock
from streams.core.errors import InputFileError, SendgateError, ServiceUnavailableError
from streams.core.recipient import RecipientKeyer
from streams.core.records import (
    ConsentEvent,
    Record,
    SenderDomains,
    SendRequest,
    UnsubscribeClick,
)
from streams.core.settings import Settings
from streams.edges.producer import SendgateProducer
from streams.edges.rows import (
    RowError,
    consent_event_from_row,
    send_request_from_row,
    sender_domains_from_row,
    unsubscribe_from_row,
)
from streams.topics import (
    CONSENT_EVENTS,
    SEND_REQUESTS,
    SENDER_DOMAINS,
    UNSUBSCRIBE_CLICKS,
    TopicSpec,
)

__all__ = [
    "MAX_REPORTED_PROBLEMS",
    "InputKind",
    "InvalidInputFileError",
    "app",
    "iter_rows",
    "validate_file",
    "write_unacknowledged",
]

MAX_REPORTED_PROBLEMS = 20
InputKind = Literal["send-requests", "unsubscribes", "consents", "sender-domains"]
_ROW = "(row)"

app = typer.Typer(
    help="Validate an input file (.jsonl or .csv) as a whole, then publish it to Kafka.",
    no_args_is_help=True,
)


class InvalidInputFileError(InputFileError):
    """Every problem found in a file (up to a limit); file, line and field are the first one's."""

    def __init__(self, problems: Sequence[InputFileError], *, stopped_early: bool) -> None:
        first = problems[0]
        super().__init__(first.file, first.line, first.field, first.problem)
        self.problems = tuple(problems)
        self.stopped_early = stopped_early

    def __str__(self) -> str:
        count = f"{len(self.problems)}{'+' if self.stopped_early else ''}"
        header = f"{self.file}: {count} problem(s); the file was refused as a whole"
        return "\n".join([header, *(f"  {problem}" for problem in self.problems)])


# --- reading -------------------------------------------------------------------------------------


def _read_text(path: Path, display: str) -> str:
    """The whole file as text; a byte that is not UTF-8 is reported on its own line."""
    data = path.read_bytes()
    try:
        # utf-8-sig: spreadsheet programs start their CSV exports with a byte-order mark.
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InputFileError(display, line, _ROW, "not UTF-8 text") from None


def _iter_jsonl(path: Path, display: str) -> Iterator[tuple[int, dict[str, Any]]]:
    # Split on LF only: JSON strings may hold U+2028 and friends, which splitlines() would cut.
    for line_number, line in enumerate(_read_text(path, display).split("\n"), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputFileError(display, line_number, _ROW, f"not JSON: {exc.msg}") from None
        except ValueError:  # a number of more digits than int() reads (4300)
            raise InputFileError(
                display, line_number, _ROW, "not JSON: a number too long"
            ) from None
        except RecursionError:
            raise InputFileError(
                display, line_number, _ROW, "not JSON: nested too deeply"
            ) from None
        if not isinstance(row, dict):
            raise InputFileError(display, line_number, _ROW, "not a JSON object")
        yield line_number, row


def _iter_csv(path: Path, display: str) -> Iterator[tuple[int, dict[str, Any]]]:
    reader = csv.reader(io.StringIO(_read_text(path, display), newline=""))
    try:
        header = [name.strip() for name in next(reader, [])]
        if not header or not all(header):
            raise InputFileError(display, 1, _ROW, "the header row names no field, or ''")
        duplicated = sorted({name for name in header if header.count(name) > 1})
        if duplicated:
            raise InputFileError(display, 1, duplicated[0], "named twice in the header")
        last_line = reader.line_num
        for cells in reader:
            # A quoted cell may span lines: a row starts on the line after the last one.
            first_line, last_line = last_line + 1, reader.line_num
            if not any(cell.strip() for cell in cells):
                continue
            if len(cells) != len(header):
                problem = f"has {len(cells)} cells, the header has {len(header)}"
                raise InputFileError(display, first_line, _ROW, problem)
            yield first_line, dict(zip(header, cells, strict=True))
    except csv.Error as exc:
        raise InputFileError(display, reader.line_num, _ROW, f"not CSV: {exc}") from None


def iter_rows(path: Path | str) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, row) for each non-blank row of a `.jsonl` or `.csv` file.

    Raises `InputFileError` at the first line that cannot be read as a row, and `SendgateError`
    for a file that cannot be opened or has another extension.
    """
    path = Path(path)
    display = str(path)
    readers = {".jsonl": _iter_jsonl, ".csv": _iter_csv}
    reader = readers.get(path.suffix.lower())
    if reader is None:
        raise SendgateError(f"{display}: unsupported file type '{path.suffix}'; use .jsonl or .csv")
    try:
        yield from reader(path, display)
    except OSError as exc:
        raise SendgateError(f"{display}: cannot read: {exc.strerror or exc}") from None


# --- validating ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Input:
    """One kind of input file: the catalogue topic its records go to, what they are called in
    messages, and how a row becomes one. `needs_keyer`: the row's address becomes a recipient
    key here (a send request keeps its address; the producer keys it)."""

    topic: TopicSpec
    what: str
    from_row: Callable[..., Record]
    needs_keyer: bool = False


_INPUTS: dict[InputKind, _Input] = {
    "send-requests": _Input(SEND_REQUESTS, "send requests", send_request_from_row),
    "unsubscribes": _Input(
        UNSUBSCRIBE_CLICKS, "unsubscribes", unsubscribe_from_row, needs_keyer=True
    ),
    "consents": _Input(CONSENT_EVENTS, "consent events", consent_event_from_row, needs_keyer=True),
    "sender-domains": _Input(SENDER_DOMAINS, "sender domain sets", sender_domains_from_row),
}


@overload
def validate_file(
    path: Path | str,
    kind: Literal["send-requests"],
    *,
    keyer: RecipientKeyer | None = None,
    clock: Clock | None = None,
) -> list[SendRequest]: ...


@overload
def validate_file(
    path: Path | str,
    kind: Literal["consents"],
    *,
    keyer: RecipientKeyer,
    clock: Clock | None = None,
) -> list[ConsentEvent]: ...


@overload
def validate_file(
    path: Path | str,
    kind: Literal["sender-domains"],
    *,
    keyer: RecipientKeyer | None = None,
    clock: Clock | None = None,
) -> list[SenderDomains]: ...


@overload
def validate_file(
    path: Path | str,
    kind: Literal["unsubscribes"],
    *,
    keyer: RecipientKeyer,
    clock: Clock | None = None,
) -> list[UnsubscribeClick]: ...


@overload
def validate_file(
    path: Path | str,
    kind: InputKind,
    *,
    keyer: RecipientKeyer | None = None,
    clock: Clock | None = None,
) -> Sequence[Record]: ...


def validate_file(
    path: Path | str,
    kind: InputKind,
    *,
    keyer: RecipientKeyer | None = None,
    clock: Clock | None = None,
) -> Sequence[Record]:
    """Every row of the file as a record, or `InvalidInputFileError` listing what is wrong.

    `keyer` is needed for unsubscribes and consents (their address becomes a recipient key).
    Within one file a request id may appear once: a repeated one is almost always a
    copy-and-paste slip.
    """
    clock = clock or SystemClock()
    source = _INPUTS[kind]
    convert: Callable[[Mapping[str, Any]], Record]
    if not source.needs_keyer:
        convert = partial(source.from_row, clock=clock)
    elif keyer is None:
        raise ValueError(f"validating {kind} needs the recipient keyer")
    else:
        convert = partial(source.from_row, keyer=keyer, clock=clock)
    display = str(path)
    records: list[Any] = []
    problems: list[InputFileError] = []
    first_line_of: dict[str, int] = {}
    stopped_early = False
    try:
        for line, row in iter_rows(path):
            try:
                record = convert(row)
            except RowError as exc:
                problems += [InputFileError(display, line, f, p) for f, p in exc.problems]
            else:
                if isinstance(record, SendRequest):
                    seen = first_line_of.setdefault(record.request_id, line)
                    if seen != line:
                        problems.append(
                            InputFileError(display, line, "request_id", f"repeats line {seen}")
                        )
                records.append(record)
            if len(problems) >= MAX_REPORTED_PROBLEMS:
                stopped_early = True
                break
    except InputFileError as exc:  # an unreadable line ends the reading
        problems.append(exc)
    if problems:
        raise InvalidInputFileError(problems[:MAX_REPORTED_PROBLEMS], stopped_early=stopped_early)
    return records


# --- commands ------------------------------------------------------------------------------------

_FileArgument = Annotated[
    Path,
    typer.Argument(
        help="A .jsonl (one JSON object per line) or .csv (header row) file.",
        exists=True,
        dir_okay=False,
        readable=True,
        show_default=False,
    ),
]
_DryRunOption = Annotated[
    bool,
    typer.Option("--dry-run", help="Validate the whole file and stop; publish nothing."),
]


def _publish(
    settings: Settings, records: Sequence[Record], topic_spec: TopicSpec, what: str, file: Path
) -> None:
    """Publish the validated records, waiting out a broker that is away (`publish_retry_s`);
    when the producer gives up, say what was acknowledged and leave the rest in a file of its
    own, so finishing the job publishes nothing twice that was acknowledged."""
    out = Console()
    # The client logs each failed connection attempt; the error we raise says it once.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    topic = topic_spec.full_name(settings)
    started = time.monotonic()
    acknowledged: set[int] = set()
    publishing = f"publishing {what}"

    async def run() -> int:
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=True,
        ) as progress:
            task = progress.add_task("connecting to Kafka", total=len(records))

            def waiting(left_s: float) -> None:
                description = f"waiting for Kafka (retrying, {left_s:.0f} s left)"
                progress.update(task, description=description)

            def advanced(acked: int) -> None:
                progress.update(task, advance=acked, description=publishing)

            async with SendgateProducer(settings, on_retry=waiting) as producer:
                progress.update(task, description=publishing)
                await producer.require_topics([topic_spec])
                counts = await producer.publish_many(
                    records, on_progress=advanced, acknowledged=acknowledged
                )
        return counts.total

    try:
        published = asyncio.run(run())
    except SendgateError as exc:
        if acknowledged or isinstance(exc, ServiceUnavailableError):
            _say_what_was_acknowledged(out, file, len(records), acknowledged, what)
        raise
    elapsed = time.monotonic() - started
    out.print(
        f"published {published} {what} to {topic} in {elapsed:.1f} s", markup=False, highlight=False
    )


def _say_what_was_acknowledged(
    out: Console, file: Path, total: int, acknowledged: set[int], what: str
) -> None:
    """After giving up: how many records Kafka acknowledged and where the others are."""
    if not acknowledged:
        out.print(
            f"none of the {total} {what} in {file} was acknowledged; publish the file again",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        return
    rest = total - len(acknowledged)
    try:
        remainder = write_unacknowledged(file, acknowledged)
    except OSError as exc:
        note = f"the rest could not be written beside it ({exc.strerror or exc})"
    else:
        note = f"the {rest} others are in {remainder}: publish that file to finish"
    out.print(
        f"{len(acknowledged)} of the {total} {what} in {file} were acknowledged; {note} (those "
        "in flight at the end may be on the topic already, and are then published twice)",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )


def write_unacknowledged(file: Path, acknowledged: set[int]) -> Path:
    """Write the rows of a validated file whose records were not acknowledged (positions not in
    `acknowledged`) beside it, in its format: a file that validated became one record per row,
    in order, so positions are rows. Returns the new file's path."""
    rows = [row for _, row in iter_rows(file)]
    rest = [row for position, row in enumerate(rows) if position not in acknowledged]
    target = file.with_name(f"{file.stem}.unacknowledged{file.suffix}")
    if file.suffix.lower() == ".jsonl":
        text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rest)
    else:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]) if rows else [])
        writer.writeheader()
        writer.writerows(rest)
        text = buffer.getvalue()
    target.write_text(text, encoding="utf-8", newline="")
    return target


def _validate_then_publish(ctx: typer.Context, file: Path, dry_run: bool, kind: InputKind) -> None:
    """What every publish command does: validate the whole file, then publish it (or, with
    --dry-run, say how many records are valid)."""
    settings = ctx.ensure_object(Settings)
    source = _INPUTS[kind]
    keyer = RecipientKeyer(settings.recipient_secret()) if source.needs_keyer else None
    records = validate_file(file, kind, keyer=keyer)
    if dry_run:
        Console().print(
            f"{len(records)} valid {source.what} in {file}; nothing published (dry run)",
            markup=False,
            highlight=False,
        )
        return
    _publish(settings, records, source.topic, source.what, file)


@app.command("send-requests")
def send_requests(ctx: typer.Context, file: _FileArgument, dry_run: _DryRunOption = False) -> None:
    """Publish send requests (keyed by recipient key) to the send-requests topic.

    Fields: request_id, account_id, list_id, recipient, jurisdiction, classification,
    honor_list_opt_outs, send_kind, from_address, subject, requested_at (ISO-8601 with an
    offset; default now).
    """
    _validate_then_publish(ctx, file, dry_run, "send-requests")


@app.command("unsubscribes")
def unsubscribes(ctx: typer.Context, file: _FileArgument, dry_run: _DryRunOption = False) -> None:
    """Publish unsubscribe clicks (the address becomes the recipient key) to unsubscribe-clicks.

    Fields: recipient (the address), scope (list, account, platform), account_id, list_id,
    method, reason, clicked_at (ISO-8601 with an offset; default now), click_id (default: derived
    from the rest, so re-publishing rows that carry clicked_at changes nothing twice).
    """
    _validate_then_publish(ctx, file, dry_run, "unsubscribes")


@app.command("consents")
def consents(ctx: typer.Context, file: _FileArgument, dry_run: _DryRunOption = False) -> None:
    """Publish consent events (the address becomes the recipient key) to consent-events.

    Fields: recipient (the address), kind (grant, confirm, withdraw, import, review_approved),
    account_id, lists (JSON list, or ids separated by ; in CSV), cadence, basis (express,
    implied_purchase, implied_inquiry, conspicuous_publication, soft_opt_in, legal_obligation),
    requires_confirmation, jurisdiction (ISO 3166-1 alpha-2), source_kind, source_id,
    wording_hash, wording_version, ip, user_agent, occurred_at (ISO-8601 with an offset; default
    now), event_id (default: derived from the rest).
    """
    _validate_then_publish(ctx, file, dry_run, "consents")


@app.command("sender-domains")
def sender_domains(ctx: typer.Context, file: _FileArgument, dry_run: _DryRunOption = False) -> None:
    """Publish accounts' verified sending domains (keyed by account) to sender-domains.

    Each row is an account's whole set, replacing the one before: account_id, domains (JSON list,
    or names separated by ; in CSV; empty: none), changed_at (ISO-8601 with an offset; default
    now), source (default "sendgate publish"). The gate denies From and Reply-To addresses
    outside them.
    """
    _validate_then_publish(ctx, file, dry_run, "sender-domains")
