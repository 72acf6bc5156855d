"""Our own sample mail for integration tests: RFC 3464 DSNs, RFC 5965 reports, a Microsoft JMRP
report, replies. example.* domains (RFC 2606) and documentation IPs (RFC 5737) only: no real
person's address or network in the repository."""

from __future__ import annotations

__all__ = ["arf_report", "dsn", "jmrp_report", "reply"]


def _original_headers(recipient: str, account: str, request_id: str) -> str:
    return (
        "From: Acme Shoes <news@acme.example>\r\n"
        f"To: {recipient}\r\n"
        "Subject: Autumn offers\r\n"
        f"Message-ID: <{request_id}@mail.sendgate.example>\r\n"
        f"X-Sendgate-Request-Id: {request_id}\r\n"
        f"X-Sendgate-Account: {account}\r\n"
    )


def dsn(
    recipient: str,
    *,
    status: str,
    action: str,
    account: str,
    request_id: str,
    return_path: str,
    diagnostic: str | None = None,
) -> bytes:
    """A multipart/report delivery status notification (RFC 3464) for one recipient."""
    diagnostic = (
        diagnostic or {"5": "550 5.1.1 user unknown", "4": "452 4.2.2 mailbox full"}[status[0]]
    )
    return (
        "From: Mail Delivery System <MAILER-DAEMON@mx.example.org>\r\n"
        f"To: {return_path}\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "Date: Mon, 23 Nov 2026 10:00:00 +0000\r\n"
        f"Message-ID: <dsn-{request_id}@mx.example.org>\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B1"\r\n'
        "\r\n"
        "--B1\r\n"
        "Content-Type: text/plain\r\n\r\n"
        "This is the mail system at host mx.example.org. Your message could not be delivered.\r\n"
        "--B1\r\n"
        "Content-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.org\r\n"
        "\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\n"
        f"Action: {action}\r\n"
        f"Status: {status}\r\n"
        "Remote-MTA: dns; inbound.example.org\r\n"
        f"Diagnostic-Code: smtp; {diagnostic}\r\n"
        "\r\n"
        "--B1\r\n"
        "Content-Type: text/rfc822-headers\r\n\r\n"
        f"{_original_headers(recipient, account, request_id)}"
        "--B1--\r\n"
    ).encode()


def arf_report(recipient: str, *, feedback_type: str, account: str, request_id: str) -> bytes:
    """An RFC 5965 feedback report with the original message attached."""
    return (
        "From: Feedback Loop <fbl@isp.example.net>\r\n"
        "To: fbl@feedback.sendgate.example\r\n"
        "Subject: FW: Autumn offers\r\n"
        "Date: Mon, 23 Nov 2026 10:05:00 +0000\r\n"
        f"Message-ID: <arf-{request_id}@isp.example.net>\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=feedback-report; boundary="F1"\r\n'
        "\r\n"
        "--F1\r\n"
        "Content-Type: text/plain\r\n\r\n"
        "This is an email abuse report for an email message received from IP 192.0.2.10.\r\n"
        "--F1\r\n"
        "Content-Type: message/feedback-report\r\n\r\n"
        f"Feedback-Type: {feedback_type}\r\n"
        "User-Agent: ExampleFBL/1.0\r\n"
        "Version: 1\r\n"
        f"Original-Rcpt-To: <{recipient}>\r\n"
        "Arrival-Date: Mon, 23 Nov 2026 09:55:00 +0000\r\n"
        "Reporting-MTA: dns; fbl.isp.example.net\r\n"
        "Source-IP: 192.0.2.10\r\n"
        "\r\n"
        "--F1\r\n"
        "Content-Type: message/rfc822\r\n\r\n"
        f"{_original_headers(recipient, account, request_id)}"
        "\r\n"
        "Autumn offers inside.\r\n"
        "--F1--\r\n"
    ).encode()


def jmrp_report(recipient: str, *, account: str, request_id: str) -> bytes:
    """A Microsoft JMRP complaint: not RFC 5965, the original attached with the recipient in
    X-HmXmrOriginalRecipient."""
    return (
        "From: staff@hotmail.example.com\r\n"
        "To: fbl@feedback.sendgate.example\r\n"
        "Subject: complaint about message from 192.0.2.10\r\n"
        "Date: Mon, 23 Nov 2026 10:06:00 +0000\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="J1"\r\n'
        f"Message-ID: <jmrp-{request_id}@hotmail.example.com>\r\n"
        "\r\n"
        "--J1\r\n"
        "Content-Type: message/rfc822\r\n"
        "Content-Disposition: inline\r\n\r\n"
        f"X-HmXmrOriginalRecipient: {recipient}\r\n"
        "X-Reporter-IP: 198.51.100.7\r\n"
        f"{_original_headers(recipient, account, request_id)}"
        "\r\n"
        "Autumn offers inside.\r\n"
        "--J1--\r\n"
    ).encode()


def reply(sender: str, to: str, text: str) -> bytes:
    """A person's plain-text reply."""
    return (
        f"From: {sender}\r\n"
        f"To: {to}\r\n"
        "Subject: Re: Autumn offers\r\n"
        "Date: Mon, 23 Nov 2026 10:07:00 +0000\r\n"
        "Message-ID: <reply-1@example.com>\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "\r\n"
        f"{text}\r\n"
        "\r\n"
        "> Autumn offers inside.\r\n"
    ).encode()
