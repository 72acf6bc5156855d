"""The built-in sender lists of the content policy: display names that name no sender, and the
free-mail domains bulk mail may not come From.

`ContentPolicy` says where each list comes from; `streams.content.sender` reads a From with them.
"""

from __future__ import annotations

__all__ = ["FREE_MAIL_DOMAINS", "NON_SENDER_NAMES", "PROTECTED_BRANDS"]

NON_SENDER_NAMES = frozenset(
    {
        "noreply",
        "donotreply",
        "donoreply",
        "info",
        "mail",
        "email",
        "newsletter",
        "news",
        "mailer",
        "mailerdaemon",
        "admin",
        "notifications",
        "notification",
        "marketing",
        "sales",
        "support",
        "unknown",
        "sender",
    }
)

FREE_MAIL_DOMAINS = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "yahoo.com",
        "yahoo.co.uk",
        "ymail.com",
        "outlook.com",
        "hotmail.com",
        "live.com",
        "msn.com",
        "aol.com",
        "icloud.com",
        "me.com",
        "mac.com",
        "gmx.de",
        "gmx.net",
        "web.de",
        "mail.com",
        "proton.me",
        "protonmail.com",
        "zoho.com",
        "yandex.ru",
        "mail.ru",
        "qq.com",
        "163.com",
    }
)


PROTECTED_BRANDS: dict[str, frozenset[str]] = {
    "paypal": frozenset({"paypal.com", "paypal.me"}),
    "apple": frozenset({"apple.com", "icloud.com"}),
    "microsoft": frozenset({"microsoft.com", "outlook.com", "office.com", "live.com"}),
    "amazon": frozenset({"amazon.com", "amazon.co.uk", "amazon.de", "amazon.fr", "amazon.ca"}),
    "netflix": frozenset({"netflix.com"}),
    "docusign": frozenset({"docusign.com", "docusign.net"}),
    "dhl": frozenset({"dhl.com", "dhl.de"}),
    "fedex": frozenset({"fedex.com"}),
    "usps": frozenset({"usps.com"}),
}
"""Brands phishing mail most often poses as in a display name (the Anti-Phishing Working
Group's quarterly "Phishing Activity Trends" reports name payment, webmail, retail and delivery
brands as the most targeted sectors), each with the domains it sends from."""
