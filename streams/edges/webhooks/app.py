"""`sendgate webhooks`: the ESPs' event webhooks, one path per provider.

- `POST /webhooks/ses`: Amazon SES notifications through an SNS HTTP(S) subscription. The SNS
  signature is checked against a certificate kept locally (`SnsCertificates`), the topic must be
  one of ours, and a `SubscriptionConfirmation` is confirmed by visiting its SubscribeURL (on a
  listed host), so subscribing the endpoint takes no manual step.
- `POST /webhooks/sendgrid`: SendGrid's signed Event Webhook (ECDSA over timestamp and body).
- `POST /webhooks/mailgun`: Mailgun's webhooks (HMAC over timestamp and token); a token is taken
  once, so a captured request cannot be posted again within the tolerance, nor after it (stale).
- `POST /webhooks/postmark`: Postmark's bounce, spam-complaint and delivery webhooks, with the
  basic-auth credentials of the webhook URL or a token in a custom header.

What the service decides is only whether a request is the provider's. An authentic request is
published whole to `esp-webhooks` (`EspWebhook`) and answered 200 once Kafka has acknowledged it;
the worker's `read_esp_webhooks` agent reads its events (`streams.esp`). So a batch is accepted
or refused as a whole, an answer never depends on how its events read, and an event nobody can
read yet is dead-lettered with the whole request rather than lost. When Kafka cannot take the
request the answer is 503 and the provider retries (each does, for hours); the same body gives
the same webhook id and the same record ids, so a retry of a request that landed after all
changes nothing.

Refusals: 401 when the credentials are missing, 403 when they are wrong (a bad signature, a
certificate we do not hold, a topic not ours, a stale timestamp, a replayed token, a provider not
configured), 400 for a body too broken to find its credentials in, 413 for an oversized one.
Each is counted (`sendgate_webhook_refused_total{esp,reason}`) and logged without the body.
Nothing unauthenticated is ever published: it would let anyone fill a personal topic.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiohttp import web
from cryptography import x509
from prometheus_client import CONTENT_TYPE_LATEST, Counter, generate_latest

from streams.core.clock import Clock
from streams.core.errors import ServiceUnavailableError
from streams.core.records import EspName, EspWebhook
from streams.esp import mailgun, postmark, sendgrid, sns
from streams.esp.model import NotAuthentic

__all__ = ["PATHS", "WebhookConfig", "make_webhook_app", "webhook_id"]

log = logging.getLogger(__name__)

Publish = Callable[[EspWebhook], Awaitable[object]]
Confirm = Callable[[str], Awaitable[None]]
"""Visits an SNS SubscribeURL; raises on anything but a 2xx answer."""
FindCertificate = Callable[[str], x509.Certificate | None]
Headers = Mapping[str, str]
Settle = Callable[[bool], None]
"""Told whether the request was published (a Mailgun token is kept, or released for a retry)."""
Checked = tuple[str, Settle]
"""How a request proved itself (`EspWebhook.authenticated_by`), and its `Settle`."""
Check = Callable[[bytes, Headers, datetime], Awaitable[Checked | None]]
"""Authenticates a body (None: answered already, as an SNS subscription confirmation is)."""

PATHS: dict[EspName, str] = {
    "ses": "/webhooks/ses",
    "sendgrid": "/webhooks/sendgrid",
    "mailgun": "/webhooks/mailgun",
    "postmark": "/webhooks/postmark",
}

REQUESTS = Counter(
    "sendgate_webhook_requests",
    "ESP webhook requests by provider and outcome: accepted (on Kafka), refused (401/403), "
    "malformed (400), too_large (413), unavailable (503, Kafka), subscription_confirmed, "
    "subscription_failed, subscription_pending, unsubscribe_confirmation.",
    ["esp", "outcome"],
)
REFUSED = Counter(
    "sendgate_webhook_refused",
    "ESP webhook requests refused as not the provider's (401/403), by provider and reason.",
    ["esp", "reason"],
)


@dataclass(frozen=True)
class WebhookConfig:
    """The credentials each path checks against; a provider left None refuses every request."""

    sns_topic_arns: frozenset[str] = frozenset()
    sns_hosts: tuple[str, ...] = ()
    sns_confirm_subscriptions: bool = True
    sendgrid_public_key: str | None = None
    mailgun_signing_key: str | None = None
    postmark_username: str | None = None
    postmark_password: str | None = None
    postmark_token: str | None = None
    postmark_token_header: str = "X-Sendgate-Webhook-Token"
    tolerance_s: float = 300.0
    max_body_bytes: int = 8 * 1024 * 1024


def webhook_id(esp: str, body: bytes) -> str:
    """The same for a provider's retry of the same request (the same body)."""
    return "esp-" + hashlib.sha256(esp.encode("ascii") + b"\0" + body).hexdigest()[:40]


class _Malformed(Exception):
    pass


def make_webhook_app(
    config: WebhookConfig,
    publish: Publish,
    clock: Clock,
    *,
    certificates: FindCertificate,
    confirm: Confirm,
    seen_tokens: mailgun.SeenTokens,
) -> web.Application:
    app = web.Application(client_max_size=config.max_body_bytes)

    async def accept(esp: EspName, body: bytes, authenticated_by: str, now: datetime) -> None:
        record = EspWebhook(
            webhook_id=webhook_id(esp, body),
            esp=esp,
            received_at=now,
            authenticated_by=authenticated_by,
            body=body,
        )
        await publish(record)

    async def handle(
        esp: EspName,
        request: web.Request,
        check: Check,
    ) -> web.Response:
        """Read the body, let `check` authenticate it, publish, answer."""
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            REQUESTS.labels(esp, "too_large").inc()
            return web.Response(status=413, text="request body too large\n")
        now = clock.now()
        try:
            checked = await check(body, request.headers, now)
        except NotAuthentic as refusal:
            REQUESTS.labels(esp, "refused").inc()
            REFUSED.labels(esp, refusal.reason).inc()
            log.warning("%s webhook refused (%s): %s", esp, refusal.reason, refusal.detail)
            return web.Response(status=refusal.status, text=f"refused: {refusal.reason}\n")
        except _Malformed as exc:
            REQUESTS.labels(esp, "malformed").inc()
            log.warning("%s webhook malformed: %s", esp, exc)
            return web.Response(status=400, text=f"malformed: {exc}\n")
        if checked is None:
            return web.Response(status=200, text="ok\n")
        authenticated_by, settle = checked
        try:
            await accept(esp, body, authenticated_by, now)
        except ServiceUnavailableError as exc:
            settle(False)
            REQUESTS.labels(esp, "unavailable").inc()
            log.warning("%s webhook not taken, Kafka unavailable: %s", esp, exc)
            return web.Response(
                status=503,
                headers={"Retry-After": "30"},
                text="not accepted: Kafka is unavailable; retry\n",
            )
        except BaseException:
            settle(False)
            raise
        settle(True)
        REQUESTS.labels(esp, "accepted").inc()
        return web.json_response({"accepted": True, "webhook_id": webhook_id(esp, body)})

    def nothing(published: bool) -> None:
        return None

    # --- Amazon SES through SNS -------------------------------------------------------------
    async def check_sns(body: bytes, headers: Headers, now: datetime) -> Checked | None:
        if not config.sns_topic_arns:
            raise NotAuthentic("not-configured", "no SNS topic is configured")
        try:
            message = sns.parse_sns_message(body)
        except ValueError as exc:
            raise _Malformed(str(exc)) from None
        sns.check_topic(message, config.sns_topic_arns)
        name = sns.signing_certificate_name(message.signing_cert_url, config.sns_hosts)
        certificate = certificates(name)
        if certificate is None:
            raise NotAuthentic(
                "unknown-certificate",
                f"signing certificate {name} is not among the configured ones",
            )
        sns.verify_sns_signature(message, certificate, at=now)
        proof = f"sns-signature-v{message.signature_version} {name}"
        if message.type == "SubscriptionConfirmation":
            await _confirm(message)
            return None
        if message.type == "UnsubscribeConfirmation":
            REQUESTS.labels("ses", "unsubscribe_confirmation").inc()
            log.warning("SNS says the subscription to %s was removed", message.topic_arn)
            return None
        return proof, nothing

    async def _confirm(message: sns.SnsMessage) -> None:
        url = message.subscribe_url or ""
        if not config.sns_confirm_subscriptions:
            REQUESTS.labels("ses", "subscription_pending").inc()
            log.warning(
                "SNS subscription to %s awaits confirmation: visit %s", message.topic_arn, url
            )
            return
        if not sns.subscribe_url_allowed(url, config.sns_hosts):
            raise NotAuthentic("unlisted-subscribe-host", "the SubscribeURL is on no listed host")
        try:
            await confirm(url)
        except Exception as exc:
            REQUESTS.labels("ses", "subscription_failed").inc()
            log.warning("confirming the SNS subscription to %s failed: %s", message.topic_arn, exc)
            raise web.HTTPBadGateway(text="subscription not confirmed; retry\n") from None
        REQUESTS.labels("ses", "subscription_confirmed").inc()
        log.info("confirmed the SNS subscription to %s", message.topic_arn)

    # --- SendGrid ----------------------------------------------------------------------------
    async def check_sendgrid(body: bytes, headers: Headers, now: datetime) -> Checked:
        if not config.sendgrid_public_key:
            raise NotAuthentic("not-configured", "no SendGrid verification key is configured")
        sendgrid.verify_sendgrid_signature(
            config.sendgrid_public_key,
            _header(headers, sendgrid.SIGNATURE_HEADER),
            _header(headers, sendgrid.TIMESTAMP_HEADER),
            body,
            now=now,
            tolerance_s=config.tolerance_s,
        )
        return "sendgrid-ecdsa", nothing

    # --- Mailgun -----------------------------------------------------------------------------
    async def check_mailgun(body: bytes, headers: Headers, now: datetime) -> Checked:
        if not config.mailgun_signing_key:
            raise NotAuthentic("not-configured", "no Mailgun signing key is configured")
        payload = _json_object(body)
        signature = payload.get("signature")
        token = mailgun.verify_mailgun_signature(
            config.mailgun_signing_key,
            signature if isinstance(signature, Mapping) else None,
            now=now,
            tolerance_s=config.tolerance_s,
        )
        if not seen_tokens.reserve(token, now):
            raise NotAuthentic("replayed", "this signature token was taken before")

        def settle(published: bool) -> None:
            if published:
                seen_tokens.confirm(token)
            else:
                seen_tokens.release(token)

        return "mailgun-hmac", settle

    # --- Postmark ----------------------------------------------------------------------------
    async def check_postmark(body: bytes, headers: Headers, now: datetime) -> Checked:
        if not ((config.postmark_username and config.postmark_password) or config.postmark_token):
            raise NotAuthentic("not-configured", "no Postmark credentials are configured")
        postmark.check_postmark_auth(
            headers,
            username=config.postmark_username,
            password=config.postmark_password,
            token=config.postmark_token,
            token_header=config.postmark_token_header,
        )
        _json_object(body)
        by_token = bool(config.postmark_token and _header(headers, config.postmark_token_header))
        return ("postmark-token" if by_token else "postmark-basic-auth"), nothing

    def route(esp: EspName, check: Check) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handler(request: web.Request) -> web.Response:
            return await handle(esp, request, check)

        return handler

    async def metrics(_request: web.Request) -> web.Response:
        response = web.Response(body=generate_latest())
        response.content_type = CONTENT_TYPE_LATEST.split(";")[0]
        return response

    async def healthz(_request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    checks: dict[EspName, Check] = {
        "ses": check_sns,
        "sendgrid": check_sendgrid,
        "mailgun": check_mailgun,
        "postmark": check_postmark,
    }
    for esp, path in PATHS.items():
        app.router.add_post(path, route(esp, checks[esp]))
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    return app


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    return value if value else None


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise _Malformed("the body is not JSON") from None
    if not isinstance(payload, dict):
        raise _Malformed("the body is not a JSON object")
    return payload
