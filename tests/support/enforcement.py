"""What the mail infrastructure publishes that drives enforcement, for integration tests."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from streams.core.providers import load_providers
from streams.core.recipient import RecipientKeyer
from streams.core.settings import Settings
from streams.policy import DEFAULT_POLICY_FILE
from streams.topics import DELIVERY_EVENTS, FEEDBACK_REPORTS, default_codec
from tests.support.factory import delivery_event, feedback_report
from tests.support.kafka import new_producer

__all__ = ["ACCOUNT", "Mailer", "act_at_once_policy"]

ACCOUNT = "acme"


def act_at_once_policy(tmp_path: Path) -> Path:
    """The default policy, acting on the complaint that crosses the line."""
    policy = tmp_path / "policy.toml"
    source = DEFAULT_POLICY_FILE.read_text(encoding="utf-8")
    assert "act_at_once = false" in source
    policy.write_text(source.replace("act_at_once = false", "act_at_once = true"))
    return policy


class Mailer:
    """Publishes what the mail infrastructure would: deliveries and feedback-loop reports."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.keyer = RecipientKeyer(settings.recipient_secret())
        self.codec = default_codec()
        self.providers = load_providers()

    async def deliver(self, week: int, domain: str, count: int, at: datetime) -> None:
        producer = await new_producer(self.settings)
        topic = DELIVERY_EVENTS.full_name(self.settings)
        try:
            for index in range(count):
                address = f"reader{index}.w{week}@{domain}"
                event = delivery_event(
                    event_id=f"w{week}-{domain}-{index}",
                    recipient_key=self.keyer.key(address),
                    account_id=ACCOUNT,
                    occurred_at=at,
                    provider=self.providers.provider_of_address(address),
                )
                await producer.send(
                    topic, self.codec.encode(event), key=event.recipient_key.encode()
                )
            await producer.flush()
        finally:
            await producer.stop()

    async def complain(self, week: int, index: int, at: datetime) -> None:
        """A Gmail reader of that week reports the mail as spam (no provider on the report: the
        rate keeper knows it from the reader's delivery)."""
        report = feedback_report(
            report_id=f"arf-w{week}-{index}",
            recipient_key=self.keyer.key(f"reader{index}.w{week}@gmail.com"),
            reporter="Google",
            account_id=ACCOUNT,
            received_at=at,
        )
        producer = await new_producer(self.settings)
        try:
            await producer.send_and_wait(
                FEEDBACK_REPORTS.full_name(self.settings),
                self.codec.encode(report),
                key=report.recipient_key.encode(),
            )
        finally:
            await producer.stop()
