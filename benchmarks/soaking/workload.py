"""The soak's workload: its accounts and recipients, the state they start from, and every send
request numbered in one log.

Four accounts (`ACCOUNTS`) with two lists each mail a pool of recipients, each opted in to one
account (an account-wide express sign-up), so their sends are allowed until the soak's clicks,
withdrawals and complaints change that. A fifth account, `FLAGGED_ACCOUNT`, mails its own 1,000
readers at Gmail, a small share of the load; each had one delivery ten minutes ago, enough volume
for a complaint rate (the policy's minimum), so two complaints about it carry it over the 0.1 %
line and the policy strikes it: the enforcement chain runs during the soak, on one account only.

Every send request's id carries its number in the run (`SendLog`), and the log keeps, per
number, when the request was handed to the producer and to which list. A decision then finds its
send's time and list from its request id alone: no table of millions of ids.
"""

from __future__ import annotations

import random
import time
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from harness.content import commercial_request, consent_grant, delivered, subscriber_address

from streams.core.recipient import RecipientKeyer
from streams.core.settings import Settings
from streams.topics import CONSENT_EVENTS, DELIVERY_EVENTS, SEND_REQUESTS, default_codec

__all__ = [
    "ACCOUNTS",
    "FLAGGED_ACCOUNT",
    "FLAGGED_DELIVERIES",
    "FLAGGED_SHARE",
    "LISTS",
    "PROVIDER",
    "Recipient",
    "SendLog",
    "Workload",
]

ACCOUNTS = ("soak-0", "soak-1", "soak-2", "soak-3")
LISTS = ("news", "offers")
FLAGGED_ACCOUNT = "soak-flagged"
FLAGGED_DELIVERIES = 1000
"""The flagged account's readers, one delivery each: the policy's minimum volume for a complaint
rate, so its second complaint is over the 0.1 % line."""
FLAGGED_SHARE = 0.02
"""Of the load's sends, the flagged account's."""
PROVIDER = "google"
PROVIDER_DOMAIN = "gmail.com"


@dataclass(frozen=True, slots=True)
class Recipient:
    address: str
    key: bytes
    """The recipient key, as the Kafka key of every record about the person."""
    account: str
    """The one account the person opted in to."""


class SendLog:
    """Every send request of the run, numbered from 0: when it was handed to the producer (wall
    clock, taken just before the send, so never later than the record's production) and its list.

    The request id is `<prefix><number>`; `number_of` reads the number back from a decision's
    request id, and answers None for a request that is not the run's.
    """

    def __init__(self, tag: str) -> None:
        self.prefix = f"soak-{tag}-"
        self.requested_at = array("d")
        self.list_index = array("B")

    def __len__(self) -> int:
        return len(self.requested_at)

    def record(self, list_index: int) -> str:
        """A new request's id, its time and list kept."""
        number = len(self.requested_at)
        self.requested_at.append(time.time())
        self.list_index.append(list_index)
        return f"{self.prefix}{number}"

    def number_of(self, request_id: str) -> int | None:
        if not request_id.startswith(self.prefix):
            return None
        try:
            number = int(request_id[len(self.prefix) :])
        except ValueError:
            return None
        return number if 0 <= number < len(self.requested_at) else None

    def list_of(self, number: int) -> str:
        return LISTS[self.list_index[number]]


class Workload:
    """The recipients, the state they start from, and the send requests of the load."""

    def __init__(self, settings: Settings, tag: str, *, recipients: int, seed: int) -> None:
        self.settings = settings
        self.tag = tag
        self.keyer = RecipientKeyer(settings.recipient_secret())
        self.codec = default_codec()
        self.rng = random.Random(seed)
        self.sends = SendLog(tag)
        self.recipients = [
            self._recipient(subscriber_address(tag, number), ACCOUNTS[number % len(ACCOUNTS)])
            for number in range(recipients)
        ]
        """The load's pool; sign-ups during the soak join it."""
        self.flagged = [
            self._recipient(f"reader{number}.{tag}@{PROVIDER_DOMAIN}", FLAGGED_ACCOUNT)
            for number in range(FLAGGED_DELIVERIES)
        ]
        self.signed_up = 0

    @property
    def accounts(self) -> list[str]:
        return [*ACCOUNTS, FLAGGED_ACCOUNT]

    def _recipient(self, address: str, account: str) -> Recipient:
        return Recipient(address, self.keyer.key(address).encode(), account)

    def sign_up(self) -> Recipient:
        """A new person for one of the load's accounts (not yet in the pool)."""
        self.signed_up += 1
        return self._recipient(
            f"signup.{self.signed_up}.{self.tag}@example.net", self.rng.choice(ACCOUNTS)
        )

    def state_records(self, now: datetime) -> Iterator[tuple[str, bytes, bytes]]:
        """(topic, key, value) of the state the soak starts from: every recipient's sign-up a
        month ago, and the flagged account's deliveries ten minutes ago."""
        consents = CONSENT_EVENTS.full_name(self.settings)
        deliveries = DELIVERY_EVENTS.full_name(self.settings)
        signed_up, delivered_at = now - timedelta(days=30), now - timedelta(minutes=10)
        for number, person in enumerate([*self.recipients, *self.flagged]):
            event = consent_grant(
                self.keyer, person.address, person.account, f"grant-{self.tag}-{number}", signed_up
            )
            yield consents, person.key, self.codec.encode(event)
        for number, person in enumerate(self.flagged):
            event = delivered(
                f"dlv-{self.tag}-{number}",
                person.key.decode(),
                FLAGGED_ACCOUNT,
                delivered_at,
                PROVIDER,
            )
            yield deliveries, person.key, self.codec.encode(event)

    @property
    def state_size(self) -> int:
        return len(self.recipients) + 2 * len(self.flagged)

    def request(self, person: Recipient, list_index: int) -> tuple[bytes, bytes]:
        """(key, value) of a new commercial send from the person's account to one of its lists,
        numbered in the send log."""
        request_id = self.sends.record(list_index)
        request = commercial_request(
            request_id, person.account, person.address, list_id=LISTS[list_index]
        )
        return person.key, self.codec.encode(request)

    def next_send(self, _number: int = 0) -> tuple[bytes, bytes]:
        """The load's next send: a recipient of the pool (or, for `FLAGGED_SHARE` of them, of the
        flagged account) at random, one of the account's lists at random."""
        rng = self.rng
        pool = self.flagged if rng.random() < FLAGGED_SHARE else self.recipients
        return self.request(pool[rng.randrange(len(pool))], rng.randrange(len(LISTS)))

    def sends_for_calibration(self, count: int) -> Iterator[tuple[str, bytes, bytes]]:
        topic = SEND_REQUESTS.full_name(self.settings)
        for _ in range(count):
            key, value = self.next_send()
            yield topic, key, value
