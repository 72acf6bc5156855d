"""Amazon SNS HTTP(S) messages: the envelope SES notifications arrive in, and the checks that make
one trustworthy.

Field meanings, the string to sign and the signature versions are AWS's: "Parsing message
formats" / "HTTP/HTTPS notification JSON format" and "Verifying the signatures of Amazon SNS
messages" in the Amazon SNS Developer Guide (docs.aws.amazon.com/sns/latest/dg/
sns-message-and-json-formats.html and sns-verify-signature-of-message.html).

Four checks, each a pure function, so that the webhook service can run them cheapest first:

1. `check_topic`: the TopicArn is one we configured. A valid signature proves that *AWS* sent the
   message, not that it is about *our* mail: anyone can create a topic in their own AWS account
   and subscribe our URL to it, and every message they publish there is signed by AWS.
2. `signing_certificate_name`: the SigningCertURL is https, on an SNS host, and names a `.pem`;
   the result is a bare file name the service looks up among certificates an operator placed
   (or an out-of-band job cached) in a local directory. Nothing here, and nothing in the service,
   fetches a certificate while answering a request: a fetch on demand would let any poster make
   us open connections, and a slow or hostile host would hold the request.
3. `verify_sns_signature`: SignatureVersion 1 is SHA1withRSA, 2 is SHA256withRSA (RSA PKCS #1
   v1.5), over `string_to_sign`.
4. `subscribe_url_allowed`: before the service visits a SubscriptionConfirmation's SubscribeURL
   (the only request it makes because of a message), the URL is https on an SNS host too, so a
   signed message from a foreign topic (already refused by 1) or a forged one cannot point us at
   an internal address.

`authenticate_sns` runs 1 to 3 in that order against a mapping of the certificates on hand.

Message and Subject are signed as the JSON decoder returns them (escapes such as `\\n` turned into
the characters they stand for), as the AWS page requires; `parse_sns_message` keeps every signed
field exactly as posted, the Timestamp too, and checks it is a time without normalising it.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal
from urllib.parse import SplitResult, unquote, urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from streams.esp.model import NotAuthentic

__all__ = [
    "LOOPBACK_HOSTS",
    "SNS_HOST_PATTERNS",
    "SnsFormatError",
    "SnsMessage",
    "SnsMessageType",
    "authenticate_sns",
    "check_topic",
    "parse_sns_message",
    "signing_certificate_name",
    "string_to_sign",
    "subscribe_url_allowed",
    "verify_sns_signature",
]

SnsMessageType = Literal["Notification", "SubscriptionConfirmation", "UnsubscribeConfirmation"]
_TYPES: Final[frozenset[str]] = frozenset(
    {"Notification", "SubscriptionConfirmation", "UnsubscribeConfirmation"}
)

SNS_HOST_PATTERNS: Final[tuple[str, ...]] = (r"sns\.[a-z0-9-]+\.amazonaws\.com(?:\.cn)?",)
"""The hosts SNS signs from and confirms subscriptions on: `sns.<region>.amazonaws.com`, and
`.amazonaws.com.cn` for the China regions. Patterns are regular expressions matched against the
whole lower-cased host name."""

LOOPBACK_HOSTS: Final[frozenset[str]] = frozenset({"127.0.0.1", "::1", "localhost"})
"""Hosts a SubscribeURL may name over plain http, and only when a configured pattern lists them:
integration tests run a fake SNS endpoint there. The default patterns never match them, so in
production every SubscribeURL is https on an SNS host."""

_NOTIFICATION_FIELDS: Final = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
_CONFIRMATION_FIELDS: Final = (
    "Message",
    "MessageId",
    "SubscribeURL",
    "Timestamp",
    "Token",
    "TopicArn",
    "Type",
)
_HASHES: Final[dict[str, type[hashes.HashAlgorithm]]] = {"1": hashes.SHA1, "2": hashes.SHA256}
_CERT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,200}\.pem")


class SnsFormatError(ValueError):
    """A body that is not an SNS message (answered 400: no retry will make it one). The message
    names the field and what is wrong with it, never its value."""


@dataclass(frozen=True)
class SnsMessage:
    """One SNS HTTP(S) message, each signed field as posted."""

    type: SnsMessageType
    message_id: str
    topic_arn: str
    message: str
    timestamp: str
    signature_version: str
    signature: str
    signing_cert_url: str
    subject: str | None = None
    subscribe_url: str | None = None
    token: str | None = None
    unsubscribe_url: str | None = None

    @property
    def published_at(self) -> datetime:
        """The Timestamp as an aware time (checked when parsed)."""
        return datetime.fromisoformat(self.timestamp)

    def field(self, name: str) -> str | None:
        """The value of a field by its SNS name (as `string_to_sign` lists them)."""
        return {
            "Type": self.type,
            "MessageId": self.message_id,
            "TopicArn": self.topic_arn,
            "Message": self.message,
            "Timestamp": self.timestamp,
            "Subject": self.subject,
            "SubscribeURL": self.subscribe_url,
            "Token": self.token,
        }.get(name)


def _optional(document: Mapping[str, Any], name: str) -> str | None:
    value = document.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise SnsFormatError(f"the SNS message's {name} is not a string")
    return value


def _required(document: Mapping[str, Any], name: str) -> str:
    value = _optional(document, name)
    if not value:
        raise SnsFormatError(f"the SNS message has no {name}")
    return value


def parse_sns_message(body: bytes | str | Mapping[str, Any]) -> SnsMessage:
    """The SNS message a body holds; `SnsFormatError` saying what is missing or malformed.

    SNS posts JSON with `Content-Type: text/plain`, so the body is read as JSON whatever the
    request's content type."""
    document: Any = body
    if isinstance(body, bytes | str):
        try:
            document = json.loads(body)
        except (UnicodeDecodeError, ValueError) as error:
            raise SnsFormatError("the body is not JSON") from error
    if not isinstance(document, Mapping):
        raise SnsFormatError("the body is not a JSON object")
    kind = _required(document, "Type")
    if kind not in _TYPES:
        raise SnsFormatError(
            "the SNS message's Type is none of Notification, SubscriptionConfirmation, "
            "UnsubscribeConfirmation"
        )
    confirmation = kind != "Notification"
    timestamp = _required(document, "Timestamp")
    try:
        published = datetime.fromisoformat(timestamp)
    except ValueError as error:
        raise SnsFormatError("the SNS message's Timestamp is not an ISO 8601 time") from error
    if published.tzinfo is None:
        raise SnsFormatError("the SNS message's Timestamp has no time zone")
    return SnsMessage(
        type=kind,  # type: ignore[arg-type]  # one of _TYPES, checked above
        message_id=_required(document, "MessageId"),
        topic_arn=_required(document, "TopicArn"),
        message=_required(document, "Message"),
        timestamp=timestamp,
        signature_version=_required(document, "SignatureVersion"),
        signature=_required(document, "Signature"),
        signing_cert_url=_required(document, "SigningCertURL"),
        subject=_optional(document, "Subject"),
        subscribe_url=_required(document, "SubscribeURL") if confirmation else None,
        token=_required(document, "Token") if confirmation else None,
        unsubscribe_url=_optional(document, "UnsubscribeURL"),
    )


def string_to_sign(message: SnsMessage) -> str:
    """The text SNS signs: `name\\nvalue\\n` for each field AWS lists for the message's type, in
    byte order; a Notification's Subject only when it has one."""
    names = _NOTIFICATION_FIELDS if message.type == "Notification" else _CONFIRMATION_FIELDS
    parts: list[str] = []
    for name in names:
        value = message.field(name)
        if value is None:
            continue  # only Subject can be absent: parse_sns_message requires the others
        parts.append(f"{name}\n{value}\n")
    return "".join(parts)


def verify_sns_signature(
    message: SnsMessage, certificate: x509.Certificate, *, at: datetime | None = None
) -> None:
    """Raise `NotAuthentic` unless `certificate` signed `message`.

    `at` (the moment the request arrived), when given, also refuses a certificate outside its
    validity period: the local directory may still hold one AWS has retired."""
    algorithm = _HASHES.get(message.signature_version)
    if algorithm is None:
        raise NotAuthentic(
            "unsupported-signature-version",
            "SNS SignatureVersion is neither 1 (SHA1withRSA) nor 2 (SHA256withRSA)",
        )
    if at is not None and not (
        certificate.not_valid_before_utc <= at <= certificate.not_valid_after_utc
    ):
        raise NotAuthentic("expired-certificate", "the SNS signing certificate is not valid now")
    key = certificate.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise NotAuthentic("bad-signature", "the SNS signing certificate's key is not RSA")
    try:
        signature = base64.b64decode(message.signature, validate=True)
    except (binascii.Error, ValueError) as error:
        raise NotAuthentic("bad-signature", "the SNS Signature is not base64") from error
    try:
        key.verify(
            signature, string_to_sign(message).encode("utf-8"), padding.PKCS1v15(), algorithm()
        )
    except InvalidSignature as error:
        raise NotAuthentic(
            "bad-signature", "the SNS signature does not match the message and certificate"
        ) from error


def _host_allowed(parts: SplitResult, patterns: Sequence[str | re.Pattern[str]]) -> bool:
    host = (parts.hostname or "").lower()
    if not host:
        return False
    return any(re.fullmatch(pattern, host) for pattern in patterns)


def _plain_url(url: str) -> SplitResult | None:
    """The parts of a URL that names no user or password and has a valid port; else None.

    A user part (`https://sns.us-east-1.amazonaws.com@evil.example/`) is refused outright rather
    than trusted to be parsed the same way by every library that later handles the URL."""
    if any(ch.isspace() or ord(ch) < 0x20 for ch in url) or "\\" in url:
        return None
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  # raises ValueError for a port that is not a number
    except ValueError:
        return None
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        return None
    return parts


def signing_certificate_name(
    url: str, allowed_hosts: Sequence[str | re.Pattern[str]] = SNS_HOST_PATTERNS
) -> str:
    """The local file name of the certificate a SigningCertURL names, after checking the URL is
    one SNS would use: https, on an allowed host, default port, no query, a `.pem` path.

    The name is the URL's last path segment, and only a plain one (letters, digits, `.`, `_`,
    `-`, not starting with a dot): no encoded slash, no `..`, nothing a file system would read as
    a directory. Raises `NotAuthentic` (`insecure-certificate-url`, `unlisted-certificate-host`,
    `bad-certificate-url`)."""
    parts = _plain_url(url)
    if parts is None:
        raise NotAuthentic("bad-certificate-url", "the SNS SigningCertURL is not a plain URL")
    if parts.scheme.lower() != "https":
        raise NotAuthentic("insecure-certificate-url", "the SNS SigningCertURL is not https")
    if not _host_allowed(parts, allowed_hosts):
        raise NotAuthentic(
            "unlisted-certificate-host", "the SNS SigningCertURL's host is not an SNS host"
        )
    if parts.port not in (None, 443) or parts.query or parts.fragment:
        raise NotAuthentic(
            "bad-certificate-url", "the SNS SigningCertURL has a port, a query or a fragment"
        )
    segments = parts.path.split("/")
    decoded = [unquote(segment) for segment in segments]
    if any(segment in (".", "..") for segment in decoded) or any(
        "/" in segment or "\\" in segment for segment in decoded
    ):
        raise NotAuthentic("bad-certificate-url", "the SNS SigningCertURL's path leaves its root")
    name = decoded[-1]
    if not _CERT_NAME.fullmatch(name):
        raise NotAuthentic(
            "bad-certificate-url", "the SNS SigningCertURL does not name a .pem certificate"
        )
    return name


def subscribe_url_allowed(
    url: str, allowed_hosts: Sequence[str | re.Pattern[str]] = SNS_HOST_PATTERNS
) -> bool:
    """Whether the service may visit a SubscribeURL (to confirm a subscription).

    https on an allowed host; plain http only when the host is a loopback one (`LOOPBACK_HOSTS`)
    that `allowed_hosts` lists, which only a test configuration does: it lets integration tests
    confirm against a fake SNS endpoint without a TLS certificate."""
    parts = _plain_url(url)
    if parts is None or not _host_allowed(parts, allowed_hosts):
        return False
    scheme = parts.scheme.lower()
    if scheme == "https":
        return True
    return scheme == "http" and (parts.hostname or "").lower() in LOOPBACK_HOSTS


def check_topic(message: SnsMessage, allowed_topics: Collection[str]) -> None:
    """Raise `NotAuthentic("unlisted-topic")` unless the message comes from a configured topic
    (see the module docstring: a signature does not make a topic ours)."""
    if message.topic_arn not in allowed_topics:
        raise NotAuthentic("unlisted-topic", "the SNS TopicArn is not a configured topic")


def authenticate_sns(
    message: SnsMessage,
    *,
    allowed_topics: Collection[str],
    certificates: Mapping[str, x509.Certificate],
    allowed_hosts: Sequence[str | re.Pattern[str]] = SNS_HOST_PATTERNS,
    at: datetime | None = None,
) -> None:
    """All of an SNS message's checks, cheapest first: the topic, the certificate's URL, that
    certificate among `certificates` (by `signing_certificate_name`; `unknown-certificate` when
    it is not there), then the signature."""
    check_topic(message, allowed_topics)
    name = signing_certificate_name(message.signing_cert_url, allowed_hosts)
    certificate = certificates.get(name)
    if certificate is None:
        raise NotAuthentic(
            "unknown-certificate", "the SNS signing certificate is not among the configured ones"
        )
    verify_sns_signature(message, certificate, at=at)
