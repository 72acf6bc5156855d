"""The list headers an allowed commercial message must carry, made by the gate for the mailer.

- `List-Unsubscribe` (RFC 2369) with an HTTPS one-click link carrying a signed token
  (`streams.sending.unsubscribe_tokens`), and a mailto address at the bounce domain (the SMTP
  intake) whose subject carries the same token, since the local part has no room for it (RFC 5321:
  64 octets);
- `List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058), which Gmail and Yahoo require
  of bulk senders since February 2024: a POST to the link unsubscribes without a confirmation step;
- `List-Id` (RFC 2919) when the send names a list: the list's name and an identifier in the
  bounce domain's namespace, so mailbox providers can tell the account's lists apart.

The mailer must sign these headers with DKIM (`streams.rules.content` checks that the send
request says it does).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from urllib.parse import quote

from streams.core.records import SendRequest
from streams.sending.policy import UnsubscribePolicy
from streams.sending.unsubscribe_tokens import UnsubscribeTokens

__all__ = ["MAILTO_LOCAL_PART", "list_headers", "list_id_header"]

MAILTO_LOCAL_PART = "unsubscribe-mail"
"""The intake accepts `unsubscribe-…` local parts (`streams.edges.intake`)."""
_NOT_DOT_ATOM = re.compile(r"[^a-z0-9-]+")


def list_id_header(list_id: str, account_id: str, domain: str) -> str:
    """RFC 2919 `List-Id`: the list's name as a phrase, and `<list.account.domain>`, each label
    reduced to letters, digits and hyphens (a dot-atom)."""

    def label(text: str) -> str:
        return _NOT_DOT_ATOM.sub("-", text.lower()).strip("-")[:63] or "x"

    phrase = list_id.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{phrase}" <{label(list_id)}.{label(account_id)}.{domain}>'


def list_headers(
    request: SendRequest,
    *,
    recipient_key: str,
    tokens: UnsubscribeTokens,
    base_url: str,
    mailto_domain: str,
    issued_at: datetime,
    policy: UnsubscribePolicy,
    cadence: str | None = None,
) -> Mapping[str, str]:
    """The headers for an allowed send; empty for transactional mail unless the policy says.

    `cadence` is that of the consent the message goes under: the link's page then offers the
    policy's other cadences besides leaving."""
    if not request.commercial and not policy.headers_on_transactional:
        return {}
    token = tokens.issue(
        recipient_key=recipient_key,
        account_id=request.account_id,
        list_id=request.list_id,
        request_id=request.request_id,
        issued_at=issued_at,
        cadence=cadence,
    )
    link = f"{base_url.rstrip('/')}/u/{token}"
    mailto = f"mailto:{MAILTO_LOCAL_PART}@{mailto_domain}?subject={quote(token, safe='')}"
    headers = {
        "List-Unsubscribe": f"<{link}>, <{mailto}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
    if request.list_id is not None:
        headers["List-Id"] = list_id_header(request.list_id, request.account_id, mailto_domain)
    return headers
