"""POST one notification to one receiver until it is delivered, refused, or out of tries.

What each answer means is `answers`; how long to wait between tries is `backoff`; this module
only does the HTTP. Every try is signed afresh (its own timestamp). Redirects are not followed,
and nothing the receiver sends back is read beyond its status and `Retry-After`.

The randomness, the sleep and the wall clock are arguments, so a test can run every try without
waiting and name each wait.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import aiohttp

from streams.edges.notify.answers import describe_status, judge_status, retry_after_s
from streams.edges.notify.backoff import RetryPolicy
from streams.edges.notify.metrics import FAILED_ATTEMPTS
from streams.edges.notify.payload import Notification
from streams.edges.notify.receivers import Receiver
from streams.edges.notify.signing import signed_headers

__all__ = ["CourierResult", "FailedAttempt", "carry"]

USER_AGENT = "sendgate-notify/1"


@dataclass(frozen=True, slots=True)
class FailedAttempt:
    failure: str
    """The metric's label: the HTTP status, `timeout` or `connection`."""
    said: str
    """Words for a dead letter's reason: `503 Service Unavailable`, `no answer within 10 s`."""


@dataclass(frozen=True, slots=True)
class CourierResult:
    """What became of one notification at one receiver."""

    outcome: Literal["delivered", "refused", "retries_exhausted"]
    attempts: int
    waits_s: tuple[float, ...]
    """The wait before each retry, in order (one fewer than the attempts)."""
    last_failure: FailedAttempt | None

    @property
    def delivered(self) -> bool:
        return self.outcome == "delivered"

    def reason(self, receiver: Receiver) -> str:
        """The dead letter's reason: the receiver as it may be shown, and what went wrong."""
        failure = self.last_failure.said if self.last_failure else "no answer"
        if self.outcome == "refused":
            return (
                f"POST {receiver.shown} refused: {failure} (an answer that is not retried; "
                "fix the receiver, then publish the event again)"
            )
        times = "once" if self.attempts == 1 else f"{self.attempts} times"
        return f"POST {receiver.shown} failed {times}: {failure}"


async def carry(
    session: aiohttp.ClientSession,
    receiver: Receiver,
    notification: Notification,
    *,
    secrets: Sequence[bytes],
    policy: RetryPolicy,
    fraction: Callable[[], float] = random.random,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    wall_clock: Callable[[], float] = time.time,
    on_failure: Callable[[int, FailedAttempt, float | None], None] | None = None,
) -> CourierResult:
    """Offer `notification` to `receiver` up to `policy.tries` times; `on_failure` hears of
    each try that did not deliver (its number, what went wrong, the wait before the next try or
    None when there is none)."""
    waits: list[float] = []
    failed: FailedAttempt | None = None
    for attempt in range(1, policy.tries + 1):
        headers = signed_headers(
            event_id=notification.id,
            event_type=notification.type,
            secrets=secrets,
            timestamp=int(wall_clock()),
            body=notification.body,
        )
        headers["User-Agent"] = USER_AGENT
        retry_after: float | None = None
        try:
            async with session.post(
                receiver.url,
                data=notification.body,
                headers=headers,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=policy.timeout_s),
            ) as response:
                status = response.status
                retry_after = retry_after_s(response.headers.get("Retry-After"))
        except TimeoutError:
            failed = FailedAttempt("timeout", f"no answer within {policy.timeout_s:g} s")
        except aiohttp.ClientConnectorError:
            failed = FailedAttempt("connection", "could not connect")
        except aiohttp.ClientError as exc:
            failed = FailedAttempt("connection", f"the connection failed ({type(exc).__name__})")
        else:
            verdict = judge_status(status)
            if verdict == "delivered":
                return CourierResult("delivered", attempt, tuple(waits), failed)
            failed = FailedAttempt(str(status), describe_status(status))
            if verdict == "refused":
                _failed(receiver, attempt, failed, None, on_failure)
                return CourierResult("refused", attempt, tuple(waits), failed)
        if attempt == policy.tries:
            _failed(receiver, attempt, failed, None, on_failure)
            break
        wait = policy.wait_s(attempt, fraction(), retry_after)
        _failed(receiver, attempt, failed, wait, on_failure)
        waits.append(wait)
        await sleep(wait)
    return CourierResult("retries_exhausted", policy.tries, tuple(waits), failed)


def _failed(
    receiver: Receiver,
    attempt: int,
    failed: FailedAttempt,
    wait: float | None,
    on_failure: Callable[[int, FailedAttempt, float | None], None] | None,
) -> None:
    FAILED_ATTEMPTS.labels(receiver.host, failed.failure).inc()
    if on_failure is not None:
        on_failure(attempt, failed, wait)
