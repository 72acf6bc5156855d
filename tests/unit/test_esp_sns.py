"""Amazon SNS messages: parsing AWS's documented examples, the string to sign, signatures made
here with a throw-away key, and the URL, certificate and topic checks that refuse the rest."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.esp.model import NotAuthentic
from streams.esp.sns import (
    SnsFormatError,
    SnsMessage,
    authenticate_sns,
    check_topic,
    parse_sns_message,
    signing_certificate_name,
    string_to_sign,
    subscribe_url_allowed,
    verify_sns_signature,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "esp" / "sns"
SAMPLES = ("notification.json", "subscription-confirmation.json", "unsubscribe-confirmation.json")
TOPIC = "arn:aws:sns:us-west-2:123456789012:MyTopic"
"""The topic of all three documented examples."""
CERT_NAME = "SimpleNotificationService-f3ecfb7224c7233fe7bb5f59f96de52f.pem"
"""The last segment of the documented examples' SigningCertURL."""
NOW = datetime(2026, 12, 8, 12, 0, tzinfo=UTC)


def _certificate(key: rsa.RSAPrivateKey, name: str) -> x509.Certificate:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=365))
        .sign(key, hashes.SHA256())
    )


KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
CERTIFICATE = _certificate(KEY, "sns.us-west-2.amazonaws.com")
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_CERTIFICATE = _certificate(OTHER_KEY, "sns.us-west-2.amazonaws.com")


def sample(name: str) -> dict[str, Any]:
    return json.loads((DATA / name).read_text())


def signed(document: dict[str, Any], version: str = "1", key: rsa.RSAPrivateKey = KEY) -> bytes:
    """The document as SNS would post it, signed with `key` (SHA-1 for version 1, else SHA-256)."""
    document = {**document, "SignatureVersion": version}
    text = string_to_sign(parse_sns_message(document)).encode()
    algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()
    signature = key.sign(text, padding.PKCS1v15(), algorithm)
    document["Signature"] = base64.b64encode(signature).decode()
    return json.dumps(document).encode()


def reason_of(call: Any) -> str:
    with pytest.raises(NotAuthentic) as refused:
        call()
    return refused.value.reason


# --- parsing -------------------------------------------------------------------------------


def test_documented_notification_parses() -> None:
    """AWS's Notification example: its fields, its Subject, no Token."""
    message = parse_sns_message((DATA / "notification.json").read_bytes())
    assert message.type == "Notification"
    assert message.message_id == "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324"
    assert message.topic_arn == TOPIC
    assert message.subject == "My First Message"
    assert message.message == "Hello world!"
    assert message.signature_version == "1"
    assert message.token is None
    assert message.unsubscribe_url is not None
    assert message.published_at == datetime(2012, 5, 2, 0, 54, 6, 655000, tzinfo=UTC)


@pytest.mark.parametrize("name", SAMPLES[1:])
def test_documented_confirmations_parse(name: str) -> None:
    """Both confirmation examples carry the SubscribeURL and Token their signature covers."""
    message = parse_sns_message((DATA / name).read_bytes())
    assert message.type == sample(name)["Type"]
    assert message.token == "2336412f37..."
    assert message.subscribe_url is not None
    assert message.subscribe_url.startswith("https://sns.us-west-2.amazonaws.com/")


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"{not json", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b"{}", "no Type"),
        (json.dumps({**sample("notification.json"), "Type": "Other"}).encode(), "Type"),
        (json.dumps({**sample("notification.json"), "MessageId": None}).encode(), "MessageId"),
        (json.dumps({**sample("notification.json"), "Message": 7}).encode(), "Message"),
        (json.dumps({**sample("notification.json"), "Timestamp": "yesterday"}).encode(), "Time"),
        (
            json.dumps(
                {**sample("notification.json"), "Timestamp": "2012-05-02T00:54:06"}
            ).encode(),
            "time zone",
        ),
        (
            json.dumps(
                {k: v for k, v in sample("subscription-confirmation.json").items() if k != "Token"}
            ).encode(),
            "Token",
        ),
    ],
)
def test_malformed_bodies_say_what_is_wrong(body: bytes, says: str) -> None:
    """A ValueError naming the field, so the service answers 400 with a reason."""
    with pytest.raises(SnsFormatError, match=says) as error:
        parse_sns_message(body)
    assert isinstance(error.value, ValueError)


# --- the string to sign --------------------------------------------------------------------


def test_string_to_sign_of_a_notification_is_the_documented_one() -> None:
    """The Notification example of "Verifying the signatures of Amazon SNS messages"."""
    message = SnsMessage(
        type="Notification",
        message_id="4d4dc071-ddbf-465d-bba8-08f81c89da64",
        topic_arn="arn:aws:sns:us-east-2:123456789012:s4-MySNSTopic-1G1WEFCOXTC0P",
        message="My Test Message",
        subject="My subject",
        timestamp="2019-01-31T04:37:04.321Z",
        signature_version="1",
        signature="",
        signing_cert_url="",
    )
    assert string_to_sign(message) == (DATA / "string-to-sign-notification.txt").read_text()


def test_string_to_sign_of_a_subscription_confirmation_is_the_documented_one() -> None:
    """The SubscriptionConfirmation example of the same page: SubscribeURL and Token, no
    Subject."""
    message = SnsMessage(
        type="SubscriptionConfirmation",
        message_id="3d891288-136d-417f-bc05-901c108273ee",
        topic_arn="arn:aws:sns:us-east-2:123456789012:s4-MySNSTopic-1G1WEFCOXTC0P",
        message="My Test Message",
        subject="ignored: not signed in a confirmation",
        subscribe_url=(
            "https://sns.us-east-2.amazonaws.com/?Action=ConfirmSubscription&TopicArn="
            "arn:aws:sns:us-east-2:123456789012:s4-MySNSTopic-1G1WEFCOXTC0P&Token=233..."
        ),
        token="233...",
        timestamp="2019-01-31T19:25:13.719Z",
        signature_version="1",
        signature="",
        signing_cert_url="",
    )
    expected = (DATA / "string-to-sign-subscription-confirmation.txt").read_text()
    assert string_to_sign(message) == expected


def test_string_to_sign_leaves_out_an_absent_subject() -> None:
    """AWS: Subject only "if included in the message"."""
    document = {k: v for k, v in sample("notification.json").items() if k != "Subject"}
    text = string_to_sign(parse_sns_message(document))
    assert "Subject\n" not in text
    assert text.startswith("Message\nHello world!\nMessageId\n")


def test_string_to_sign_uses_the_decoded_message() -> None:
    """The JSON escape `\\n` is signed as a newline (AWS: "convert the escaped control
    characters to their original character representations")."""
    message = parse_sns_message(sample("subscription-confirmation.json"))
    assert "MyTopic.\nTo confirm the subscription" in string_to_sign(message)


# --- signatures ----------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["1", "2"])
@pytest.mark.parametrize("name", SAMPLES)
def test_documented_messages_signed_here_verify(name: str, version: str) -> None:
    """SHA1withRSA for version 1, SHA256withRSA for version 2, on each documented example."""
    message = parse_sns_message(signed(sample(name), version))
    verify_sns_signature(message, CERTIFICATE, at=NOW)


@pytest.mark.parametrize(
    ("name", "field"),
    [
        ("notification.json", "Message"),
        ("notification.json", "MessageId"),
        ("notification.json", "Subject"),
        ("notification.json", "Timestamp"),
        ("notification.json", "TopicArn"),
        ("subscription-confirmation.json", "SubscribeURL"),
        ("subscription-confirmation.json", "Token"),
        ("unsubscribe-confirmation.json", "Message"),
    ],
)
def test_a_tampered_field_is_refused(name: str, field: str) -> None:
    document = json.loads(signed(sample(name), "2"))
    if field == "Timestamp":
        document[field] = "2012-05-02T00:54:07.655Z"
    else:
        document[field] = document[field].replace("2", "3").replace("e", "f") + "x"
    message = parse_sns_message(document)
    assert reason_of(lambda: verify_sns_signature(message, CERTIFICATE)) == "bad-signature"


def test_a_dropped_subject_is_refused() -> None:
    """Removing the Subject changes the string to sign as surely as editing it."""
    document = json.loads(signed(sample("notification.json")))
    del document["Subject"]
    message = parse_sns_message(document)
    assert reason_of(lambda: verify_sns_signature(message, CERTIFICATE)) == "bad-signature"


SIGNED_FIELDS = ("Message", "MessageId", "Subject", "TopicArn")
SIGNED_NOTIFICATION = json.loads(signed(sample("notification.json"), "2"))


@settings(max_examples=60, deadline=None)
@given(field=st.sampled_from(SIGNED_FIELDS), value=st.text(min_size=1, max_size=40))
def test_any_change_to_a_signed_field_breaks_the_signature(field: str, value: str) -> None:
    if value == SIGNED_NOTIFICATION[field]:
        return
    message = parse_sns_message({**SIGNED_NOTIFICATION, field: value})
    assert reason_of(lambda: verify_sns_signature(message, CERTIFICATE)) == "bad-signature"


def test_another_certificate_is_refused() -> None:
    message = parse_sns_message(signed(sample("notification.json"), "2", key=OTHER_KEY))
    assert reason_of(lambda: verify_sns_signature(message, CERTIFICATE)) == "bad-signature"
    verify_sns_signature(message, OTHER_CERTIFICATE)


@pytest.mark.parametrize(("version", "reason"), [("2", "bad-signature"), ("1", None)])
def test_the_version_picks_the_hash(version: str, reason: str | None) -> None:
    """A SHA-1 signature relabelled as version 2 is checked with SHA-256 and fails."""
    document = json.loads(signed(sample("notification.json"), "1"))
    message = parse_sns_message({**document, "SignatureVersion": version})
    if reason is None:
        verify_sns_signature(message, CERTIFICATE)
    else:
        assert reason_of(lambda: verify_sns_signature(message, CERTIFICATE)) == reason


@pytest.mark.parametrize("version", ["3", "0", " 1", "v2", "SHA256"])
def test_unknown_signature_versions_are_refused(version: str) -> None:
    document = {**json.loads(signed(sample("notification.json"))), "SignatureVersion": version}
    message = parse_sns_message(document)
    refused = reason_of(lambda: verify_sns_signature(message, CERTIFICATE))
    assert refused == "unsupported-signature-version"


def test_a_signature_that_is_not_base64_is_refused() -> None:
    document = {**sample("notification.json"), "Signature": "EXAMPLEw6JRN..."}
    message = parse_sns_message(document)
    assert reason_of(lambda: verify_sns_signature(message, CERTIFICATE)) == "bad-signature"


def test_a_certificate_out_of_its_validity_is_refused() -> None:
    message = parse_sns_message(signed(sample("notification.json"), "2"))
    later = NOW + timedelta(days=400)
    refused = reason_of(lambda: verify_sns_signature(message, CERTIFICATE, at=later))
    assert refused == "expired-certificate"


# --- the certificate's URL -----------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        sample("notification.json")["SigningCertURL"],
        f"https://sns.cn-north-1.amazonaws.com.cn/{CERT_NAME}",
        f"https://SNS.US-EAST-1.AMAZONAWS.COM:443/{CERT_NAME}",
    ],
)
def test_documented_certificate_url_gives_its_file_name(url: str) -> None:
    assert signing_certificate_name(url) == CERT_NAME


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        (f"http://sns.us-west-2.amazonaws.com/{CERT_NAME}", "insecure-certificate-url"),
        (f"ftp://sns.us-west-2.amazonaws.com/{CERT_NAME}", "insecure-certificate-url"),
        (
            f"https://sns.us-west-2.amazonaws.com.evil.example/{CERT_NAME}",
            "unlisted-certificate-host",
        ),
        (
            f"https://evil.example/sns.us-west-2.amazonaws.com/{CERT_NAME}",
            "unlisted-certificate-host",
        ),
        (f"https://sns.amazonaws.com/{CERT_NAME}", "unlisted-certificate-host"),
        (f"https://s3.us-west-2.amazonaws.com/{CERT_NAME}", "unlisted-certificate-host"),
        (f"https://sns.us-west-2.amazonaws.com@evil.example/{CERT_NAME}", "bad-certificate-url"),
        (f"https://u:p@sns.us-west-2.amazonaws.com/{CERT_NAME}", "bad-certificate-url"),
        (f"https://sns.us-west-2.amazonaws.com:8443/{CERT_NAME}", "bad-certificate-url"),
        (f"https://sns.us-west-2.amazonaws.com/{CERT_NAME}?x=1", "bad-certificate-url"),
        (f"https://sns.us-west-2.amazonaws.com/{CERT_NAME}#x", "bad-certificate-url"),
        ("https://sns.us-west-2.amazonaws.com/../../etc/ssl/key.pem", "bad-certificate-url"),
        ("https://sns.us-west-2.amazonaws.com/a/%2E%2E/key.pem", "bad-certificate-url"),
        ("https://sns.us-west-2.amazonaws.com/..%2F..%2Fetc%2Fkey.pem", "bad-certificate-url"),
        ("https://sns.us-west-2.amazonaws.com/x%5C..%5Ckey.pem", "bad-certificate-url"),
        ("https://sns.us-west-2.amazonaws.com/.pem", "bad-certificate-url"),
        ("https://sns.us-west-2.amazonaws.com/.hidden.pem", "bad-certificate-url"),
        ("https://sns.us-west-2.amazonaws.com/cert.crt", "bad-certificate-url"),
        ("https://sns.us-west-2.amazonaws.com/", "bad-certificate-url"),
        ("https://sns.us-west-2.amazonaws.com/a b.pem", "bad-certificate-url"),
        ("https://sns.us-west-2.amazonaws.com:x/c.pem", "bad-certificate-url"),
    ],
)
def test_certificate_urls_sns_would_not_use_are_refused(url: str, reason: str) -> None:
    assert reason_of(lambda: signing_certificate_name(url)) == reason


def test_certificate_host_patterns_are_configurable() -> None:
    url = f"https://sns.test.example/{CERT_NAME}"
    assert signing_certificate_name(url, [r"sns\.test\.example"]) == CERT_NAME
    assert reason_of(lambda: signing_certificate_name(url)) == "unlisted-certificate-host"


# --- the SubscribeURL ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "hosts", "allowed"),
    [
        (sample("subscription-confirmation.json")["SubscribeURL"], None, True),
        ("http://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription", None, False),
        ("https://sns.us-west-2.amazonaws.com.evil.example/?Action=Confirm", None, False),
        ("https://sns.us-west-2.amazonaws.com@169.254.169.254/", None, False),
        ("https://169.254.169.254/latest/meta-data/", None, False),
        ("http://127.0.0.1:9911/confirm", None, False),
        ("http://127.0.0.1:9911/confirm", [r"127\.0\.0\.1"], True),
        ("http://[::1]:9911/confirm", [r"::1"], True),
        ("http://localhost:9911/confirm", [r"localhost"], True),
        ("https://localhost:9911/confirm", [r"localhost"], True),
        ("http://10.0.0.8/confirm", [r"10\.0\.0\.8"], False),
        ("gopher://127.0.0.1/", [r"127\.0\.0\.1"], False),
        ("not a url", None, False),
    ],
)
def test_subscribe_url_allowed(url: str, hosts: list[str] | None, allowed: bool) -> None:
    """https on an SNS host; plain http only to a loopback host a test configured."""
    if hosts is None:
        assert subscribe_url_allowed(url) is allowed
    else:
        assert subscribe_url_allowed(url, hosts) is allowed


# --- the topic and all checks together -----------------------------------------------------


def test_an_unlisted_topic_is_refused_though_signed() -> None:
    """A valid AWS signature on someone else's topic is still not our mail."""
    document = {**sample("notification.json"), "TopicArn": "arn:aws:sns:us-west-2:999:Theirs"}
    message = parse_sns_message(signed(document, "2"))
    verify_sns_signature(message, CERTIFICATE)
    assert reason_of(lambda: check_topic(message, {TOPIC})) == "unlisted-topic"
    refused = reason_of(
        lambda: authenticate_sns(
            message, allowed_topics={TOPIC}, certificates={CERT_NAME: CERTIFICATE}
        )
    )
    assert refused == "unlisted-topic"


def test_authenticate_sns_accepts_a_signed_message_from_a_listed_topic() -> None:
    message = parse_sns_message(signed(sample("notification.json"), "2"))
    authenticate_sns(message, allowed_topics=[TOPIC], certificates={CERT_NAME: CERTIFICATE}, at=NOW)


def test_authenticate_sns_never_guesses_a_certificate() -> None:
    """A certificate not on hand is refused (the service never fetches one)."""
    message = parse_sns_message(signed(sample("notification.json"), "2"))
    refused = reason_of(lambda: authenticate_sns(message, allowed_topics=[TOPIC], certificates={}))
    assert refused == "unknown-certificate"
    other_url = {**sample("notification.json"), "SigningCertURL": "https://evil.example/c.pem"}
    message = parse_sns_message(signed(other_url, "2"))
    refused = reason_of(
        lambda: authenticate_sns(
            message, allowed_topics=[TOPIC], certificates={"c.pem": CERTIFICATE}
        )
    )
    assert refused == "unlisted-certificate-host"


def test_refusals_hold_no_message_content() -> None:
    """Details are for logs: they name the check, never a field's value."""
    document = {**sample("notification.json"), "Message": "jane@example.com"}
    message = parse_sns_message(signed(document, "2"))
    tampered = parse_sns_message({**json.loads(signed(document, "2")), "Subject": "x@y.example"})
    with pytest.raises(NotAuthentic) as refused:
        verify_sns_signature(tampered, OTHER_CERTIFICATE)
    assert "@" not in refused.value.detail and "@" not in str(refused.value)
    assert refused.value.status == 403
    with pytest.raises(NotAuthentic) as refused:
        check_topic(message, ())
    assert "123456789012" not in refused.value.detail
