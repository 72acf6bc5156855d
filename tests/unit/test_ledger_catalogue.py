"""The ledger's topic list takes each record type from the topic catalogue, and each row function
takes exactly that record."""

from __future__ import annotations

import inspect
from typing import Any, get_type_hints

import pytest

from streams.edges.ledger.catalogue import LEDGER_TOPICS, LedgerTopic
from streams.edges.ledger.models import SendDecisionRow
from streams.edges.ledger.rows import decision_row
from streams.topics import CONSENT_DEADLINES_CHANGELOG, TOPICS


@pytest.mark.parametrize("entry", LEDGER_TOPICS, ids=lambda entry: entry.topic.name)
def test_each_entry_reads_its_record_type_from_the_catalogue(entry: LedgerTopic[Any]) -> None:
    assert entry.topic in TOPICS
    assert entry.record_type is entry.topic.record


@pytest.mark.parametrize("entry", LEDGER_TOPICS, ids=lambda entry: entry.topic.name)
def test_each_row_function_takes_the_topic_s_record(entry: LedgerTopic[Any]) -> None:
    """A row function written for another record would fail only on the first real row."""
    first = next(iter(inspect.signature(entry.row).parameters))
    assert get_type_hints(entry.row)[first] is entry.record_type


def test_a_topic_without_records_is_refused() -> None:
    """A table of plain numbers has no record for the ledger to decode."""
    with pytest.raises(ValueError, match="has none"):
        LedgerTopic(CONSENT_DEADLINES_CHANGELOG, SendDecisionRow, decision_row)
