"""The content rules: each rule on realistic passing and failing messages.

Expectations come from the laws and the decisions in the docstrings of `streams/rules/content/`, not
from running the code: a CAN-SPAM footer has a street address or a registered PO box; a "Re:" on a
message that answers nothing misleads; relaxed DMARC alignment compares registrable domains, so
`example.co.uk` and `other.co.uk` do not align although both end in `co.uk`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.content.policy import ContentPolicy, SubjectPattern
from streams.content.text import unwrapped
from streams.core.records import (
    BodyLink,
    MailAuthentication,
    MessageBody,
    SendRequest,
)
from streams.policy import Policy, load_policy
from streams.rules import RULES
from streams.rules.base import RecipientView
from streams.rules.content import ACCOUNT_STATE_RULES, CONTENT_RULES
from tests.support.factory import consent_entry, recipient_view, send_request

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
ACCOUNT = "outfitters"
RECIPIENT = "lea.martin@example.net"
VERIFIED = frozenset({"example.com"})

# Names spelled out, so a renamed rule fails loudly.
FROM_INVALID = "from-address-invalid"
FROM_UNVERIFIED = "from-domain-not-verified"
REPLY_TO = "reply-to-domain-not-verified"
FREE_MAIL = "from-free-mail-domain"
SPOOFED = "display-name-spoofed"
AUTH_MISSING = "bulk-authentication-missing"
NOT_ALIGNED = "bulk-from-not-aligned"
DMARC = "bulk-dmarc-missing"
LIST_UNSUB_UNSIGNED = "list-unsubscribe-not-signed"
NO_BODY = "body-facts-missing"
SENDER_NAME = "sender-name-missing"
POSTAL = "postal-address-missing"
UNSUBSCRIBE = "unsubscribe-mechanism-missing"
AD_LABEL = "ad-identification-missing"
FAKE_REPLY = "subject-fake-reply"
TRANSACTIONAL_SUBJECT = "subject-looks-transactional"
PERMISSION = "permission-reminder-missing"
REVIEW = "review-incentive-for-positive-review"

TABLE_ORDER = [
    FROM_INVALID,
    FROM_UNVERIFIED,
    REPLY_TO,
    FREE_MAIL,
    SPOOFED,
    AUTH_MISSING,
    NOT_ALIGNED,
    DMARC,
    LIST_UNSUB_UNSIGNED,
    NO_BODY,
    SENDER_NAME,
    POSTAL,
    UNSUBSCRIBE,
    AD_LABEL,
    FAKE_REPLY,
    TRANSACTIONAL_SUBJECT,
    PERMISSION,
    REVIEW,
]

# Footers as senders write them, one per address format the rule must recognise.
FOOTERS = {
    "US street": (
        "Example Outfitters, Inc.\n1200 Market Street, Suite 400\nSan Francisco, CA 94103"
    ),
    "US one line": "Example Outfitters · 350 5th Ave · New York, NY 10118",
    "US PO box": "Example Outfitters LLC, P.O. Box 1234, Austin, TX 78701",
    "CA English": "Example Outfitters Ltd.\n100 King St W\nToronto, ON M5X 1A9",
    "CA French": "Exemple Plein Air inc., 1234, rue Sainte-Catherine Ouest, Montréal (Québec)",
    "UK": "Example Outfitters Ltd, 1 Example Street, London EC1A 1BB. Registered in England.",
    "UK postcode only": "Example Outfitters Ltd · Unit 2, Example House · Manchester M1 1AE",
    "AU": "Example Outfitters Pty Ltd, Level 3, 100 Example St, Sydney NSW 2000",
    "AU box": "Example Outfitters Pty Ltd\nGPO Box 1234\nMelbourne VIC 3001",
    "DE": "Beispiel Outdoor GmbH · Musterstraße 12 · 10115 Berlin · HRB 12345 B",
    "DE hyphenated street": "Beispiel Outdoor GmbH\nKonrad-Adenauer-Straße 3a\nD-80331 München",
    "DE Postfach": "Beispiel Outdoor AG, Postfach 10 01 23, Frankfurt am Main",
    "DE postcode only": "Beispiel Outdoor GmbH\n60311 Frankfurt am Main",
    "FR": (
        "Exemple Plein Air SAS \u2013 12 rue de la Paix \u2013 75002 Paris \u2013 "
        "RCS Paris 123 456 789"
    ),
    "FR place": "Exemple Plein Air SARL, 5 place Bellecour, Lyon",
    "FR boîte postale": "Exemple Plein Air SA\nBP 120\n13001 Marseille CEDEX 01",
    # Ireland (Eircode: routing key, space, four of 0-9 and A C D E F H K N P R T V W X Y).
    "IE Eircode": "Example Events Ltd\nUnit 7, Example Business Park\nA65 F4E2",
    "IE Eircode D6W": "Example Events Ltd · The Old Mill, Rathfarnham · D6W XY14",
    "IE Eircode all digits": "Example Events Ltd, The Old Mill, Ballincollig, T12 3456",
    "IE Dublin district": "Example Events Ltd, Example House, Harcourt Street, Dublin 2",
    "IE county": "Example Events Teoranta, The Square, Ennistymon, Co. Clare",
    "IE quay": "Example Events Ltd, Unit 7, Grand Canal Quay, Dublin 2, D02 XY00, Ireland.",
}
NOT_ADDRESSES = {
    "phone and email": "Questions? Call us at 1-800-555-0100 or write to help@example.com.",
    "a sale": "Save 20% on 3 items this weekend only. Use code SPRING20 at checkout.",
    "an order number": "Order #12345 is ready. Track it at https://shop.example.com/t/12345",
    "a copyright line": "© 2026 Example Outfitters Inc. All rights reserved.",
    "counts": "Join our 10000 Members and earn 50000 Points today!",
    "a season": "Spring 2026 collection: 15 new styles.\nSpring 15% off ends Sunday.",
    "a version": "Version 2.0.1 released on 31 March with 5 new features.",
    "an id that looks like a state and ZIP": "Your member ID 48213 is ready.",
    "directions": "Our store is 2 miles down the road from the station.",
    "a rating": "Rated 5 stars by 2000 customers; open 9am-5pm, 7 days a week.",
    # Eircode-shaped, but a cricket final in a sentence; a city's name in an event's.
    "a T20 final": "Watch the T20 2024 final highlights with us tonight.",
    "an event in Dublin": "Dublin Data Day 2027: 600 engineers, 40 talks, one day.",
    "an office in Dublin": "Our Dublin 2 office is hiring engineers.",
}

UNSUBSCRIBE_LINK = BodyLink(url="https://example.com/unsubscribe?t=7f3a", text="Unsubscribe")
PREFERENCES_LINK = BodyLink(url="https://example.com/preferences?t=7f3a", text="Manage preferences")
GOOD_TEXT = (
    "Spring is here, and so are our new trail boots.\n\n"
    "Shop the collection: https://shop.example.com/spring\n\n"
    "You are receiving this email because you signed up at example.com.\n"
    "Unsubscribe | Manage preferences\n"
    f"{FOOTERS['US street']}"
)
GOOD_BODY = MessageBody(
    text=GOOD_TEXT,
    links=(
        BodyLink(url="https://shop.example.com/spring", text="Shop the collection"),
        UNSUBSCRIBE_LINK,
        PREFERENCES_LINK,
    ),
)
SIGNED = (
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
)
GOOD_AUTH = MailAuthentication(
    dkim_domain="example.com",
    dkim_signed_headers=SIGNED,
    spf_domain="bounces.example.com",
    dmarc_policy="none",
)


def policy_with(**content: Any) -> Policy:
    """The default policy with these `ContentPolicy` fields changed."""
    return load_policy().model_copy(update={"content": ContentPolicy(**content).model_dump()})


DEFAULT = policy_with()
STRICT = policy_with(require_ad_identification=True, require_permission_reminder=True)


request = partial(
    send_request,
    request_id="spring-1",
    account_id=ACCOUNT,
    list_id="newsletter",
    recipient=RECIPIENT,
    from_address='"Example Outfitters" <news@example.com>',
    subject="Spring is here: new trail boots",
    body=GOOD_BODY,
    authentication=GOOD_AUTH,
    requested_at=NOW,
)
"""A clean commercial bulk message of a verified sender; fields given make it worse."""

transactional = partial(
    request, classification="transactional", send_kind="one_off", subject="Your receipt"
)
"""A transactional one-off message (a receipt) of the same sender."""

view = partial(recipient_view, consents=(), sender_domains=VERIFIED)
"""The sender's verified domain, and no consent on record."""


def body(text: str, *links: BodyLink) -> MessageBody:
    return MessageBody(text=text, links=links)


def failures(
    req: SendRequest, seen: RecipientView | None = None, policy: Policy = DEFAULT
) -> dict[str, str]:
    """Every content rule that fails, in table order, with its explanation."""
    seen = view() if seen is None else seen
    found = {}
    for rule in CONTENT_RULES:
        failure = rule.evaluate(req, seen, policy)
        if failure is not None:
            found[failure.rule] = failure.explanation
    return found


def explanation(
    name: str, req: SendRequest, seen: RecipientView | None = None, policy: Policy = DEFAULT
) -> str | None:
    return failures(req, seen, policy).get(name)


def assert_fails(
    name: str, req: SendRequest, seen: RecipientView | None = None, policy: Policy = DEFAULT
) -> str:
    said = explanation(name, req, seen, policy)
    assert said, f"{name} should fail"
    assert RECIPIENT not in said
    return said


def assert_passes(
    name: str, req: SendRequest, seen: RecipientView | None = None, policy: Policy = DEFAULT
) -> None:
    said = explanation(name, req, seen, policy)
    assert said is None, f"{name} should pass, said: {said}"


# The table ----------------------------------------------------------------------------------------


def test_the_table_lists_the_rules_in_order() -> None:
    """The table reads from who sent it, to how it is authenticated, to what it says."""
    assert [rule.name for rule in CONTENT_RULES] == TABLE_ORDER


def test_rule_names_are_unique_kebab_case_and_clash_with_no_other_rule() -> None:
    """A stable kebab-case name per rule, none reused from the gate's other rules."""
    names = [rule.name for rule in CONTENT_RULES]
    assert len(set(names)) == len(names)
    others = {rule.name for rule in RULES if rule not in CONTENT_RULES}
    assert not set(names) & others
    for rule in CONTENT_RULES:
        assert rule.name.replace("-", "").isalnum() and rule.name == rule.name.lower()
        assert rule.law and rule.description


def test_account_state_rules_are_the_verified_domain_rules() -> None:
    """Only the two domain rules read the account's verified domains."""
    assert {FROM_UNVERIFIED, REPLY_TO} == ACCOUNT_STATE_RULES


def test_a_clean_commercial_bulk_message_passes_every_rule() -> None:
    """Verified, authenticated, aligned, with a name, address, opt-out, label and reminder."""
    labelled = request(subject="Advertisement: spring is here")
    assert failures(labelled, policy=STRICT) == {}


def test_a_transactional_message_without_body_facts_passes() -> None:
    """Transactional one-off mail owes no footer, and the gate judges its headers only."""
    assert failures(transactional(body=None, authentication=None)) == {}


def test_a_message_breaking_many_rules_gets_each_rule() -> None:
    """Every rule a message breaks is named, in table order, each with its own explanation."""
    req = request(
        from_address='"alerts@bank.example.org" <offers@gmail.com>',
        reply_to="replies@yahoo.com",
        subject="Re: Your order has shipped",
        headers={"X-Campaign": "spring"},
        body=body(
            "Loved your new boots? Leave us a 5-star review and get 20% off your next order!\n"
            "See you soon.",
            BodyLink(url="https://shop.example.com/boots", text="Shop boots"),
        ),
        authentication=MailAuthentication(
            dkim_domain="mailer.example.net", dkim_signed_headers=("From", "Subject")
        ),
    )
    found = failures(req, policy=STRICT)
    assert list(found) == [
        FROM_UNVERIFIED,
        REPLY_TO,
        FREE_MAIL,
        SPOOFED,
        AUTH_MISSING,
        NOT_ALIGNED,
        DMARC,
        LIST_UNSUB_UNSIGNED,
        SENDER_NAME,
        POSTAL,
        UNSUBSCRIBE,
        AD_LABEL,
        FAKE_REPLY,
        TRANSACTIONAL_SUBJECT,
        PERMISSION,
        REVIEW,
    ]
    assert len(set(found.values())) == len(found)


def test_a_request_without_from_or_body_names_those_two() -> None:
    """An unparsable From and missing body facts: the rules that need them stay silent."""
    req = request(from_address="Example Outfitters", body=None, authentication=GOOD_AUTH)
    assert list(failures(req, policy=STRICT)) == [FROM_INVALID, NO_BODY]


# Explanations -------------------------------------------------------------------------------------

_LOCAL = st.from_regex(r"[a-z][a-z0-9.]{0,20}[a-z0-9]", fullmatch=True).filter(
    lambda local: ".." not in local
)


@settings(max_examples=40, deadline=None)
@given(local=_LOCAL)
def test_explanations_never_quote_the_recipient(local: str) -> None:
    """Even with the address in the subject and the display name, no explanation repeats it."""
    recipient = f"{local}@example.net"
    req = request(
        recipient=recipient,
        from_address=f'"{recipient}" <offers@gmail.com>',
        reply_to="replies@yahoo.com",
        subject=f"Re: {recipient}, your order has shipped",
        body=body(f"Hi {recipient}, rate us 5 stars and get a $10 gift card!"),
        authentication=None,
    )
    found = failures(req, policy=STRICT)
    assert len(found) >= 10
    for said in found.values():
        assert said.strip() and said.endswith(".")
        assert recipient not in said


# Every message: who it is from --------------------------------------------------------------------


@pytest.mark.parametrize(
    "from_address",
    [
        "news@example.com",
        '"Example Outfitters" <news@example.com>',
        "Example Outfitters <news@example.com>",
        "=?utf-8?q?Caf=C3=A9_Example?= <news@example.com>",
        "Jo Q. Public <jo@example.com>",
    ],
)
def test_from_address_valid(from_address: str) -> None:
    """One mailbox, with or without a display name (RFC 2047 words decoded)."""
    assert_passes(FROM_INVALID, request(from_address=from_address))


@pytest.mark.parametrize(
    "from_address",
    [
        "news@",
        "Example Outfitters",
        "news@example.com, offers@example.com",
        "Example <news@[192.0.2.10]>",
        "news@example.com\r\nBcc: list@example.net",
        "Team: news@example.com;",
        "<news@example.com",
        "news@localhost",
    ],
)
def test_from_address_invalid(from_address: str) -> None:
    """No domain, no address, two mailboxes, an IP literal, injection, a group, bad syntax."""
    assert "From header" in assert_fails(FROM_INVALID, request(from_address=from_address))


def test_from_on_a_verified_domain_or_subdomain_passes() -> None:
    """A verified domain covers its subdomains; case does not matter; IDNs compare as A-labels."""
    assert_passes(FROM_UNVERIFIED, request(from_address="news@example.com"))
    assert_passes(FROM_UNVERIFIED, request(from_address="Example <news@mail.example.com>"))
    assert_passes(FROM_UNVERIFIED, request(from_address="NEWS@Example.COM"))
    idn = request(from_address="Bücher <news@bücher.example>")
    assert_passes(FROM_UNVERIFIED, idn, view(sender_domains=frozenset({"xn--bcher-kva.example"})))


@pytest.mark.parametrize(
    "from_address",
    ["news@example.org", "news@notexample.com", "news@example.com.example.net"],
)
def test_from_on_another_domain_fails(from_address: str) -> None:
    """Another domain, a longer name ending in the verified one, the verified one as a label."""
    said = assert_fails(FROM_UNVERIFIED, request(from_address=from_address))
    assert "example.com" in said  # the verified domains are listed


def test_from_domain_rule_judges_transactional_mail_too() -> None:
    """CAN-SPAM's header rule covers transactional messages."""
    assert_fails(FROM_UNVERIFIED, transactional(from_address="Receipts <billing@example.org>"))


@pytest.mark.parametrize("domains", [None, frozenset()])
def test_an_account_without_verified_domains_is_told_to_verify_one(
    domains: frozenset[str] | None,
) -> None:
    said = assert_fails(FROM_UNVERIFIED, request(), view(sender_domains=domains))
    assert "verify" in said


def test_verified_domains_can_be_switched_off() -> None:
    off = policy_with(require_verified_domains=False)
    assert_passes(FROM_UNVERIFIED, request(from_address="news@example.org"), policy=off)
    assert_passes(REPLY_TO, request(reply_to="help@example.org"), policy=off)
    assert_fails(FROM_INVALID, request(from_address="news@"), policy=off)


@pytest.mark.parametrize(
    ("reply_to", "send_kind", "content"),
    [
        ("help@example.com", "bulk", {}),
        ('"Example Help" <help@support.example.com>', "bulk", {}),
        ("replies@replies.example.net", "bulk", {"reply_to_allowed_domains": ["example.net"]}),
        ("jo.owner@gmail.com", "one_off", {}),
    ],
)
def test_reply_to_allowed(reply_to: str, send_kind: str, content: dict[str, Any]) -> None:
    """Verified (or a subdomain), a domain the policy allows, or a free-mail box on one-off mail."""
    req = request(reply_to=reply_to, send_kind=send_kind)
    assert_passes(REPLY_TO, req, policy=policy_with(**content))


def test_no_reply_to_passes() -> None:
    assert_passes(REPLY_TO, request(reply_to=None))


def test_free_mail_reply_to_fails_on_bulk_mail() -> None:
    """Replies to bulk mail stay with the sender's verified domain."""
    said = assert_fails(REPLY_TO, request(reply_to="jo.owner@gmail.com"))
    assert "free-mail" in said and "gmail.com" in said


@pytest.mark.parametrize(
    "reply_to", ["help@example.org", "help@", "help@example.com, sales@example.org"]
)
def test_reply_to_fails(reply_to: str) -> None:
    """Another domain, no domain, one good and one bad address."""
    assert_fails(REPLY_TO, request(reply_to=reply_to))


def test_reply_to_without_verified_domains_fails() -> None:
    said = assert_fails(REPLY_TO, request(reply_to="help@example.com"), view(sender_domains=None))
    assert "verif" in said


@pytest.mark.parametrize(
    "from_address", ["Jo's Bakery <josbakery@gmail.com>", "offers@outlook.com", "x@GMX.de"]
)
def test_bulk_from_a_free_mail_domain_fails(from_address: str) -> None:
    """Commercial or not: the providers' DMARC policies reject such mail."""
    said = assert_fails(FREE_MAIL, request(from_address=from_address))
    assert "DMARC" in said
    assert_fails(FREE_MAIL, request(from_address=from_address, classification="transactional"))


def test_free_mail_from_on_one_off_mail_is_only_unverified() -> None:
    """The free-mail rule is for bulk mail; the domain rule still asks for a verified domain."""
    found = failures(request(from_address="jo.owner@gmail.com", send_kind="one_off"))
    assert FREE_MAIL not in found and FROM_UNVERIFIED in found


def test_free_mail_list_comes_from_the_policy() -> None:
    custom = policy_with(free_mail_domains=["mail.example.net"])
    assert_fails(FREE_MAIL, request(from_address="a@mail.example.net"), policy=custom)
    assert_passes(FREE_MAIL, request(from_address="a@gmail.com"), policy=custom)


@pytest.mark.parametrize(
    "from_address",
    [
        '"alerts@bank.example.org" <news@example.com>',
        '"Example Bank <alerts@bank.example.org>" <news@example.com>',
        '"example.org Security" <news@example.com>',
        '"Outfitters.shop" <news@example.com>',
        # Top-level names reserved for examples and tests (RFC 2606 §2, RFC 6761).
        "parcelly.example Delivery <notify@parcel-updates.example>",
        '"Parcelly.Test Support" <news@example.com>',
        '"billing.example.invalid" <news@example.com>',
    ],
)
def test_display_name_posing_as_another_sender_fails(from_address: str) -> None:
    """Another address in the display name, or a name under a real public suffix (.org, .shop)
    or a reserved example name (.example, .test, .invalid) that is not the From's registrable
    domain."""
    assert_fails(SPOOFED, request(from_address=from_address))


@pytest.mark.parametrize(
    "from_address",
    [
        '"Example Outfitters" <news@example.com>',
        '"news@example.com" <news@example.com>',
        '"Example.com Deals" <deals@mail.example.com>',
        '"Parcelly.example Delivery" <notify@mail.parcelly.example>',
        '"Example Delivery" <notify@parcel-updates.example>',
        '"St.Louis Bakery" <news@example.com>',
        '"Team@Home Bakery" <news@example.com>',
        '"Example Outfitters Inc." <news@example.com>',
        "news@example.com",
    ],
)
def test_display_name_naming_the_sender_passes(from_address: str) -> None:
    """The sender's own address, its own registrable domain, words that are no domain."""
    assert_passes(SPOOFED, request(from_address=from_address))


# Bulk mail: authentication ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "authentication",
    [
        None,
        MailAuthentication(spf_domain="bounces.example.com", dmarc_policy="none"),
        MailAuthentication(dkim_domain="example.com", dkim_signed_headers=SIGNED),
    ],
)
def test_bulk_without_spf_and_dkim_fails(authentication: MailAuthentication | None) -> None:
    """Gmail and Yahoo want both SPF and DKIM from bulk senders."""
    assert_fails(AUTH_MISSING, request(authentication=authentication))
    assert_fails(
        AUTH_MISSING, request(authentication=authentication, classification="transactional")
    )


def test_authentication_rules_are_for_bulk_mail() -> None:
    one_off = request(send_kind="one_off", authentication=None)
    for name in (AUTH_MISSING, NOT_ALIGNED, DMARC, LIST_UNSUB_UNSIGNED):
        assert_passes(name, one_off)


def test_bulk_authentication_can_be_switched_off() -> None:
    off = policy_with(bulk_authentication=False)
    assert not {AUTH_MISSING, NOT_ALIGNED, DMARC, LIST_UNSUB_UNSIGNED} & set(
        failures(request(authentication=None), policy=off)
    )


@pytest.mark.parametrize(
    ("from_address", "dkim", "spf"),
    [
        ("news@example.com", "example.com", "bounces.esp.example.net"),
        ("news@example.com", "esp.example.net", "bounces.example.com"),
        ("news@mail.example.com", "example.com", None),
        ("news@example.com", "s1.example.com", None),
        ("news@example.co.uk", "mail.example.co.uk", None),
    ],
)
def test_aligned_dkim_or_spf_passes(from_address: str, dkim: str, spf: str | None) -> None:
    """Relaxed alignment: the same registrable domain, either way round, either mechanism."""
    auth = MailAuthentication(
        dkim_domain=dkim, dkim_signed_headers=SIGNED, spf_domain=spf, dmarc_policy="none"
    )
    domains = frozenset({"example.com", "example.co.uk"})
    assert_passes(
        NOT_ALIGNED,
        request(from_address=from_address, authentication=auth),
        view(sender_domains=domains),
    )


@pytest.mark.parametrize(
    ("from_address", "dkim", "spf"),
    [
        ("news@example.com", "esp.example.net", "bounces.esp.example.net"),
        ("news@example.co.uk", "other.co.uk", "bounces.other.co.uk"),
        ("news@example.com", "example.com.example.net", None),
    ],
)
def test_unaligned_dkim_and_spf_fail(from_address: str, dkim: str, spf: str | None) -> None:
    """The ESP's own domain, a sibling under the same public suffix, a look-alike."""
    auth = MailAuthentication(
        dkim_domain=dkim, dkim_signed_headers=SIGNED, spf_domain=spf, dmarc_policy="none"
    )
    assert_fails(NOT_ALIGNED, request(from_address=from_address, authentication=auth))


@pytest.mark.parametrize("dmarc", ["none", "quarantine", "reject"])
def test_any_dmarc_policy_passes(dmarc: str) -> None:
    auth = GOOD_AUTH.model_copy(update={"dmarc_policy": dmarc})
    assert_passes(DMARC, request(authentication=auth))


def test_no_dmarc_policy_fails_for_bulk() -> None:
    auth = GOOD_AUTH.model_copy(update={"dmarc_policy": None})
    said = assert_fails(DMARC, request(authentication=auth))
    assert "example.com" in said and "DMARC" in said


@pytest.mark.parametrize(
    "signed",
    [
        ("From", "Subject"),
        ("From", "Subject", "List-Unsubscribe"),
        ("From", "Subject", "List-Unsubscribe-Post"),
    ],
)
def test_list_headers_not_signed_fail_on_commercial_bulk(signed: tuple[str, ...]) -> None:
    """RFC 8058 wants both list headers under the DKIM signature."""
    auth = GOOD_AUTH.model_copy(update={"dkim_signed_headers": signed})
    said = assert_fails(LIST_UNSUB_UNSIGNED, request(authentication=auth))
    assert "List-Unsubscribe" in said


def test_list_headers_compare_case_insensitively() -> None:
    auth = GOOD_AUTH.model_copy(
        update={"dkim_signed_headers": ("from", "list-unsubscribe", " LIST-UNSUBSCRIBE-POST ")}
    )
    assert_passes(LIST_UNSUB_UNSIGNED, request(authentication=auth))


def test_list_headers_are_not_asked_of_transactional_bulk() -> None:
    auth = GOOD_AUTH.model_copy(update={"dkim_signed_headers": ("From",)})
    assert_passes(LIST_UNSUB_UNSIGNED, request(classification="transactional", authentication=auth))


# Commercial mail: what it must say ----------------------------------------------------------------


def test_commercial_bulk_without_body_facts_fails_once() -> None:
    """One rule says the facts are missing; the body rules do not repeat it."""
    found = failures(request(body=None), policy=STRICT)
    assert NO_BODY in found and "body facts" in found[NO_BODY]
    assert not {POSTAL, UNSUBSCRIBE, AD_LABEL, PERMISSION} & set(found)


def test_without_body_facts_one_off_and_transactional_mail_pass() -> None:
    assert failures(request(body=None, send_kind="one_off"), policy=STRICT) == {}
    assert failures(request(body=None, classification="transactional")) == {}


@pytest.mark.parametrize(
    "from_address",
    [
        '"Example Outfitters" <news@example.com>',
        "=?utf-8?q?Caf=C3=A9_Example?= <news@example.com>",
        '"Example Outfitters (news@example.com)" <news@example.com>',
    ],
)
def test_a_display_name_that_names_the_sender_passes(from_address: str) -> None:
    assert_passes(SENDER_NAME, request(from_address=from_address))


@pytest.mark.parametrize(
    "from_address",
    [
        "news@example.com",
        '"" <news@example.com>',
        '"No-Reply" <noreply@example.com>',
        '"Newsletter" <news@example.com>',
        '"news@example.com" <news@example.com>',
        '"2026" <news@example.com>',
    ],
)
def test_a_display_name_that_names_no_one_fails(from_address: str) -> None:
    """Empty, a mailbox word, the address itself, digits."""
    said = assert_fails(SENDER_NAME, request(from_address=from_address))
    assert "display name" in said


def test_sender_name_is_asked_of_commercial_mail_only() -> None:
    assert_passes(SENDER_NAME, transactional(from_address="receipts@example.com"))


@pytest.mark.parametrize("footer", list(FOOTERS.values()), ids=list(FOOTERS))
def test_a_postal_address_in_the_footer_passes(footer: str) -> None:
    text = f"New trail boots are in.\n\n{footer}"
    assert_passes(POSTAL, request(body=body(text, UNSUBSCRIBE_LINK)))


@pytest.mark.parametrize("text", list(NOT_ADDRESSES.values()), ids=list(NOT_ADDRESSES))
def test_text_without_a_postal_address_fails(text: str) -> None:
    said = assert_fails(POSTAL, request(body=body(text, UNSUBSCRIBE_LINK)))
    assert "postal address" in said


def test_postal_address_is_asked_of_commercial_mail_where_the_policy_says() -> None:
    no_address = body("Your receipt for order 12345.")
    assert_passes(POSTAL, transactional(body=no_address))
    assert_passes(
        POSTAL, request(body=no_address), policy=policy_with(require_postal_address=False)
    )


@pytest.mark.parametrize(
    "links_and_text",
    [
        ((UNSUBSCRIBE_LINK,), ""),
        ((PREFERENCES_LINK,), ""),
        ((BodyLink(url="https://example.com/u/opt-out?t=1", text="Click here"),), ""),
        ((BodyLink(url="https://example.com/p?t=1", text="UNSUBSCRIBE"),), ""),
        ((BodyLink(url="https://example.de/n?t=1", text="Newsletter abbestellen"),), ""),
        ((BodyLink(url="https://example.fr/n?t=1", text="Se désabonner"),), ""),
        ((BodyLink(url="mailto:leave@example.com?subject=unsubscribe", text="Email us"),), ""),
        ((), "To stop receiving these emails, reply with UNSUBSCRIBE in the subject."),
        ((), "Unsubscribe: https://example.com/unsubscribe/7f3a"),
        # A plain-text footer: the URL names nothing, the line does (and the link's text is the
        # URL, as a plain-text part's links read).
        ((), "Unsubscribe: https://lists.example.com/l/7f3a"),
        (
            (
                BodyLink(
                    url="https://lists.example.com/l/7f3a", text="https://lists.example.com/l/7f3a"
                ),
            ),
            "Unsubscribe: https://lists.example.com/l/7f3a",
        ),
        (
            (BodyLink(url="https://lists.example.com/l/7f3a", text="here"),),
            "To opt out, click here.",
        ),
        ((), "Newsletter abbestellen: https://example.de/n/7f3a"),
    ],
)
def test_a_visible_unsubscribe_mechanism_passes(links_and_text: tuple[Any, str]) -> None:
    links, extra = links_and_text
    text = f"New trail boots are in.\n{extra}\n{FOOTERS['UK']}"
    assert_passes(UNSUBSCRIBE, request(body=body(text, *links)))


@pytest.mark.parametrize(
    "links_and_text",
    [
        ((), ""),
        ((BodyLink(url="#", text="Unsubscribe"),), ""),
        ((BodyLink(url="javascript:void(0)", text="Unsubscribe"),), ""),
        ((BodyLink(url="https://shop.example.com/boots", text="Shop boots"),), ""),
        ((), "You can unsubscribe at any time."),
        # A link whose line says nothing of leaving, while another line mentions it.
        (
            (BodyLink(url="https://shop.example.com/boots", text="Shop boots"),),
            "Shop boots: https://shop.example.com/boots\nYou can unsubscribe at any time.",
        ),
        ((), "Please do not reply to this email. We hope you stop by soon."),
    ],
)
def test_no_working_unsubscribe_mechanism_fails(links_and_text: tuple[Any, str]) -> None:
    """No link, a dead link, a link that is no opt-out, a mention with no way to act on it."""
    links, extra = links_and_text
    text = f"New trail boots are in.\n{extra}\n{FOOTERS['UK']}"
    said = assert_fails(UNSUBSCRIBE, request(body=body(text, *links)))
    assert "unsubscribe" in said


@pytest.mark.parametrize(
    "instruction",
    [
        "Reply STOP to end these emails.",
        "Reply 'unsubscribe' and we'll take care of it.",
        'Reply with "remove" to stop receiving these.',
        # A plain-text part wraps mid-sentence.
        "If you'd rather not hear from me, just reply \"no thanks\" and I won't\nemail you again.",
        "Not for you? Reply \u201cno\u201d and you won't hear from us again.",
        "Reply to rosa@quill.example and I'll take you off my list.",
        "If you no longer want to receive these emails, reply to this message.",
        "Antworten Sie einfach mit \u201eAbmelden\u201c.",
        "Um sich abzumelden, antworten Sie auf diese E-Mail.",
        "Antworte mit STOPP, dann schreiben wir dir nicht mehr.",
        "Répondez STOP pour ne plus recevoir nos offres.",
        "Répondez simplement « non merci » et nous ne vous écrirons plus.",
        "Pour ne plus recevoir nos courriels, répondez à ce message.",
        "Responde BAJA a este correo.",
        "Responda con «no, gracias» y no le volveremos a escribir.",
        "Para dejar de recibir estos correos, contesta a este mensaje.",
    ],
)
def test_reply_instructions_that_name_an_opt_out_pass(instruction: str) -> None:
    """A return address is a mechanism (CAN-SPAM §7704(a)(3)(A)(i)) when the message says the
    reply opts out: the word to send, or what the reply does."""
    text = f"New trail boots are in.\n\n{instruction}\n{FOOTERS['UK']}"
    assert_passes(UNSUBSCRIBE, request(body=body(text)))


@pytest.mark.parametrize(
    "instruction",
    [
        "Reply to this email with questions.",
        "Questions about this order? Reply to this email and we'll help.",
        "Please reply no later than Friday.",
        "Need to cancel? Reply to this email by Friday and we'll release the court.",
        "We'll email you again when it ships. Questions? Reply to\nthis email.",
        "Reply with your order number and we'll email you again with tracking.",
        "Please do not reply to this email; you can unsubscribe at any time.",
        "Fragen zur Lieferung? Antworten Sie einfach auf diese E-Mail.",
        "Bitte antworten Sie nicht auf diese E-Mail, um sich abzumelden.",
        "Répondez à ce message pour toute question.",
        "Ne répondez pas à ce message : pour vous désabonner, voyez votre compte.",
        "Responde a este correo si tienes preguntas.",
        "No responda a este correo para darse de baja.",
    ],
)
def test_reply_instructions_that_name_no_opt_out_fail(instruction: str) -> None:
    """Replying for help, to a booking, or told not to reply at all is no way out."""
    text = f"New trail boots are in.\n\n{instruction}\n{FOOTERS['UK']}"
    assert_fails(UNSUBSCRIBE, request(body=body(text)))


@pytest.mark.parametrize(
    ("text", "read"),
    [
        ("has already been\napplied to this order", "has already been applied to this order"),
        ("and I won't \n  email you again", "and I won't email you again"),
        ("a plan for just\n$79 a year", "a plan for just $79 a year"),
        ("order LO-310077\n2 items", "order LO-310077\n2 items"),
        # A stop, a label's colon or a capital: the next line is an item of its own.
        ("Thanks for your order.\nsee you soon", "Thanks for your order.\nsee you soon"),
        ("Unsubscribe:\nhttps://example.com/u", "Unsubscribe:\nhttps://example.com/u"),
        ("Shop now\nUnsubscribe", "Shop now\nUnsubscribe"),
        ("Hello,\n\nwelcome", "Hello,\n\nwelcome"),
    ],
)
def test_a_line_wrapped_mid_sentence_is_read_with_the_next(text: str, read: str) -> None:
    assert unwrapped(text) == read


def test_unsubscribe_is_not_asked_of_transactional_mail() -> None:
    assert_passes(UNSUBSCRIBE, transactional(body=body("Your receipt for order 12345.")))


@settings(max_examples=30, deadline=None)
@given(word=st.sampled_from(["unsubscribe", "opt out", "manage preferences", "abmelden"]))
def test_unsubscribe_link_text_matches_in_any_case(word: str) -> None:
    """Case is no part of the wording: "UNSUBSCRIBE", "Unsubscribe", "uNsUbScRiBe"."""
    for text in (word.upper(), word.title(), word.swapcase(), f"Click to {word}."):
        link = BodyLink(url="https://example.com/x?t=1", text=text)
        assert_passes(UNSUBSCRIBE, request(body=body(FOOTERS["AU"], link)))


def test_ad_identification_is_not_required_by_default() -> None:
    """CAN-SPAM exempts mail sent with affirmative consent; the default platform requires it."""
    assert_passes(AD_LABEL, request())


@pytest.mark.parametrize(
    ("subject", "text"),
    [
        ("Ad: spring is here", ""),
        ("[AD] Spring is here", ""),
        ("Spring is here", "Advertisement"),
        ("Frühling ist da", "Anzeige"),
        ("Sponsored: new trail boots", ""),
    ],
)
def test_an_advertisement_label_passes_where_required(subject: str, text: str) -> None:
    req = request(subject=subject, body=body(f"{text}\n{GOOD_TEXT}", UNSUBSCRIBE_LINK))
    assert_passes(AD_LABEL, req, policy=STRICT)


def test_an_unlabelled_advertisement_fails_where_required() -> None:
    """ "Read:" is no "Ad:"; the consent on record rests on a purchase, not an express opt-in."""
    req = request(subject="Read: our spring story")
    implied = consent_entry(
        account_id=ACCOUNT,
        basis="implied_purchase",
        source_kind="checkout",
        granted_at=datetime(2025, 6, 1, tzinfo=UTC),
    )
    said = assert_fails(AD_LABEL, req, view(consents=(implied,)), policy=STRICT)
    assert "advertisement" in said


def test_an_express_opt_in_exempts_from_the_label() -> None:
    """CAN-SPAM §7704(a)(5)(B): prior affirmative consent."""
    express = consent_entry(
        account_id=ACCOUNT,
        status="double_opt_in",
        granted_at=datetime(2025, 6, 1, tzinfo=UTC),
        confirmed_at=datetime(2025, 6, 1, 0, 5, tzinfo=UTC),
    )
    assert_passes(AD_LABEL, request(), view(consents=(express,)), policy=STRICT)


@pytest.mark.parametrize(
    "subject",
    [
        "Re: your question about boots",
        "RE: Spring sale",
        "Fwd: 20% off trail boots",
        "FW: spring sale",
        "AW: Frühjahrsangebot",
        "WG: Frühjahrsangebot",
        "TR: Soldes de printemps",
        "Re[2]: spring sale",
        "Re : soldes de printemps",
        "Fwd: Re: spring sale",
    ],
)
def test_a_reply_prefix_on_a_message_that_replies_to_nothing_fails(subject: str) -> None:
    said = assert_fails(FAKE_REPLY, request(subject=subject))
    assert "In-Reply-To" in said


@pytest.mark.parametrize("header", ["In-Reply-To", "in-reply-to", "References"])
def test_a_real_reply_may_say_re(header: str) -> None:
    req = request(subject="Re: your question about boots", headers={header: "<q-1@example.com>"})
    assert_passes(FAKE_REPLY, req)


@pytest.mark.parametrize(
    "subject", ["Reading list: spring", "Regarding our sale", "Real deals: boots", "Trends: 2026"]
)
def test_words_that_begin_like_a_prefix_pass(subject: str) -> None:
    assert_passes(FAKE_REPLY, request(subject=subject))


@settings(max_examples=50, deadline=None)
@given(
    prefix=st.sampled_from(ContentPolicy().reply_subject_prefixes),
    rest=st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs")), max_size=40),
)
def test_every_configured_prefix_is_a_fake_reply(prefix: str, rest: str) -> None:
    """Any configured prefix, any case, then anything: a reply marker on commercial mail."""
    assert_fails(FAKE_REPLY, request(subject=f"{prefix.upper()}: {rest}"))
    assert_passes(FAKE_REPLY, transactional(subject=f"{prefix}: {rest}"))


@pytest.mark.parametrize(
    "subject",
    [
        "Your order has shipped!",
        "Password reset required",
        "Your account has been suspended",
        "Payment failed - update your card",
        "Invoice #4411",
        "Delivery attempt failed",
        "Verify your account to claim your reward",
        "Ihre Bestellung wurde versandt",
        "Votre commande a été expédiée",
        "Tu pedido ha sido enviado",
        # Nothing but the reader's order: what an order notice's subject says.
        "Your order",
        "About your order #4411",
        "Zu Ihrer Bestellung Nr. 1234",
        "Votre commande n° 5512",
        "Su pedido",
    ],
)
def test_a_transactional_looking_subject_on_marketing_fails(subject: str) -> None:
    said = assert_fails(TRANSACTIONAL_SUBJECT, request(subject=subject))
    assert "reads like" in said


@pytest.mark.parametrize(
    "subject",
    [
        "Spring is here: new trail boots",
        "Free shipping on every order this week",
        "New: invoicing templates for freelancers",
        "Our delivery promise",
        "Your order, your way: 20% off custom boots",
        "Complete your order and get free shipping",
    ],
)
def test_an_honest_subject_passes(subject: str) -> None:
    assert_passes(TRANSACTIONAL_SUBJECT, request(subject=subject))


def test_a_fake_reply_about_the_readers_order_is_two_deceptions() -> None:
    """ "Re:" claims an earlier exchange, "your order" a purchase the ad is not about: CAN-SPAM
    §7704(a)(2) forbids each, and each rule names its own."""
    found = failures(request(subject="Re: your order"))
    assert {FAKE_REPLY, TRANSACTIONAL_SUBJECT} <= set(found)
    assert (
        "Re" in found[FAKE_REPLY] and "order the recipient placed" in found[TRANSACTIONAL_SUBJECT]
    )


def test_a_real_shipping_notice_with_a_promotion_may_say_so() -> None:
    """Classed transactional (judged commercial for its promotion), its subject tells the truth."""
    req = transactional(subject="Your order has shipped", promotional_content=True)
    assert_passes(TRANSACTIONAL_SUBJECT, req)


def test_subject_patterns_and_explanations_come_from_the_policy() -> None:
    custom = policy_with(
        deceptive_subject_patterns=[
            SubjectPattern(pattern=r"\bfinal notice\b", explanation="it reads like a dunning")
        ]
    )
    said = assert_fails(
        TRANSACTIONAL_SUBJECT, request(subject="FINAL NOTICE: boots"), policy=custom
    )
    assert "it reads like a dunning" in said
    assert_passes(TRANSACTIONAL_SUBJECT, request(subject="Your order has shipped"), policy=custom)


def test_an_invalid_subject_pattern_is_refused() -> None:
    with pytest.raises(ValueError, match="regular expression"):
        SubjectPattern(pattern="(unclosed", explanation="never")


def test_permission_reminder_is_not_required_by_default() -> None:
    assert_passes(PERMISSION, request(body=body(FOOTERS["UK"], UNSUBSCRIBE_LINK)))


@pytest.mark.parametrize(
    "reminder",
    [
        "You are receiving this email because you signed up at example.com.",
        "You\u2019re receiving this because you bought boots from us.",
        "Sie erhalten diese E-Mail, weil Sie sich für unseren Newsletter angemeldet haben.",
        "Vous recevez ce message car vous êtes inscrit à notre lettre d'information.",
        "Recibes este correo porque te suscribiste en example.com.",
    ],
)
def test_a_permission_reminder_passes_where_required(reminder: str) -> None:
    req = request(body=body(f"New boots.\n{reminder}\n{FOOTERS['UK']}", UNSUBSCRIBE_LINK))
    assert_passes(PERMISSION, req, policy=STRICT)


def test_no_permission_reminder_fails_where_required() -> None:
    req = request(body=body(f"New boots.\n{FOOTERS['UK']}", UNSUBSCRIBE_LINK))
    said = assert_fails(PERMISSION, req, policy=STRICT)
    assert "why they receive it" in said


# Every message: review incentives -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("subject", "text"),
    [
        (
            "How were your boots?",
            "Loved your new boots? Leave us a 5-star review and get 20% off your next order!",
        ),
        (
            "How did we do?",
            "Rate us 5 stars on Example Reviews!\n\n"
            "As a thank-you, every 5-star review gets a $10 gift card.",
        ),
        ("Rate us 5 stars, get a free gift", ""),
        (
            "Wie war Ihr Einkauf?",
            "Hat es Ihnen gefallen? Geben Sie uns eine 5-Sterne-Bewertung und erhalten Sie "
            "10 % Rabatt auf Ihre nächste Bestellung.",
        ),
        (
            "Votre avis compte",
            "Si vous êtes satisfait, laissez-nous un avis 5 étoiles et recevez un bon d'achat.",
        ),
    ],
)
def test_a_reward_for_a_positive_review_fails(subject: str, text: str) -> None:
    """16 CFR 465.4: compensation conditioned, expressly or by implication, on the sentiment."""
    req = transactional(subject=subject, body=body(text) if text else None)
    said = assert_fails(REVIEW, req)
    assert "review" in said


@pytest.mark.parametrize(
    "text",
    [
        "Tell us what you think: leave an honest review, good or bad, and get 10% off your next "
        "order as a thank-you.",
        "Rate your order from 1 to 5 stars - every review enters you in our monthly prize draw.",
        "If you loved it, leave us a 5-star review!",
        "Free shipping on all orders this week, and 20% off boots.\n\n"
        "Our new collection is made from recycled materials.\n\n"
        "Trail season starts soon; see our guides.\n\n"
        "If you loved your last order, leave a review.",
    ],
)
def test_an_incentive_for_any_review_or_a_request_without_one_passes(text: str) -> None:
    """An incentive for every review, whatever it says, is allowed (the reviewer discloses it,
    16 CFR 255.5); so is asking happy customers without paying them; and a promotion far from
    the ask is not tied to it."""
    assert_passes(REVIEW, transactional(subject="How did we do?", body=body(text)))


def test_a_protected_brand_in_the_display_name_needs_the_brands_own_domain() -> None:
    """ "PayPal" on mail from an unrelated domain poses as PayPal (CAN-SPAM §7704(a)(1)); from
    paypal.com or a subdomain of it, it is PayPal's own; a name that only contains the letters
    ("Applebee's") is no brand word."""
    from streams.content.policy.senders import PROTECTED_BRANDS
    from streams.content.sender import brand_posed_as, sole_mailbox

    def posed(value: str) -> str | None:
        mailbox = sole_mailbox(value)
        assert mailbox is not None
        return brand_posed_as(mailbox, PROTECTED_BRANDS)

    assert posed("PayPal <service@acct-review-center.example>") == "paypal"
    assert posed("PayPal Security Team <alerts@mail.paypal-support.example>") == "paypal"
    assert posed("PayPal <service@paypal.com>") is None
    assert posed("PayPal <service@mail.paypal.com>") is None
    assert posed("Applebee's Grill <deals@applebees.example>") is None
    assert posed("Jane from Acme <jane@acme.example>") is None
