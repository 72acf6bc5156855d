"""The unsubscribe service's HTTP behaviour (RFC 8058 one-click, the page, bad input, links by
mail through a real SMTP server on loopback, cadence choices), with the publisher collecting what
would go to Kafka; tests/integration/test_web_unsubscribe.py runs it against the real broker and
gate."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from html import unescape

import pytest
import pytest_asyncio
from aiohttp import FormData
from aiohttp.test_utils import TestClient, TestServer

from streams.core.clock import FrozenClock
from streams.core.errors import ServiceUnavailableError
from streams.core.recipient import RecipientKeyer
from streams.core.records import ConsentEvent, FeedbackReport, UnsubscribeClick
from streams.edges.confirmation_mail import ConfirmationMailer
from streams.edges.web.app import REFUSED, WebSettings, make_web_app
from streams.sending.unsubscribe_tokens import UnsubscribeToken, UnsubscribeTokens
from streams.suppression.unsubscribe import cadence_event_for, click_for, spam_report_for
from tests.support.smtp import Received, RecordingRelay

NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
TOKENS = UnsubscribeTokens({1: b"w" * 32}, 1, valid_for=timedelta(days=365))
KEY = "ef" * 32
KEYER = RecipientKeyer(b"k" * 32)
ADDRESS = "jo.smith@example.org"
BASE_URL = "https://unsubscribe.sendgate.example"
SAME_ANSWER = "If this address gets mail through us, a link is on its way"


def token(
    list_id: str | None = "weekly-deals",
    at: datetime = NOW,
    *,
    key: str = KEY,
    cadence: str | None = None,
    request_id: str = "r1",
) -> str:
    return TOKENS.issue(
        recipient_key=key,
        account_id="acme",
        list_id=list_id,
        request_id=request_id,
        issued_at=at,
        cadence=cadence,
    )


def expired(key: str = KEY, **fields: object) -> str:
    return token(at=NOW - timedelta(days=400), key=key, **fields)  # type: ignore[arg-type]


@pytest.fixture
def published() -> list:
    return []


@asynccontextmanager
async def serve(
    published: list, settings: WebSettings | None = None, relay: RecordingRelay | None = None
) -> AsyncIterator[TestClient]:
    async def publish(record: UnsubscribeClick | FeedbackReport | ConsentEvent) -> None:
        published.append(record)

    mailer = None
    if relay is not None:
        mailer = ConfirmationMailer(
            host="127.0.0.1",
            port=relay.port,
            base_url=BASE_URL,
            sender_domain="bounces.sendgate.example",
            timeout_s=5,
        )
    app = make_web_app(
        TOKENS,
        publish,
        FrozenClock(NOW),
        settings or WebSettings(requests_per_minute=30),
        keyer=KEYER,
        mailer=mailer,
    )
    async with TestClient(TestServer(app)) as test_client:
        yield test_client


@pytest_asyncio.fixture(loop_scope="function")
async def client(published: list) -> AsyncIterator[TestClient]:
    async with serve(published) as test_client:
        yield test_client


@pytest.fixture
def relay() -> Iterator[RecordingRelay]:
    with RecordingRelay() as running:
        yield running


@pytest_asyncio.fixture(loop_scope="function")
async def mailing(published: list, relay: RecordingRelay) -> AsyncIterator[TestClient]:
    """A service that mails confirmation links through `relay`."""
    async with serve(published, relay=relay) as test_client:
        yield test_client


def link_in(mail: Received) -> str:
    [link] = re.findall(r"https://\S+", mail.message.get_content())
    return link.removeprefix(BASE_URL)


def read(path: str) -> UnsubscribeToken:
    return TOKENS.verify(path.removeprefix("/u/"), now=NOW)


def form_of(text: str) -> tuple[str, dict[str, str]]:
    """The confirmation form's action and hidden fields."""
    [action] = re.findall(r'<form method="post" action="([^"]*confirm)"', text)
    hidden = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', text))
    return action, {name: unescape(value) for name, value in hidden.items()}


async def test_one_click_post_unsubscribes_from_the_list_at_once(client, published) -> None:
    """RFC 8058 §3.2: POST with the body List-Unsubscribe=One-Click, no redirect, no login."""
    response = await client.post(
        f"/u/{token()}",
        data="List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        allow_redirects=False,
    )
    assert response.status == 200
    [click] = published
    assert (click.scope, click.account_id, click.list_id, click.method) == (
        "list",
        "acme",
        "weekly-deals",
        "one_click",
    )
    assert click.recipient_key == KEY


async def test_multipart_one_click_works_and_a_second_click_publishes_the_same_record(
    client, published
) -> None:
    form = FormData()
    form.add_field("List-Unsubscribe", "One-Click")
    first = await client.post(f"/u/{token()}", data=form)
    form = FormData()
    form.add_field("List-Unsubscribe", "One-Click")
    second = await client.post(f"/u/{token()}", data=form)
    assert (first.status, second.status) == (200, 200)
    assert published[0] == published[1]  # same click id: the keeper changes nothing twice


async def test_mail_without_a_list_unsubscribes_from_the_account(client, published) -> None:
    response = await client.post(f"/u/{token(list_id=None)}", data="List-Unsubscribe=One-Click")
    assert response.status == 200
    assert (published[0].scope, published[0].list_id) == ("account", None)


async def test_get_shows_the_choices_and_unsubscribes_nobody(client, published) -> None:
    response = await client.get(f"/u/{token()}")
    text = await response.text()
    assert response.status == 200
    assert published == []  # link scanners fetch links
    for value in ("list", "account", "platform", "spam"):
        assert f'value="{value}"' in text
    assert "<legend>" in text and 'name="viewport"' in text and 'lang="en"' in text


@pytest.mark.parametrize(
    ("choice", "scope"), [("list", "list"), ("account", "account"), ("platform", "platform")]
)
async def test_each_choice_publishes_its_scope(client, published, choice, scope) -> None:
    response = await client.post(f"/u/{token()}/choose", data={"choice": choice})
    assert response.status == 200
    assert published[0].scope == scope
    again = await client.post(f"/u/{token()}/choose", data={"choice": choice})
    assert "already" in await again.text()


async def test_report_as_spam_files_a_complaint(client, published) -> None:
    response = await client.post(f"/u/{token()}/choose", data={"choice": "spam"})
    assert response.status == 200
    [report] = published
    assert isinstance(report, FeedbackReport)
    assert (report.feedback_type, report.account_id, report.list_id) == (
        "abuse",
        "acme",
        "weekly-deals",
    )


async def test_bad_tokens_get_400_and_expired_ones_410(client, published) -> None:
    good = token()
    for bad in (good[:-3], good[:20], good.replace(good[12], "Q" if good[12] != "Q" else "R")):
        response = await client.get(f"/u/{bad}")
        assert response.status == 400
        response = await client.post(f"/u/{bad}", data="List-Unsubscribe=One-Click")
        assert response.status == 400
    old = token(at=NOW - timedelta(days=400))
    response = await client.get(f"/u/{old}")
    assert response.status == 410
    assert "expired" in await response.text()
    assert published == []


async def test_bad_bodies_and_choices_are_400_and_oversized_ones_too(client, published) -> None:
    assert (await client.post(f"/u/{token()}", data="unsubscribe please")).status == 400
    assert (await client.post(f"/u/{token()}", data="x" * 10_000)).status == 400
    assert (await client.post(f"/u/{token()}/choose", data={"choice": "all"})).status == 400
    assert published == []


async def test_clients_are_rate_limited(client) -> None:
    statuses = [(await client.get(f"/u/{token()}")).status for _ in range(40)]
    assert statuses[:30] == [200] * 30
    assert 429 in statuses[30:]


async def test_metrics_are_served(client) -> None:
    await client.post(f"/u/{token()}", data="List-Unsubscribe=One-Click")
    text = await (await client.get("/metrics")).text()
    assert "sendgate_web_actions_total" in text


async def test_one_click_posts_with_valid_tokens_are_never_rate_limited(client, published) -> None:
    """Gmail and Yahoo send one-click POSTs from their own servers: many people, few addresses."""
    statuses = [
        (await client.post(f"/u/{token()}", data="List-Unsubscribe=One-Click")).status
        for _ in range(45)
    ]
    assert statuses == [200] * 45


async def test_forged_one_click_posts_are_rate_limited(client, published) -> None:
    forged = token()[:-4] + "AAAA"
    statuses = [
        (await client.post(f"/u/{forged}", data="List-Unsubscribe=One-Click")).status
        for _ in range(40)
    ]
    assert set(statuses[:30]) == {400}
    assert 429 in statuses[30:]
    assert published == []


# --- ids ---------------------------------------------------------------------------------------


def test_action_ids_are_what_they_were_so_a_click_after_an_upgrade_changes_nothing() -> None:
    read_token = TOKENS.verify(token(), now=NOW)
    assert [click_for(read_token, choice, NOW).click_id for choice in ("list", "account")] == [
        "web-3df158c04e5d6c9a310474b9206feca0",
        "web-d85f0b5970757fb58fb63059088c3c12",
    ]
    assert click_for(read_token, "platform", NOW).click_id == "web-52f9a3ac310e9e56a350754b9cb7b809"
    assert spam_report_for(read_token, NOW).report_id == "web-2b662e904deedb20f1d1cacaf3c859ae"


def test_a_token_without_an_account_can_only_mean_the_platform() -> None:
    bare = TOKENS.verify(
        TOKENS.issue(
            recipient_key=KEY,
            account_id=None,
            list_id=None,
            request_id="confirm-1",
            issued_at=NOW,
            purpose="confirmation",
        ),
        now=NOW,
    )
    for choice in ("list", "account", "platform"):
        click = click_for(bare, choice, NOW)
        assert (click.scope, click.account_id, click.list_id) == ("platform", None, None)
    with pytest.raises(ValueError, match="names none"):
        cadence_event_for(bare, "weekly", NOW)


# --- bad links and their pages -----------------------------------------------------------------


async def test_an_expired_link_offers_a_labelled_form_that_keeps_the_link(mailing) -> None:
    old = expired()
    response = await mailing.get(f"/u/{old}")
    text = await response.text()
    assert response.status == 410
    action, hidden = form_of(text)
    assert (action, hidden) == ("../confirm", {"token": old})
    assert '<label for="address">' in text and 'id="address"' in text and 'name="address"' in text
    assert "<script" not in text
    # From the choose form's path the same form still reaches /confirm.
    response = await mailing.post(f"/u/{old}/choose", data={"choice": "list"})
    assert response.status == 410
    assert form_of(await response.text())[0] == "../../confirm"


async def test_without_a_relay_the_bad_link_pages_offer_no_form_and_say_so(client) -> None:
    for link, status in ((expired(), 410), (token()[:-4] + "AAAA", 400)):
        response = await client.get(f"/u/{link}")
        text = await response.text()
        assert response.status == status
        assert "<form" not in text
        assert "cannot mail you a new link" in text
    response = await client.post("/confirm", data={"address": ADDRESS, "token": expired()})
    assert response.status == 503
    assert SAME_ANSWER not in await response.text()


async def test_a_forged_link_offers_a_link_for_the_platform_choice_only(mailing) -> None:
    response = await mailing.get(f"/u/{token()[:-4]}AAAA")
    text = await response.text()
    assert response.status == 400
    assert form_of(text) == ("../confirm", {})  # nothing of the forged text is echoed back
    assert "stop all mail sent to you through this platform" in text


async def test_with_the_platform_choice_off_a_forged_link_only_says_what_to_do(
    published, relay
) -> None:
    settings = WebSettings(offer_platform_opt_out=False, requests_per_minute=30)
    async with serve(published, settings, relay) as client:
        response = await client.get(f"/u/{token()[:-4]}AAAA")
        text = await response.text()
        assert response.status == 400
        assert "<form" not in text
        assert "more recent message" in text and "write to the sender" in text
        # A hand-made post gets nowhere either.
        response = await client.post("/confirm", data={"address": ADDRESS})
        assert response.status == 400
        # An expired link still knows its account: its page keeps the form.
        response = await client.get(f"/u/{expired()}")
        assert form_of(await response.text())[0] == "../confirm"
    assert relay.received == [] and published == []


# --- POST /confirm -----------------------------------------------------------------------------


async def test_the_address_the_expired_link_was_sent_to_gets_the_link_renewed(
    mailing, relay, published
) -> None:
    old = expired(key=KEYER.key(ADDRESS), cadence="daily")
    response = await mailing.post("/confirm", data={"address": ADDRESS, "token": old})
    assert response.status == 200
    assert SAME_ANSWER in await response.text()
    [mail] = await relay.wait_for(1)
    assert mail.rcpt_tos == (ADDRESS,)
    assert mail.message["Auto-Submitted"] == "auto-generated"
    renewed = read(link_in(mail))
    assert (renewed.recipient_key, renewed.account_id, renewed.list_id) == (
        KEYER.key(ADDRESS),
        "acme",
        "weekly-deals",
    )
    assert (renewed.request_id, renewed.cadence, renewed.purpose) == ("r1", "daily", "message")
    assert renewed.issued_at == NOW
    # The link opens the ordinary page; opening it changes nothing.
    page = await mailing.get(link_in(mail))
    text = await page.text()
    assert page.status == 200
    for value in ("cadence:weekly", "list", "account", "platform", "spam"):
        assert f'value="{value}"' in text
    assert published == []


async def test_another_address_gets_a_confirmation_for_the_account_without_spam_reports(
    mailing, relay, published
) -> None:
    old = expired(cadence="daily")  # sent to someone else (a forwarded message)
    response = await mailing.post("/confirm", data={"address": ADDRESS, "token": old})
    assert SAME_ANSWER in await response.text()
    [mail] = await relay.wait_for(1)
    confirmation = read(link_in(mail))
    assert (confirmation.recipient_key, confirmation.account_id, confirmation.list_id) == (
        KEYER.key(ADDRESS),
        "acme",
        "weekly-deals",
    )
    assert confirmation.purpose == "confirmation"
    assert confirmation.request_id.startswith("confirm-") and confirmation.cadence is None
    text = await (await mailing.get(link_in(mail))).text()
    assert 'value="account"' in text and 'value="spam"' not in text and "cadence:" not in text
    assert (await mailing.post(link_in(mail) + "/choose", data={"choice": "spam"})).status == 400
    response = await mailing.post(link_in(mail) + "/choose", data={"choice": "account"})
    assert response.status == 200
    [click] = published
    assert (click.recipient_key, click.scope, click.account_id) == (
        KEYER.key(ADDRESS),
        "account",
        "acme",
    )
    # A confirmation link is never in a List-Unsubscribe header: no one-click POST.
    one_click = await mailing.post(link_in(mail), data="List-Unsubscribe=One-Click")
    assert one_click.status == 400
    assert len(published) == 1


async def test_after_a_forged_link_the_confirmation_offers_only_the_platform(
    mailing, relay, published
) -> None:
    response = await mailing.post("/confirm", data={"address": ADDRESS})
    assert SAME_ANSWER in await response.text()
    [mail] = await relay.wait_for(1)
    bare = read(link_in(mail))
    assert (bare.recipient_key, bare.account_id, bare.list_id, bare.purpose) == (
        KEYER.key(ADDRESS),
        None,
        None,
        "confirmation",
    )
    page = await mailing.get(link_in(mail))
    text = await page.text()
    assert page.status == 200
    assert re.findall(r'name="choice" value="([^"]+)"', text) == ["platform"]
    assert "through this platform" in text
    for refused in ("list", "account", "spam", "cadence:weekly"):
        response = await mailing.post(link_in(mail) + "/choose", data={"choice": refused})
        assert response.status == 400
    assert published == []
    response = await mailing.post(link_in(mail) + "/choose", data={"choice": "platform"})
    assert response.status == 200
    [click] = published
    assert (click.recipient_key, click.scope, click.account_id, click.list_id) == (
        KEYER.key(ADDRESS),
        "platform",
        None,
        None,
    )


@pytest.mark.parametrize("typed", ["", "jo", "Jo <jo@example.org>", "a@b@example.org"])
async def test_an_invalid_address_gets_the_form_again_and_no_mail(mailing, relay, typed) -> None:
    old = expired()
    response = await mailing.post("/confirm", data={"address": typed, "token": old})
    text = await response.text()
    assert response.status == 400
    assert "not an email address" in text
    assert form_of(text) == ("confirm", {"token": old})
    assert SAME_ANSWER not in text
    assert relay.received == []


async def test_one_mail_per_address_in_ten_minutes_with_the_same_answer_every_time(
    mailing, relay
) -> None:
    answers = []
    for typed in (ADDRESS, "Jo.Smith@EXAMPLE.org", " jo.smith@example.org ", "al@example.org"):
        response = await mailing.post("/confirm", data={"address": typed, "token": expired()})
        assert response.status == 200
        answers.append(await response.text())
    assert len(set(answers)) == 1  # sent or not, a stranger learns nothing
    received = await relay.wait_for(2)
    assert sorted(mail.rcpt_tos for mail in received) == [("al@example.org",), (ADDRESS,)]
    assert len(relay.received) == 2


async def test_after_the_interval_the_same_address_may_have_another_link(published, relay) -> None:
    settings = WebSettings(confirmation_interval_s=0, requests_per_minute=30)
    async with serve(published, settings, relay) as client:
        for _ in range(2):
            await client.post("/confirm", data={"address": ADDRESS})
        await relay.wait_for(2)


def test_a_mailer_needs_the_recipient_keyer() -> None:
    mailer = ConfirmationMailer(
        host="127.0.0.1", port=25, base_url=BASE_URL, sender_domain="bounces.sendgate.example"
    )
    with pytest.raises(ValueError, match="keyer"):
        make_web_app(TOKENS, lambda record: None, FrozenClock(NOW), mailer=mailer)  # type: ignore[arg-type]


async def test_confirmations_are_capped_for_the_whole_service(published, relay) -> None:
    settings = WebSettings(confirmations_per_minute=2, requests_per_minute=30)
    async with serve(published, settings, relay) as client:
        for number in range(4):
            response = await client.post("/confirm", data={"address": f"p{number}@example.org"})
            assert SAME_ANSWER in await response.text()
        await relay.wait_for(2)
    assert len(relay.received) == 2


async def test_confirmations_count_against_the_clients_bucket(mailing) -> None:
    statuses = [
        (await mailing.post("/confirm", data={"address": f"p{n}@example.org"})).status
        for n in range(40)
    ]
    assert statuses[:30] == [200] * 30
    assert 429 in statuses[30:]


async def test_a_cross_site_post_is_refused(mailing, relay) -> None:
    response = await mailing.post(
        "/confirm", data={"address": ADDRESS}, headers={"Sec-Fetch-Site": "cross-site"}
    )
    assert response.status == 403
    same_origin = await mailing.post(
        "/confirm", data={"address": ADDRESS}, headers={"Sec-Fetch-Site": "same-origin"}
    )
    assert same_origin.status == 200
    await relay.wait_for(1)
    assert len(relay.received) == 1


async def test_a_relay_that_refuses_changes_nothing_in_the_answer_and_the_address_is_never_logged(
    published, caplog
) -> None:
    caplog.set_level(logging.DEBUG)
    with RecordingRelay(refuse_recipients_with="550 5.1.1 unknown") as refusing:
        async with serve(published, relay=refusing) as client:
            response = await client.post("/confirm", data={"address": ADDRESS})
            assert SAME_ANSWER in await response.text()
            # Stopping the service (leaving this block) waits for the send to finish and fail.
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("streams"))
    assert "confirmation mail not sent" in ours and "550" in ours
    assert "jo.smith" not in ours.lower()
    async with serve(published) as client:
        metrics_text = await (await client.get("/metrics")).text()
    assert 'sendgate_web_confirmations_total{outcome="failed"}' in metrics_text
    assert "jo.smith" not in metrics_text


# --- choices the policy makes ------------------------------------------------------------------


async def test_with_the_platform_choice_off_it_is_neither_offered_nor_taken(published) -> None:
    settings = WebSettings(offer_platform_opt_out=False, requests_per_minute=30)
    async with serve(published, settings) as client:
        text = await (await client.get(f"/u/{token()}")).text()
        assert 'value="platform"' not in text and 'value="account"' in text
        response = await client.post(f"/u/{token()}/choose", data={"choice": "platform"})
        assert response.status == 400
    assert published == []


async def test_cadences_are_offered_only_with_a_cadence_and_not_the_current_one(client) -> None:
    plain = await (await client.get(f"/u/{token()}")).text()
    assert "cadence:" not in plain
    daily = await (await client.get(f"/u/{token(cadence='daily')}")).text()
    offered = re.findall(r'value="cadence:(\w+)"', daily)
    assert offered == ["weekly", "monthly"]
    assert "Get this mail weekly instead" in daily and "You get this mail daily." in daily
    assert "<legend>How often would you like this mail?</legend>" in daily


async def test_a_cadence_choice_is_a_cadence_changed_consent_event(client, published) -> None:
    link = f"/u/{token(cadence='daily')}"
    response = await client.post(f"{link}/choose", data={"choice": "cadence:weekly"})
    text = await response.text()
    assert response.status == 200
    assert "this mail weekly" in text
    assert re.findall(r'value="cadence:(\w+)"', text) == ["daily", "monthly"]  # going back too
    [event] = published
    assert isinstance(event, ConsentEvent)
    assert event.model_dump(exclude={"event_id"}) == ConsentEvent(
        event_id="x",
        recipient_key=KEY,
        kind="cadence_changed",
        account_id="acme",
        lists=("weekly-deals",),
        cadence="weekly",
        source_kind="unsubscribe",
        source_id="preference-centre",
        occurred_at=NOW,
    ).model_dump(exclude={"event_id"})
    # The same choice at the same moment is the same event: a retried publish changes nothing.
    again = await client.post(f"{link}/choose", data={"choice": "cadence:weekly"})
    assert again.status == 200
    assert published[1] == event
    # Back to the cadence the message came with: accepted, and a different event.
    back = await client.post(f"{link}/choose", data={"choice": "cadence:daily"})
    assert back.status == 200
    assert (published[2].cadence, published[2].event_id != event.event_id) == ("daily", True)


def test_cadence_event_ids_come_from_the_token_the_choice_and_the_moment() -> None:
    read_token = TOKENS.verify(token(cadence="daily"), now=NOW)
    first = cadence_event_for(read_token, "weekly", NOW)
    assert first == cadence_event_for(read_token, "weekly", NOW)
    assert first.event_id.startswith("web-")
    assert first.event_id != cadence_event_for(read_token, "monthly", NOW).event_id
    later = cadence_event_for(read_token, "weekly", NOW + timedelta(minutes=1))
    assert later.event_id != first.event_id  # weekly, daily, weekly again: the last one holds
    no_list = TOKENS.verify(token(list_id=None, cadence="daily"), now=NOW)
    assert cadence_event_for(no_list, "weekly", NOW).lists == ()


@pytest.mark.parametrize(
    ("link", "choice"),
    [
        (token(), "cadence:weekly"),  # no cadence in the token
        (token(cadence="daily"), "cadence:hourly"),  # not among the policy's choices
        (token(cadence="daily"), "cadence:"),
    ],
)
async def test_cadences_not_offered_are_refused(client, published, link, choice) -> None:
    response = await client.post(f"/u/{link}/choose", data={"choice": choice})
    assert response.status == 400
    assert published == []


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "text/plain"])
async def test_a_body_in_a_charset_python_does_not_know_is_a_bad_body(
    client, published, content_type
) -> None:
    """Found by fuzzing: the charset's LookupError escaped the handler as a 500."""
    response = await client.post(
        f"/u/{token()}",
        data=b"List-Unsubscribe=One-Click",
        headers={"Content-Type": f"{content_type}; charset=no-such-charset"},
    )
    assert response.status == 400
    assert await response.text() == "expected List-Unsubscribe=One-Click\n"
    assert published == []


# --- Kafka down ----------------------------------------------------------------------------------


class Broker:
    """Takes records while `up`; otherwise fails the way the service's publisher does."""

    def __init__(self) -> None:
        self.up = False
        self.records: list = []

    async def publish(self, record: UnsubscribeClick | FeedbackReport | ConsentEvent) -> None:
        if not self.up:
            raise ServiceUnavailableError("Kafka broker at kafka:9092 could not be reached")
        self.records.append(record)


@pytest_asyncio.fixture(loop_scope="function")
async def outage() -> AsyncIterator[tuple[TestClient, Broker]]:
    broker = Broker()
    app = make_web_app(TOKENS, broker.publish, FrozenClock(NOW), keyer=KEYER)
    async with TestClient(TestServer(app)) as test_client:
        yield test_client, broker


def refused_for_kafka() -> float:
    return REFUSED.labels("kafka-unavailable")._value.get()


async def test_a_one_click_post_while_kafka_is_down_is_503_and_its_retry_is_recorded(
    outage,
) -> None:
    """Never 200 unless acknowledged: the mailbox provider is told to come back, and the retry
    records the click once Kafka is back."""
    client, broker = outage
    before = refused_for_kafka()
    link = f"/u/{token()}"

    refused = await client.post(link, data="List-Unsubscribe=One-Click")
    assert refused.status == 503
    assert refused.headers["Retry-After"] == "30"
    assert refused.content_type == "text/plain"
    assert "not confirmed" in await refused.text()
    assert broker.records == []
    assert refused_for_kafka() == before + 1

    broker.up = True
    retried = await client.post(link, data="List-Unsubscribe=One-Click")
    assert retried.status == 200
    [click] = broker.records
    assert click == click_for(read(link), "list", NOW)
    assert refused_for_kafka() == before + 1
    metrics = await (await client.get("/metrics")).text()
    assert 'sendgate_web_refused_total{reason="kafka-unavailable"}' in metrics


@pytest.mark.parametrize("choice", ["account", "spam", "cadence:weekly"])
async def test_a_choice_on_the_page_while_kafka_is_down_says_it_is_not_done(outage, choice) -> None:
    """A person gets a page, not an error: nothing is done yet, try again; the retry is a first
    time, not "you had already done this"."""
    client, broker = outage
    path = f"/u/{token(cadence='daily')}/choose"

    refused = await client.post(path, data={"choice": choice})
    assert refused.status == 503
    assert refused.headers["Retry-After"] == "30"
    text = await refused.text()
    assert refused.content_type == "text/html"
    assert "may <strong>not</strong> have taken effect" in text
    assert broker.records == []

    broker.up = True
    done = await client.post(path, data={"choice": choice})
    assert done.status == 200
    assert "already done this" not in await done.text()
    assert len(broker.records) == 1


async def test_pages_that_publish_nothing_work_while_kafka_is_down(outage) -> None:
    client, _ = outage
    assert (await client.get(f"/u/{token()}")).status == 200
    assert (await client.post(f"/u/{token()}", data="nonsense")).status == 400
