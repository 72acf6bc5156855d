"""Message facts that pass every content rule (issue 8), for tests about everything else.

A test about suppressions, consent or rates sends mail whose content is beside the point; these
facts make it compliant the way a real sender's template would be, so only the rules the test is
about can fail. The content rules themselves are tested in tests/unit/test_content_rules.py.
"""

from __future__ import annotations

from typing import Any

from streams.core.records import SenderDomains
from streams.demo.content import compliant_facts

__all__ = ["compliant_content", "verified_domains"]


def compliant_content(
    account: str, domain: str | None = None, *, commercial: bool = True
) -> dict[str, Any]:
    """SendRequest fields for mail from `account` at `domain` (default `<account>.example`) that
    pass every content rule: the demo's ordinary mail (`streams.demo.content`)."""
    return compliant_facts(account, commercial=commercial, domain=domain)


def verified_domains(account: str, *domains: str, at: Any) -> SenderDomains:
    """The account's verified domains (default `<account>.example`), as the platform
    publishes them on `sender-domains`."""
    return SenderDomains(
        account_id=account,
        domains=domains or (f"{account}.example",),
        changed_at=at,
        source="test",
    )
