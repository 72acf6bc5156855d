"""The durable ledger: decisions and suppression changes in PostgreSQL (SQLite for the demo).

`models` defines the tables, `migrations` creates them (`migrate.upgrade`), `writer` stores
batches idempotently by Kafka coordinates together with the ledger's offsets, and `sink` feeds
the writer from the topics.
"""

from streams.ledger.engine import make_engine
from streams.ledger.migrate import upgrade
from streams.ledger.models import (
    ConsumerOffset,
    SendDecisionRow,
    SuppressionChangeRow,
    UtcDateTime,
    metadata,
)
from streams.ledger.sink import SinkProgress, ledger_consumer_group, ledger_counts, run_ledger_sink
from streams.ledger.writer import LedgerItem, LedgerWriter, read_offsets

__all__ = [
    "ConsumerOffset",
    "LedgerItem",
    "LedgerWriter",
    "SendDecisionRow",
    "SinkProgress",
    "SuppressionChangeRow",
    "UtcDateTime",
    "ledger_consumer_group",
    "ledger_counts",
    "make_engine",
    "metadata",
    "read_offsets",
    "run_ledger_sink",
    "upgrade",
]
