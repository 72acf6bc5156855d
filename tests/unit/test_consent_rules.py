"""The consent rules: every status x classification x jurisdiction case, each traced.

The matrix's expectations come from `expected_rules` below, a restatement of the issue's rules in
their own words (not a call into the code under test), one line per rule with its source:

- R1 "Commercial bulk mail needs a status that allows it (single or double opt-in) [...];
  unconfirmed, pending review and transactional only are denied for bulk." No record at all is
  no status. Platform policy.
- R2 "A one-off send to a single person is allowed for unconfirmed and transactional-only
  statuses where the policy says so" (the default policy says so); pending review is not.
- R3 "transactional mail is allowed whatever the status, except a hard bounce."
- R4 "CASL [...] GDPR/PECR: no commercial mail without express consent or a valid soft opt-in";
  the Spam Act likewise wants consent (s.16). A withdrawn consent is none.
- R5 "A transactional send whose content the sender marked as promotional is treated as
  commercial."
- R6 "Jurisdiction comes from the send request when given; otherwise the policy decides (a
  documented default [US], and the strictest rule when unknown is a preset)."
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial
from typing import Any

import pytest

from streams.core.records import ConsentEntry, SendRequest, SuppressionEntry
from streams.policy import Policy, load_policy
from streams.rules import decide
from tests.support.factory import consent_entry, recipient_view, send_request, suppression_entry

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
KEY = "ab" * 32
ACCOUNT, LIST = "maple", "deals"

HARD_BOUNCE = "consent-hard-bounce"
STATUS = "consent-status-not-mailable"
CASL = "casl-no-valid-consent"
CASL_LAPSED = "casl-implied-consent-expired"
GDPR = "gdpr-pecr-no-valid-consent"
SPAM_ACT = "spam-act-no-valid-consent"
CONSENT_RULES = {HARD_BOUNCE, STATUS, CASL, CASL_LAPSED, GDPR, SPAM_ACT}

STATUSES = [
    None,
    "single_opt_in",
    "double_opt_in",
    "pending_review",
    "unconfirmed",
    "transactional_only",
    "hard_bounce",
]
KINDS = {
    "commercial bulk": {"classification": "commercial", "send_kind": "bulk"},
    "commercial one-off": {"classification": "commercial", "send_kind": "one_off"},
    "transactional": {"classification": "transactional"},
    "transactional, promotional": {"classification": "transactional", "promotional_content": True},
}
JURISDICTIONS = {
    "US": ("US", "default"),
    "CA": ("CA", "default"),
    "DE": ("DE", "default"),
    "GB": ("GB", "default"),
    "AU": ("AU", "default"),
    "none, default policy": (None, "default"),
    "none, strictest preset": (None, "strictest-when-unknown"),
}


def policy_named(preset: str) -> Policy:
    base = load_policy()
    return Policy.model_validate({**base.model_dump(), "consent": {"preset": preset}})


def entry(status: str | None, basis: str = "express", **fields: Any) -> tuple[ConsentEntry, ...]:
    """The recipient's consents to the account in `status` (None: no record at all); the statuses
    a withdrawal leaves carry its time and reason."""
    if status is None:
        return ()
    withdrawn = status in ("transactional_only", "hard_bounce")
    values: dict[str, Any] = {
        "account_id": ACCOUNT,
        "status": status,
        "basis": basis,
        "granted_at": datetime(2025, 6, 1, tzinfo=UTC),
        "withdrawn_at": datetime(2025, 9, 1, tzinfo=UTC) if withdrawn else None,
        "withdrawn_reason": (
            ("hard_bounce" if status == "hard_bounce" else "unsubscribe") if withdrawn else None
        ),
    }
    return (consent_entry(**values | fields),)


MAPLE = frozenset({"maple.example"})
"""The account's verified domain: the content rules stay silent in these tests."""

request = partial(send_request, account_id=ACCOUNT, list_id=LIST, recipient="lea@example.net")
"""A send of the account's list `deals` to Lea, compliant in content from `maple.example`."""


def consent_failures(
    req: SendRequest,
    consents: tuple[ConsentEntry, ...],
    policy: Policy,
    suppressions: tuple[SuppressionEntry, ...] = (),
) -> list[str]:
    decision = decide(
        req,
        recipient_view(suppressions=suppressions, consents=consents, sender_domains=MAPLE),
        policy,
        recipient_key=KEY,
        decided_at=NOW,
        request_offset="send-requests/0/1",
        state_offsets={},
    )
    return [f.rule for f in decision.failures if f.rule in CONSENT_RULES]


def expected_rules(
    status: str | None, kind: dict[str, Any], jurisdiction: str | None, preset: str
) -> list[str]:
    commercial = kind["classification"] == "commercial" or kind.get("promotional_content")  # R5
    bulk = kind.get("send_kind", "bulk") == "bulk"
    if status == "hard_bounce":
        return [HARD_BOUNCE]  # R3 (and no other consent rule repeats it)
    if not commercial:
        return []  # R3
    failed = []
    if bulk and status not in ("single_opt_in", "double_opt_in"):
        failed.append(STATUS)  # R1
    if not bulk and status == "pending_review":
        failed.append(STATUS)  # R2
    country = jurisdiction or ("STRICTEST" if preset == "strictest-when-unknown" else "US")  # R6
    no_consent = status in (None, "transactional_only")  # R4: a withdrawn consent is none
    laws = {
        "CA": [CASL],
        "DE": [GDPR],
        "GB": [GDPR],
        "AU": [SPAM_ACT],
        "US": [],
        "STRICTEST": [CASL, GDPR, SPAM_ACT],
    }[country]
    if no_consent:
        failed.extend(laws)
    return failed


@pytest.mark.parametrize("status", STATUSES, ids=lambda s: str(s))
@pytest.mark.parametrize("kind_name", list(KINDS))
@pytest.mark.parametrize("where", list(JURISDICTIONS))
def test_status_classification_jurisdiction_matrix(
    status: str | None, kind_name: str, where: str
) -> None:
    jurisdiction, preset = JURISDICTIONS[where]
    kind = KINDS[kind_name]
    failed = consent_failures(
        request(jurisdiction=jurisdiction, **kind), entry(status), policy_named(preset)
    )
    assert failed == expected_rules(status, kind, jurisdiction, preset)


# --- Bases, per law: hand-written rows, each with its source. ------------------------------------


@pytest.mark.parametrize(
    ("jurisdiction", "basis", "failed"),
    [
        # CASL s.10(9)(b): conspicuous publication is implied consent; s.10(10): purchase/inquiry.
        ("CA", "conspicuous_publication", []),
        ("CA", "implied_purchase", []),
        ("CA", "implied_inquiry", []),  # 2025-12-01 + 6 months is after NOW, see below
        # The soft opt-in is a PECR notion (reg. 22(3)); CASL knows no such basis.
        ("CA", "soft_opt_in", [CASL]),
        ("CA", "legal_obligation", [CASL]),
        # GDPR/PECR: "no commercial mail without express consent or a valid soft opt-in".
        ("DE", "soft_opt_in", []),
        ("GB", "soft_opt_in", []),
        ("DE", "implied_purchase", [GDPR]),
        ("GB", "conspicuous_publication", [GDPR]),
        # Spam Act Sch. 2 cl. 2 (inferred from a relationship), cl. 4 (conspicuous publication).
        ("AU", "implied_purchase", []),
        ("AU", "conspicuous_publication", []),
        ("AU", "soft_opt_in", [SPAM_ACT]),
        # CAN-SPAM wants no consent at all, only opt-outs honoured: any basis serves.
        ("US", "legal_obligation", []),
    ],
)
def test_each_law_accepts_its_own_bases(jurisdiction: str, basis: str, failed: list[str]) -> None:
    consents = entry("single_opt_in", basis, granted_at=datetime(2025, 12, 1, tzinfo=UTC))
    got = consent_failures(
        request(jurisdiction=jurisdiction, classification="commercial"), consents, load_policy()
    )
    assert got == failed


@pytest.mark.parametrize(
    ("basis", "granted", "lapsed_on"),
    [
        # CASL s.10(10)(a)-(b): two years from the purchase; (c): six months from the inquiry.
        ("implied_purchase", datetime(2024, 3, 1, 12, 0, tzinfo=UTC), "2026-03-01"),
        ("implied_inquiry", datetime(2025, 9, 1, tzinfo=UTC), "2026-03-01"),
        # A purchase on 29 February: two calendar years on there is no such day; 28 February.
        ("implied_purchase", datetime(2024, 2, 29, tzinfo=UTC), "2026-02-28"),
    ],
)
def test_casl_implied_consent_lapses_and_the_denial_names_the_day(
    basis: str, granted: datetime, lapsed_on: str
) -> None:
    consents = entry("single_opt_in", basis, granted_at=granted)
    decision = decide(
        request(jurisdiction="CA", classification="commercial"),
        recipient_view(consents=consents, sender_domains=MAPLE),
        load_policy(),
        recipient_key=KEY,
        decided_at=NOW,
        request_offset="send-requests/0/1",
        state_offsets={},
    )
    assert [f.rule for f in decision.failures] == [CASL_LAPSED]
    assert f"lapsed on {lapsed_on}" in decision.failures[0].explanation


def test_implied_consent_one_day_before_it_lapses_still_allows() -> None:
    consents = entry(
        "single_opt_in", "implied_purchase", granted_at=datetime(2024, 3, 3, tzinfo=UTC)
    )
    assert (
        consent_failures(
            request(jurisdiction="CA", classification="commercial"), consents, load_policy()
        )
        == []
    )


def test_implied_consent_lapses_only_under_casl() -> None:
    """Outside Canada an old purchase is not a lapsed consent (the Spam Act sets no term)."""
    consents = entry(
        "single_opt_in", "implied_purchase", granted_at=datetime(2020, 1, 1, tzinfo=UTC)
    )
    assert (
        consent_failures(
            request(jurisdiction="AU", classification="commercial"), consents, load_policy()
        )
        == []
    )


def test_the_most_specific_consent_speaks_for_a_list() -> None:
    """An account-wide opt-in, and a withdrawal from this one list: the list's entry decides."""
    consents = (
        *entry("double_opt_in"),
        *entry("transactional_only", lists=(LIST,), last_event_id="withdraw-9"),
    )
    req = request(jurisdiction="US", classification="commercial")
    assert consent_failures(req, consents, load_policy()) == [STATUS]
    other_list = request(jurisdiction="US", classification="commercial", list_id="news")
    assert consent_failures(other_list, consents, load_policy()) == []


def test_a_withdrawal_that_is_also_a_suppression_is_named_once() -> None:
    """The click that withdrew consent made a suppression; the suppression rule names it."""
    consents = entry("transactional_only", last_event_id="click-5")
    suppression = suppression_entry(
        scope="account",
        account_id=ACCOUNT,
        since=datetime(2025, 9, 1, tzinfo=UTC),
        source_event_id="click-5",
    )
    decision = decide(
        request(jurisdiction="CA", classification="commercial"),
        recipient_view(suppressions=(suppression,), consents=consents, sender_domains=MAPLE),
        load_policy(),
        recipient_key=KEY,
        decided_at=NOW,
        request_offset="send-requests/0/1",
        state_offsets={},
    )
    assert [f.rule for f in decision.failures] == ["account-unsubscribed"]


def test_mixed_content_is_explained() -> None:
    """R5: the explanation says why a transactional message was judged as commercial."""
    decision = decide(
        request(jurisdiction="DE", classification="transactional", promotional_content=True),
        recipient_view(sender_domains=MAPLE),
        load_policy(),
        recipient_key=KEY,
        decided_at=NOW,
        request_offset="send-requests/0/1",
        state_offsets={},
    )
    assert [f.rule for f in decision.failures] == [STATUS, GDPR]
    assert all("judged as commercial" in f.explanation for f in decision.failures)
    assert all("lea@example.net" not in f.explanation for f in decision.failures)


def test_a_stricter_one_off_policy_denies_unconfirmed_one_offs() -> None:
    """R2 is the policy's to say: a platform may allow one-offs to opted-in people only."""
    strict = Policy.model_validate(
        {
            **load_policy().model_dump(),
            "consent": {"one_off_allowed_statuses": ["single_opt_in", "double_opt_in"]},
        }
    )
    req = request(jurisdiction="US", classification="commercial", send_kind="one_off")
    assert consent_failures(req, entry("unconfirmed"), strict) == [STATUS]
    assert consent_failures(req, entry("unconfirmed"), load_policy()) == []


@pytest.mark.parametrize(("jurisdiction", "law"), [("CA", CASL), ("DE", GDPR), ("AU", SPAM_ACT)])
def test_a_list_unsubscribe_under_an_account_opt_in_is_named_once(
    jurisdiction: str, law: str
) -> None:
    """The list click leaves a withdrawal entry without a basis for the list; the suppression
    rule names it, and no law's rule repeats it as "no consent on record"."""
    consents = (
        *entry("double_opt_in"),
        consent_entry(
            account_id=ACCOUNT,
            lists=(LIST,),
            status="transactional_only",
            basis=None,
            source_kind="unsubscribe",
            granted_at=None,
            withdrawn_at=datetime(2025, 9, 1, tzinfo=UTC),
            withdrawn_reason="unsubscribe",
            last_event_id="click-7",
        ),
    )
    suppression = suppression_entry(
        account_id=ACCOUNT,
        list_id=LIST,
        since=datetime(2025, 9, 1, tzinfo=UTC),
        source_event_id="click-7",
    )
    req = request(jurisdiction=jurisdiction, classification="commercial")
    assert consent_failures(req, consents, load_policy(), (suppression,)) == []
    # without the suppression (a withdraw consent event), the law's rule does speak
    assert consent_failures(req, consents, load_policy()) == [STATUS, law]
