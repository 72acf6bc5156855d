"""ESP webhooks end to end: each provider's published bounce and complaint, signed as the
provider signs it, posted to the real webhook service, published to the real broker, read by a
real gate worker; the next send to each person is decided on the result.

The payloads are the providers' documented samples (tests/data/esp, sources in SOURCES.md) with
four things set for the run: the recipient (a person who opted in first), the send's identity in
the provider's metadata (SES message tags, SendGrid custom args, Mailgun user variables, Postmark
metadata), the event time (now, not the sample's 2013-2019), and, for Postmark, whose sample
bounce says only "Test bounce details", a real 5.1.1 diagnostic so that the bounce is the dead
address Postmark's `HardBounce` says it is.

A forged request is refused and changes nothing; a request posted twice changes nothing twice.
The SNS subscription handshake is done over real HTTP: the service visits the SubscribeURL of a
signed confirmation, here a local stand-in for SNS (loopback is listed as an SNS host for the
test only; the default list names Amazon's hosts alone).
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from pydantic import SecretStr

from streams.core.recipient import RecipientKeyer
from streams.core.records import SendDecision, SuppressionChange
from streams.core.settings import Settings
from streams.demo.providers import (
    DEMO_SNS_TOPIC,
    MailgunSigner,
    PostmarkCredentials,
    SendgridSigner,
    SnsSigner,
)
from streams.edges.web.serve import free_loopback_port
from streams.edges.webhooks.serve import serve_webhooks
from streams.topics import SEND_DECISIONS, SEND_REQUESTS, SUPPRESSION_CHANGES, default_codec
from tests.support.factory import consent_event, send_request
from tests.support.kafka import (
    TopicReader,
    create_all_topics,
    delete_all_topics,
    new_producer,
    publish_consents,
)
from tests.support.workers import GateWorker

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "esp"
ACCOUNT = "acme"
METADATA = {"sendgate_account": ACCOUNT, "sendgate_request_id": "r-sent"}


def sample(provider: str, name: str) -> Any:
    return json.loads((SAMPLES / provider / name).read_text(encoding="utf-8"))


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def ses_bounce(address: str, now: datetime) -> dict[str, Any]:
    event = sample("ses", "event-bounce.json")
    event["bounce"]["bouncedRecipients"][0]["emailAddress"] = address
    event["bounce"]["timestamp"] = iso(now)
    event["mail"]["tags"] = {**event["mail"]["tags"], **{k: [v] for k, v in METADATA.items()}}
    return event


def ses_complaint(address: str, now: datetime) -> dict[str, Any]:
    event = sample("ses", "event-complaint.json")
    event["complaint"]["complainedRecipients"][0]["emailAddress"] = address
    event["complaint"]["timestamp"] = iso(now)
    event["mail"]["tags"] = {**event["mail"]["tags"], **{k: [v] for k, v in METADATA.items()}}
    return event


def sendgrid_event(name: str, address: str, now: datetime) -> dict[str, Any]:
    (event,) = sample("sendgrid", name)
    return {**event, "email": address, "timestamp": int(now.timestamp()), **METADATA}


def mailgun_event(name: str, address: str, now: datetime) -> dict[str, Any]:
    event = sample("mailgun", name)
    return {**event, "recipient": address, "timestamp": now.timestamp(), "user-variables": METADATA}


def postmark_event(name: str, address: str, now: datetime) -> dict[str, Any]:
    event = {**sample("postmark", name), "Email": address, "BouncedAt": iso(now)}
    event["Metadata"] = METADATA
    if event["RecordType"] == "Bounce":
        event["Details"] = "smtp;550 5.1.1 The email account that you tried to reach does not exist"
    return event


async def test_each_providers_bounce_and_complaint_decide_the_next_send(
    settings: Settings, tmp_path: Path
) -> None:
    sns, sendgrid = SnsSigner.create(), SendgridSigner.create()
    mailgun, postmark = MailgunSigner.create(), PostmarkCredentials.create()
    sns.install(tmp_path / "sns")
    confirmations: list[str] = []

    async def confirm(request: web.Request) -> web.Response:
        confirmations.append(request.query.get("Token", ""))
        return web.Response(text="<ConfirmSubscriptionResponse/>")

    fake_sns = web.AppRunner(web.Application())
    fake_sns.app.router.add_get("/", confirm)
    await fake_sns.setup()
    await web.TCPSite(fake_sns, "127.0.0.1", 0).start()
    subscribe_url = (
        f"http://127.0.0.1:{fake_sns.addresses[0][1]}/?Action=ConfirmSubscription"
        f"&TopicArn={DEMO_SNS_TOPIC}&Token=token-2336412f37"
    )
    settings = settings.model_copy(
        update={
            "state_fence_timeout_s": 120.0,
            "webhook_sns_topic_arns": (DEMO_SNS_TOPIC,),
            "webhook_sns_certificates_dir": tmp_path / "sns",
            "webhook_sns_hosts": (*settings.webhook_sns_hosts, r"127\.0\.0\.1"),
            "webhook_sendgrid_public_key": sendgrid.public_key,
            "webhook_mailgun_signing_key": SecretStr(mailgun.signing_key),
            "webhook_postmark_username": postmark.username,
            "webhook_postmark_password": SecretStr(postmark.password),
        }
    )
    codec = default_codec()
    keyer = RecipientKeyer(settings.recipient_secret())
    people = {
        f"{provider}-{what}": f"{provider}.{what}@example.org"
        for provider in ("ses", "sendgrid", "mailgun", "postmark")
        for what in ("bounce", "complaint")
    }
    people["control"] = "control@example.org"
    await create_all_topics(settings)
    worker = GateWorker(settings, "esp-worker", tmp_path).start()
    port = free_loopback_port()
    stop = asyncio.Event()
    listening: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    service = asyncio.create_task(
        serve_webhooks(
            settings, host="127.0.0.1", port=port, stop=stop, on_listening=listening.set_result
        )
    )
    producer = await new_producer(settings)
    base = f"http://127.0.0.1:{port}/webhooks"
    answers: dict[str, int] = {}
    try:
        await asyncio.wait([listening, service], timeout=60, return_when=asyncio.FIRST_COMPLETED)
        if service.done():
            service.result()  # the service stopped: say why
        assert listening.done(), "the webhook service did not listen within 60 s"
        await publish_consents(
            settings,
            [
                consent_event(
                    recipient_key=keyer.key(address),
                    event_id=f"opt-in-{name}",
                    account_id=ACCOUNT,
                    occurred_at=datetime.now(UTC),
                )
                for name, address in people.items()
            ],
            timeout_s=120,
        )
        now = datetime.now(UTC)
        posts: list[tuple[str, str, bytes, dict[str, str]]] = [
            ("ses-bounce", "ses", sns.notification(ses_bounce(people["ses-bounce"], now)), {}),
            (
                "ses-complaint",
                "ses",
                sns.notification(ses_complaint(people["ses-complaint"], now)),
                {},
            ),
        ]
        for what, name in (("bounce", "bounce.json"), ("complaint", "spamreport.json")):
            body = json.dumps([sendgrid_event(name, people[f"sendgrid-{what}"], now)]).encode()
            posts.append((f"sendgrid-{what}", "sendgrid", body, sendgrid.headers(body)))
        for what, name in (
            ("bounce", "failed-permanent-delayed-bounce.json"),
            ("complaint", "complained.json"),
        ):
            body = mailgun.sign(mailgun_event(name, people[f"mailgun-{what}"], now))
            posts.append((f"mailgun-{what}", "mailgun", body, {}))
        for what, name in (("bounce", "bounce.json"), ("complaint", "spam-complaint.json")):
            body = json.dumps(postmark_event(name, people[f"postmark-{what}"], now)).encode()
            posts.append((f"postmark-{what}", "postmark", body, postmark.headers()))

        async with (
            aiohttp.ClientSession() as http,
            TopicReader(settings, SEND_DECISIONS.full_name(settings), SendDecision) as decisions,
            TopicReader(
                settings, SUPPRESSION_CHANGES.full_name(settings), SuppressionChange
            ) as changes,
        ):
            # SNS's handshake: a signed SubscriptionConfirmation, confirmed by visiting its URL.
            confirmation = sns.sign(
                {
                    "Type": "SubscriptionConfirmation",
                    "MessageId": "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
                    "Token": "token-2336412f37",
                    "TopicArn": DEMO_SNS_TOPIC,
                    "Message": f"You have chosen to subscribe to the topic {DEMO_SNS_TOPIC}.",
                    "SubscribeURL": subscribe_url,
                    "Timestamp": iso(now),
                    "SignatureVersion": "2",
                    "SigningCertURL": (
                        f"https://sns.us-east-1.amazonaws.com/{sns.certificate_name}"
                    ),
                }
            )
            async with http.post(f"{base}/ses", data=confirmation) as answer:
                answers["ses-subscription"] = answer.status
            # A forged SendGrid post (signed with another key) first: refused, never published.
            forged_body = json.dumps([sendgrid_event("bounce.json", people["control"], now)])
            forger = SendgridSigner.create()
            async with http.post(
                f"{base}/sendgrid", data=forged_body, headers=forger.headers(forged_body.encode())
            ) as answer:
                answers["forged"] = answer.status
            for name, esp, body, headers in posts:
                async with http.post(f"{base}/{esp}", data=body, headers=headers) as answer:
                    answers[name] = answer.status
            # The provider's retry of one request (SNS redelivers the same body).
            async with http.post(f"{base}/ses", data=posts[0][2]) as answer:
                answers["ses-bounce-again"] = answer.status

            wanted = {keyer.key(people[name]) for name in people if name != "control"}
            await changes.read_until(
                lambda seen: wanted <= {change.recipient_key for change in seen},
                120,
                "a suppression for every person the providers reported",
            )
            for name, address in people.items():
                request = send_request(
                    recipient=address,
                    request_id=f"d-{name}",
                    account_id=ACCOUNT,
                    requested_at=datetime.now(UTC),
                )
                await producer.send(
                    SEND_REQUESTS.full_name(settings),
                    key=keyer.key(address).encode(),
                    value=codec.encode(request),
                )
            await producer.flush()
            got = await decisions.read_until(
                lambda seen: len({d.request_id for d in seen}) >= len(people), 120, "decisions"
            )
            suppressions = [change for change in changes.records if change.recipient_key in wanted]
    finally:
        stop.set()
        await asyncio.gather(service, return_exceptions=True)
        await producer.stop()
        await fake_sns.cleanup()
        worker.stop()
        await delete_all_topics(settings)

    assert answers.pop("forged") == 403
    assert confirmations == ["token-2336412f37"]
    assert set(answers.values()) == {200}, answers
    decided = {decision.request_id: decision for decision in got}

    def rules(name: str) -> list[str]:
        return [failure.rule for failure in decided[f"d-{name}"].failures]

    for provider in ("ses", "sendgrid", "mailgun", "postmark"):
        assert rules(f"{provider}-bounce") == ["platform-suppressed"], provider
        assert rules(f"{provider}-complaint") == ["account-unsubscribed"], provider
    assert decided["d-control"].verdict == "allow"  # the forged post named them
    # One suppression per person: the SNS retry changed nothing.
    by_person: dict[str, list[str]] = {}
    for change in suppressions:
        if change.outcome == "added":
            by_person.setdefault(change.recipient_key, []).append(change.entry.reason)
    assert sorted(len(reasons) for reasons in by_person.values()) == [1] * 8
    assert sorted(reason for reasons in by_person.values() for reason in reasons) == sorted(
        ["hard_bounce"] * 4 + ["complaint"] * 4
    )
