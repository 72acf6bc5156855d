"""A person unsubscribes in a real browser: headless Chromium opens the link of an allowed decision,
picks "everything acme sends" on the preference centre, and the gate and the PostgreSQL ledger
both show it.

Debian's chromium (/usr/bin/chromium, which scripts/bootstrap installs) is driven by Playwright;
Playwright never downloads a browser here. A missing chromium is a failure, never a skip. The
screenshots go to `artifacts/browser/` at the project root (ignored by git):
`unsubscribe-page.png` (the preference centre) and `unsubscribe-done.png` (the confirmation).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.async_api import async_playwright, expect
from pydantic import SecretStr
from sqlalchemy import select

from streams.core.recipient import RecipientKeyer
from streams.core.records import SendDecision
from streams.core.settings import Settings
from streams.edges.ledger import make_engine, run_ledger_sink
from streams.edges.ledger.models import SuppressionChangeRow
from streams.edges.web.serve import free_loopback_port
from streams.topics import (
    SEND_DECISIONS,
    SEND_REQUESTS,
    SUPPRESSION_CHANGES,
    UNSUBSCRIBE_CLICKS,
    default_codec,
)
from tests.support.factory import consent_event, send_request
from tests.support.kafka import (
    TopicReader,
    create_all_topics,
    new_producer,
    publish_consents,
)
from tests.support.web import serving_unsubscribes
from tests.support.workers import GateWorker

ADDRESS = "noor.haddad@example.net"
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "browser"
# Debian's chromium on a machine whose only network is the loopback: without the background
# networking flags it keeps dialling Google's hosts. Playwright adds --headless itself and starts
# each browser with a fresh, empty profile of its own (it refuses a --user-data-dir here).
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


class Sender:
    """Sends commercial mail to the one person of this test and reads the gate's answers."""

    def __init__(self, settings: Settings, answers: TopicReader) -> None:
        self.settings, self.answers = settings, answers
        self.keyer = RecipientKeyer(settings.recipient_secret())
        self.sent = 0

    async def send(self, list_id: str) -> SendDecision:
        self.sent += 1
        request_id = f"req-{self.sent}"
        request = send_request(
            recipient=ADDRESS,
            request_id=request_id,
            account_id="acme",
            list_id=list_id,
            requested_at=datetime.now(UTC),
        )
        producer = await new_producer(self.settings)
        try:
            await producer.send_and_wait(
                SEND_REQUESTS.full_name(self.settings),
                default_codec().encode(request),
                key=self.keyer.key(ADDRESS).encode(),
            )
        finally:
            await producer.stop()
        got = await self.answers.read_until(
            lambda ds: request_id in {d.request_id for d in ds}, 60, request_id
        )
        return next(d for d in got if d.request_id == request_id)


def web_link_of(decision: SendDecision) -> str:
    """The http(s) link of a List-Unsubscribe header (RFC 2369: a list of <...> URIs)."""
    links = [part.strip().strip("<>") for part in decision.headers["List-Unsubscribe"].split(",")]
    return next(link for link in links if link.startswith(("https://", "http://")))


async def unsubscribe_from_the_account_in_chromium(link: str) -> None:
    """Open the link, check the preference centre, pick the account, read the confirmation."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS
        )
        try:
            page = await browser.new_page()
            response = await page.goto(link)
            assert response is not None and response.status == 200
            assert await page.title() == "Your email preferences"
            await expect(page.get_by_role("heading", level=1)).to_have_text(
                "Your email preferences"
            )
            choices = page.get_by_role("group", name="What would you like to do?")
            await expect(choices.get_by_role("button")).to_have_text(
                [
                    "Unsubscribe from the list “news”",
                    "Unsubscribe from everything acme sends",
                    "Stop all mail sent through this platform",
                    "Report this message as spam (and unsubscribe)",
                ]
            )
            await page.screenshot(path=ARTIFACTS / "unsubscribe-page.png", full_page=True)

            await choices.get_by_role(
                "button", name="Unsubscribe from everything acme sends"
            ).click()
            await expect(page.get_by_role("status")).to_have_text(
                "You will get no more mail from acme."
            )
            assert await page.title() == "Done"
            await page.screenshot(path=ARTIFACTS / "unsubscribe-done.png", full_page=True)
        finally:
            await browser.close()


async def test_a_person_unsubscribes_from_an_account_in_headless_chromium(
    settings: Settings, tmp_path: Path, ledger_database_url: str
) -> None:
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/bootstrap (browser tests never skip)")
    port = free_loopback_port()
    settings = settings.model_copy(
        update={
            "unsubscribe_base_url": f"http://127.0.0.1:{port}",
            "database_url": SecretStr(ledger_database_url),
        }
    )
    await create_all_topics(settings)
    worker = GateWorker(settings, "browser-worker", tmp_path).start()
    keyer = RecipientKeyer(settings.recipient_secret())
    try:
        async with serving_unsubscribes(settings):
            await publish_consents(
                settings,
                [
                    consent_event(
                        recipient_key=keyer.key(ADDRESS),
                        event_id="opt-in",
                        account_id="acme",
                        occurred_at=datetime.now(UTC),
                    )
                ],
            )
            async with TopicReader(
                settings, SEND_DECISIONS.full_name(settings), SendDecision
            ) as answers:
                sender = Sender(settings, answers)
                allowed = await sender.send("news")
                assert allowed.verdict == "allow", allowed.failures
                link = web_link_of(allowed)
                assert link.startswith(settings.unsubscribe_base_url + "/u/")

                await unsubscribe_from_the_account_in_chromium(link)

                denied = await sender.send("offers")  # another list of the same account
                assert [f.rule for f in denied.failures] == ["account-unsubscribed"]
    finally:
        worker.stop()
        if worker.alive():  # pragma: no cover - only when stop failed
            worker.kill()
    assert "Traceback" not in worker.log_tail(400), worker.log_tail(80)

    await run_ledger_sink(settings, idle_exit_s=2)
    engine = make_engine(ledger_database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                select(SuppressionChangeRow).where(
                    SuppressionChangeRow.kafka_topic == SUPPRESSION_CHANGES.full_name(settings)
                )
            ).all()
    finally:
        engine.dispose()
    [row] = rows
    assert row.recipient_key == keyer.key(ADDRESS)
    assert (row.scope, row.account_id, row.list_id, row.outcome) == (
        "account",
        "acme",
        None,
        "added",
    )
    assert row.source.startswith(UNSUBSCRIBE_CLICKS.full_name(settings))
