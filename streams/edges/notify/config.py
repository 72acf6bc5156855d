"""The notifier's settings, checked whole before it touches Kafka or a receiver.

Everything that can be wrong with the configuration (no URL, a URL that is not http(s), no
secret, an unreadable or empty secret file, a secret too short to be one) is found here and said
in one `SendgateError`, which the command line prints as one line and exit code 2. Messages name
the setting and the URL's position or its shown form, never a URL whole (it may hold a password)
and never a secret.
"""

from __future__ import annotations

from dataclasses import dataclass

from streams.core.errors import SendgateError
from streams.core.settings import Settings
from streams.edges.notify.backoff import RetryPolicy
from streams.edges.notify.receivers import Receiver, receiver

__all__ = ["MIN_SECRET_CHARS", "NotifyConfig", "notify_config", "notify_group", "notify_secrets"]

MIN_SECRET_CHARS = 16
"""Shorter than this is a password someone typed, not a shared secret."""


@dataclass(frozen=True, slots=True)
class NotifyConfig:
    receivers: tuple[Receiver, ...]
    secrets: tuple[bytes, ...]
    """Every request is signed with each, first to last (more than one during a rotation)."""
    group: str
    policy: RetryPolicy
    consent_notices: bool


def notify_group(settings: Settings) -> str:
    """The consumer group whose committed offsets say how far every receiver has the events."""
    return settings.notify_group or f"{settings.topic_prefix}sendgate-notify"


def notify_config(settings: Settings) -> NotifyConfig:
    """The checked configuration; `SendgateError` saying what to set when it is not usable."""
    if not settings.notify_urls:
        raise SendgateError(
            "no URL to notify: set SENDGATE_NOTIFY_URLS (comma separated) or pass --url"
        )
    receivers = []
    for position, url in enumerate(settings.notify_urls, 1):
        try:
            receivers.append(receiver(url))
        except ValueError as exc:
            raise SendgateError(f"notify URL {position} {exc}") from None
    shown = [each.shown for each in receivers]
    doubled = sorted({url for url in shown if shown.count(url) > 1})
    if doubled:
        raise SendgateError(f"notify URL {doubled[0]} is given twice")
    return NotifyConfig(
        receivers=tuple(receivers),
        secrets=notify_secrets(settings),
        group=notify_group(settings),
        policy=RetryPolicy(
            tries=settings.notify_tries,
            base_s=settings.notify_retry_base_s,
            max_s=settings.notify_retry_max_s,
            timeout_s=settings.notify_timeout_s,
        ),
        consent_notices=settings.notify_consent_notices,
    )


def notify_secrets(settings: Settings) -> tuple[bytes, ...]:
    """The signing secrets: the setting, else the file's lines (blank lines and lines starting
    with `#` left out), as the recipient key secret is read."""
    if settings.notify_secret is not None:
        where = "SENDGATE_NOTIFY_SECRET"
        secrets = [settings.notify_secret.get_secret_value().strip()]
    else:
        where = str(settings.notify_secret_file)
        try:
            text = settings.notify_secret_file.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise SendgateError(
                "no notify secret: set SENDGATE_NOTIFY_SECRET or create "
                f"{settings.notify_secret_file} (one secret a line, at least "
                f"{MIN_SECRET_CHARS} characters; share it with the receivers)"
            ) from None
        except (OSError, UnicodeDecodeError) as exc:
            why = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            raise SendgateError(f"cannot read the notify secret file {where}: {why}") from None
        secrets = [line.strip() for line in text.splitlines()]
        secrets = [line for line in secrets if line and not line.startswith("#")]
    if not secrets or not all(secrets):
        raise SendgateError(f"the notify secret in {where} is empty")
    if any(len(secret) < MIN_SECRET_CHARS for secret in secrets):
        raise SendgateError(
            f"a notify secret in {where} is shorter than {MIN_SECRET_CHARS} characters"
        )
    return tuple(secret.encode("utf-8") for secret in secrets)
