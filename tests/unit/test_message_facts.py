"""Facts from message files (tests/data/templates): each file's expected values are read off the
file by eye, not from the code; then the edges (limits, broken input, DKIM tag lists)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from streams.content.dkim import dkim_tags
from streams.content.html_text import html_to_text
from streams.content.message_facts import (
    MAX_MESSAGE_BYTES,
    TEMPLATE_CHECK_RECIPIENT,
    MessageFacts,
    UnreadableMessageError,
    facts_from_message,
    request_from_facts,
)
from streams.core.codec import Codec
from streams.core.records import (
    MAX_BODY_LINKS,
    MAX_BODY_TEXT_CHARS,
    MAX_HEADER_VALUE_CHARS,
    MAX_HEADERS,
    MAX_SEND_REQUEST_BYTES,
    BodyLink,
    MailAuthentication,
)
from streams.topics import default_codec

TEMPLATES = Path(__file__).resolve().parents[1] / "data" / "templates"
AT = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)
LEFT_OUT = ("To", "Received", "Return-Path", "DKIM-Signature", "Content-Type", "MIME-Version")


def facts(name: str) -> MessageFacts:
    return facts_from_message((TEMPLATES / name).read_bytes())


def message(*headers: str, body: str = "Hello.\n", content_type: str = "text/plain") -> bytes:
    """A small message: a `From` unless the headers have one, the headers, then the body."""
    fields = list(headers)
    if not any(field.lower().startswith("from:") for field in fields):
        fields.insert(0, "From: Example <news@example.com>")
    fields.append(f"Content-Type: {content_type}; charset=utf-8")
    return ("\n".join(fields) + "\n\n" + body).encode("utf-8")


# --- one file, one expectation --------------------------------------------------------------------


def test_compliant_newsletter() -> None:
    """The plain part is the text; links come from the HTML anchors; the DKIM tags are read."""
    newsletter = facts("newsletter-compliant.eml")
    assert newsletter.from_address == "Example Outfitters <news@news.example.com>"
    assert newsletter.reply_to == "Example Outfitters Support <support@example.com>"
    assert newsletter.subject == "Spring trail gear: 20% off packs through Sunday"
    assert newsletter.headers == {
        "Date": "Mon, 10 Mar 2025 14:00:00 +0000",
        "Message-ID": "<spring-2025.a81f@news.example.com>",
        "List-Unsubscribe": "<https://news.example.com/unsubscribe/one-click/8f2c1e>, "
        "<mailto:unsubscribe@news.example.com?subject=unsubscribe-8f2c1e>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        "List-Id": "Example Outfitters News <news.example-outfitters.news.example.com>",
        "Feedback-ID": "spring-2025:newsletter:example-outfitters",
        "Precedence": "bulk",
    }
    text = newsletter.body.text
    assert text.startswith("Example Outfitters - Spring newsletter\n\nHi there,")
    assert "1200 Harbor Boulevard, Suite 400\nPortland, OR 97209\nUnited States" in text
    assert "Unsubscribe: https://news.example.com/unsubscribe/8f2c1e" in text
    assert "<p>" not in text and "font-family" not in text
    assert newsletter.body.links == (
        BodyLink(
            url="https://shop.example.com/spring-sale?utm_source=newsletter", text="Shop the sale"
        ),
        BodyLink(url="mailto:support@example.com", text="support@example.com"),
        BodyLink(url="https://www.example.com/contact", text="Contact us"),
        BodyLink(url="https://news.example.com/unsubscribe/8f2c1e", text="Unsubscribe"),
        BodyLink(url="https://news.example.com/preferences/8f2c1e", text="Email preferences"),
    )
    assert newsletter.authentication == MailAuthentication(
        dkim_domain="example.com",
        dkim_signed_headers=(
            "from",
            "reply-to",
            "subject",
            "date",
            "message-id",
            "to",
            "mime-version",
            "content-type",
            "list-unsubscribe",
            "list-unsubscribe-post",
            "list-id",
        ),
        spf_domain="bounces.news.example.com",
        dmarc_policy=None,
    )
    assert len(newsletter.warnings) == 1
    assert "1 HTML element(s) hidden" in newsletter.warnings[0]


def test_transactional_receipt() -> None:
    """A plain-text receipt keeps its columns; Auto-Submitted is a header the rules see."""
    receipt = facts("receipt-transactional.eml")
    assert receipt.from_address == "Example Outfitters Orders <orders@shop.example.com>"
    assert receipt.reply_to == "support@example.com"
    assert receipt.subject == "Your receipt for order #10482"
    assert receipt.headers["Auto-Submitted"] == "auto-generated"
    assert "  Total charged to Visa ending 4242        $168.50\n" in receipt.body.text
    assert receipt.body.links == (
        BodyLink(
            url="https://shop.example.com/orders/10482/tracking",
            text="https://shop.example.com/orders/10482/tracking",
        ),
    )
    assert receipt.authentication is not None
    assert receipt.authentication.dkim_domain == "shop.example.com"
    assert receipt.authentication.dkim_signed_headers == (
        "from", "to", "subject", "date", "message-id", "mime-version", "content-type",
    )  # fmt: skip
    assert receipt.authentication.spf_domain == "bounces.shop.example.com"
    assert receipt.warnings == ()


def test_bad_commercial_message() -> None:
    """What the bad template lacks is absent from its facts, not invented."""
    bad = facts("bad-commercial.eml")
    assert bad.from_address == "Best Deals <bestdeals4u@gmail.com>"
    assert bad.reply_to is None
    assert bad.subject == "Re: your order"
    assert bad.headers == {
        "Date": "Tue, 11 Mar 2025 09:30:00 +0000",
        "Message-ID": "<deal-77731@mail.gmail.com>",
    }
    assert "In-Reply-To" not in bad.headers and "List-Unsubscribe" not in bad.headers
    assert bad.body.links == (
        BodyLink(
            url="https://deals.example.org/sunglasses", text="https://deals.example.org/sunglasses"
        ),
    )
    assert bad.authentication is None
    assert bad.warnings == ()


def test_html_only_alternative() -> None:
    """HTML rendered to text: no style, script, title, comment or hidden text; links with text."""
    webinar = facts("html-only-alternative.eml")
    text = webinar.body.text
    assert text.startswith("Dashboards that people read\n\n")
    assert (
        "Join our product team for a live, 45-minute webinar on Thursday, April 3, 2025 at "
        "17:00 UTC." in text
    )
    assert "Speakers Ana Lima & Kofi Mensah" in text
    assert "\nExample Analytics Ltd., 50 Quay Street, Auckland 1010, New Zealand\n" in text
    assert text.endswith("\nUnsubscribe")
    for absent in ("Save your seat", "tracking", ".btn", "Webinar invitation", "preheader", "<"):
        assert absent not in text
    assert webinar.body.links == (
        BodyLink(
            url="https://events.example.com/webinar/q2/register?src=email", text="Save my seat"
        ),
        BodyLink(url="https://www.example.com/analytics", text="Example Analytics"),
        BodyLink(url="https://events.example.com/unsubscribe/c41d", text="Unsubscribe"),
        BodyLink(
            url="https://events.example.com/webinar/q2",
            text="https://events.example.com/webinar/q2",
        ),
    )
    assert webinar.authentication == MailAuthentication(spf_domain="events.example.com")
    assert len(webinar.warnings) == 1
    assert "2 HTML element(s) hidden" in webinar.warnings[0]


def test_encoded_subject_and_quoted_printable_body() -> None:
    """RFC 2047 words decode to text; quoted-printable soft breaks join (CRLF file)."""
    cafe = facts("encoded-subject-qp.eml")
    assert cafe.from_address == "Café Lumière <hello@cafe.example.com>"
    assert cafe.subject == "☕ Café Lumière reopens Saturday — 2-for-1 espresso"
    text = cafe.body.text
    assert "\r" not in text
    assert text.startswith("Bonjour — hello!\n")
    assert "Café Lumière reopens this Saturday, March 22.\n" in text
    assert "4821 boulevard Saint-Laurent, Montréal (Québec) H2T 1R5, Canada" in text
    assert [link.url for link in cafe.body.links] == [
        "https://cafe.example.com/menu/spring-2025?utm_source=email&utm_campaign=reopening",
        "https://cafe.example.com/unsubscribe?u=71c9e0",
    ]
    assert cafe.headers["List-Unsubscribe"] == "<https://cafe.example.com/unsubscribe?u=71c9e0>"
    assert cafe.warnings == ()


def test_non_english_latin_1_message() -> None:
    """ISO-8859-1 encoded-words and an 8-bit ISO-8859-1 body come out as text."""
    buch = facts("non-english-de.eml")
    assert buch.from_address == "Beispiel Buchhandlung Köln <newsletter@buch.example.de>"
    assert buch.subject == "Frühlingsangebote für Sie: 15 % auf Hörbücher"
    assert buch.headers["Content-Language"] == "de"
    assert "Beispiel Buchhandlung GmbH, Hauptstraße 5, 50667 Köln, Deutschland" in buch.body.text
    assert "Newsletter abbestellen: https://buch.example.de/abmelden/4711" in buch.body.text
    assert [link.url for link in buch.body.links] == [
        "https://buch.example.de/angebote/fruehling",
        "https://buch.example.de/abmelden/4711",
    ]
    assert buch.warnings == ()


@pytest.mark.parametrize("path", sorted(TEMPLATES.glob("*.eml")), ids=lambda path: path.name)
def test_every_template_makes_a_request_the_topic_accepts(path: Path, codec: Codec) -> None:
    """The facts fit a SendRequest that encodes within the topic's size limit."""
    request = request_from_facts(
        facts_from_message(path.read_bytes()),
        account_id="acct-1",
        classification="commercial",
        jurisdiction="CA",
        send_kind="bulk",
        list_id=None,
        requested_at=AT,
    )
    assert request.recipient == TEMPLATE_CHECK_RECIPIENT
    assert len(codec.encode(request)) <= MAX_SEND_REQUEST_BYTES


# --- files that are no message --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (b"", "empty"),
        (b" \r\n\n", "empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10", "no From"),
        (b'{"from": "news@example.com", "subject": "Hi"}\n', "no From"),
        (b"Subject: a template without a sender\n\nHello.\n", "no From"),
        (b"Hello,\nthis is just text.\nFrom: news@example.com\n", "no From"),
    ],
    ids=["empty", "blank", "png", "json", "no-from", "text"],
)
def test_what_is_no_message_is_refused(raw: bytes, why: str) -> None:
    """A file with no From field at its start is not a message, whatever else it holds."""
    with pytest.raises(UnreadableMessageError, match=why):
        facts_from_message(raw)


def test_a_file_past_the_size_limit_is_refused() -> None:
    """Bigger than any mailbox provider accepts: refused before parsing."""
    raw = message(body="x" * MAX_MESSAGE_BYTES)
    with pytest.raises(UnreadableMessageError, match="bytes"):
        facts_from_message(raw)


# --- limits: cut, and said ------------------------------------------------------------------------


def test_long_body_text_is_cut_with_a_warning() -> None:
    """Text past the request's limit is cut to it, and a warning says how much there was."""
    result = facts_from_message(message(body="a" * (MAX_BODY_TEXT_CHARS + 10)))
    assert len(result.body.text) == MAX_BODY_TEXT_CHARS
    assert any(
        "body text cut to 65,536 of 65,546 characters" in warning for warning in result.warnings
    )


def test_links_past_the_limit_are_left_out_with_a_warning() -> None:
    """The first MAX_BODY_LINKS links are kept, in order."""
    body = "\n".join(f"https://example.com/{n}" for n in range(MAX_BODY_LINKS + 3))
    result = facts_from_message(message(body=body))
    assert len(result.body.links) == MAX_BODY_LINKS
    assert result.body.links[-1].url == f"https://example.com/{MAX_BODY_LINKS - 1}"
    assert any("3 links past the first 500" in warning for warning in result.warnings)


def test_headers_past_the_limits_are_cut_with_warnings() -> None:
    """Too many fields: the first MAX_HEADERS; too long a value: cut to the limit."""
    many = [f"X-Field-{n}: {n}" for n in range(MAX_HEADERS + 5)]
    long_value = "v" * (MAX_HEADER_VALUE_CHARS + 1)
    result = facts_from_message(message(f"X-Long: {long_value}", *many))
    assert len(result.headers) == MAX_HEADERS
    assert result.headers["X-Long"] == "v" * MAX_HEADER_VALUE_CHARS
    assert "X-Field-98" in result.headers and "X-Field-99" not in result.headers
    assert any("X-Long cut to 4,000" in warning for warning in result.warnings)
    assert any("6 header fields past the first 100" in warning for warning in result.warnings)


def test_long_subject_is_cut_with_a_warning() -> None:
    """A decoded subject longer than a request holds (998) is cut."""
    result = facts_from_message(message("Subject: " + "s" * 1200))
    assert result.subject == "s" * 998
    assert any("Subject cut to 998 of 1200" in warning for warning in result.warnings)


def test_missing_subject_is_empty_with_a_warning() -> None:
    result = facts_from_message(message())
    assert result.subject == ""
    assert "the message has no Subject field" in result.warnings


def test_a_repeated_single_field_keeps_the_first() -> None:
    """RFC 5322 allows one From; with two, the first is read and the second is named."""
    raw = message("From: First <a@example.com>", "From: Second <b@example.com>")
    result = facts_from_message(raw)
    assert result.from_address == "First <a@example.com>"
    assert any("From occurs 2 times" in warning for warning in result.warnings)


def test_header_names_keep_their_spelling_and_the_first_value() -> None:
    """`SendRequest.header()` is case-insensitive; a repeated field keeps its first value."""
    raw = message("list-unsubscribe: <https://example.com/u/1>", "List-Unsubscribe: <x>")
    result = facts_from_message(raw)
    assert result.headers == {"list-unsubscribe": "<https://example.com/u/1>"}
    assert any("list-unsubscribe occurs 2 times" in warning for warning in result.warnings)


def test_folded_and_encoded_headers_come_out_as_one_line_of_text() -> None:
    raw = message(
        "Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe_?=\n =?utf-8?b?YXVzIEvDtmxu?=",
        "List-Id: Spring news\n <spring.news.example.com>",
    )
    result = facts_from_message(raw)
    assert result.subject == "Grüße aus Köln"
    assert result.headers["List-Id"] == "Spring news <spring.news.example.com>"


# --- body encodings -------------------------------------------------------------------------------


def test_unknown_charset_reads_as_utf_8_with_a_warning() -> None:
    raw = b"From: a@example.com\nContent-Type: text/plain; charset=x-klingon\n\nCaf\xc3\xa9\n"
    result = facts_from_message(raw)
    assert result.body.text == "Café"
    assert any("unknown charset 'x-klingon'" in warning for warning in result.warnings)


def test_undeclared_8_bit_utf_8_is_read_as_utf_8() -> None:
    raw = b"From: a@example.com\n\nGr\xc3\xbc\xc3\x9fe\n"
    result = facts_from_message(raw)
    assert result.body.text == "Grüße"
    assert any("8-bit text and no charset" in warning for warning in result.warnings)


def test_no_text_body_is_empty_text_with_a_warning() -> None:
    raw = message(content_type="application/pdf", body="%PDF-1.7\n")
    result = facts_from_message(raw)
    assert result.body.text == ""
    assert any("no text/plain or text/html body" in warning for warning in result.warnings)


def test_an_attached_text_file_is_no_body() -> None:
    raw = (
        b"From: a@example.com\nContent-Type: multipart/mixed; boundary=b\n\n"
        b"--b\nContent-Type: text/html\n\n<p>Visible</p>\n"
        b"--b\nContent-Type: text/plain\nContent-Disposition: attachment; filename=t.txt\n\n"
        b"Attached https://example.com/attached\n--b--\n"
    )
    result = facts_from_message(raw)
    assert result.body.text == "Visible"
    assert result.body.links == ()


# --- HTML rendering -------------------------------------------------------------------------------


def test_html_blocks_break_lines_and_pre_keeps_its_spacing() -> None:
    html = (
        "<div>one</div><div>two<br/>three</div><p>four   five\n six</p>"
        "<pre>a   b\n  c</pre><ul><li>x</li><li>y</li></ul>"
    )
    assert html_to_text(html) == "one\ntwo\nthree\n\nfour five six\n\na   b\n  c\n\nx\ny"


def test_hidden_html_is_left_out_however_deeply_nested() -> None:
    html = (
        '<div style="display: none"><div>hidden <div>deeper</div></div> still hidden</div>'
        '<p>shown</p><span style="visibility:hidden">no</span><img hidden alt="x"> end'
    )
    assert html_to_text(html) == "shown\n\nend"


def test_entities_decode_and_an_unclosed_anchor_is_kept() -> None:
    raw = message(
        body='<p>Caf&eacute; &amp; more <a href=" https://example.com/a?x=1&amp;y=2 ">go',
        content_type="text/html",
    )
    result = facts_from_message(raw)
    assert result.body.text == "Café & more go"
    assert result.body.links == (BodyLink(url="https://example.com/a?x=1&y=2", text="go"),)


def test_bare_urls_lose_sentence_punctuation() -> None:
    raw = message(
        body="See https://example.com/a. Or (https://example.com/b), https://x.example/c_(d)!"
    )
    result = facts_from_message(raw)
    assert [link.url for link in result.body.links] == [
        "https://example.com/a",
        "https://example.com/b",
        "https://x.example/c_(d)",
    ]


# --- DKIM and SPF ---------------------------------------------------------------------------------


def test_dkim_tag_list_tolerates_folding_white_space() -> None:
    """RFC 6376 §3.2: white space around tags, `=` and `;`, and a trailing `;`."""
    value = " v = 1 ;\r\n\td = example.com;  h = from :\r\n  to : subject ; b = ab\r\n cd ; "
    tags = dkim_tags(value)
    assert tags["d"] == "example.com"
    assert tags["h"] == "from :\r\n  to : subject"
    assert tags["b"] == "ab\r\n cd"


@pytest.mark.parametrize("value", ["d=a.example; d=b.example", "d=example.com; nonsense", "1x=y"])
def test_dkim_tag_list_errors(value: str) -> None:
    """A repeated tag, a spec without `=` or a bad tag name makes the whole list invalid."""
    with pytest.raises(ValueError):
        dkim_tags(value)


def test_an_invalid_signature_is_ignored_with_a_warning() -> None:
    raw = message("DKIM-Signature: v=1; d=a.example; d=b.example; h=from")
    result = facts_from_message(raw)
    assert result.authentication is None
    assert any("tag d= occurs twice" in warning for warning in result.warnings)


def test_tag_names_are_case_sensitive() -> None:
    """`D=` is not `d=` (RFC 6376 §3.2), so this signature names no domain."""
    result = facts_from_message(message("DKIM-Signature: v=1; D=example.com; h=from"))
    assert result.authentication is None
    assert any("no d= domain" in warning for warning in result.warnings)


def test_the_signature_aligned_with_from_is_reported() -> None:
    """With an ESP's signature first and the sender's second, the aligned one is reported."""
    raw = message(
        "From: News <news@news.example.com>",
        "DKIM-Signature: v=1; d=esp.example.net; s=a; h=from:to; b=x",
        "DKIM-Signature: v=1; d=Example.COM.; s=b; h=From:List-Unsubscribe:from; b=y",
    )
    authentication = facts_from_message(raw).authentication
    assert authentication == MailAuthentication(
        dkim_domain="example.com", dkim_signed_headers=("from", "list-unsubscribe")
    )


def test_null_return_path_is_no_spf_domain() -> None:
    result = facts_from_message(message("Return-Path: <>"))
    assert result.authentication is None


# --- the request ----------------------------------------------------------------------------------


def test_request_from_facts_carries_the_facts_and_the_arguments() -> None:
    newsletter = facts("newsletter-compliant.eml")
    request = request_from_facts(
        newsletter,
        account_id="acct-1",
        classification="commercial",
        jurisdiction="US",
        send_kind="one_off",
        list_id="spring",
        requested_at=AT,
        dmarc_policy="reject",
    )
    assert request.from_address == newsletter.from_address
    assert request.subject == newsletter.subject
    assert request.body == newsletter.body
    assert request.header("list-unsubscribe-post") == "List-Unsubscribe=One-Click"
    assert request.authentication is not None
    assert request.authentication.dkim_domain == "example.com"
    assert request.authentication.dmarc_policy == "reject"
    assert (request.account_id, request.list_id, request.send_kind) == (
        "acct-1",
        "spring",
        "one_off",
    )
    assert request.recipient == TEMPLATE_CHECK_RECIPIENT == "template-check@example.invalid"


def test_a_dmarc_policy_alone_makes_authentication_facts() -> None:
    request = request_from_facts(
        facts("bad-commercial.eml"),
        account_id="acct-1",
        classification="commercial",
        jurisdiction=None,
        send_kind="bulk",
        list_id=None,
        requested_at=AT,
        dmarc_policy="none",
    )
    assert request.authentication == MailAuthentication(dmarc_policy="none")


def test_an_unknown_jurisdiction_is_the_records_error() -> None:
    with pytest.raises(ValidationError, match="jurisdiction"):
        request_from_facts(
            facts("bad-commercial.eml"),
            account_id="acct-1",
            classification="commercial",
            jurisdiction="XX",
            send_kind="bulk",
            list_id=None,
            requested_at=AT,
        )


# --- hostile input: refused or read, never a crash ------------------------------------------------


def test_undecodable_header_bytes_become_replacement_characters() -> None:
    """8-bit garbage in a field the parser keeps raw (DKIM d=, Return-Path) is valid text."""
    raw = message(
        "DKIM-Signature: v=1; d=ex\xe9\xff.example; h=from", "Return-Path: <a@b\xff.example>"
    )
    authentication = facts_from_message(raw.decode("utf-8").encode("latin-1")).authentication
    assert authentication is not None
    assert authentication.dkim_domain is not None and "\ufffd" in authentication.dkim_domain
    assert authentication.spf_domain is not None and "\ufffd" in authentication.spf_domain


def test_a_charset_name_with_a_nul_reads_as_utf_8() -> None:
    raw = b'From: a@example.com\nContent-Type: text/plain; charset="utf\x008"\n\nCaf\xc3\xa9\n'
    result = facts_from_message(raw)
    assert result.body.text == "Café"
    assert any("unknown charset" in warning for warning in result.warnings)


def test_nul_in_html_is_no_line_break() -> None:
    assert html_to_text("a\x00p b\x00l c") == "a\ufffdp b\ufffdl c"


INSERTS = (
    *(b"", b"<", b"=?", b"?=", b"\r\n", b"=\r\n", b";", b":", b'"', b"\x00", b"\xff"),
    *(b"<div hidden>", b"</a>", b"<a href=", b"<style>", b"<pre>"),
)
"""What the property test puts into a template: MIME, RFC 2047 and HTML syntax, bytes no charset
decodes."""


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    template=st.sampled_from(sorted(TEMPLATES.glob("*.eml"))),
    edits=st.lists(
        st.tuples(
            st.floats(min_value=0, max_value=1),
            st.sampled_from(INSERTS),
            st.integers(min_value=0, max_value=40),
        ),
        max_size=12,
    ),
)
def test_mutated_templates_are_refused_or_make_a_valid_request(
    template: Path, edits: list[tuple[float, bytes, int]]
) -> None:
    """Whatever is inserted or cut, the result is a refusal or a request the codec encodes."""
    raw = bytearray(template.read_bytes())
    for where, insert, cut in edits:
        at = int(where * len(raw))
        raw[at : at + cut] = insert
    try:
        result = facts_from_message(bytes(raw))
    except UnreadableMessageError:
        return
    request = request_from_facts(
        result,
        account_id="acct-1",
        classification="commercial",
        jurisdiction=None,
        send_kind="bulk",
        list_id=None,
        requested_at=AT,
    )
    assert len(default_codec().encode(request)) <= MAX_SEND_REQUEST_BYTES
