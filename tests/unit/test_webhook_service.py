"""The ESP webhook service's decisions, with the providers played by `streams.demo.providers`:
an authentic request is published whole and answered 200 only after the publish returned; every
other is refused with the provider's status and counted; nothing refused is ever published.

The publish here is a list (these are the service's own decisions, not Kafka's); the integration
test posts through the real broker and worker."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import REGISTRY

from streams.core.clock import SystemClock
from streams.core.errors import ServiceUnavailableError
from streams.core.records import EspWebhook
from streams.demo.providers import (
    DEMO_SNS_TOPIC,
    MailgunSigner,
    PostmarkCredentials,
    SendgridSigner,
    SnsSigner,
)
from streams.edges.webhooks.app import WebhookConfig, make_webhook_app, webhook_id
from streams.edges.webhooks.certificates import SnsCertificates
from streams.esp.mailgun import SeenTokens

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "esp"
SES_BOUNCE = {"notificationType": "Bounce", "bounce": {}, "mail": {}}
LOOPBACK_HOSTS = (r"sns\.[a-z0-9-]+\.amazonaws\.com", r"127\.0\.0\.1")


class Service:
    """The app under test, what it published and which SubscribeURLs it visited."""

    def __init__(self, tmp_path: Path) -> None:
        self.sns = SnsSigner.create()
        self.sendgrid = SendgridSigner.create()
        self.mailgun = MailgunSigner.create()
        self.postmark = PostmarkCredentials.create()
        self.sns.install(tmp_path / "sns")
        self.certificates = SnsCertificates(tmp_path / "sns", SystemClock())
        self.published: list[EspWebhook] = []
        self.visited: list[str] = []
        self.kafka_down = False
        self.confirm_fails = False
        self.config = WebhookConfig(
            sns_topic_arns=frozenset({DEMO_SNS_TOPIC}),
            sns_hosts=LOOPBACK_HOSTS,
            sendgrid_public_key=self.sendgrid.public_key,
            mailgun_signing_key=self.mailgun.signing_key,
            postmark_username=self.postmark.username,
            postmark_password=self.postmark.password,
            max_body_bytes=64 * 1024,
        )

    async def publish(self, record: EspWebhook) -> None:
        if self.kafka_down:
            raise ServiceUnavailableError("the broker did not acknowledge")
        self.published.append(record)

    async def confirm(self, url: str) -> None:
        if self.confirm_fails:
            raise OSError("connection refused")
        self.visited.append(url)

    def app(self, config: WebhookConfig | None = None) -> Any:
        return make_webhook_app(
            config or self.config,
            self.publish,
            SystemClock(),
            certificates=self.certificates,
            confirm=self.confirm,
            seen_tokens=SeenTokens(tolerance_s=300.0),
        )


@pytest.fixture
def service(tmp_path: Path) -> Service:
    return Service(tmp_path)


@pytest_asyncio.fixture(loop_scope="function")
async def client(service: Service) -> AsyncIterator[TestClient]:
    async with TestClient(TestServer(service.app())) as test_client:
        yield test_client


def refused(esp: str, reason: str) -> float:
    return (
        REGISTRY.get_sample_value("sendgate_webhook_refused_total", {"esp": esp, "reason": reason})
        or 0.0
    )


def sendgrid_sample() -> bytes:
    return (SAMPLES / "sendgrid" / "bounce.json").read_bytes()


async def test_a_signed_ses_notification_is_published_whole(client, service) -> None:
    body = service.sns.notification(SES_BOUNCE)
    response = await client.post("/webhooks/ses", data=body)
    assert response.status == 200
    (record,) = service.published
    assert record.esp == "ses"
    assert record.body == body
    assert record.webhook_id == webhook_id("ses", body)
    assert record.authenticated_by.startswith("sns-signature-v2 ")
    assert (await response.json())["webhook_id"] == record.webhook_id


async def test_sns_signature_version_1_is_taken_too(client, service) -> None:
    response = await client.post(
        "/webhooks/ses", data=service.sns.notification(SES_BOUNCE, version="1")
    )
    assert response.status == 200
    assert service.published[0].authenticated_by.startswith("sns-signature-v1 ")


async def test_an_sns_message_from_a_topic_not_ours_is_refused_though_amazon_signed_it(
    client, service
) -> None:
    before = refused("ses", "unlisted-topic")
    body = service.sns.notification(SES_BOUNCE, topic_arn="arn:aws:sns:us-east-1:666:theirs")
    response = await client.post("/webhooks/ses", data=body)
    assert response.status == 403
    assert refused("ses", "unlisted-topic") == before + 1
    assert service.published == []


async def test_an_sns_message_signed_with_a_certificate_we_do_not_hold_is_refused(
    client, service, tmp_path: Path
) -> None:
    stranger = SnsSigner.create(name="SimpleNotificationService-other.pem")
    response = await client.post("/webhooks/ses", data=stranger.notification(SES_BOUNCE))
    assert response.status == 403
    assert "unknown-certificate" in await response.text()
    # Same name as ours, other key: the signature does not verify.
    impostor = SnsSigner.create()
    response = await client.post("/webhooks/ses", data=impostor.notification(SES_BOUNCE))
    assert response.status == 403
    assert "bad-signature" in await response.text()
    assert service.published == []


async def test_an_altered_sns_message_is_refused(client, service) -> None:
    envelope = json.loads(service.sns.notification(SES_BOUNCE))
    envelope["Message"] = json.dumps({"notificationType": "Complaint"})
    response = await client.post("/webhooks/ses", data=json.dumps(envelope))
    assert response.status == 403
    assert service.published == []


async def test_a_subscription_confirmation_is_confirmed_by_visiting_its_url(
    client, service
) -> None:
    url = "http://127.0.0.1:9/?Action=ConfirmSubscription&Token=abc"
    envelope = {
        "Type": "SubscriptionConfirmation",
        "MessageId": "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
        "Token": "abc",
        "TopicArn": DEMO_SNS_TOPIC,
        "Message": "You have chosen to subscribe to the topic.",
        "SubscribeURL": url,
        "Timestamp": "2026-12-08T00:00:00.000Z",
        "SignatureVersion": "2",
        "SigningCertURL": f"https://sns.us-east-1.amazonaws.com/{service.sns.certificate_name}",
    }
    response = await client.post("/webhooks/ses", data=service.sns.sign(envelope))
    assert response.status == 200
    assert service.visited == [url]
    assert service.published == []
    service.confirm_fails = True
    response = await client.post("/webhooks/ses", data=service.sns.sign(envelope))
    assert response.status == 502  # SNS delivers the confirmation again


async def test_a_confirmation_pointing_at_an_unlisted_host_is_not_visited(client, service) -> None:
    envelope = {
        "Type": "SubscriptionConfirmation",
        "MessageId": "m-1",
        "Token": "abc",
        "TopicArn": DEMO_SNS_TOPIC,
        "Message": "subscribe",
        "SubscribeURL": "https://evil.example/confirm",
        "Timestamp": "2026-12-08T00:00:00.000Z",
        "SignatureVersion": "2",
        "SigningCertURL": f"https://sns.us-east-1.amazonaws.com/{service.sns.certificate_name}",
    }
    response = await client.post("/webhooks/ses", data=service.sns.sign(envelope))
    assert response.status == 403
    assert service.visited == []


async def test_a_signed_sendgrid_batch_is_published_and_a_forged_one_refused(
    client, service
) -> None:
    body = sendgrid_sample()
    response = await client.post(
        "/webhooks/sendgrid", data=body, headers=service.sendgrid.headers(body)
    )
    assert response.status == 200
    assert [record.body for record in service.published] == [body]

    headers = service.sendgrid.headers(body)
    response = await client.post("/webhooks/sendgrid", data=body + b" ", headers=headers)
    assert response.status == 403
    response = await client.post("/webhooks/sendgrid", data=body)
    assert response.status == 401
    old = service.sendgrid.headers(body, at=datetime.now(UTC) - timedelta(hours=1))
    before = refused("sendgrid", "stale")
    response = await client.post("/webhooks/sendgrid", data=body, headers=old)
    assert response.status == 403
    assert refused("sendgrid", "stale") == before + 1
    assert len(service.published) == 1


async def test_a_mailgun_request_is_taken_once_and_again_after_a_failed_publish(
    client, service
) -> None:
    body = service.mailgun.sign({"event": "delivered", "id": "x"})
    service.kafka_down = True
    response = await client.post("/webhooks/mailgun", data=body)
    assert response.status == 503
    assert response.headers["Retry-After"]
    service.kafka_down = False
    response = await client.post("/webhooks/mailgun", data=body)  # the provider's retry
    assert response.status == 200
    response = await client.post("/webhooks/mailgun", data=body)  # a captured copy
    assert response.status == 403
    assert "replayed" in await response.text()
    assert len(service.published) == 1


async def test_a_mailgun_request_with_another_key_or_no_signature_is_refused(
    client, service
) -> None:
    other = MailgunSigner.create().sign({"event": "delivered"})
    assert (await client.post("/webhooks/mailgun", data=other)).status == 403
    unsigned = json.dumps({"event-data": {"event": "delivered"}})
    assert (await client.post("/webhooks/mailgun", data=unsigned)).status == 401
    assert (await client.post("/webhooks/mailgun", data=b"not json")).status == 400
    assert service.published == []


async def test_postmark_needs_its_basic_auth(client, service) -> None:
    body = (SAMPLES / "postmark" / "spam-complaint.json").read_bytes()
    headers = service.postmark.headers()
    response = await client.post("/webhooks/postmark", data=body, headers=headers)
    assert response.status == 200
    assert service.published[0].authenticated_by == "postmark-basic-auth"
    wrong = PostmarkCredentials("postmark", "not-the-password").headers()
    assert (await client.post("/webhooks/postmark", data=body, headers=wrong)).status == 403
    assert (await client.post("/webhooks/postmark", data=body)).status == 401
    assert len(service.published) == 1


async def test_a_provider_without_credentials_refuses_everything(service) -> None:
    config = WebhookConfig()
    async with TestClient(TestServer(service.app(config))) as client:
        before = refused("sendgrid", "not-configured")
        body = sendgrid_sample()
        response = await client.post(
            "/webhooks/sendgrid", data=body, headers=service.sendgrid.headers(body)
        )
        assert response.status == 403
        assert refused("sendgrid", "not-configured") == before + 1
        response = await client.post("/webhooks/ses", data=service.sns.notification(SES_BOUNCE))
        assert response.status == 403
    assert service.published == []


async def test_kafka_down_is_503_for_the_whole_batch(client, service) -> None:
    service.kafka_down = True
    body = sendgrid_sample()
    response = await client.post(
        "/webhooks/sendgrid", data=body, headers=service.sendgrid.headers(body)
    )
    assert response.status == 503
    assert service.published == []


async def test_an_oversized_body_is_413(client, service) -> None:
    response = await client.post("/webhooks/postmark", data=b"x" * (65 * 1024))
    assert response.status == 413
    assert service.published == []


async def test_the_same_body_is_the_same_webhook(client, service) -> None:
    body = service.sns.notification(SES_BOUNCE)
    for _ in range(2):
        assert (await client.post("/webhooks/ses", data=body)).status == 200
    first, second = service.published
    assert first.webhook_id == second.webhook_id
    assert webhook_id("ses", body) != webhook_id("postmark", body)
