"""The list headers the gate hands the mailer (RFC 2369, RFC 8058, RFC 2919)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, unquote, urlsplit

from streams.core.records import SendRequest
from streams.policy import UnsubscribePolicy
from streams.sending.list_headers import list_headers, list_id_header
from streams.sending.unsubscribe_tokens import UnsubscribeTokens
from tests.support.factory import send_request

AT = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
KEY = "cd" * 32
TOKENS = UnsubscribeTokens({3: b"k" * 32}, 3, valid_for=timedelta(days=365))


def headers(request: SendRequest, policy: UnsubscribePolicy | None = None) -> dict[str, str]:
    return dict(
        list_headers(
            request,
            recipient_key=KEY,
            tokens=TOKENS,
            base_url="https://unsubscribe.example.net/",
            mailto_domain="bounces.example.net",
            issued_at=AT,
            policy=policy or UnsubscribePolicy(),
        )
    )


def test_commercial_mail_gets_one_click_unsubscribe_and_a_list_id() -> None:
    got = headers(send_request(request_id="req-7", list_id="weekly-deals"))
    assert got["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"  # RFC 8058 §3.1, verbatim
    link, mailto = (part.strip().strip("<>") for part in got["List-Unsubscribe"].split(","))
    url = urlsplit(link)
    assert (url.scheme, url.netloc) == ("https", "unsubscribe.example.net")
    assert url.path.startswith("/u/")
    token = TOKENS.verify(url.path.removeprefix("/u/"), now=AT)
    assert (token.recipient_key, token.account_id, token.list_id, token.request_id) == (
        KEY,
        "acme",
        "weekly-deals",
        "req-7",
    )
    target = urlsplit(mailto)
    assert (target.scheme, target.path) == ("mailto", "unsubscribe-mail@bounces.example.net")
    [subject] = parse_qs(target.query)["subject"]
    assert TOKENS.verify(unquote(subject), now=AT).request_id == "req-7"
    assert got["List-Id"] == '"weekly-deals" <weekly-deals.acme.bounces.example.net>'
    assert "ana@example.com" not in str(got)


def test_no_list_no_list_id() -> None:
    assert "List-Id" not in headers(send_request(list_id=None))


def test_transactional_mail_gets_none_unless_the_policy_says_or_it_carries_promotion() -> None:
    receipt = send_request(classification="transactional", list_id=None)
    assert headers(receipt) == {}
    assert "List-Unsubscribe" in headers(receipt, UnsubscribePolicy(headers_on_transactional=True))
    assert "List-Unsubscribe" in headers(receipt.model_copy(update={"promotional_content": True}))


def test_list_id_labels_are_dot_atoms() -> None:
    """RFC 2919 §2: the list identifier is a dot-atom; the phrase keeps the list's own name."""
    assert list_id_header('Weekly "Deals"!', "ACME Shoes", "bounces.example.net") == (
        '"Weekly \\"Deals\\"!" <weekly-deals.acme-shoes.bounces.example.net>'
    )


def test_the_link_carries_the_cadence_of_the_consent_the_mail_goes_under() -> None:
    """The page behind the link offers other cadences only where the consent names one."""
    with_cadence = dict(
        list_headers(
            send_request(),
            recipient_key=KEY,
            tokens=TOKENS,
            base_url="https://unsubscribe.example.net/",
            mailto_domain="bounces.example.net",
            issued_at=AT,
            policy=UnsubscribePolicy(),
            cadence="weekly",
        )
    )
    for got, expected in ((with_cadence, "weekly"), (headers(send_request()), None)):
        link = got["List-Unsubscribe"].split(",")[0].strip().strip("<>")
        token = TOKENS.verify(urlsplit(link).path.removeprefix("/u/"), now=AT)
        assert token.cadence == expected
