"""The unsubscribe service's HTTP behaviour (RFC 8058 one-click, the page, bad input), with the
publisher collecting what would go to Kafka; tests/integration/test_web_unsubscribe.py runs it
against the real broker and gate."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio
from aiohttp import FormData
from aiohttp.test_utils import TestClient, TestServer

from streams.clock import FrozenClock
from streams.records import FeedbackReport, UnsubscribeClick
from streams.unsubscribe_tokens import UnsubscribeTokens
from streams.web import WebSettings, make_web_app

NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
TOKENS = UnsubscribeTokens({1: b"w" * 32}, 1, valid_for=timedelta(days=365))
KEY = "ef" * 32


def token(list_id: str | None = "weekly-deals", at: datetime = NOW) -> str:
    return TOKENS.issue(
        recipient_key=KEY, account_id="acme", list_id=list_id, request_id="r1", issued_at=at
    )


@pytest.fixture
def published() -> list:
    return []


@pytest_asyncio.fixture(loop_scope="function")
async def client(published: list) -> AsyncIterator[TestClient]:
    async def publish(record: UnsubscribeClick | FeedbackReport) -> None:
        published.append(record)

    app = make_web_app(TOKENS, publish, FrozenClock(NOW), WebSettings(requests_per_minute=30))
    async with TestClient(TestServer(app)) as test_client:
        yield test_client


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
