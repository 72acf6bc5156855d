"""`sendgate accounts`: help everywhere, bad input refused before any I/O, an unreachable broker
as one clear line, and the status view's numbers, tables and JSON from known table values."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

import streams.cli.accounts
from streams.cli import EXIT_SENDGATE_ERROR, app, main
from streams.cli.accounts import ChangelogRead
from streams.core.errors import ServiceUnavailableError
from streams.core.settings import Settings, get_settings
from streams.edges.ledger import LedgerItem, LedgerWriter, make_engine, upgrade
from streams.policy import Policy, load_policy
from streams.reputation.account_report import (
    account_status,
    is_account_key,
    latest_values,
    parse_rates_key,
    percent,
)
from streams.reputation.breaches import Breach
from streams.reputation.events import enforcement_events
from streams.reputation.misuse import apply_misuse
from streams.reputation.policy import StrikePolicy
from streams.reputation.rate_inputs import RateEvent, rate_event_key
from streams.reputation.rates import RateBucket, RateState, Window
from streams.reputation.reinstatement import reinstate
from streams.reputation.standing import EnforcementEvent, MisuseReport, misuse_report_id
from streams.reputation.strikes import AccountStanding, apply_breach, breach_id

AT = datetime(2025, 5, 14, 12, 0, tzinfo=UTC)
WINDOW_START = datetime(2025, 5, 8, tzinfo=UTC)
"""The default policy's rolling window at AT: seven daily buckets ending with May 14."""
ACCOUNT = "acct-1"


def unused_port() -> int:
    """A port nothing listens on (bound once by the OS, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def offline_settings(tmp_path: Path) -> Settings:
    return Settings(
        kafka_bootstrap_servers=f"127.0.0.1:{unused_port()}",
        topic_prefix="accounts-unit-",
        database_url=SecretStr(f"sqlite:///{tmp_path / 'ledger.sqlite3'}"),
    )


def run_main(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as excinfo:
        main(args)
    captured = capsys.readouterr()
    code = excinfo.value.code
    return (code if isinstance(code, int) else 0), captured.out + captured.err


@pytest.fixture
def offline_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """`main()` reads the process settings: point them at a port nothing listens on."""
    monkeypatch.setenv("SENDGATE_KAFKA_BOOTSTRAP_SERVERS", f"127.0.0.1:{unused_port()}")
    monkeypatch.setenv("SENDGATE_TOPIC_PREFIX", "accounts-unit-")
    monkeypatch.setenv("SENDGATE_DATABASE_URL", f"sqlite:///{tmp_path / 'ledger.sqlite3'}")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


# --- help and usage errors ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", [("accounts",), ("accounts", "status"), ("accounts", "reinstate")], ids=" ".join
)
def test_help(path: tuple[str, ...]) -> None:
    """Every accounts command explains itself."""
    result = CliRunner().invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["reinstate", ACCOUNT, "--by", "ops"], "--reason"),
        (["reinstate", ACCOUNT, "--reason", "passed the test"], "--by"),
        (["reinstate", "--reason", "passed the test", "--by", "ops"], "ACCOUNT"),
        (["reinstate", ACCOUNT, "--reason", "   ", "--by", "ops"], "must not be empty"),
        (["reinstate", ACCOUNT, "--reason", "ok", "--by", ""], "must not be empty"),
        (["reinstate", ACCOUNT, "--reason", "ok", "--by", "ops", "--id", " "], "must not be empty"),
        (["reinstate", ACCOUNT, "--reason", "x" * 2001, "--by", "ops"], "at most 2000"),
        (["reinstate", "a" * 201, "--reason", "ok", "--by", "ops"], "at most 200"),
        (["reinstate", ACCOUNT, "--reason", "ok", "--by", "ops", "--timeout", "0"], "--timeout"),
        (["status"], "ACCOUNT"),
        (["status", ACCOUNT, "--at", "yesterday"], "not an ISO-8601 time"),
        (["status", ACCOUNT, "--at", "2025-05-14T12:00:00"], "has no time zone"),
        (["status", ACCOUNT, "--events", "-1"], "--events"),
        (["status", " "], "must not be empty"),
        (["status", ACCOUNT, "--database-url", "not a url", "--at", "2025-05-14T12:00Z"], "URL"),
    ],
)
def test_bad_arguments_are_usage_errors(
    args: list[str], expected: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Refused with exit 2 and a message naming the problem, before any broker is asked (none
    listens at the settings' address)."""
    monkeypatch.setenv("COLUMNS", "400")  # typer's error box would cut a long message
    result = CliRunner().invoke(app, ["accounts", *args], obj=offline_settings(tmp_path))
    assert result.exit_code == 2, result.output
    assert expected in result.output
    assert "Traceback" not in result.output
    assert not isinstance(result.exception, ServiceUnavailableError)


# --- an unreachable broker ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["accounts", "reinstate", ACCOUNT, "--reason", "passed", "--by", "ops", "--timeout", "3"],
        ["accounts", "status", ACCOUNT, "--no-ledger", "--timeout", "3"],
    ],
    ids=["reinstate", "status"],
)
def test_unreachable_broker_is_one_clear_line(
    args: list[str], capsys: pytest.CaptureFixture[str], offline_environment: None
) -> None:
    """Exit 2, where the broker was expected and how to start it; no traceback."""
    code, output = run_main(args, capsys)
    assert code == EXIT_SENDGATE_ERROR
    assert "is not reachable" in output
    assert "scripts/services start" in output
    assert "Traceback" not in output


def test_unreachable_broker_is_a_sendgate_error(tmp_path: Path) -> None:
    """Through the CLI runner too: our retriable error, which `main()` prints as one line."""
    result = CliRunner().invoke(
        app,
        ["accounts", "reinstate", ACCOUNT, "--reason", "ok", "--by", "ops", "--timeout", "2"],
        obj=offline_settings(tmp_path),
    )
    assert isinstance(result.exception, ServiceUnavailableError)
    assert result.exit_code != 0


# --- the pure helpers -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("account", "provider"),
    [("acct-1", "google"), ("acct-1", None), ("a|b%c", "odd|*name"), ("a", "*"), ("ü-1", "web")],
)
def test_rates_keys_parse_back_to_what_the_writer_keyed(account: str, provider: str | None) -> None:
    """`parse_rates_key` inverts `rate_event_key`, escapes and the account-wide `*` included."""
    event = RateEvent(
        event_id="e1", account_id=account, provider=provider, kind="delivered", occurred_at=AT
    )
    assert parse_rates_key(rate_event_key(event)) == (account, provider)


@pytest.mark.parametrize("key", [b"no-separator", b"a|b|c", b"|google", b"acct|", b"\xff|x"])
def test_foreign_rates_keys_are_not_parsed(key: bytes) -> None:
    assert parse_rates_key(key) is None


@pytest.mark.parametrize(
    ("key", "rates", "expected"),
    [
        (b"acct-1|google", True, True),
        (b"acct-1|*", True, True),
        (b"acct-10|google", True, False),
        (b"acct-1", True, False),
        (b"acct-1", False, True),
        (b"acct-1|google", False, False),
        (None, True, False),
        (None, False, False),
    ],
)
def test_an_accounts_keys_are_told_from_the_others(
    key: bytes | None, rates: bool, expected: bool
) -> None:
    """Its rates keys by the account part (a longer id is another account), its standing by the
    whole key; a record without a key is no one's."""
    assert is_account_key(ACCOUNT, key, rates=rates) is expected


def test_latest_value_wins_and_a_tombstone_deletes() -> None:
    entries = [(b"a", b"1"), (b"b", b"1"), (b"a", b"2"), (b"b", None), (None, b"x"), (b"c", None)]
    assert latest_values(entries) == {b"a": b"2"}
    assert latest_values([*entries, (b"b", b"3")]) == {b"a": b"2", b"b": b"3"}


def day(n: int) -> datetime:
    return WINDOW_START + timedelta(days=n)


def state(*buckets: tuple[int, int, int, int]) -> RateState:
    """Buckets as (day in the window, delivered, hard bounced, complained)."""
    return RateState(
        buckets=tuple(
            RateBucket(start=day(n), delivered=d, hard_bounced=h, complained=c)
            for n, d, h, c in buckets
        )
    )


RATE_STATES: dict[str | None, RateState] = {
    # 1,500 delivered and 3 complaints in the window; the bucket 10 days before is outside it.
    "google": state((-10, 900, 0, 9), (1, 700, 4, 1), (5, 800, 6, 2)),
    # 400 delivered, 20 hard bounces, 1 complaint: too few delivered to judge complaints.
    "microsoft": state((2, 400, 20, 1)),
    # The account-wide count: 1,900 delivered, 30 hard bounces, 4 complaints.
    None: state((-10, 900, 0, 9), (1, 700, 4, 1), (2, 400, 20, 1), (5, 800, 6, 2)),
}


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy()


def test_status_numbers_are_the_window_totals(policy: Policy) -> None:
    """Totals of the rolling window only; rates as exact fractions; lines judged at their scope
    and volume (google's 3 of 1,500 = 0.2% is over the 0.1% line; microsoft's 1 of 400 is not
    judged; bounces are judged account-wide: 30 of 1,930 = 1.55%, under 7%)."""
    view = account_status(ACCOUNT, rate_states=RATE_STATES, standing=None, at=AT, policy=policy)
    google, microsoft = view.providers
    assert view.window == Window(start=WINDOW_START, end=WINDOW_START + timedelta(days=7))
    assert (google.provider, google.snapshot.delivered, google.snapshot.complained) == (
        "google",
        1500,
        3,
    )
    assert google.snapshot.complaint_rate == Fraction(3, 1500)
    assert percent(google.snapshot.complaint_rate) == "0.2%"
    assert google.snapshot.complaint_volume_enough
    assert [(b.kind, b.level, b.count, b.volume) for b in google.breaches] == [
        ("complaint", "strike", 3, 1500)
    ]
    assert not microsoft.snapshot.complaint_volume_enough
    assert microsoft.breaches == ()
    assert percent(microsoft.snapshot.bounce_rate) == "4.76%"  # 20 of 420 attempted
    wide = view.account_wide.snapshot
    assert (wide.delivered, wide.hard_bounced, wide.complained) == (1900, 30, 4)
    assert wide.bounce_rate == Fraction(30, 1930)
    assert percent(wide.bounce_rate) == "1.55%"
    assert view.account_wide.breaches == ()
    assert view.status == "active"
    assert view.known


def test_an_unknown_account_is_shown_as_such(policy: Policy) -> None:
    view = account_status(ACCOUNT, rate_states={}, standing=None, at=AT, policy=policy)
    assert not view.known
    assert view.providers == ()
    assert view.account_wide.snapshot.delivered == 0
    assert percent(view.account_wide.snapshot.complaint_rate) == "n/a"


# --- the command, with the tables read by a stand-in ----------------------------------------------


def standing_and_events() -> tuple[AccountStanding, list[EnforcementEvent]]:
    """Strike 1 for google's week, then a reinstatement."""
    breach = Breach(
        kind="complaint",
        level="strike",
        provider="google",
        window=Window(start=WINDOW_START - timedelta(days=7), end=WINDOW_START),
        count=3,
        volume=1500,
        line=Decimal("0.001"),
    )
    struck = apply_breach(
        AccountStanding(account_id=ACCOUNT),
        breach,
        breach_id=breach_id(ACCOUNT, breach),
        now=WINDOW_START + timedelta(days=2),
        policy=StrikePolicy(),
    )
    reinstated = reinstate(
        struck.standing,
        reinstatement_id="r-1",
        by="ops.lead",
        reason="passed the best-practice test",
        now=WINDOW_START + timedelta(days=3),
    )
    assert reinstated.action is not None
    events = [
        *enforcement_events(struck.actions, standing_after=struck.standing, policy_version="p"),
        *enforcement_events(
            (reinstated.action,), standing_after=reinstated.standing, policy_version="p"
        ),
    ]
    return reinstated.standing, events


@pytest.fixture
def known_tables(monkeypatch: pytest.MonkeyPatch) -> AccountStanding:
    standing, _ = standing_and_events()

    async def read(settings: Settings, account: str, **kwargs: object) -> ChangelogRead:
        assert account == ACCOUNT
        return ChangelogRead(dict(RATE_STATES), standing, records_read=42)

    monkeypatch.setattr(streams.cli.accounts, "read_account_tables", read)
    return standing


def ledger_with_events(tmp_path: Path) -> Settings:
    settings = offline_settings(tmp_path)
    url = settings.database_url.get_secret_value()
    upgrade(url)
    engine = make_engine(url)
    try:
        _, events = standing_and_events()
        items = [LedgerItem("enforcement-events", 0, n, event) for n, event in enumerate(events)]
        assert LedgerWriter(engine).write_batch("group", items) == 3
    finally:
        engine.dispose()
    return settings


def test_status_json_has_the_numbers_the_standing_and_the_ledger(
    known_tables: AccountStanding, tmp_path: Path
) -> None:
    settings = ledger_with_events(tmp_path)
    result = CliRunner().invoke(
        app, ["accounts", "status", ACCOUNT, "--json", "--at", "2025-05-14T12:00:00Z"], obj=settings
    )
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)

    assert document["window"]["id"] == "2025-05-08T00:00Z/2025-05-15T00:00Z"
    rates = {row["provider"]: row for row in document["rates"]}
    assert list(rates) == ["google", "microsoft", None]
    assert rates["google"]["delivered"] == 1500
    assert rates["google"]["complained"] == 3
    assert rates["google"]["complaint_rate"] == pytest.approx(0.002)
    assert rates["google"]["complaint_rate_percent"] == "0.2%"
    assert rates["google"]["breaches"] == [
        {"kind": "complaint", "level": "strike", "line": "0.001", "count": 3, "volume": 1500}
    ]
    assert rates[None]["bounce_rate_percent"] == "1.55%"
    standing = document["standing"]
    assert standing["status"] == "active"
    assert standing["strikes_in_period"] == 1
    assert [(s["number"], s["provider"], s["count"], s["volume"]) for s in standing["strikes"]] == [
        (1, "google", 3, 1500)
    ]
    assert standing["active_pauses"] == []
    assert standing["reinstatements"][0]["by"] == "ops.lead"
    ledger = document["ledger"]
    assert ledger["read"] is True
    assert [event["action"] for event in ledger["events"]] == [
        "reinstated",
        "broadcasts_disabled",
        "strike_issued",
    ]
    assert ledger["events"][0]["reason"] == "passed the best-practice test"
    assert ledger["events"][2]["line"] == "0.001"


def test_status_tables_show_the_same(
    known_tables: AccountStanding, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    settings = ledger_with_events(tmp_path)
    result = CliRunner().invoke(
        app, ["accounts", "status", ACCOUNT, "--at", "2025-05-14T12:00:00Z"], obj=settings
    )
    assert result.exit_code == 0, result.output
    output = result.stdout
    assert "rates in 2025-05-08T00:00Z/2025-05-15T00:00Z" in output
    assert "1,500" in output
    assert "0.2%" in output
    assert "complaint strike (0.1%)" in output
    assert "1.55%" in output
    assert "Standing: active" in output
    assert "ops.lead" in output
    assert "latest enforcement events in the ledger" in output
    assert "Traceback" not in result.output


def test_status_without_a_ledger_says_so_and_creates_none(
    known_tables: AccountStanding, tmp_path: Path
) -> None:
    settings = offline_settings(tmp_path)
    result = CliRunner().invoke(
        app, ["accounts", "status", ACCOUNT, "--at", "2025-05-14T12:00:00Z"], obj=settings
    )
    assert result.exit_code == 0, result.output
    assert "no ledger database at" in result.stdout
    assert not (tmp_path / "ledger.sqlite3").exists()


def test_an_unreachable_ledger_is_a_note_without_the_url(
    known_tables: AccountStanding, tmp_path: Path
) -> None:
    """The status still shows; the ledger line says why it is missing and never the password."""
    url = f"postgresql+psycopg://sendgate:s3cret-pw@127.0.0.1:{unused_port()}/sendgate"
    result = CliRunner().invoke(
        app,
        ["accounts", "status", ACCOUNT, "--at", "2025-05-14T12:00:00Z", "--database-url", url],
        obj=offline_settings(tmp_path),
    )
    assert result.exit_code == 0, result.output
    assert "the ledger database is not reachable" in result.stdout
    assert "s3cret-pw" not in result.output
    assert "Standing: active" in result.stdout


# --- transactional misuse ---------------------------------------------------------------


def suspended_for_misuse() -> tuple[AccountStanding, list[EnforcementEvent]]:
    """Three transactional sends denied as marketing within the window: suspended."""
    standing = AccountStanding(account_id=ACCOUNT)
    events: list[EnforcementEvent] = []
    for index in range(3):
        request_id = f"receipt-{index}"
        report = MisuseReport(
            report_id=misuse_report_id(ACCOUNT, request_id),
            account_id=ACCOUNT,
            request_id=request_id,
            recipient_key="ab" * 32,
            score=0.9,
            signals=("discount_code",),
            policy_version="p",
            detected_at=WINDOW_START + timedelta(days=index),
        )
        fold = apply_misuse(
            standing, report, now=report.detected_at, policy=load_policy().enforcement
        )
        standing = fold.standing
        events += enforcement_events(fold.actions, standing_after=standing, policy_version="p")
    return standing, events


@pytest.fixture
def suspended_tables(monkeypatch: pytest.MonkeyPatch) -> AccountStanding:
    standing, _ = suspended_for_misuse()

    async def read(settings: Settings, account: str, **kwargs: object) -> ChangelogRead:
        return ChangelogRead({}, standing, records_read=3)

    monkeypatch.setattr(streams.cli.accounts, "read_account_tables", read)
    return standing


def test_status_shows_a_transactional_suspension(
    suspended_tables: AccountStanding, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The JSON and the tables say the account's transactional sending is suspended, with the
    misuse count in the window; the ledger holds the misuse events."""
    monkeypatch.setenv("COLUMNS", "200")
    settings = offline_settings(tmp_path)
    url = settings.database_url.get_secret_value()
    upgrade(url)
    engine = make_engine(url)
    try:
        _, events = suspended_for_misuse()
        items = [LedgerItem("enforcement-events", 0, n, event) for n, event in enumerate(events)]
        assert LedgerWriter(engine).write_batch("group", items) == len(events) == 4
    finally:
        engine.dispose()
    args = ["accounts", "status", ACCOUNT, "--at", "2025-05-14T12:00:00Z"]

    result = CliRunner().invoke(app, [*args, "--json"], obj=settings)
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    standing = document["standing"]
    assert (standing["transactional_suspended"], standing["misuse_in_window"]) == (True, 3)
    assert (standing["misuse_window_days"], standing["misuse_suspend_after"]) == (30, 3)
    assert [event["action"] for event in document["ledger"]["events"]][:2] == [
        "transactional_suspended",
        "transactional_misuse",
    ]

    result = CliRunner().invoke(app, args, obj=settings)
    assert result.exit_code == 0, result.output
    assert (
        "Transactional sending: suspended until the account is reinstated (3 transactional "
        "send(s) denied as marketing in the last 30 days)" in result.stdout
    )
    assert "Transactional sending is suspended: 3 messages" in result.stdout


def test_status_of_an_account_in_good_standing_says_nothing_of_misuse(
    known_tables: AccountStanding, tmp_path: Path
) -> None:
    result = CliRunner().invoke(
        app,
        ["accounts", "status", ACCOUNT, "--at", "2025-05-14T12:00:00Z", "--no-ledger", "--json"],
        obj=offline_settings(tmp_path),
    )
    assert result.exit_code == 0, result.output
    standing = json.loads(result.stdout)["standing"]
    assert (standing["transactional_suspended"], standing["misuse_in_window"]) == (False, 0)
