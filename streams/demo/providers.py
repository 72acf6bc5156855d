"""The demo plays the ESPs: it signs webhook requests the way Amazon SNS, SendGrid, Mailgun and
Postmark do, with keys it makes for the run, and configures the webhook service to trust them.

No provider is reachable from here, and none should be: what the demo (and the tests, which use
the same signers) must show is that a request signed as the provider signs it is taken, and any
other refused. The keys are made fresh each run and kept only in the run's data folder.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from streams.esp import sns

__all__ = [
    "DEMO_SNS_CERTIFICATE",
    "DEMO_SNS_TOPIC",
    "MailgunSigner",
    "PostmarkCredentials",
    "SendgridSigner",
    "SnsSigner",
]

DEMO_SNS_TOPIC = "arn:aws:sns:us-east-1:123456789012:sendgate-demo-ses-events"
DEMO_SNS_CERTIFICATE = "SimpleNotificationService-sendgate-demo.pem"
_CERT_URL = f"https://sns.us-east-1.amazonaws.com/{DEMO_SNS_CERTIFICATE}"


@dataclass(frozen=True)
class SnsSigner:
    """An RSA key and a self-signed certificate in place of Amazon's SNS signing certificate."""

    key: rsa.RSAPrivateKey
    certificate: x509.Certificate
    certificate_name: str = DEMO_SNS_CERTIFICATE

    @classmethod
    def create(cls, *, name: str = DEMO_SNS_CERTIFICATE) -> SnsSigner:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
        now = datetime.now(UTC)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=30))
            .sign(key, hashes.SHA256())
        )
        return cls(key=key, certificate=certificate, certificate_name=name)

    def install(self, folder: Path) -> Path:
        """Place the certificate where the webhook service looks for it."""
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / self.certificate_name
        path.write_bytes(self.certificate.public_bytes(serialization.Encoding.PEM))
        return path

    def notification(
        self,
        message: dict[str, Any],
        *,
        topic_arn: str = DEMO_SNS_TOPIC,
        message_id: str | None = None,
        version: str = "2",
    ) -> bytes:
        """The body SNS posts for a notification carrying `message` (an SES event)."""
        envelope = {
            "Type": "Notification",
            "MessageId": message_id or _uuid(),
            "TopicArn": topic_arn,
            "Message": json.dumps(message),
            "Timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
            "SignatureVersion": version,
            "SigningCertURL": _CERT_URL.replace(DEMO_SNS_CERTIFICATE, self.certificate_name),
            "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe",
        }
        return self.sign(envelope)

    def sign(self, envelope: dict[str, Any]) -> bytes:
        """`envelope` with its `Signature`, as JSON bytes."""
        digest = hashes.SHA1() if envelope.get("SignatureVersion") == "1" else hashes.SHA256()
        parsed = sns.parse_sns_message(json.dumps({**envelope, "Signature": "unsigned"}).encode())
        signature = self.key.sign(sns.string_to_sign(parsed).encode(), padding.PKCS1v15(), digest)
        return json.dumps({**envelope, "Signature": base64.b64encode(signature).decode()}).encode()


@dataclass(frozen=True)
class SendgridSigner:
    """A P-256 key pair in place of the one SendGrid keeps for its signed Event Webhook."""

    key: ec.EllipticCurvePrivateKey

    @classmethod
    def create(cls) -> SendgridSigner:
        return cls(key=ec.generate_private_key(ec.SECP256R1()))

    @property
    def public_key(self) -> str:
        """The verification key as SendGrid shows it: base64 of the DER public key."""
        der = self.key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return base64.b64encode(der).decode()

    def headers(self, body: bytes, *, at: datetime | None = None) -> dict[str, str]:
        timestamp = str(int((at or datetime.now(UTC)).timestamp()))
        signature = self.key.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
        return {
            "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
            "X-Twilio-Email-Event-Webhook-Timestamp": timestamp,
            "Content-Type": "application/json",
        }


@dataclass(frozen=True)
class MailgunSigner:
    """Mailgun's webhook signing key: HMAC-SHA-256 over timestamp and a fresh token."""

    signing_key: str

    @classmethod
    def create(cls) -> MailgunSigner:
        return cls(signing_key="key-" + secrets.token_hex(16))

    def sign(self, event_data: dict[str, Any], *, at: datetime | None = None) -> bytes:
        timestamp = str(int((at or datetime.now(UTC)).timestamp()))
        token = secrets.token_hex(25)
        signature = hmac.new(
            self.signing_key.encode(), (timestamp + token).encode(), hashlib.sha256
        ).hexdigest()
        return json.dumps(
            {
                "signature": {"timestamp": timestamp, "token": token, "signature": signature},
                "event-data": event_data,
            }
        ).encode()


@dataclass(frozen=True)
class PostmarkCredentials:
    """The basic-auth user and password put in Postmark's webhook URL."""

    username: str
    password: str

    @classmethod
    def create(cls) -> PostmarkCredentials:
        return cls(username="postmark", password=secrets.token_urlsafe(18))

    def headers(self) -> dict[str, str]:
        pair = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        return {"Authorization": f"Basic {pair}", "Content-Type": "application/json"}


def _uuid() -> str:
    raw = secrets.token_hex(16)
    return f"{raw[:8]}-{raw[8:12]}-{raw[12:16]}-{raw[16:20]}-{raw[20:]}"
