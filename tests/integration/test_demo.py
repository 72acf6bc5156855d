"""The demo end to end on the real broker: a gate worker decides a small scenario, then the report.

Each run uses the test's own topic prefix and data folder (the `settings` fixture), starts its own
gate worker subprocess and deletes its topics at the end; an unreachable broker fails. The pure
scenario tests at the end need no broker.
"""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, datetime

import pytest
import typer
from aiokafka.admin import AIOKafkaAdminClient
from pydantic import SecretStr
from rich.console import Console
from sqlalchemy import func, select
from typer.testing import CliRunner

from streams.cli.demo import demo
from streams.core.errors import ServiceUnavailableError
from streams.core.recipient import RecipientKeyer
from streams.core.settings import Settings
from streams.demo import DemoOptions, DemoResult, build_scenario, run_demo
from streams.demo.content import TEMPLATE_READER
from streams.demo.expected import expected_failed_rules
from streams.demo.scenario import MIN_SENDS
from streams.edges.admin import delete_topics
from streams.edges.ledger import SendDecisionRow, make_engine
from streams.policy import load_policy
from streams.topics import SEND_DECISIONS, SEND_REQUESTS, TOPICS, TopicSpec
from tests.support.personal_data.collected import SESSION

SMALL = 300
DENIAL_RULES = {
    "invalid-recipient-address",
    "platform-suppressed",
    "account-unsubscribed",
    "list-unsubscribed",
    "role-address",
    # people who never opted in, are unconfirmed or pending review, whose implied
    # consent lapsed (CASL), or whose basis their country's law does not accept
    "consent-status-not-mailable",
    "casl-no-valid-consent",
    "casl-implied-consent-expired",
    "gdpr-pecr-no-valid-consent",
    "spam-act-no-valid-consent",
}
STRIKE_RULES = {"account-broadcasts-disabled"}
# what streams/demo/templates/acme-spring-sale.eml breaks, read off the file: a free-mail
# From (gmail.com, so not the account's verified domain) whose display name is an address of
# another domain and no name; a Reply-To at an unverified domain; no DKIM-Signature or
# Return-Path; no postal address and no way to unsubscribe in the body; "Re:" with no
# In-Reply-To, and a shipping-notice subject on a newsletter; a gift card for 5-star reviews.
SPRING_SALE_RULES = [
    "from-domain-not-verified",
    "reply-to-domain-not-verified",
    "from-free-mail-domain",
    "display-name-spoofed",
    "bulk-authentication-missing",
    "sender-name-missing",
    "postal-address-missing",
    "unsubscribe-mechanism-missing",
    "subject-fake-reply",
    "subject-looks-transactional",
    "review-incentive-for-positive-review",
]
EXTRA_SENDS = 7
"""Sends besides the scenario's: the struck account's broadcast and receipt, the send after the
one-click unsubscribe, the two template sends, and the sends after the SES complaint and the
SendGrid bounce."""
"""The account struck for its complaint rate sends no broadcasts (its own phase)."""


async def _topics_with_prefix(settings: Settings, prefix: str) -> list[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    try:
        return [name for name in await admin.list_topics() if name.startswith(prefix)]
    finally:
        await admin.close()


def _run(settings: Settings, **options: object) -> tuple[DemoResult, str]:
    output = io.StringIO()
    console = Console(file=output, width=140, color_system=None)
    demo_options = DemoOptions(sends=SMALL, topic_prefix=settings.topic_prefix, **options)
    result = asyncio.run(run_demo(settings, demo_options, console))
    SESSION.add_output("demo report", "cli", output.getvalue())
    return result, output.getvalue()


def _flat(text: str) -> str:
    """The text with every run of white space as one space: phrases, whatever the line breaks."""
    return " ".join(text.split())


@pytest.fixture(scope="module")
def demo_run(
    kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Settings, DemoResult, str]:
    """One small demo run shared by the checks below (a run takes seconds, not milliseconds)."""
    data_dir = tmp_path_factory.mktemp("demo")
    settings = Settings(
        kafka_bootstrap_servers=kafka_bootstrap,
        topic_prefix=f"tdemo{datetime.now(UTC):%H%M%S%f}-",
        topic_partitions=4,
        data_dir=data_dir,
        recipient_key_secret=SecretStr("demo-integration-secret-0123456789"),
    )
    result, text = _run(settings)
    return settings, result, text  # raw: each address check must see the text as printed


def test_every_kind_of_denial_appears(demo_run: tuple[Settings, DemoResult, str]) -> None:
    """Each rule the scenario targets denies something, and the gate never failed closed."""
    _, result, text = demo_run
    fired = {failure.rule for d in result.report.decisions for failure in d.failures}
    assert fired == DENIAL_RULES
    struck = {f.rule for d in result.report.enforcement_decisions for f in d.failures}
    assert struck == STRIKE_RULES
    for rule in fired | struck:
        assert rule in text
    assert "Explained denials" in text


def test_the_templates_are_denied_with_every_rule_they_break(
    demo_run: tuple[Settings, DemoResult, str],
) -> None:
    """The spring-sale template lists all it breaks in one decision; the receipt with a
    coupon is transactional misuse, reported to the enforcer."""
    _, result, text = demo_run
    decided = {d.request_id: d for d in result.report.content_decisions}
    assert [f.rule for f in decided["acme-spring-sale-template"].failures] == SPRING_SALE_RULES
    assert [f.rule for f in decided["acme-receipt-with-coupon"].failures] == [
        "transactional-misuse"
    ]
    assert "transactional_misuse" in [event.action for event in result.report.enforcement]
    for rule in SPRING_SALE_RULES:
        assert rule in text
    assert "Templates sent as they are" in text


def test_the_struck_account_gets_strike_1_and_only_its_broadcasts_stop(
    demo_run: tuple[Settings, DemoResult, str],
) -> None:
    """2 complaints of 1,200 delivered at Gmail (0.17% > 0.1%) strike the account once; the
    third complaint is the same episode; each complaint without an opt-in is fined."""
    _, result, text = demo_run
    actions = [event.action for event in result.report.enforcement]
    assert actions.count("strike_issued") == 1
    assert actions.count("broadcasts_disabled") == 1
    assert actions.count("fine_assessed") == 3
    strike = next(e for e in result.report.enforcement if e.action == "strike_issued")
    assert (strike.provider, strike.count, strike.volume) == ("google", 2, 1200)
    decided = {d.request_id: d for d in result.report.enforcement_decisions}
    assert [f.rule for f in decided["blastmail-broadcast-after-strike"].failures] == [
        "account-broadcasts-disabled"
    ]
    assert decided["blastmail-receipt-after-strike"].verdict == "allow"
    assert "Enforcement events" in text


def test_the_one_click_link_of_a_decision_unsubscribes_through_sendgate_web(
    demo_run: tuple[Settings, DemoResult, str],
) -> None:
    """RFC 8058: POST List-Unsubscribe=One-Click to the decision's link answers 200, and the
    next send to that person and list is denied."""
    _, result, text = demo_run
    one_click = result.report.one_click
    assert one_click is not None
    assert one_click.link.startswith(result.settings.unsubscribe_base_url + "/u/")
    assert one_click.status == 200
    assert [f.rule for f in one_click.after.failures] == ["list-unsubscribed"]
    assert "One-click unsubscribe" in text


def test_an_ses_complaint_and_a_sendgrid_bounce_by_webhook_deny_the_next_sends(
    demo_run: tuple[Settings, DemoResult, str],
) -> None:
    """The SES complaint suppresses the complainer for the account, the SendGrid bounce (5.1.1,
    a dead mailbox) everywhere: the same rules a raw ARF report and a DSN give."""
    _, result, text = demo_run
    esp = result.report.esp
    assert esp is not None
    assert dict(esp.statuses) == {post.name: 200 for post in esp.case.posts}
    rules = {
        request_id: [f.rule for f in decision.failures]
        for request_id, decision in result.report.esp_decisions.items()
    }
    assert rules == {
        "esp-after-ses-complaint": ["account-unsubscribed"],
        "esp-after-sendgrid-bounce": ["platform-suppressed"],
    }
    assert "ESP webhooks" in text


def test_sendgate_notify_delivers_every_enforcement_event_signed_after_a_retry(
    demo_run: tuple[Settings, DemoResult, str],
) -> None:
    """The receiver turns the first request away; every enforcement event the run had by then
    (the strike and its fines) arrives, each request signed with the shared secret, the first
    one delivered at its second try."""
    _, result, text = demo_run
    notified = result.report.notified
    assert notified is not None
    struck = {e.event_id for e in result.report.enforcement if e.account_id == "blastmail"}
    assert struck and struck <= notified.awaited <= set(notified.delivered)
    assert all(verified for _, _, _, verified in notified.requests)
    first_id, _, first_status, _ = notified.requests[0]
    assert first_status == 503
    assert notified.delivered[first_id] == 2
    assert "enforcement.strike_issued" in {kind for _, kind, _, _ in notified.requests}
    assert "Enforcement events by HTTP" in text


def test_every_send_is_decided_as_the_policy_expects(
    demo_run: tuple[Settings, DemoResult, str],
) -> None:
    """One decision per valid send, racing ones included, each naming exactly the expected rules."""
    _, result, text = demo_run
    one_click = result.report.one_click
    decisions = {
        decision.request_id: decision
        for decision in (
            *result.report.decisions,
            *result.report.enforcement_decisions,
            *result.report.content_decisions,
            *result.report.esp_decisions.values(),
            *((one_click.after,) if one_click else ()),
        )
    }
    assert len(result.report.decisions) == SMALL == result.scenario.send_count
    assert len(decisions) == SMALL + EXTRA_SENDS
    assert result.report.mismatched_request_ids == []
    for request_id, rules in result.expected.items():
        assert tuple(f.rule for f in decisions[request_id].failures) == rules
    race = [decisions[send.request_id] for _, send in result.scenario.race]
    assert race and all(decision.verdict == "deny" for decision in race)
    assert "Every decision matches the policy's expected outcome" in _flat(text)


def test_the_run_replays_to_the_same_decisions_and_the_strict_policy_only_denies_more(
    demo_run: tuple[Settings, DemoResult, str],
) -> None:
    """The demo's own replay: every decision of the run decided again on what it recorded is the
    same to the byte (signing keys included); the strict policy adds constraints only, so it can
    deny what was allowed but never allow what was denied, and every send it newly denies names
    no country (the strict consent rules differ from the default only there) or reaches its
    frequency cap."""
    _, result, text = demo_run
    verified = result.replayed.verified
    decided = {
        *(d.request_id for d in result.report.decisions),
        *(d.request_id for d in result.report.enforcement_decisions),
        *(d.request_id for d in result.report.content_decisions),
    }
    assert verified.ok and verified.signed_compared
    assert verified.matched == verified.decisions >= len(decided)
    bad_requests = [r for r in result.scenario.bad_records if r.topic is SEND_REQUESTS]
    assert len(verified.set_aside) == len(bad_requests)
    tally = result.replayed.what_if.tally
    assert tally.requests == verified.requests - len(verified.set_aside)
    assert tally.flips.newly_allowed == 0 and tally.flips.newly_denied > 0
    sends = {send.request_id: send for send in result.scenario.all_sends()}
    sampled = [row for row in tally.sample if row.request_id in sends]
    assert sampled
    for row in sampled:
        assert sends[row.request_id].jurisdiction is None or row.rules_added == (
            "frequency-cap-exceeded",
        )
    assert "decisions came out the same" in _flat(text)
    assert "Flips by rule" in text


def test_dead_letters_are_counted(demo_run: tuple[Settings, DemoResult, str]) -> None:
    """Every bad record comes back as a dead letter with its origin, kind and reason."""
    settings, result, text = demo_run
    letters = result.report.dead_letters
    assert len(letters) == len(result.scenario.bad_records) == 6
    assert {letter.error_kind for letter in letters} == {"undecodable", "unknown_schema", "invalid"}
    assert {letter.agent for letter in letters} == {"decide_sends", "keep_suppressions"}
    assert all(letter.origin_topic.startswith(settings.topic_prefix) for letter in letters)
    assert "6 dead letters" in _flat(text)
    assert "send-requests/" in text and "unsubscribe-clicks/" in text


def test_ledger_rows_exist(demo_run: tuple[Settings, DemoResult, str]) -> None:
    """The ledger sink stored every decision and suppression change of the run."""
    _, result, text = demo_run
    counts = result.report.ledger_run_counts
    assert counts["send_decisions"] == SMALL + EXTRA_SENDS
    # strike, broadcasts disabled, three fines, and the receipt's transactional misuse
    assert counts["enforcement_events"] == len(result.report.enforcement) == 6
    # Each of the struck account's 3 complaints suppresses its complainer too, the demo's
    # one-click unsubscribe adds one, the SES complaint and the SendGrid bounce one each.
    assert counts["suppression_changes"] == result.scenario.click_count + 3 + 1 + 2
    assert counts["consumer_offsets"] > 0
    assert result.settings.database_url.get_secret_value().endswith("demo-ledger.sqlite3")
    assert "Ledger rows" in text


def test_the_report_shows_no_address(demo_run: tuple[Settings, DemoResult, str]) -> None:
    """People appear by shortened recipient key only, never by address."""
    _, result, text = demo_run
    lowered = text.lower()
    for send in result.scenario.all_sends():
        assert send.recipient.lower() not in lowered
    assert TEMPLATE_READER not in lowered
    assert "…" in text


def test_the_demo_stops_what_it_started(demo_run: tuple[Settings, DemoResult, str]) -> None:
    """The worker is stopped, its output went to the log file, and the run's topics are gone."""
    settings, result, text = demo_run
    assert result.topics_deleted
    assert asyncio.run(_topics_with_prefix(settings, settings.topic_prefix)) == []
    log = settings.data_dir / "demo" / "worker.log"
    assert log.stat().st_size > 0
    assert "gate worker stopped (exit code 0)" in _flat(text)
    assert "worker.log" in text


def test_the_command_with_postgresql_and_kept_topics(
    kafka_bootstrap: str, ledger_database_url: str, settings: Settings
) -> None:
    """`demo --database-url ... --keep-topics` writes to PostgreSQL and leaves the topics."""
    database_url = ledger_database_url
    command = typer.Typer()
    command.command()(demo)
    try:
        outcome = CliRunner().invoke(
            command,
            [
                "--sends",
                str(MIN_SENDS),
                "--database-url",
                database_url,
                "--topic-prefix",
                settings.topic_prefix,
                "--keep-topics",
            ],
            obj=settings,
        )
        assert outcome.exit_code == 0, outcome.output
        assert "postgresql+psycopg://sendgate:***@" in outcome.output
        assert database_url.split("@")[0] not in outcome.output  # the password is not shown
        assert "Every decision matches" in _flat(outcome.output)
        kept = asyncio.run(_topics_with_prefix(settings, settings.topic_prefix))
        assert {spec.full_name(settings) for spec in TOPICS} <= set(kept)
        engine = make_engine(database_url)
        try:
            with engine.connect() as connection:
                stored = connection.execute(
                    select(func.count()).where(
                        SendDecisionRow.kafka_topic == SEND_DECISIONS.full_name(settings)
                    )
                ).scalar_one()
        finally:
            engine.dispose()
        assert stored == MIN_SENDS + EXTRA_SENDS
    finally:
        names = asyncio.run(_topics_with_prefix(settings, settings.topic_prefix))
        extra = [TopicSpec(n.removeprefix(settings.topic_prefix), "test") for n in names]
        asyncio.run(delete_topics(settings, [*TOPICS, *extra]))


def test_an_unreachable_broker_is_one_clear_error(settings: Settings) -> None:
    """Nothing listens on port 1: the demo says so at once, before starting anything."""
    unreachable = settings.model_copy(update={"kafka_bootstrap_servers": "127.0.0.1:1"})
    with pytest.raises(ServiceUnavailableError, match="not reachable"):
        _run(unreachable)
    assert not (settings.data_dir / "demo" / "worker.log").exists()


# --- the scenario alone (no broker) ---------------------------------------------------------------

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
KEYER = RecipientKeyer(b"scenario-test-secret-0123456789")


def test_the_scenario_is_a_function_of_its_seed() -> None:
    """Same seed, same records; another seed, other records."""
    first = build_scenario(KEYER, now=NOW, seed=1, sends=500)
    assert build_scenario(KEYER, now=NOW, seed=1, sends=500) == first
    assert build_scenario(KEYER, now=NOW, seed=2, sends=500) != first


@pytest.mark.parametrize("sends", [MIN_SENDS, 1000, 5000])
def test_the_scenario_has_every_ingredient(sends: int) -> None:
    """Exact size, all three scopes, operator reasons, racing pairs, bad records, every denial."""
    scenario = build_scenario(KEYER, now=NOW, sends=sends)
    assert scenario.send_count == sends
    assert {click.scope for click in scenario.clicks} == {"list", "account", "platform"}
    platform = {click.reason for click in scenario.clicks if click.scope == "platform"}
    assert platform == {"manual", "hard_bounce", "complaint", "erasure"}
    assert {send.classification for send in scenario.sends} == {"commercial", "transactional"}
    assert any(send.honor_list_opt_outs for send in scenario.sends)
    assert len(scenario.race) >= 2
    assert len(scenario.bad_records) == 6
    expected = expected_failed_rules(scenario, KEYER, load_policy(), now=NOW)
    assert {rule for rules in expected.values() for rule in rules} == DENIAL_RULES
    assert all(expected[send.request_id] for _, send in scenario.race)
    assert len({send.request_id for send in scenario.all_sends()}) == sends


def test_the_scenario_refuses_a_size_too_small() -> None:
    with pytest.raises(ValueError, match="at least"):
        build_scenario(KEYER, now=NOW, sends=MIN_SENDS - 1)
