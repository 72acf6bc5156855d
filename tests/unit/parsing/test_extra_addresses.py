"""A free-form bounce names many addresses; only the failed recipient is one.

Each message below follows a layout real MTAs use (qmail's "Hi. This is the qmail-send program",
Exim's "A message that you sent could not be delivered", a web host's prose bounce quoting the
returned copy with `>`), and adds the addresses that must never come back as failed recipients:
the reporting MTA's postmaster, the original sender, a forwarding hop named in prose, and the
addresses of a quoted header.
"""

from __future__ import annotations

from streams.parsing import parse_message


def _bounce(body: str, *, to: str = "news@sender.example") -> bytes:
    return (
        "From: MAILER-DAEMON@mx.receiver.example\r\n"
        f"To: {to}\r\n"
        "Subject: failure notice\r\n"
        "Date: Mon, 7 Dec 2026 10:00:00 +0000\r\n"
        "\r\n" + body.replace("\n", "\r\n")
    ).encode()


def test_qmail_bounce_names_only_the_recipient() -> None:
    """The postmaster to write to and the sender the bounce goes to are not recipients."""
    raw = _bounce(
        "Hi. This is the qmail-send program at mx.receiver.example.\n"
        "I'm afraid I wasn't able to deliver your message to the following addresses.\n"
        "This is a permanent error; I've given up. Sorry it didn't work out.\n"
        "\n"
        "<gone@receiver.example>:\n"
        "Sorry, no mailbox here by that name. (#5.1.1)\n"
        "\n"
        "If you need help, write to postmaster@receiver.example.\n"
        "\n"
        "--- Below this line is a copy of the message.\n"
        "\n"
        "From: news@sender.example\n"
        "To: gone@receiver.example\n"
    )
    parsed = parse_message(raw)
    assert [r.address for r in parsed.recipients] == ["gone@receiver.example"]
    assert parsed.recipients[0].bounce_class == "hard"


def test_a_quoted_copy_above_its_marker_names_nobody() -> None:
    """Addresses in `>`-quoted header lines (relays, authenticated senders, the original From)
    are the message's own, not failed recipients."""
    raw = _bounce(
        "Delivery of email to this address\n"
        '"full@receiver.example"\n'
        "has failed due to a full mailbox.\n"
        "The first 50 lines of your original message follow:\n"
        "> Received: from relay.sender.example (Authenticated sender: ops@sender.example)\n"
        ">       by mx.receiver.example for <full@receiver.example>\n"
        "> From: Sender News <news@sender.example>\n"
        "> Reply-To: replies@sender.example\n"
    )
    parsed = parse_message(raw)
    assert [r.address for r in parsed.recipients] == ["full@receiver.example"]
    assert (parsed.recipients[0].bounce_class, parsed.recipients[0].reason) == (
        "soft",
        "mailboxfull",
    )
