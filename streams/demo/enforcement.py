"""The demo's enforcement story: an account that mailed a bought list gets strike 1.

Account `blastmail` sends 1,200 messages to Gmail readers and 800 to Yahoo readers; none of them
opted in. Three Gmail readers report the mail as spam through Gmail's feedback loop. The second
complaint takes the account's complaint rate at Google over the 0.1% line (2 of 1,200 = 0.17%):
strike 1, and broadcasts and sequences are disabled at every provider. The third complaint is the
same episode and strikes nothing more. Each complaint without an opt-in is fined. Then the
account tries a broadcast to a Yahoo reader (denied: `account-broadcasts-disabled`) and sends an
order receipt (transactional, allowed).

The demo runs the default policy with `act_at_once = true`, so the strike comes while you watch
rather than when the week's window closes two days later (the default, `act_at_once = false`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from rich.table import Table

from streams.core.providers import ProviderMap
from streams.core.recipient import RecipientKeyer
from streams.core.records import ConsentEvent, DeliveryEvent, FeedbackReport, SendRequest
from streams.demo.content import compliant_facts, signup
from streams.policy import DEFAULT_POLICY_FILE
from streams.reputation.standing import EnforcementEvent

__all__ = [
    "STRUCK_ACCOUNT",
    "EnforcementCase",
    "build_enforcement_case",
    "demo_policy_file",
    "enforcement_table",
]

STRUCK_ACCOUNT = "blastmail"
DELIVERED = {"gmail.com": 1200, "yahoo.com": 800}
COMPLAINTS = 3


@dataclass(frozen=True)
class EnforcementCase:
    deliveries: tuple[DeliveryEvent, ...]
    complaints: tuple[FeedbackReport, ...]
    probe_consents: tuple[ConsentEvent, ...]
    probe_sends: tuple[SendRequest, ...]
    expected: dict[str, tuple[str, ...]]
    """request id -> the rules that must deny it (empty: allowed)."""


def demo_policy_file(folder: Path) -> Path:
    """The default policy, acting on the complaint that crosses the line."""
    source = DEFAULT_POLICY_FILE.read_text(encoding="utf-8")
    if "act_at_once = false" not in source:
        raise RuntimeError("the default policy no longer says act_at_once = false")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "demo-policy.toml"
    path.write_text(source.replace("act_at_once = false", "act_at_once = true"), encoding="utf-8")
    return path


def build_enforcement_case(
    keyer: RecipientKeyer, providers: ProviderMap, *, now: datetime
) -> EnforcementCase:
    deliveries = tuple(
        DeliveryEvent(
            event_id=f"blast-{domain}-{index}",
            recipient_key=keyer.key(f"reader{index}@{domain}"),
            kind="delivered",
            account_id=STRUCK_ACCOUNT,
            occurred_at=now - timedelta(hours=3),
            source="mta-demo",
            provider=providers.provider_of(domain),
        )
        for domain, count in DELIVERED.items()
        for index in range(count)
    )
    complaints = tuple(
        FeedbackReport(
            report_id=f"gmail-fbl-{index}",
            recipient_key=keyer.key(f"reader{index}@gmail.com"),
            feedback_type="abuse",
            reporter="Google",
            account_id=STRUCK_ACCOUNT,
            received_at=now - timedelta(minutes=30 - index),
            source="gmail-fbl",
        )
        for index in range(COMPLAINTS)
    )
    probes = {"newsletter": "shopper@yahoo.com", "receipt": "buyer@gmail.com"}
    probe_consents = tuple(
        signup(f"blast-signup-{name}", keyer.key(address), STRUCK_ACCOUNT, now - timedelta(days=20))
        for name, address in probes.items()
    )
    probe_sends = (
        SendRequest(
            request_id="blastmail-broadcast-after-strike",
            account_id=STRUCK_ACCOUNT,
            list_id="weekly-deals",
            recipient=probes["newsletter"],
            classification="commercial",
            subject="This week's deals",
            requested_at=now,
            **compliant_facts(STRUCK_ACCOUNT, commercial=True),
        ),
        SendRequest(
            request_id="blastmail-receipt-after-strike",
            account_id=STRUCK_ACCOUNT,
            recipient=probes["receipt"],
            classification="transactional",
            send_kind="one_off",
            subject="Your order #1042",
            requested_at=now,
            **compliant_facts(STRUCK_ACCOUNT, commercial=False),
        ),
    )
    expected = {
        "blastmail-broadcast-after-strike": ("account-broadcasts-disabled",),
        "blastmail-receipt-after-strike": (),
    }
    return EnforcementCase(deliveries, complaints, probe_consents, probe_sends, expected)


def enforcement_table(events: list[EnforcementEvent]) -> Table:
    table = Table(title="Enforcement events (enforcement-events)", title_justify="left")
    for column in ("account", "action", "strike", "provider", "rate behind it", "explanation"):
        table.add_column(column, overflow="fold")
    for event in events:
        rate = (
            f"{event.count} of {event.volume} ({event.count * 100 / event.volume:.2f}%)"
            if event.count is not None and event.volume
            else ""
        )
        if event.fine_amount is not None:
            rate = f"fine {event.fine_amount.normalize():f} {event.fine_currency}"
        table.add_row(
            event.account_id,
            event.action,
            str(event.strike_number or ""),
            event.provider or "",
            rate,
            event.explanation,
        )
    return table
