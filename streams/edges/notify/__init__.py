"""`sendgate notify`: enforcement events POSTed, signed, to the services that act on them.

Billing, support and the sending platform want an HTTP call when an account is struck, paused,
fined or reinstated, not a Kafka client. The notifier reads `enforcement-events` in its own
consumer group and POSTs each event, as JSON, to every configured URL; it commits an event's
offset only once every URL has it (a 2xx answer) or its dead letter.

Pure, and tested without Kafka or HTTP: `payload` (the JSON body and its stable id), `signing`
(HMAC-SHA-256 over timestamp and body, the headers), `backoff` (the waits between tries),
`answers` (what each HTTP status means), `receivers` (a URL and the form of it that may be
shown). I/O: `courier` (one event to one URL, with its retries), `runner` (the consumer group,
commits, dead letters, rebalances), `metrics`, `config` (settings checked before anything
starts).

In code, `run_notifier(settings, stop=..., on_delivered=...)` runs the loop until `stop` is
set (the demo starts it beside its worker to deliver its strike to a local receiver).
"""

from __future__ import annotations

from streams.edges.notify.config import NotifyConfig, notify_config, notify_group
from streams.edges.notify.runner import (
    DEAD_LETTER_AGENT,
    Delivery,
    FailedTry,
    NotifyTotals,
    run_notifier,
)

__all__ = [
    "DEAD_LETTER_AGENT",
    "Delivery",
    "FailedTry",
    "NotifyConfig",
    "NotifyTotals",
    "notify_config",
    "notify_group",
    "run_notifier",
]
