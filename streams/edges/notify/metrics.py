"""The notifier's Prometheus metrics: what an operator graphs and alerts on.

Labels are bounded and hold nothing personal: `host` is a configured receiver's host and port
(never its path, query or password), `outcome` and `cause` are fixed words, `failure` an HTTP
status or `timeout` / `connection`, `topic` and `partition` the notifier's own.

- `sendgate_notify_deliveries_total{host,outcome}`: one per event and receiver, `delivered` or
  `dead_lettered`.
- `sendgate_notify_failed_attempts_total{host,failure}`: every POST that did not deliver.
- `sendgate_notify_dead_letters_total{cause}`: `retries_exhausted`, `refused` (an answer that is
  not retried), or the codec's kind for a record that could not be read.
- `sendgate_notify_lag{topic,partition}`: records past the group's committed offset (end offset
  minus committed), set after every fetch and every commit; a partition that moved to another
  notifier is dropped.
- `sendgate_notify_last_delivery_timestamp_seconds{host}`: when a receiver last answered 2xx.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge

__all__ = [
    "DEAD_LETTERS",
    "DELIVERIES",
    "FAILED_ATTEMPTS",
    "LAG",
    "LAST_DELIVERY",
]

DELIVERIES = Counter(
    "sendgate_notify_deliveries",
    "Events the notifier is done with at one receiver, by receiver host and outcome "
    "(delivered: a 2xx answer; dead_lettered: set aside on dead-letters).",
    ["host", "outcome"],
)
FAILED_ATTEMPTS = Counter(
    "sendgate_notify_failed_attempts",
    "POSTs of the notifier that did not deliver, by receiver host and failure (an HTTP status, "
    "timeout, or connection).",
    ["host", "failure"],
)
DEAD_LETTERS = Counter(
    "sendgate_notify_dead_letters",
    "Dead letters the notifier wrote, by cause (retries_exhausted, refused, or the kind of a "
    "record it could not read).",
    ["cause"],
)
LAG = Gauge(
    "sendgate_notify_lag",
    "Records the notifier has not finished with: the partition's end offset minus the group's "
    "committed offset.",
    ["topic", "partition"],
)
LAST_DELIVERY = Gauge(
    "sendgate_notify_last_delivery_timestamp_seconds",
    "When a receiver last answered a notification with 2xx (unix seconds).",
    ["host"],
)
