"""Subject access on a SQLite ledger filled by the ledger's own writer: every section holds what
was written about the person and nothing about anyone else; the JSON document, the HTML page
and the terminal say it, with "not held" for what is not, and stored text escaped; the command
refuses bad input in one line."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from streams.cli import EXIT_SENDGATE_ERROR, app, main
from streams.cli.subject_access.document import SUBJECT_ACCESS_FORMAT, report_document
from streams.cli.subject_access.page import report_page
from streams.cli.subject_access.tables import print_report
from streams.core.errors import SendgateError
from streams.core.recipient import RecipientKeyer
from streams.core.records import (
    BounceChange,
    ErasedPlace,
    ErasureEvent,
    ErasureRequest,
    FeedbackReport,
    RuleFailure,
    SendDecision,
    SuppressionChange,
)
from streams.core.settings import Settings
from streams.edges.ledger import LedgerItem, LedgerWriter, make_engine, upgrade
from streams.edges.ledger.subject_access import (
    SubjectReport,
    build_erasure,
    read_subject,
)
from tests.support.factory import consent_event, feedback_report, suppression_entry

SECRET = "subject-access-unit-secret-0123456789"
ADDRESS = "Jo.Access@Example.com"
KEYER = RecipientKeyer(SECRET.encode())
KEY = KEYER.key(ADDRESS)
OTHER_KEY = KEYER.key("sam.other@example.org")
GROUP = "sendgate-ledger"
T0 = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
UNSUBSCRIBED = RuleFailure(
    rule="list-unsubscribed", law="CAN-SPAM", explanation="The recipient unsubscribed."
)
HOSTILE = "<script>alert('held')</script>"

event = partial(consent_event, recipient_key=KEY, lists=("news",), occurred_at=T0)


def decision(request_id: str, at: datetime, *, deny: bool = False, key: str = KEY) -> SendDecision:
    return SendDecision(
        request_id=request_id,
        account_id="acme",
        recipient_key=key,
        verdict="deny" if deny else "allow",
        failures=(UNSUBSCRIBED,) if deny else (),
        policy_version="2025.1+unit",
        decided_at=at,
        request_offset=f"send-requests/0/{request_id}",
    )


def bounce(event_id: str, at: datetime, key: str = KEY) -> BounceChange:
    return BounceChange(
        recipient_key=key,
        event_id=event_id,
        outcome="counted",
        consecutive_soft_before=0,
        consecutive_soft_after=1,
        policy="consecutive(4)",
        source=f"delivery-events/0/{event_id}",
        changed_at=at,
    )


def complaint(report_id: str, at: datetime, key: str = KEY) -> FeedbackReport:
    return feedback_report(
        report_id=report_id,
        recipient_key=key,
        list_id="news",
        original_message_id="<m-1@acme.example>",
        arrival_date=at - timedelta(hours=2),
        received_at=at,
    )


def story() -> list[LedgerItem]:
    """Jo signs up to acme's news (double opt-in, from Germany, IP and browser captured),
    confirms by link (nothing captured), buys from globex; acme mails Jo (allowed), Jo
    unsubscribes, acme tries again (refused); the gate decides both requests again after a
    restart, the first one differently; a message bounces once and Jo complains about one.
    Sam, someone else, has a row in every table too."""
    signup = event(
        event_id="evt-1",
        requires_confirmation=True,
        jurisdiction="DE",
        source_id="signup-form",
        wording_hash="c0" * 32,
        wording_version="news-v3",
        ip="192.0.2.44",
        user_agent="Mozilla/5.0 (X11; Linux x86_64)",
    )
    confirm = event(
        event_id="evt-2",
        kind="confirm",
        source_kind="confirmation_link",
        occurred_at=T0 + timedelta(minutes=10),
    )
    purchase = event(
        event_id="evt-3",
        account_id="globex",
        lists=(),
        basis="implied_purchase",
        source_kind="checkout",
        occurred_at=T0 + 2 * DAY,
    )
    unsubscribe = SuppressionChange(
        recipient_key=KEY,
        entry=suppression_entry(
            scope="list",
            account_id="acme",
            list_id="news",
            since=T0 + 30 * DAY,
            source="unsubscribe-clicks/0/7",
            source_event_id="click-7",
        ),
        outcome="added",
        changed_at=T0 + 30 * DAY,
    )
    sam = SuppressionChange(
        recipient_key=OTHER_KEY,
        entry=suppression_entry(
            scope="platform",
            account_id=None,
            list_id=None,
            since=T0,
            source="unsubscribe-clicks/0/8",
            source_event_id="click-sam",
        ),
        outcome="added",
        changed_at=T0,
    )
    return [
        LedgerItem("consent-events", 0, 0, signup),
        LedgerItem("consent-events", 0, 1, confirm),
        LedgerItem("consent-events", 0, 2, purchase),
        LedgerItem("consent-events", 1, 0, event(event_id="evt-sam", recipient_key=OTHER_KEY)),
        LedgerItem("suppression-changes", 0, 0, unsubscribe),
        LedgerItem("suppression-changes", 0, 1, sam),
        LedgerItem("send-decisions", 0, 0, decision("req-1", T0 + DAY)),
        LedgerItem("send-decisions", 0, 1, decision("req-2", T0 + 31 * DAY, deny=True)),
        LedgerItem("send-decisions", 0, 2, decision("req-1", T0 + 32 * DAY, deny=True)),
        LedgerItem("send-decisions", 0, 3, decision("req-2", T0 + 32 * DAY, deny=True)),
        LedgerItem("send-decisions", 1, 0, decision("req-sam", T0, key=OTHER_KEY)),
        LedgerItem("bounce-changes", 0, 0, bounce("delivery-1", T0 + 3 * DAY)),
        LedgerItem("bounce-changes", 1, 0, bounce("delivery-sam", T0, key=OTHER_KEY)),
        LedgerItem("feedback-reports", 0, 0, complaint("report-1", T0 + 4 * DAY)),
        LedgerItem("feedback-reports", 1, 0, complaint("report-sam", T0, key=OTHER_KEY)),
    ]


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'ledger.sqlite3'}"


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    upgrade(database_url)
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def report(engine: Engine) -> SubjectReport:
    LedgerWriter(engine).write_batch(GROUP, story())
    return read_subject(engine, KEY, now=NOW)


# --- the report -----------------------------------------------------------------------------------


def test_consents_carry_their_evidence_in_time_order_and_the_chain_verifies(
    report: SubjectReport,
) -> None:
    events = report.consent.events
    assert [e.event_id for e in events] == ["evt-1", "evt-2", "evt-3"]
    signup, confirm, purchase = events
    assert (signup.kind, signup.account_id, signup.lists) == ("grant", "acme", ("news",))
    assert (signup.basis, signup.jurisdiction, signup.requires_confirmation) == (
        "express",
        "DE",
        True,
    )
    assert (signup.source_kind, signup.source_id) == ("form", "signup-form")
    assert (signup.wording_version, signup.wording_hash) == ("news-v3", "c0" * 32)
    assert (signup.ip, signup.user_agent) == ("192.0.2.44", "Mozilla/5.0 (X11; Linux x86_64)")
    assert signup.occurred_at == T0
    assert (confirm.kind, confirm.source_kind, confirm.ip, confirm.user_agent) == (
        "confirm",
        "confirmation_link",
        None,
        None,
    )
    assert (purchase.account_id, purchase.lists, purchase.basis) == (
        "globex",
        (),
        "implied_purchase",
    )
    assert report.consent.chain.verified
    assert report.consent.chain.entries == 3


def test_suppressions_bounces_and_complaints_are_the_persons_only(report: SubjectReport) -> None:
    [unsubscribe] = report.suppressions
    assert (unsubscribe.scope, unsubscribe.account_id, unsubscribe.list_id) == (
        "list",
        "acme",
        "news",
    )
    assert (unsubscribe.reason, unsubscribe.outcome, unsubscribe.since) == (
        "unsubscribe",
        "added",
        T0 + 30 * DAY,
    )
    assert unsubscribe.source_event_id == "click-7"
    [bounced] = report.bounces
    assert (bounced.event_id, bounced.outcome, bounced.changed_at) == (
        "delivery-1",
        "counted",
        T0 + 3 * DAY,
    )
    assert (bounced.consecutive_soft_before, bounced.consecutive_soft_after) == (0, 1)
    [complained] = report.complaints
    assert (complained.report_id, complained.feedback_type, complained.reporter) == (
        "report-1",
        "abuse",
        "fbl.example.net",
    )
    assert (complained.received_at, complained.arrival_date) == (
        T0 + 4 * DAY,
        T0 + 4 * DAY - timedelta(hours=2),
    )
    assert complained.original_message_id == "<m-1@acme.example>"


def test_each_request_is_one_decision_with_its_repeats_under_it(report: SubjectReport) -> None:
    """Four decision records of two requests: two decisions, each with its later one; req-1's
    repeat came out differently (the unsubscribe happened in between), req-2's the same."""
    first, second = report.decisions
    assert (first.request_id, first.verdict, first.decided_at, first.failures) == (
        "req-1",
        "allow",
        T0 + DAY,
        (),
    )
    assert [(r.verdict, r.same_decision, r.decided_at) for r in first.repeats] == [
        ("deny", False, T0 + 32 * DAY)
    ]
    assert [r.rule for r in first.repeats[0].failures] == ["list-unsubscribed"]
    assert (second.request_id, second.verdict, second.account_id) == ("req-2", "deny", "acme")
    assert [(f.rule, f.law, f.explanation) for f in second.failures] == [
        ("list-unsubscribed", "CAN-SPAM", "The recipient unsubscribed.")
    ]
    assert [(r.verdict, r.same_decision) for r in second.repeats] == [("deny", True)]
    assert second.policy_version == "2025.1+unit"


def test_no_erasure_is_recorded_yet(report: SubjectReport) -> None:
    assert report.erasure.requests == ()
    assert report.erasure.status == "none_recorded"


def test_an_erasure_the_ledger_carried_out_is_in_the_report(engine: Engine) -> None:
    """The request (stored and carried out by the ledger) and a step read back from
    erasure-events, as they are written; another person's erasure stays out."""
    asked = T0 + timedelta(days=40)
    mine = ErasureRequest(
        request_id="dpo-1", recipient_key=KEY, requested_by="desk", requested_at=asked
    )
    theirs = mine.model_copy(update={"request_id": "dpo-2", "recipient_key": OTHER_KEY})
    kept = ErasedPlace(place="gate table suppressions", action="kept", count=1, done_by=asked)
    step = ErasureEvent(
        event_id="dpo-1/suppressed",
        request_id="dpo-1",
        recipient_key=KEY,
        kind="suppressed",
        places=(kept,),
        at=asked,
    )
    writer = LedgerWriter(engine)
    writer.write_batch(GROUP, story())
    writer.write_batch(
        GROUP,
        [
            LedgerItem("erasure-requests", 0, 0, mine),
            LedgerItem("erasure-requests", 0, 1, theirs),
            LedgerItem("erasure-events", 0, 0, step),
        ],
        on_erasures=lambda steps: None,
    )
    [request] = read_subject(engine, KEY, now=NOW).erasure.requests
    assert (request.request_id, request.requested_at, request.requested_by) == (
        "dpo-1",
        asked,
        "desk",
    )
    [suppressed] = request.steps
    assert (suppressed.kind, suppressed.at) == ("suppressed", asked)
    assert [(p.place, p.action, p.count) for p in suppressed.places] == [
        ("gate table suppressions", "kept", 1)
    ]


def test_an_edited_consent_row_shows_in_the_report(engine: Engine) -> None:
    LedgerWriter(engine).write_batch(GROUP, story())
    with engine.begin() as connection:
        connection.execute(text("UPDATE consent_events SET ip = NULL WHERE event_id = 'evt-1'"))

    chain = read_subject(engine, KEY, now=NOW).consent.chain

    assert (chain.verified, chain.first_bad_seq, chain.problem) == (False, 1, "edited")


def test_a_person_the_ledger_never_heard_of_gets_an_empty_report(engine: Engine) -> None:
    LedgerWriter(engine).write_batch(GROUP, story())
    report = read_subject(engine, KEYER.key("nobody@example.net"), now=NOW)
    assert report.empty
    assert "hold nothing about this address" in report_page(report, "nobody@example.net")


def test_erasure_rows_fold_into_requests_and_steps() -> None:
    """The section the erasure reader will fill: steps under their request, in time order, a
    request completed once a `completed` step is recorded, a step of no request left out."""
    requests = [{"request_id": "er-1", "requested_at": T0, "requested_by": "privacy-desk"}]
    place = {"place": "ledger", "action": "redacted", "count": 3, "done_by": "2025-01-07T00:00Z"}
    steps = [
        {"request_id": "er-1", "kind": "completed", "at": T0 + 2 * DAY, "places": [place]},
        {"request_id": "er-1", "kind": "suppressed", "at": T0, "places": []},
        {"request_id": "er-other", "kind": "suppressed", "at": T0, "places": []},
    ]
    section = build_erasure(requests, steps)
    [request] = section.requests
    assert [step.kind for step in request.steps] == ["suppressed", "completed"]
    assert request.steps[1].places[0].done_by == datetime(2025, 1, 7, tzinfo=UTC)
    assert request.completed and section.status == "completed"
    assert build_erasure(requests, steps[1:2]).status == "requested"


# --- renderings -----------------------------------------------------------------------------------


def test_json_is_versioned_with_iso_utc_times_and_null_for_what_is_not_held(
    report: SubjectReport,
) -> None:
    document = json.loads(json.dumps(report_document(report, ADDRESS)))
    assert list(document) == [
        "format",
        "generated_at",
        "address",
        "recipient_key",
        "consents",
        "suppressions",
        "decisions",
        "bounces",
        "complaints",
        "erasure",
    ]
    assert document["format"] == SUBJECT_ACCESS_FORMAT
    assert document["generated_at"] == "2025-06-01T12:00:00.000Z"
    assert (document["address"], document["recipient_key"]) == (ADDRESS, KEY)
    signup, confirm, _ = document["consents"]["events"]
    assert signup["occurred_at"] == "2025-01-06T09:00:00.000Z"
    assert (signup["ip"], signup["lists"]) == ("192.0.2.44", ["news"])
    assert (confirm["ip"], confirm["user_agent"]) == (None, None)
    assert document["consents"]["chain"]["verified"] is True
    assert document["suppressions"][0]["since"] == "2025-02-05T09:00:00.000Z"
    first = document["decisions"][0]
    assert (first["request_id"], first["verdict"]) == ("req-1", "allow")
    assert first["repeats"][0]["failures"][0]["rule"] == "list-unsubscribed"
    assert document["bounces"][0]["event_id"] == "delivery-1"
    assert document["complaints"][0]["report_id"] == "report-1"
    assert document["erasure"] == {"status": "none_recorded", "requests": []}


def test_the_page_names_every_section_and_says_not_held(report: SubjectReport) -> None:
    page = report_page(report, ADDRESS)
    for title in (
        "Consents (3)",
        "Requests to stop mail (1)",
        "Decisions about mail to you (2)",
        "Delivery failures (bounces) (1)",
        "Complaints and other feedback (1)",
        "Erasure (0)",
        "No erasure request is recorded.",
    ):
        assert title in page
    for value in ("192.0.2.44", "signup-form", "news-v3", "click-7", "delivery-1", "report-1"):
        assert value in page
    confirm_row = next(line for line in page.splitlines() if "confirmation_link" in line)
    assert confirm_row.count("not held") >= 2  # IP address and browser
    assert "None" not in page
    assert "list-unsubscribed (CAN-SPAM): The recipient unsubscribed." in page


def test_stored_text_is_escaped_in_the_page(engine: Engine) -> None:
    hostile = event(
        event_id="evt-x", user_agent=HOSTILE, wording_version='v1" onmouseover="x', ip=None
    )
    LedgerWriter(engine).write_batch(GROUP, [LedgerItem("consent-events", 0, 0, hostile)])
    page = report_page(read_subject(engine, KEY, now=NOW), f"jo{HOSTILE}@example.com")

    assert "<script>" not in page
    assert "&lt;script&gt;alert(&#x27;held&#x27;)&lt;/script&gt;" in page
    assert 'v1" onmouseover' not in page
    assert "v1&quot; onmouseover=&quot;x" in page


def test_the_terminal_shows_every_section_and_markup_as_text(engine: Engine) -> None:
    from io import StringIO

    from rich.console import Console

    bold = event(event_id="evt-b", user_agent="[bold red]agent[/]")
    LedgerWriter(engine).write_batch(GROUP, [*story(), LedgerItem("consent-events", 0, 9, bold)])
    out = StringIO()
    print_report(read_subject(engine, KEY, now=NOW), ADDRESS, Console(file=out, width=250))
    shown = out.getvalue()

    for title in ("Consents (4)", "Requests to stop mail (1)", "Erasure (0)", "not held"):
        assert title in shown
    assert "[bold red]agent[/]" in shown


# --- the command ----------------------------------------------------------------------------------


def settings_for(database_url: str) -> Settings:
    return Settings(
        kafka_bootstrap_servers="127.0.0.1:1",
        recipient_key_secret=SecretStr(SECRET),
        database_url=SecretStr(database_url),
    )


def invoke(database_url: str, *args: str) -> Any:
    return CliRunner().invoke(
        app, ["subject-access", *args], obj=settings_for(database_url), env={"COLUMNS": "250"}
    )


def test_cli_keys_the_address_as_given_and_prints_tables(engine: Engine, database_url: str) -> None:
    """The address in another case still finds Jo's records (it is normalised as the producer
    normalises it)."""
    LedgerWriter(engine).write_batch(GROUP, story())
    result = invoke(database_url, "  jo.access@EXAMPLE.com ")
    assert result.exit_code == 0, result.output
    for text_ in ("Consents (3)", "192.0.2.44", "req-2", "refused", "delivery-1", "report-1"):
        assert text_ in result.output
    for others in ("evt-sam", "click-sam", "req-sam", "delivery-sam", "report-sam"):
        assert others not in result.output


def test_cli_json_on_stdout(engine: Engine, database_url: str) -> None:
    LedgerWriter(engine).write_batch(GROUP, story())
    result = invoke(database_url, ADDRESS, "--format", "JSON")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["recipient_key"] == KEY
    assert [e["event_id"] for e in document["consents"]["events"]] == ["evt-1", "evt-2", "evt-3"]


def test_cli_writes_the_page_for_its_owner_only_and_never_over_a_file(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    LedgerWriter(engine).write_batch(GROUP, story())
    target = tmp_path / "jo.html"

    written = invoke(database_url, ADDRESS, "--output", str(target))
    again = invoke(database_url, ADDRESS, "--output", str(target))

    assert written.exit_code == 0, written.output
    assert "<h2" in target.read_text(encoding="utf-8")
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    assert isinstance(again.exception, SendgateError)
    assert "exists already" in str(again.exception) and "--force" in str(again.exception)
    target.write_text("kept", encoding="utf-8")
    assert invoke(database_url, ADDRESS, "--output", str(target)).exit_code != 0
    assert target.read_text(encoding="utf-8") == "kept"

    forced = invoke(database_url, ADDRESS, "--output", str(target), "--format", "json", "--force")
    assert forced.exit_code == 0, forced.output
    assert json.loads(target.read_text(encoding="utf-8"))["format"] == SUBJECT_ACCESS_FORMAT


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["not-an-address"], "ADDRESS is not a valid email address"),
        (["jo@@example.com"], "ADDRESS is not a valid email address"),
        ([ADDRESS, "--format", "xml"], "--format 'xml' is not one of json, html"),
        ([ADDRESS, "--output", "report.txt"], "add --format json or --format html"),
        ([ADDRESS, "--output", "/nonexistent-folder/jo.html"], "its folder does not exist"),
        ([], "Missing argument"),
    ],
)
def test_cli_refuses_bad_input_in_one_line(
    args: list[str],
    message: str,
    engine: Engine,
    database_url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Exit 2, the problem named, no traceback; the address never in the message."""
    monkeypatch.setenv("COLUMNS", "250")
    monkeypatch.setenv("SENDGATE_RECIPIENT_KEY_SECRET", SECRET)
    monkeypatch.setenv("SENDGATE_DATABASE_URL", database_url)
    with pytest.raises(SystemExit) as excinfo:
        main(["subject-access", *args])
    captured = capsys.readouterr()
    output = captured.out + captured.err

    assert excinfo.value.code == EXIT_SENDGATE_ERROR
    assert message in output
    assert "Traceback" not in output
    assert "not-an-address" not in output


def test_cli_on_an_unmigrated_ledger_says_what_to_run(tmp_path: Path) -> None:
    result = invoke(f"sqlite:///{tmp_path / 'unmigrated.sqlite3'}", ADDRESS)
    assert isinstance(result.exception, SendgateError)
    assert "sendgate ledger migrate" in str(result.exception)
