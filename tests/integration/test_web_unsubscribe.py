"""A real one-click unsubscribe: the gate's allowed decision carries the link, the unsubscribe
service (real HTTP, real producer) takes the RFC 8058 POST, and the next send is denied.

Each scope through the page's forms, and a second click that changes nothing, on the real broker
with a real worker. Then an expired link: its page mails a fresh link (to a real SMTP server on
loopback) to the address typed in, whose page unsubscribes for real; and a cadence choice that
the gate's consent keeper applies.
"""

from __future__ import annotations

import asyncio
import re
import smtplib
from datetime import UTC, datetime, timedelta
from html import unescape
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlsplit

import aiohttp

from streams.core.recipient import RecipientKeyer
from streams.core.records import ConsentState, SendDecision, SuppressionChange
from streams.core.settings import Settings
from streams.edges.intake import SmtpIntake
from streams.edges.web.serve import free_loopback_port
from streams.policy import load_policy
from streams.sending.signing_keys import unsubscribe_tokens, verp_signer
from streams.topics import (
    CONSENTS_CHANGELOG,
    SEND_DECISIONS,
    SEND_REQUESTS,
    SUPPRESSION_CHANGES,
    default_codec,
)
from tests.support.factory import consent_event, send_request
from tests.support.kafka import (
    TopicReader,
    create_all_topics,
    new_producer,
    publish_consents,
)
from tests.support.smtp import RecordingRelay
from tests.support.web import serving_unsubscribes
from tests.support.workers import GateWorker

ADDRESS = "maya.lopez@example.org"


class Sender:
    def __init__(self, settings: Settings, answers: TopicReader) -> None:
        self.settings, self.answers = settings, answers
        self.keyer = RecipientKeyer(settings.recipient_secret())
        self.sent = 0

    async def send(self, list_id: str | None = "news", account: str = "acme") -> SendDecision:
        self.sent += 1
        request_id = f"req-{self.sent}"
        request = send_request(
            recipient=ADDRESS,
            request_id=request_id,
            account_id=account,
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


def smtp_send(port: int, mail_from: str, rcpt: str, data: bytes) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        client.sendmail(mail_from, [rcpt], data)


def link_for(settings: Settings, token: str) -> str:
    return f"{settings.unsubscribe_base_url}/u/{token}"


def cadence_of(states: list[ConsentState], account: str) -> str | None:
    """The account's cadence in the latest state the consents changelog holds."""
    latest = states[-1].entries if states else ()
    return next((entry.cadence for entry in latest if entry.account_id == account), None)


def link_of(decision: SendDecision) -> str:
    return decision.headers["List-Unsubscribe"].split(",")[0].strip().strip("<>")


async def test_one_click_and_every_scope_of_the_page_on_the_real_broker(
    settings: Settings, tmp_path: Path
) -> None:
    await create_all_topics(settings)
    # The web service learns its port only once it listens; the gate needs the base URL first,
    # so pick a free port now and give both the same one.
    port = free_loopback_port()
    settings = settings.model_copy(update={"unsubscribe_base_url": f"http://127.0.0.1:{port}"})
    worker = GateWorker(settings, "web-worker", tmp_path).start()
    try:
        async with serving_unsubscribes(settings):
            keyer = RecipientKeyer(settings.recipient_secret())
            await publish_consents(
                settings,
                [
                    consent_event(
                        recipient_key=keyer.key(ADDRESS),
                        event_id=f"grant-{account}",
                        account_id=account,
                        occurred_at=datetime.now(UTC),
                    )
                    for account in ("acme", "globex", "initech")
                ],
            )
            async with (
                TopicReader(settings, SEND_DECISIONS.full_name(settings), SendDecision) as answers,
                TopicReader(
                    settings, SUPPRESSION_CHANGES.full_name(settings), SuppressionChange
                ) as changes,
                aiohttp.ClientSession() as http,
            ):
                sender = Sender(settings, answers)
                allowed = await sender.send("news")
                assert allowed.verdict == "allow"
                link = link_of(allowed)
                assert link.startswith(settings.unsubscribe_base_url + "/u/")
                assert allowed.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

                # RFC 8058 one-click: 200 at once, then the next send to that list is denied.
                async with http.post(
                    link,
                    data="List-Unsubscribe=One-Click",
                    headers={"Content-Type": "application/x-www-form-urlencoded"},
                    allow_redirects=False,
                ) as response:
                    assert response.status == 200
                assert [f.rule for f in (await sender.send("news")).failures] == [
                    "list-unsubscribed"
                ]
                assert (await sender.send("offers")).verdict == "allow"  # another list still goes

                # A second click changes nothing: the keeper reports the same suppression again.
                async with http.post(link, data="List-Unsubscribe=One-Click") as response:
                    assert response.status == 200
                got = await changes.read_until(lambda cs: len(cs) >= 2, 60, "two changes")
                assert [c.outcome for c in got[:2]] == ["added", "replayed"]

                # The page: GET changes nothing; the account form stops all of acme's mail.
                offers = await sender.send("offers")
                async with http.get(link_of(offers)) as response:
                    assert response.status == 200
                    assert 'value="account"' in await response.text()
                assert (await sender.send("offers")).verdict == "allow"
                async with http.post(link_of(offers) + "/choose", data={"choice": "account"}) as r:
                    assert r.status == 200
                assert [f.rule for f in (await sender.send("offers")).failures] == [
                    "account-unsubscribed"
                ]
                other = await sender.send("weekly", account="globex")
                assert other.verdict == "allow"
                # A forged link gets 400 and publishes nothing.
                async with http.post(link[:-5] + "AAAAA", data="List-Unsubscribe=One-Click") as r:
                    assert r.status == 400

                # The mailto half, through the real SMTP intake: the token rides in the subject.
                digest = await sender.send("digest", account="initech")
                mailto = digest.headers["List-Unsubscribe"].split(",")[1].strip().strip("<>")
                target = urlsplit(mailto)
                [subject] = parse_qs(target.query)["subject"]
                message = (
                    f"From: {ADDRESS}\r\nTo: {target.path}\r\nSubject: {subject}\r\n"
                    "\r\nunsubscribe\r\n"
                ).encode()
                intake = SmtpIntake(
                    settings,
                    verp=verp_signer(settings),
                    feedback_addresses=[],
                    max_message_bytes=100_000,
                )
                intake_port = await intake.start()
                try:
                    await asyncio.to_thread(smtp_send, intake_port, ADDRESS, target.path, message)
                finally:
                    await intake.stop()
                await changes.read_until(
                    lambda cs: any(c.entry.account_id == "initech" for c in cs), 60, "mailto unsub"
                )
                by_mail = await sender.send("digest", account="initech")
                assert [f.rule for f in by_mail.failures] == ["list-unsubscribed"]

                # All mail through the platform.
                async with http.post(link_of(other) + "/choose", data={"choice": "platform"}) as r:
                    assert r.status == 200
                denied = await sender.send("weekly", account="globex")
                assert [f.rule for f in denied.failures] == ["platform-suppressed"]
    finally:
        worker.stop()
        if worker.alive():  # pragma: no cover - only when stop failed
            worker.kill()
    assert "Traceback" not in worker.log_tail(400), worker.log_tail(80)


async def test_an_expired_link_mails_a_link_that_unsubscribes_and_a_cadence_choice_is_applied(
    settings: Settings, tmp_path: Path
) -> None:
    await create_all_topics(settings)
    port = free_loopback_port()
    with RecordingRelay() as relay:
        settings = settings.model_copy(
            update={
                "unsubscribe_base_url": f"http://127.0.0.1:{port}",
                "confirmation_smtp_host": "127.0.0.1",
                "confirmation_smtp_port": relay.port,
            }
        )
        worker = GateWorker(settings, "confirm-worker", tmp_path).start()
        try:
            async with serving_unsubscribes(settings):
                keyer = RecipientKeyer(settings.recipient_secret())
                await publish_consents(
                    settings,
                    [
                        consent_event(
                            recipient_key=keyer.key(ADDRESS),
                            event_id="grant-acme",
                            account_id="acme",
                            occurred_at=datetime.now(UTC),
                        ),
                        consent_event(
                            recipient_key=keyer.key(ADDRESS),
                            event_id="grant-globex",
                            account_id="globex",
                            cadence="daily",
                            occurred_at=datetime.now(UTC),
                        ),
                    ],
                )
                # The key file the service signs with (it made it on start).
                tokens = unsubscribe_tokens(settings, load_policy(settings.policy_file).unsubscribe)
                now = datetime.now(UTC)
                async with (
                    TopicReader(
                        settings, SEND_DECISIONS.full_name(settings), SendDecision
                    ) as answers,
                    TopicReader(
                        settings, CONSENTS_CHANGELOG.full_name(settings), ConsentState
                    ) as consents,
                    aiohttp.ClientSession() as http,
                ):
                    sender = Sender(settings, answers)
                    assert (await sender.send("news")).verdict == "allow"

                    # A cadence choice: a consent event the gate's consent keeper applies.
                    weekly_link = link_for(
                        settings,
                        tokens.issue(
                            recipient_key=keyer.key(ADDRESS),
                            account_id="globex",
                            list_id="digest",
                            request_id="req-globex",
                            issued_at=now,
                            cadence="daily",
                        ),
                    )
                    async with http.get(weekly_link) as response:
                        assert 'value="cadence:weekly"' in await response.text()
                    async with http.post(
                        weekly_link + "/choose", data={"choice": "cadence:weekly"}
                    ) as response:
                        assert response.status == 200

                    await consents.read_until(
                        lambda states: cadence_of(states, "globex") == "weekly",
                        60,
                        "weekly cadence",
                    )

                    # An expired link: 410, and a form that mails a fresh link to the typed address.
                    expired_link = link_for(
                        settings,
                        tokens.issue(
                            recipient_key=keyer.key(ADDRESS),
                            account_id="acme",
                            list_id="news",
                            request_id="req-long-ago",
                            issued_at=now - timedelta(days=400),
                        ),
                    )
                    async with http.get(expired_link) as response:
                        assert response.status == 410
                        page = await response.text()
                    [action] = re.findall(r'<form method="post" action="([^"]+)"', page)
                    [token_text] = re.findall(r'name="token" value="([^"]+)"', page)
                    async with http.post(
                        urljoin(expired_link, action),
                        data={"address": ADDRESS, "token": unescape(token_text)},
                    ) as response:
                        assert response.status == 200
                        assert "a link is on its way" in await response.text()
                    [mail] = await relay.wait_for(1, timeout_s=30)
                    assert mail.rcpt_tos == (ADDRESS,)
                    assert mail.message["Subject"] == "Confirm your unsubscribe"
                    [link] = re.findall(r"http://\S+", mail.message.get_content())
                    assert link.startswith(settings.unsubscribe_base_url + "/u/")
                    async with http.get(link) as response:  # opening it changes nothing
                        assert response.status == 200
                        assert 'value="account"' in await response.text()
                    assert (await sender.send("news")).verdict == "allow"
                    async with http.post(link + "/choose", data={"choice": "account"}) as response:
                        assert response.status == 200
                    denied = await sender.send("offers")
                    assert [f.rule for f in denied.failures] == ["account-unsubscribed"]
                    assert len(relay.received) == 1
        finally:
            worker.stop()
            if worker.alive():  # pragma: no cover - only when stop failed
                worker.kill()
    assert "Traceback" not in worker.log_tail(400), worker.log_tail(80)


async def test_the_policy_file_decides_the_platform_choice_and_the_cadences(
    settings: Settings, tmp_path: Path
) -> None:
    policy_file = tmp_path / "policy.toml"
    policy_file.write_text(
        'name = "own-audiences"\nversion = "1"\n\n'
        '[unsubscribe]\noffer_platform_opt_out = false\ncadence_choices = ["daily", "weekly"]\n'
    )
    port = free_loopback_port()
    settings = settings.model_copy(
        update={
            "unsubscribe_base_url": f"http://127.0.0.1:{port}",
            "policy_file": policy_file,
            "confirmation_smtp_host": "127.0.0.1",
        }
    )
    async with serving_unsubscribes(settings):
        tokens = unsubscribe_tokens(settings, load_policy(policy_file).unsubscribe)
        link = link_for(
            settings,
            tokens.issue(
                recipient_key="ab" * 32,
                account_id="acme",
                list_id="news",
                request_id="req-1",
                issued_at=datetime.now(UTC),
                cadence="daily",
            ),
        )
        async with aiohttp.ClientSession() as http:
            async with http.get(link) as response:
                page = await response.text()
            assert re.findall(r'name="choice" value="([^"]+)"', page) == [
                "cadence:weekly",
                "list",
                "account",
                "spam",
            ]
            async with http.post(link + "/choose", data={"choice": "platform"}) as response:
                assert response.status == 400
            # Without the platform choice a forged link's page has nothing to mail.
            async with http.get(link[:-5] + "AAAAA") as response:
                assert response.status == 400
                assert "<form" not in await response.text()
