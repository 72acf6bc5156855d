"""One frozen settings object, read once from `SENDGATE_*` environment variables.

Nothing else in sendgate reads the environment. Units are in the names; secrets are SecretStr and
never printed.
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
from functools import cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from streams.core.errors import SendgateError

__all__ = [
    "PROJECT_ROOT",
    "Settings",
    "create_secret_file",
    "ensure_recipient_key_secret",
    "get_settings",
    "settings_environment",
]

PROJECT_ROOT = Path(__file__).resolve().parents[2]


class Settings(BaseSettings):
    """Where the services are, how topics are named, and the secrets."""

    model_config = SettingsConfigDict(env_prefix="SENDGATE_", frozen=True, extra="ignore")

    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    topic_prefix: str = Field(default="", description="Prepended to every topic and the app id.")
    topic_partitions: int = Field(default=6, ge=1, le=1000)
    topic_replication_factor: int = Field(default=1, ge=1)
    database_url: SecretStr = SecretStr(f"sqlite:///{PROJECT_ROOT / '.data' / 'ledger.sqlite3'}")
    recipient_key_secret: SecretStr | None = None
    recipient_key_secret_file: Path = PROJECT_ROOT / ".data" / "recipient-key.secret"
    verp_key_file: Path | None = Field(
        default=None,
        description="VERP signing keys; default <data_dir>/verp-keys (made if missing).",
    )
    bounce_domain: str = Field(
        default="bounces.sendgate.example",
        description="Domain of the VERP return paths; its MX is the SMTP intake.",
    )
    unsubscribe_key_file: Path | None = Field(
        default=None,
        description=(
            "Unsubscribe link signing keys; default <data_dir>/unsubscribe-keys (made if "
            "missing). Rotate by putting a new key first; old keys keep verifying old links."
        ),
    )
    unsubscribe_base_url: str = Field(
        default="https://unsubscribe.sendgate.example",
        pattern=r"^https?://[^\s/?#]+(/[^\s?#]*)?$",
        description=(
            "Where the unsubscribe service (sendgate web) is reached from the internet: the "
            "one-click links are <base>/u/<token>. HTTPS in production (RFC 8058)."
        ),
    )
    confirmation_smtp_host: str | None = Field(
        default=None,
        min_length=1,
        description=(
            "SMTP relay through which the unsubscribe service mails confirmation links to "
            "addresses typed on the page of a bad or expired link (from unsubscribe@ the bounce "
            "domain). Unset: it sends none, and those pages offer no form."
        ),
    )
    confirmation_smtp_port: int = Field(
        default=25, ge=1, le=65535, description="Port of the confirmation SMTP relay."
    )
    confirmation_smtp_timeout_s: float = Field(
        default=30.0,
        gt=0,
        description="How long to wait for the confirmation relay to connect and answer.",
    )
    feedback_addresses: tuple[str, ...] = ("fbl@feedback.sendgate.example",)
    intake_host: str = "127.0.0.1"
    intake_port: int = Field(default=2525, ge=0, le=65535)
    intake_max_message_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    # --- ESP webhooks (`sendgate webhooks`): unset credentials leave that provider's path
    # refusing every request (403, counted as `not-configured`).
    webhook_sns_topic_arns: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        description=(
            "The SNS topics (ARNs, comma separated) whose SES notifications are taken. A valid "
            "SNS signature "
            "proves Amazon sent a message, not that the topic is ours: anyone can subscribe our "
            "URL to a topic of their own."
        ),
    )
    webhook_sns_certificates_dir: Path = Field(
        default=PROJECT_ROOT / ".data" / "sns-certificates",
        description=(
            "SNS signing certificates (PEM), one file each, named as the last part of their "
            "SigningCertURL. Never fetched at request time: a message signed with a certificate "
            "not here is refused (403 unknown-certificate)."
        ),
    )
    webhook_sns_hosts: tuple[str, ...] = Field(
        default=(r"sns\.[a-z0-9-]+\.amazonaws\.com", r"sns\.[a-z0-9-]+\.amazonaws\.com\.cn"),
        description=(
            "Host names (regular expressions, matched whole) a SigningCertURL or SubscribeURL "
            "may point to."
        ),
    )
    webhook_sns_confirm_subscriptions: bool = Field(
        default=True,
        description=(
            "Confirm a signed SubscriptionConfirmation from a listed topic by visiting its "
            "SubscribeURL (on a listed host). Off: log the URL for an operator to visit."
        ),
    )
    webhook_sendgrid_public_key: str | None = Field(
        default=None,
        description="SendGrid's Event Webhook verification key (base64 DER, as SendGrid shows it).",
    )
    webhook_mailgun_signing_key: SecretStr | None = Field(
        default=None, description="Mailgun's HTTP webhook signing key."
    )
    webhook_postmark_username: str | None = Field(
        default=None, description="Basic-auth user in Postmark's webhook URL."
    )
    webhook_postmark_password: SecretStr | None = Field(
        default=None, description="Basic-auth password in Postmark's webhook URL."
    )
    webhook_postmark_token: SecretStr | None = Field(
        default=None,
        description="A token Postmark sends in a custom header (webhook_postmark_token_header).",
    )
    webhook_postmark_token_header: str = Field(
        default="X-Sendgate-Webhook-Token", description="The header carrying the Postmark token."
    )
    webhook_signature_tolerance_s: float = Field(
        default=300.0,
        gt=0,
        description=(
            "How old a signed SendGrid or Mailgun request may be (its timestamp against our "
            "clock): older ones are refused as replays (403 stale)."
        ),
    )
    webhook_max_body_bytes: int = Field(
        default=8 * 1024 * 1024,
        ge=1024,
        description="Larger request bodies are refused (413); SendGrid posts batches.",
    )
    # --- end of ESP webhooks
    policy_file: Path | None = None
    data_dir: Path = PROJECT_ROOT / ".data"
    table_store: str = Field(
        default="rocksdb://",
        description="faust table store; faust serves rocksdb:// with rocksdict (no C build).",
    )
    worker_web_port: int = Field(default=6066, ge=0, le=65535)
    worker_metrics_port: int = Field(
        default=9464,
        ge=0,
        le=65535,
        description="The worker's /metrics, /healthz and /readyz (0: none); one per worker.",
    )
    metrics_host: str = Field(
        default="127.0.0.1", description="Address the metrics and health endpoints listen on."
    )
    worker_session_timeout_s: float = Field(
        default=6.0,
        gt=1,
        description=(
            "How long the group waits for a silent worker before moving its partitions: a killed "
            "worker's partitions go undecided about this long plus a heartbeat and a restore "
            "(benchmarks/takeover.py). 6 s is the broker's default minimum "
            "(group.min.session.timeout.ms); heartbeats go every sixth of it."
        ),
    )
    personal_topic_retention_s: int = Field(
        default=7 * 86_400,
        ge=10,
        le=27 * 86_400,
        description=(
            "How long topics about a person (send requests, decisions, inbound mail, delivery "
            "events, feedback reports, consent events, dead letters ...) keep a record; "
            "`sendgate topics create` sets it. Kafka deletes whole segments of a tenth of it, so a "
            "record lives at most 1.1 times this: an erased person's records are gone within "
            "that. At most 27 days, so that stays within GDPR Art. 12(3)'s month."
        ),
    )
    broker_retention_check_s: int = Field(
        default=300,
        ge=1,
        le=86_400,
        description=(
            "How often the brokers look for records past their retention "
            "(`log.retention.check.interval.ms`; Kafka's default is 5 minutes, the project's own "
            "broker checks every 10 s): part of how long an erased person's records may outlive "
            "the retention."
        ),
    )
    state_fence_timeout_s: float = Field(default=30.0, gt=0)
    gate_batch_size: int = Field(default=500, ge=1)
    consent_timer_interval_s: float = Field(
        default=5.0,
        gt=0,
        description="How often the consent timer looks for implied consents about to lapse.",
    )
    rates_timer_interval_s: float = Field(
        default=300.0,
        gt=0,
        description=(
            "How often the rate keeper's timer checks for a new day, when it nudges every "
            "(account, provider) it holds to judge the windows that closed meanwhile."
        ),
    )
    publish_retry_s: float = Field(
        default=90.0,
        ge=0,
        description=(
            "How long the producer senders use (and sendgate publish) keeps retrying while the "
            "broker does not answer, from its last acknowledgement, before it gives up: long "
            "enough to ride out a broker restart of a minute."
        ),
    )
    log_format: Literal["text", "json"] = Field(
        default="text",
        description=(
            "How every process writes its log to stderr: text lines for a person at a terminal, "
            "or one JSON object a line for a log collector (streams.core.logs)."
        ),
    )
    log_repeat_interval_s: float = Field(
        default=30.0,
        gt=0,
        description=(
            "A repeated warning or error of a Kafka client is written once per this interval, "
            "with how often it recurred, so a broker outage does not flood the log."
        ),
    )
    retention_policy_file: Path | None = Field(
        default=None,
        description=(
            "How long the ledger keeps consent evidence and decisions (TOML). Unset: the shipped "
            "streams/policies/retention.toml. Kept apart from policy_file, whose version every "
            "decision carries."
        ),
    )
    retention_interval_s: float = Field(
        default=86_400.0,
        gt=0,
        description=(
            "How often, on its clock, the ledger sink runs the retention job (daily: a period "
            "counted in days is then overrun by at most a day)."
        ),
    )
    clock_file: Path | None = Field(
        default=None,
        description=(
            "A file holding the ISO 8601 time the worker and the ledger sink take as now (tests "
            "that advance time, what-if replays, retention years ahead). Unset: the wall clock."
        ),
    )

    # --- notify: `sendgate notify` POSTs enforcement events, signed, to HTTP receivers
    # (streams.edges.notify; the README's "Enforcement events by HTTP" explains each setting).
    notify_urls: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        description=(
            "Where every enforcement event is POSTed, comma separated (http or https; HTTPS "
            "outside a test). Each URL gets every event, in each account's order."
        ),
    )
    notify_secret: SecretStr | None = Field(
        default=None,
        description="The shared secret the requests are signed with (HMAC-SHA-256); else the file.",
    )
    notify_secret_file: Path = Field(
        default=PROJECT_ROOT / ".data" / "notify.secret",
        description=(
            "The shared secret(s), one a line, when notify_secret is unset. Several lines sign "
            "every request with each (a rotation: receivers accept any that matches)."
        ),
    )
    notify_group: str | None = Field(
        default=None,
        min_length=1,
        description="The notifier's consumer group; default <topic_prefix>sendgate-notify.",
    )
    notify_tries: int = Field(
        default=10,
        ge=1,
        le=100,
        description="POSTs of one event to one URL, the first included, before a dead letter.",
    )
    notify_retry_base_s: float = Field(
        default=1.0, gt=0, description="The wait before the first retry; it doubles each time."
    )
    notify_retry_max_s: float = Field(
        default=300.0,
        gt=0,
        description=(
            "The longest wait between two tries (and the most a receiver's Retry-After is "
            "honoured): the default 10 tries ride out a receiver away for about 4 to 9 minutes."
        ),
    )
    notify_timeout_s: float = Field(
        default=10.0, gt=0, description="How long one POST may take, connecting included."
    )
    notify_metrics_port: int = Field(
        default=9467, ge=0, le=65535, description="The notifier's /metrics (0: none)."
    )
    notify_consent_notices: bool = Field(
        default=False,
        description=(
            "Also POST consent notices (implied consent expiring or expired; they carry the "
            "recipient key, never the address)."
        ),
    )

    @field_validator("notify_urls", "webhook_sns_topic_arns", mode="before")
    @classmethod
    def _notify_urls_from_text(cls, value: object) -> object:
        """A comma-separated list (URLs, ARNs), as a person writes it in the environment; or the
        JSON list `settings_environment` hands a subprocess."""
        if not isinstance(value, str):
            return value
        if value.lstrip().startswith("["):
            return json.loads(value)
        return tuple(url.strip() for url in value.split(",") if url.strip())

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"

    @property
    def app_id(self) -> str:
        """The faust app id (consumer group, changelog prefix): fixed name, same prefix."""
        return f"{self.topic_prefix}sendgate"

    @property
    def decided_group(self) -> str:
        """The consumer group holding how far the gate has decided send-requests
        (`streams.gate.decider`); no consumer joins it, the decider only commits to it."""
        return f"{self.app_id}-decided"

    @property
    def verp_keys_path(self) -> Path:
        return self.verp_key_file or self.data_dir / "verp-keys"

    @property
    def unsubscribe_keys_path(self) -> Path:
        return self.unsubscribe_key_file or self.data_dir / "unsubscribe-keys"

    def recipient_secret(self) -> bytes:
        """The platform secret behind recipient keys: from the setting, else from its file."""
        if self.recipient_key_secret is not None:
            return self.recipient_key_secret.get_secret_value().encode()
        try:
            return self.recipient_key_secret_file.read_text(encoding="utf-8").strip().encode()
        except FileNotFoundError:
            raise SendgateError(
                "no recipient key secret: set SENDGATE_RECIPIENT_KEY_SECRET or create "
                f"{self.recipient_key_secret_file} (the demo makes one)"
            ) from None


def create_secret_file(path: Path, content: str) -> bool:
    """Create `path` (mode 0600) holding `content`, unless it exists; True if this call made it.

    Atomic: the content is written to a private temporary file first and then hard-linked into
    place, so several workers starting at once on one data folder never read a half-written file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        return False
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(descriptor, "w", encoding="ascii") as file:
            file.write(content)
        try:
            os.link(temporary, path)
        except FileExistsError:
            return False
        return True
    finally:
        os.unlink(temporary)


def ensure_recipient_key_secret(settings: Settings) -> None:
    """Make a random secret in the ignored data folder when none is configured (demo only)."""
    if settings.recipient_key_secret is None:
        create_secret_file(settings.recipient_key_secret_file, secrets.token_urlsafe(32) + "\n")


def settings_environment(
    settings: Settings, *, leave_out: frozenset[str] = frozenset()
) -> dict[str, str]:
    """The environment that makes `Settings()` in a subprocess (a worker) equal `settings`:
    every setting as its `SENDGATE_*` variable, except those in `leave_out` and those unset.
    Inherited `SENDGATE_*` variables are dropped first, so nothing else leaks in; a setting added
    later reaches the subprocess without anyone listing it."""
    environment = {
        name: value for name, value in os.environ.items() if not name.startswith("SENDGATE_")
    }
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if value is None or name in leave_out:
            continue
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        elif isinstance(value, dict):
            value = json.dumps(value)
        elif isinstance(value, list | tuple | set | frozenset):
            value = json.dumps(list(value))
        environment[f"SENDGATE_{name.upper()}"] = str(value)
    environment["PYTHONUNBUFFERED"] = "1"
    return environment


@cache
def get_settings() -> Settings:
    return Settings()
