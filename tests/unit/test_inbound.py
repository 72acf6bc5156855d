"""From a parsed message to events: which events, about whom, at which scope."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from streams.bounces.history import apply_delivery
from streams.bounces.inbound import events_for, inbound_id, read_inbound, scrub_addresses
from streams.bounces.policy import SoftBouncePolicy
from streams.core.records import InboundMail
from streams.parsing.model import (
    FeedbackDetails,
    OriginalMessage,
    ParsedMessage,
    RecipientOutcome,
    ReplyDetails,
)
from tests.support.factory import inbound_mail
from tests.support.mail import arf_report, dsn, reply

AT = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
MAIL = inbound_mail(received_at=AT)
"""A reply asking to unsubscribe, sent to a VERP return path."""


def key_of(address: str) -> str:
    return (address.encode().hex() * 4)[:64].ljust(64, "0")


def run(parsed: ParsedMessage, token_key: str | None = None):
    return events_for(
        parsed,
        MAIL,
        source="inbound-mail/0/5",
        recipient_key=key_of,
        verp_recipient_key=lambda token: token_key,
    )


@pytest.mark.parametrize(
    ("account", "list_id", "expected_scope"),
    [
        # The issue: a reply asking to unsubscribe "becomes an unsubscribe click for that list".
        ("acme", "news", ("list", "acme", "news")),
        # Without the list, the whole account (over-honouring is the safe side of the law).
        ("acme", None, ("account", "acme", None)),
        # Without the account, everything on the platform.
        (None, None, ("platform", None, None)),
    ],
)
def test_unsubscribe_reply_scope(account, list_id, expected_scope) -> None:
    """The narrowest scope the quoted headers of our original message name."""
    parsed = ParsedMessage(
        kind="other",
        reason="reply",
        reply=ReplyDetails(unsubscribe_requested=True, language="en", phrase="unsubscribe"),
        original=OriginalMessage(account_id=account, list_id=list_id),
    )
    [click] = run(parsed).unsubscribes
    assert (click.scope, click.account_id, click.list_id) == expected_scope
    assert click.recipient_key == key_of("reader@example.com")  # the reply's From address
    assert (click.method, click.reason) == ("reply", "unsubscribe")


def test_a_reply_that_does_not_ask_is_ignored() -> None:
    parsed = ParsedMessage(
        kind="other", reason="reply", reply=ReplyDetails(unsubscribe_requested=False)
    )
    outcome = run(parsed)
    assert (outcome.unsubscribes, outcome.ignored, outcome.rejection) == ((), "reply", None)


def test_dsn_with_a_verified_token_keys_by_the_token() -> None:
    """A forwarded mailbox reports the forwarding target; the token names whom we mailed."""
    parsed = ParsedMessage(
        kind="dsn",
        recipients=(
            RecipientOutcome(
                address="forwarded@example.org",
                action="failed",
                status="5.1.1",
                bounce_class="hard",
                diagnostic="550 5.1.1 <forwarded@example.org>: user unknown",
            ),
        ),
        original=OriginalMessage(verp_token="tok", account_id="acme"),
    )
    outcome = run(parsed, token_key="a" * 64)
    [event] = outcome.delivery_events
    assert event.recipient_key == "a" * 64
    assert (event.kind, event.bounce_class, event.status) == ("bounced", "hard", "5.1.1")
    assert event.diagnostic == "550 5.1.1 <address>: user unknown"
    assert outcome.forged_verp is False


def test_a_token_that_does_not_verify_is_counted_and_the_address_is_used() -> None:
    parsed = ParsedMessage(
        kind="dsn",
        recipients=(RecipientOutcome(address="x@example.org", action="delayed"),),
        original=OriginalMessage(verp_token="forged"),
    )
    outcome = run(parsed, token_key=None)
    assert outcome.forged_verp is True
    assert outcome.delivery_events[0].recipient_key == key_of("x@example.org")
    assert outcome.delivery_events[0].kind == "deferred"  # RFC 3464 action "delayed"


def test_arf_report_carries_account_and_list() -> None:
    parsed = ParsedMessage(
        kind="arf",
        feedback=FeedbackDetails(
            feedback_type="opt-out", format="rfc5965", original_rcpt_to="r@example.net"
        ),
        original=OriginalMessage(account_id="acme", list_id="news"),
    )
    [report] = run(parsed).feedback_reports
    assert (report.feedback_type, report.account_id, report.list_id) == ("opt_out", "acme", "news")
    assert report.recipient_key == key_of("r@example.net")


def test_unusable_mail_is_a_rejection() -> None:
    """Whatever could not be read goes to dead-letters with the reason."""
    assert run(ParsedMessage(kind="other", reason="unparseable")).rejection is not None
    assert run(ParsedMessage(kind="dsn")).rejection is not None
    assert run(ParsedMessage(kind="autoreply")).ignored == "auto-reply"


def test_scrub_addresses_keeps_the_words() -> None:
    assert scrub_addresses("550 <a.b+c@example.com> rejected") == "550 <address> rejected"
    assert scrub_addresses("user x@example.org unknown") == "user <address> unknown"
    assert scrub_addresses(None) is None


def test_bounces_and_reports_name_the_provider_of_the_address_they_report() -> None:
    """The rate keeper counts bounces and complaints per mailbox provider."""
    from streams.core.providers import provider_of_address

    dsn = ParsedMessage(
        kind="dsn",
        recipients=(
            RecipientOutcome(address="gone@hotmail.com", action="failed", bounce_class="hard"),
            RecipientOutcome(address="full@mail.example.co.uk", action="delayed"),
        ),
        original=OriginalMessage(account_id="acme"),
    )
    arf = ParsedMessage(
        kind="arf",
        feedback=FeedbackDetails(
            feedback_type="abuse", format="rfc5965", original_rcpt_to="reader@yahoo.co.jp"
        ),
        original=OriginalMessage(account_id="acme"),
    )

    def with_providers(parsed: ParsedMessage):
        return events_for(
            parsed,
            MAIL,
            source="inbound-mail/0/6",
            recipient_key=key_of,
            verp_recipient_key=lambda token: None,
            provider_of=provider_of_address,
        )

    bounced, deferred = with_providers(dsn).delivery_events
    # hotmail.com is Microsoft's (streams/policies/providers.toml, from Microsoft's own list);
    # a domain no provider lists is grouped by its registrable domain (Public Suffix List).
    assert (bounced.provider, deferred.provider) == ("microsoft", "domain:example.co.uk")
    [report] = with_providers(arf).feedback_reports
    assert report.provider == provider_of_address("reader@yahoo.co.jp")
    assert run(arf).feedback_reports[0].provider is None  # no map given: not guessed


# --- a message delivered twice is one message ----------------------------------------------------

RETURN_PATH = "b-token@bounces.example.net"
FBL = "fbl@feedback.example.net"


def delivered(raw: bytes, rcpt: str, n: int, *, mail_from: str = "") -> InboundMail:
    """The `n`th delivery of one message: a fresh intake id and arrival time each time."""
    return inbound_mail(
        intake_id=f"intake-{n}",
        received_at=AT + timedelta(minutes=5 * n),
        mail_from=mail_from,
        rcpt_to=(rcpt,),
        raw=raw,
    )


def read(mail: InboundMail, offset: int):
    return read_inbound(
        mail,
        keywords=None,
        source=f"inbound-mail/{offset % 2}/{offset}",
        recipient_key=key_of,
        verp_recipient_key=lambda token: None,
    )


HARD = dsn(
    "gone@example.org",
    status="5.1.1",
    action="failed",
    account="acme",
    request_id="r-1",
    return_path=RETURN_PATH,
)


def test_a_bounce_delivered_twice_gives_the_same_event_ids_and_is_counted_once() -> None:
    """The sender's retry after a 451 (or a lost 250) is a second inbound record: other intake
    id, arrival time and coordinates, the same bytes. Its events have the same ids, so the bounce
    history applies it once."""
    first, again = (
        read(delivered(HARD, RETURN_PATH, 0), 7),
        read(delivered(HARD, RETURN_PATH, 1), 12),
    )
    assert [e.event_id for e in first.delivery_events] == [
        e.event_id for e in again.delivery_events
    ]
    assert first.delivery_events[0].event_id.startswith("inbound-")
    # Where each was read stays told apart.
    assert (first.delivery_events[0].source, again.delivery_events[0].source) == (
        "inbound-mail/1/7",
        "inbound-mail/0/12",
    )
    policy = SoftBouncePolicy()
    fold = apply_delivery(None, first.delivery_events[0], policy, source="d/0/1", now=AT)
    replay = apply_delivery(fold.state, again.delivery_events[0], policy, source="d/0/2", now=AT)
    assert (fold.change.outcome, fold.suppress) == ("hard_bounce", True)
    assert (replay.change.outcome, replay.suppress) == ("replayed", False)


def test_a_feedback_report_and_an_unsubscribe_reply_delivered_twice_keep_their_ids() -> None:
    report = arf_report("angry@example.net", feedback_type="abuse", account="acme", request_id="r")
    [one] = read(delivered(report, FBL, 0), 3).feedback_reports
    [two] = read(delivered(report, FBL, 1), 4).feedback_reports
    assert one.report_id == two.report_id
    assert one.received_at != two.received_at  # each copy still says when it came

    text = reply("leaver@example.com", RETURN_PATH, "Unsubscribe me please")
    [click] = read(delivered(text, RETURN_PATH, 0, mail_from="leaver@example.com"), 5).unsubscribes
    [same] = read(delivered(text, RETURN_PATH, 1, mail_from="leaver@example.com"), 6).unsubscribes
    assert click.click_id == same.click_id


def test_other_messages_or_envelopes_have_other_ids() -> None:
    """Another bounce (another send) is another message; so is the same bytes to another
    recipient or from another sender. The recipients' order is not part of the message."""
    other = HARD.replace(b"r-1", b"r-2")
    base = delivered(HARD, RETURN_PATH, 0)
    ids = {
        inbound_id(base),
        inbound_id(delivered(other, RETURN_PATH, 0)),
        inbound_id(delivered(HARD, "postmaster@bounces.example.net", 0)),
        inbound_id(delivered(HARD, RETURN_PATH, 0, mail_from="mailer-daemon@mx.example.org")),
    }
    assert len(ids) == 4
    both = base.model_copy(update={"rcpt_to": (RETURN_PATH, FBL)})
    assert inbound_id(both) == inbound_id(both.model_copy(update={"rcpt_to": (FBL, RETURN_PATH)}))


def test_the_id_derivation_is_what_it_was() -> None:
    """Ids already applied downstream must still match after an upgrade: a change here makes the
    next retry of an old message count again."""
    assert inbound_id(delivered(b"Subject: x\r\n\r\nbody\r\n", RETURN_PATH, 0)) == (
        "inbound-09e0fe86daeb82a828b73c959efc294fdfb9d9af"
    )
