"""Rows of input files become records, or problems naming file, line and field (never a value)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from streams.cli.publish import (
    MAX_REPORTED_PROBLEMS,
    InvalidInputFileError,
    iter_rows,
    validate_file,
)
from streams.core.clock import FrozenClock
from streams.core.errors import InputFileError, SendgateError
from streams.core.recipient import RecipientKeyer
from streams.core.records import SendRequest, UnsubscribeClick
from streams.edges.rows import (
    CLICK_ID_NAMESPACE,
    RowError,
    click_id_for,
    send_request_from_row,
    unsubscribe_from_row,
)

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
KEYER = RecipientKeyer(b"unit-test-secret-0123456789abcdef")
ADDRESS = "jo.private@example.com"
CSV_HEADER = "request_id,account_id,recipient,classification,from_address,subject,requested_at"


def _request_row(**overrides: Any) -> dict[str, Any]:
    row = {
        "request_id": "req-1",
        "account_id": "acct-1",
        "recipient": ADDRESS,
        "classification": "commercial",
        "from_address": "news@example.org",
        "subject": "Spring sale",
        "requested_at": "2025-02-28T09:30:00+01:00",
    }
    row.update(overrides)
    return row


def _click_row(**overrides: Any) -> dict[str, Any]:
    row = {
        "recipient": ADDRESS,
        "scope": "list",
        "account_id": "acct-1",
        "list_id": "weekly",
        "method": "one_click",
        "clicked_at": "2025-02-28T08:00:00Z",
    }
    row.update(overrides)
    return row


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def _problems(excinfo: pytest.ExceptionInfo[InvalidInputFileError]) -> list[tuple[int, str]]:
    return [(problem.line, problem.field) for problem in excinfo.value.problems]


# --- single rows ---------------------------------------------------------------------------------


def test_good_send_request_row_becomes_a_record() -> None:
    """A complete row validates; its time is kept, in UTC."""
    request = send_request_from_row(_request_row(), clock=FrozenClock(NOW))
    assert request.recipient == ADDRESS
    assert request.requested_at == datetime(2025, 2, 28, 8, 30, tzinfo=UTC)
    assert request.send_kind == "bulk"


def test_missing_requested_at_defaults_to_now() -> None:
    """No time means the time of publishing, from the injected clock."""
    row = _request_row()
    del row["requested_at"]
    assert send_request_from_row(row, clock=FrozenClock(NOW)).requested_at == NOW


def test_naive_time_is_refused_with_a_clear_reason() -> None:
    """A time without offset is ambiguous; the problem says how to write it."""
    with pytest.raises(RowError) as excinfo:
        send_request_from_row(_request_row(requested_at="2025-02-28T09:30:00"))
    assert excinfo.value.problems[0][0] == "requested_at"
    assert "UTC offset" in excinfo.value.problems[0][1]


def test_every_bad_field_of_a_row_is_reported_without_its_value() -> None:
    """Bad enum, bad pattern, unknown field and missing field all come back at once."""
    row = _request_row(classification="marketing", jurisdiction="uk", subjekt="typo")
    del row["account_id"]
    with pytest.raises(RowError) as excinfo:
        send_request_from_row(row)
    fields = {field for field, _ in excinfo.value.problems}
    assert fields == {"classification", "jurisdiction", "subjekt", "account_id"}
    assert ADDRESS not in str(excinfo.value)
    assert "marketing" not in str(excinfo.value)


def test_unsubscribe_row_carries_the_key_never_the_address() -> None:
    """The address becomes the recipient key and is not in the record anywhere."""
    click = unsubscribe_from_row(_click_row(), KEYER)
    assert click.recipient_key == KEYER.key(ADDRESS)
    assert ADDRESS not in json.dumps(click.model_dump(mode="json"))


def test_unsubscribe_with_invalid_address_is_refused_without_echo() -> None:
    """A suppression under a mistyped address would suppress nobody."""
    with pytest.raises(RowError) as excinfo:
        unsubscribe_from_row(_click_row(recipient=f"Jo <{ADDRESS}>"), KEYER)
    assert [field for field, _ in excinfo.value.problems] == ["recipient"]
    assert ADDRESS not in str(excinfo.value)


def test_unsubscribe_row_must_not_bring_its_own_key() -> None:
    """The key is computed from the address, so no sender can get it wrong."""
    row = _click_row(recipient_key=KEYER.key(ADDRESS))
    with pytest.raises(RowError) as excinfo:
        unsubscribe_from_row(row, KEYER)
    assert [field for field, _ in excinfo.value.problems] == ["recipient_key"]


def test_unsubscribe_scope_problem_is_reported_on_scope() -> None:
    """A list unsubscribe without its list names the scope field."""
    with pytest.raises(RowError) as excinfo:
        unsubscribe_from_row(_click_row(list_id=None), KEYER)
    assert [field for field, _ in excinfo.value.problems] == ["scope"]


# --- the derived click id ------------------------------------------------------------------------


def test_click_id_is_deterministic_for_the_same_row() -> None:
    """Publishing the same row twice yields the same click, so it is applied once."""
    first = unsubscribe_from_row(_click_row(), KEYER)
    again = unsubscribe_from_row(_click_row(recipient=" JO.Private@EXAMPLE.com "), KEYER)
    assert first.click_id == again.click_id == click_id_for(first)


def test_click_id_is_pinned() -> None:
    """The derivation never changes, or a re-published file would be applied again."""
    click = UnsubscribeClick(
        click_id="x",
        recipient_key="0" * 64,
        scope="list",
        account_id="acct-1",
        list_id="weekly",
        method="one_click",
        clicked_at=datetime(2025, 2, 28, 8, 0, tzinfo=UTC),
    )
    name = "\x1f".join(
        ["list", "acct-1", "weekly", "0" * 64, "one_click", "unsubscribe", "1740729600000"]
    )
    assert click_id_for(click) == str(uuid.uuid5(CLICK_ID_NAMESPACE, name))
    assert click_id_for(click) == "07bcab3f-4e8d-5ac9-8bd0-c069372eea06"


@pytest.mark.parametrize(
    "change",
    [
        {"clicked_at": "2025-02-28T08:00:00.001Z"},
        {"scope": "account", "list_id": None},
        {"method": "link"},
        {"reason": "complaint"},
        {"recipient": "someone.else@example.com"},
    ],
)
def test_click_id_differs_when_the_click_differs(change: dict[str, Any]) -> None:
    """Any difference in content is a different click."""
    base = unsubscribe_from_row(_click_row(), KEYER)
    assert unsubscribe_from_row(_click_row(**change), KEYER).click_id != base.click_id


def test_given_click_id_is_kept() -> None:
    """A sender that has its own click ids keeps them."""
    assert unsubscribe_from_row(_click_row(click_id="esp-42"), KEYER).click_id == "esp-42"


def test_click_without_time_is_stamped_now() -> None:
    """No clicked_at means now; the id then follows that time."""
    row = _click_row()
    del row["clicked_at"]
    click = unsubscribe_from_row(row, KEYER, clock=FrozenClock(NOW))
    assert click.clicked_at == NOW
    assert click.click_id == click_id_for(click)


# --- files ---------------------------------------------------------------------------------------


def test_jsonl_file_validates_and_skips_blank_lines(tmp_path: Path) -> None:
    """Line numbers are the editor's: blank lines count but yield nothing."""
    path = tmp_path / "requests.jsonl"
    path.write_text(
        json.dumps(_request_row()) + "\n\n" + json.dumps(_request_row(request_id="req-2")) + "\n"
    )
    assert [line for line, _ in iter_rows(path)] == [1, 3]
    records = validate_file(path, "send-requests")
    assert [record.request_id for record in records] == ["req-1", "req-2"]
    assert all(isinstance(record, SendRequest) for record in records)


def test_csv_file_validates_with_empty_cells_as_absent(tmp_path: Path) -> None:
    """Empty CSV cells mean "not given"; booleans and a BOM are understood."""
    path = tmp_path / "requests.csv"
    path.write_text(
        "\ufeff" + CSV_HEADER + ",list_id,honor_list_opt_outs\n"
        f"req-1,acct-1,{ADDRESS},transactional,news@example.org,Receipt,,,true\n",
        encoding="utf-8",
    )
    (request,) = validate_file(path, "send-requests", clock=FrozenClock(NOW))
    assert request.list_id is None
    assert request.requested_at == NOW
    assert request.honor_list_opt_outs is True


def test_csv_line_numbers_follow_multiline_cells(tmp_path: Path) -> None:
    """A quoted cell spanning lines does not shift the numbers of later rows."""
    path = tmp_path / "requests.csv"
    path.write_text(
        CSV_HEADER + "\n"
        f'req-1,acct-1,{ADDRESS},commercial,news@example.org,"two\nlines",2025-02-28T09:00:00Z\n'
        "\n"
        f"req-2,acct-1,{ADDRESS},commercial,news@example.org,Hi,2025-02-28T09:00:00\n"
    )
    with pytest.raises(InvalidInputFileError) as excinfo:
        validate_file(path, "send-requests")
    assert _problems(excinfo) == [(5, "requested_at")]


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_bad_rows_name_file_line_and_field_but_not_the_address(tmp_path: Path, suffix: str) -> None:
    """Each problem is located; the error never shows the address."""
    rows = [
        _request_row(request_id="ok"),
        _request_row(request_id="naive", requested_at="2025-02-28T09:30:00"),
        _request_row(request_id="enum", classification="marketing"),
        _request_row(request_id="ok"),
    ]
    path = tmp_path / f"requests{suffix}"
    if suffix == ".jsonl":
        _write_jsonl(path, rows)
        first_data_line = 1
    else:
        lines = [",".join(str(row[name]) for name in CSV_HEADER.split(",")) for row in rows]
        path.write_text("\n".join([CSV_HEADER, *lines]) + "\n")
        first_data_line = 2
    with pytest.raises(InvalidInputFileError) as excinfo:
        validate_file(path, "send-requests")
    assert _problems(excinfo) == [
        (first_data_line + 1, "requested_at"),
        (first_data_line + 2, "classification"),
        (first_data_line + 3, "request_id"),
    ]
    message = str(excinfo.value)
    assert f"{path}:{first_data_line + 1}: field 'requested_at'" in message
    assert ADDRESS not in message
    assert excinfo.value.line == first_data_line + 1  # the first problem, as InputFileError


def test_problems_are_collected_up_to_the_limit(tmp_path: Path) -> None:
    """Thirty bad rows report the first twenty and say there are more."""
    rows = [_request_row(request_id=f"r{n}", classification="bad") for n in range(30)]
    path = _write_jsonl(tmp_path / "requests.jsonl", rows)
    with pytest.raises(InvalidInputFileError) as excinfo:
        validate_file(path, "send-requests")
    assert len(excinfo.value.problems) == MAX_REPORTED_PROBLEMS
    assert excinfo.value.stopped_early
    assert f"{MAX_REPORTED_PROBLEMS}+ problem(s)" in str(excinfo.value)


def test_broken_json_line_ends_reading_and_keeps_earlier_problems(tmp_path: Path) -> None:
    """A line that is not JSON is reported with its number, after the rows before it."""
    path = tmp_path / "requests.jsonl"
    path.write_text(
        json.dumps(_request_row(subject=None)) + "\n" + '{"request_id": "r2", \n' + "[1, 2]\n"
    )
    with pytest.raises(InvalidInputFileError) as excinfo:
        validate_file(path, "send-requests")
    assert _problems(excinfo) == [(1, "subject"), (2, "(row)")]


def test_csv_row_with_wrong_cell_count_is_reported(tmp_path: Path) -> None:
    """A row that does not match the header cannot be read field by field."""
    path = tmp_path / "requests.csv"
    path.write_text(CSV_HEADER + "\nreq-1,acct-1\n")
    with pytest.raises(InvalidInputFileError) as excinfo:
        validate_file(path, "send-requests")
    assert _problems(excinfo) == [(2, "(row)")]
    assert "2 cells" in str(excinfo.value)


def test_unsubscribe_file_validates_and_hides_addresses(tmp_path: Path) -> None:
    """An unsubscribes file yields clicks keyed by hash; a bad address is refused unseen."""
    path = _write_jsonl(
        tmp_path / "clicks.jsonl",
        [_click_row(), _click_row(recipient="not-an-address.example.com")],
    )
    with pytest.raises(InvalidInputFileError) as excinfo:
        validate_file(path, "unsubscribes", keyer=KEYER)
    assert _problems(excinfo) == [(2, "recipient")]
    assert "not-an-address" not in str(excinfo.value)
    path = _write_jsonl(tmp_path / "clicks.jsonl", [_click_row()])
    (click,) = validate_file(path, "unsubscribes", keyer=KEYER)
    assert click.recipient_key == KEYER.key(ADDRESS)


def test_unsupported_file_type_is_refused(tmp_path: Path) -> None:
    """Only .jsonl and .csv are read."""
    path = tmp_path / "requests.xlsx"
    path.write_bytes(b"PK")
    with pytest.raises(SendgateError, match="unsupported file type"):
        validate_file(path, "send-requests")


def test_invalid_input_file_error_is_an_input_file_error(tmp_path: Path) -> None:
    """Callers that catch InputFileError catch the collected form too."""
    path = _write_jsonl(tmp_path / "requests.jsonl", [_request_row(subject=None)])
    with pytest.raises(InputFileError) as excinfo:
        validate_file(path, "send-requests")
    assert (excinfo.value.file, excinfo.value.line, excinfo.value.field) == (
        str(path),
        1,
        "subject",
    )


def test_non_utf8_byte_is_reported_on_its_line(tmp_path: Path) -> None:
    """A Latin-1 export is refused at the line holding the first bad byte."""
    path = tmp_path / "requests.jsonl"
    good = json.dumps(_request_row()).encode()
    bad = json.dumps(_request_row(request_id="r2", subject="Caf\u00e9"), ensure_ascii=False)
    path.write_bytes(b"\r\n".join([good, good.replace(b"req-1", b"req-3"), bad.encode("latin-1")]))
    with pytest.raises(InvalidInputFileError) as excinfo:
        validate_file(path, "send-requests")
    assert _problems(excinfo) == [(3, "(row)")]
    assert "UTF-8" in str(excinfo.value)


def test_consent_file_from_csv_keys_the_address_and_reads_lists(tmp_path: Path) -> None:
    """A sign-up export as CSV: lists separated by ';', the address replaced by its key, and a
    derived event id that is the same when the same file is published again."""
    path = tmp_path / "consents.csv"
    path.write_text(
        "recipient,kind,account_id,lists,basis,requires_confirmation,jurisdiction,source_kind,"
        "occurred_at\n"
        f"{ADDRESS},grant,acct-1,news; deals,express,yes,CA,form,2025-03-01T10:00:00+00:00\n"
    )
    (event,) = validate_file(path, "consents", keyer=KEYER)
    assert event.recipient_key == KEYER.key(ADDRESS)
    assert event.lists == ("news", "deals")
    assert event.requires_confirmation is True
    assert event.occurred_at == datetime(2025, 3, 1, 10, 0, tzinfo=UTC)
    (again,) = validate_file(path, "consents", keyer=KEYER)
    assert again.event_id == event.event_id
    assert ADDRESS not in event.model_dump_json()


def test_consent_file_problems_name_line_and_field(tmp_path: Path) -> None:
    """A grant without a basis, a country that does not exist, a bad address: each reported."""
    rows = [
        {"recipient": ADDRESS, "kind": "grant", "account_id": "a", "source_kind": "form"},
        {
            "recipient": ADDRESS,
            "kind": "withdraw",
            "account_id": "a",
            "source_kind": "form",
            "jurisdiction": "UK",
        },
        {
            "recipient": "nobody.example.com",
            "kind": "withdraw",
            "account_id": "a",
            "source_kind": "form",
        },
    ]
    path = _write_jsonl(tmp_path / "consents.jsonl", rows)
    with pytest.raises(InvalidInputFileError) as excinfo:
        validate_file(path, "consents", keyer=KEYER)
    assert _problems(excinfo) == [(1, "kind"), (2, "jurisdiction"), (3, "recipient")]
    assert "nobody.example.com" not in str(excinfo.value)


# --- found by fuzzing ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("[" * 100_000, "not JSON: nested too deeply"),
        ('{"request_id": ' + "9" * 5000 + "}", "not JSON: a number too long"),
    ],
    ids=["deep-nesting", "huge-number"],
)
def test_json_the_reader_cannot_take_is_a_problem_of_its_line(
    tmp_path: Path, line: str, problem: str
) -> None:
    """These escaped as RecursionError and ValueError tracebacks before."""
    path = tmp_path / "requests.jsonl"
    path.write_text(json.dumps(_request_row()) + "\n" + line + "\n", encoding="utf-8")
    with pytest.raises(InvalidInputFileError) as excinfo:
        validate_file(path, "send-requests")
    assert [(p.line, p.field, p.problem) for p in excinfo.value.problems] == [(2, "(row)", problem)]


@pytest.mark.parametrize("moment", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_a_time_out_of_range_once_in_utc_is_a_problem_of_its_field(
    tmp_path: Path, moment: str
) -> None:
    """An OverflowError from the conversion to UTC escaped pydantic as a traceback before."""
    path = _write_jsonl(tmp_path / "requests.jsonl", [_request_row(requested_at=moment)])
    with pytest.raises(InvalidInputFileError) as excinfo:
        validate_file(path, "send-requests")
    assert [(p.line, p.field) for p in excinfo.value.problems] == [(1, "requested_at")]
    assert "out of range" in excinfo.value.problems[0].problem
