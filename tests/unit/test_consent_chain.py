"""The consent hash chain: its canonical bytes, and what `verify_chain` catches."""

from __future__ import annotations

import hashlib
import random
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.edges.ledger.chain import (
    CHAINED_FIELDS,
    GENESIS_HASH,
    PERSONAL_FIELDS,
    ChainLink,
    canonical_bytes,
    commit_personal,
    entry_hash,
    link,
    verify_chain,
)
from streams.edges.ledger.models import ConsentEventRow

KEY = "ab" * 32
AT = datetime(2025, 3, 1, 12, 30, 15, 123000, tzinfo=UTC)


def fields(n: int = 0, **changes: Any) -> dict[str, Any]:
    """The stored columns of one consent event (as the writer hands them to `link`)."""
    return {
        "event_id": f"evt-{n}",
        "recipient_key": KEY,
        "kind": "grant",
        "account_id": "acme",
        "lists": ["news"],
        "cadence": None,
        "basis": "express",
        "requires_confirmation": False,
        "jurisdiction": "DE",
        "source_kind": "form",
        "source_id": "signup",
        "wording_hash": None,
        "wording_version": "v1",
        "ip": "192.0.2.7",
        "user_agent": "Mozilla/5.0",
        "occurred_at": AT + timedelta(minutes=n),
        "kafka_topic": "consent-events",
        "kafka_partition": 0,
        "kafka_offset": n,
        **changes,
    }


def chain_of(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Stored rows: each event with the chain columns the writer would give it."""
    rows: list[dict[str, Any]] = []
    head: ChainLink | None = None
    for event in events:
        head = link(event, head)
        rows.append(
            {
                **event,
                "chain_seq": head.chain_seq,
                "prev_hash": head.prev_hash,
                "entry_hash": head.entry_hash,
            }
        )
    return rows


def test_canonical_bytes_are_sorted_compact_json_with_utc_milliseconds() -> None:
    """The documented format, written out by hand: a change to it must be a conscious one."""
    expected = (
        '{"account_id":"acme","basis":"express","cadence":null,"chain_seq":1,'
        '"event_id":"evt-0","ip":"192.0.2.7","jurisdiction":"DE","kafka_offset":0,'
        '"kafka_partition":0,"kafka_topic":"consent-events","kind":"grant","lists":["news"],'
        '"occurred_at":"2025-03-01T12:30:15.123Z","prev_hash":"' + GENESIS_HASH + '",'
        '"recipient_key":"' + KEY + '","requires_confirmation":false,"source_id":"signup",'
        '"source_kind":"form","user_agent":"Mozilla/5.0","wording_hash":null,'
        '"wording_version":"v1"}'
    ).encode()

    assert canonical_bytes(fields(), 1, GENESIS_HASH) == expected
    assert entry_hash(GENESIS_HASH, fields(), 1) == hashlib.sha256(expected).hexdigest()


def test_the_genesis_hash_is_64_zeros() -> None:
    """The first entry of every chain links to 64 zeros."""
    assert GENESIS_HASH == "0000000000000000000000000000000000000000000000000000000000000000"
    assert link(fields(), None).prev_hash == GENESIS_HASH


def test_equal_instants_and_sequences_give_equal_bytes() -> None:
    """An offset other than UTC, a tuple for a list, key order and extra keys change nothing."""
    berlin = timezone(timedelta(hours=1))
    same = fields(occurred_at=AT.astimezone(berlin), lists=("news",))
    reordered = dict(reversed(list(same.items())))
    reordered["id"] = 99
    reordered["entry_hash"] = "f" * 64

    assert canonical_bytes(reordered, 1, GENESIS_HASH) == canonical_bytes(fields(), 1, GENESIS_HASH)


def test_non_ascii_is_kept_as_utf8() -> None:
    """A user agent with non-ASCII text is hashed as its UTF-8 bytes, not \\u escapes."""
    data = canonical_bytes(fields(user_agent="Mozilla Größe"), 1, GENESIS_HASH)
    assert "Mozilla Größe".encode() in data


@pytest.mark.parametrize(
    ("name", "value", "error"),
    [
        ("occurred_at", datetime(2025, 3, 1, 12, 0), ValueError),
        ("kafka_offset", 1.5, TypeError),
        ("lists", {"news"}, TypeError),
    ],
)
def test_values_without_a_canonical_form_are_refused(
    name: str, value: Any, error: type[Exception]
) -> None:
    """A naive datetime, a float or a set is not written some guessable way."""
    with pytest.raises(error):
        canonical_bytes(fields(**{name: value}), 1, GENESIS_HASH)


def test_the_chain_covers_the_sequence_number_and_the_previous_hash() -> None:
    """The same contents at another place in the chain hash differently."""
    base = entry_hash(GENESIS_HASH, fields(), 1)
    assert entry_hash(GENESIS_HASH, fields(), 2) != base
    assert entry_hash("1" * 64, fields(), 1) != base


def test_link_numbers_and_links_entries() -> None:
    """1, 2, 3, each pointing at the one before."""
    first = link(fields(0), None)
    second = link(fields(1), first)
    third = link(fields(2), second)

    assert [first.chain_seq, second.chain_seq, third.chain_seq] == [1, 2, 3]
    assert second.prev_hash == first.entry_hash
    assert third.prev_hash == second.entry_hash
    assert third.entry_hash == entry_hash(second.entry_hash, fields(2), 3)


def test_an_empty_chain_verifies() -> None:
    """A recipient without entries has nothing to contradict."""
    verdict = verify_chain([])
    assert verdict.verified
    assert (verdict.entries, verdict.head_hash) == (0, None)


def test_an_intact_chain_verifies_in_any_order() -> None:
    """The rows are put in chain order first; the head is the last entry's hash."""
    rows = chain_of([fields(n) for n in range(5)])
    shuffled = rows[:]
    random.Random(7).shuffle(shuffled)

    verdict = verify_chain(shuffled)

    assert verdict.verified
    assert verdict.entries == 5
    assert verdict.head_hash == rows[-1]["entry_hash"]
    assert verdict.first_bad_seq is None


# --- tampering ------------------------------------------------------------------------------------

_EDITS: dict[str, Any] = {
    "kind": "withdraw",
    "basis": "soft_opt_in",
    "lists": ["news", "deals"],
    "occurred_at": AT - timedelta(days=400),
    "ip": "198.51.100.1",
    "user_agent": None,
    "requires_confirmation": True,
    "kafka_offset": 10_000,
}

chains = st.integers(min_value=1, max_value=8).map(
    lambda n: chain_of([fields(i) for i in range(n)])
)
long_chains = st.integers(min_value=2, max_value=8).map(
    lambda n: chain_of([fields(i) for i in range(n)])
)
"""Chains with an entry after the tampered one."""


@given(chain=chains, data=st.data())
def test_an_edited_entry_is_named(chain: list[dict[str, Any]], data: st.DataObject) -> None:
    """Change any one stored field of any entry: the chain fails at exactly that entry."""
    index = data.draw(st.integers(0, len(chain) - 1))
    name = data.draw(st.sampled_from(sorted(_EDITS)))
    chain[index] = {**chain[index], name: _EDITS[name]}

    verdict = verify_chain(chain)

    assert not verdict.verified
    assert (verdict.first_bad_seq, verdict.problem) == (index + 1, "edited")


@given(
    chain=long_chains,
    data=st.data(),
)
def test_an_edit_with_a_recomputed_hash_is_caught_at_the_next_entry(
    chain: list[dict[str, Any]], data: st.DataObject
) -> None:
    """Fixing the edited entry's own hash does not help: the next entry no longer follows it."""
    index = data.draw(st.integers(0, len(chain) - 2))
    edited = {**chain[index], "basis": "soft_opt_in"}
    edited["entry_hash"] = entry_hash(edited["prev_hash"], edited, edited["chain_seq"])
    chain[index] = edited

    verdict = verify_chain(chain)

    assert (verdict.first_bad_seq, verdict.problem) == (index + 2, "unlinked")


@given(
    chain=long_chains,
    data=st.data(),
)
def test_a_deleted_entry_is_named(chain: list[dict[str, Any]], data: st.DataObject) -> None:
    """Delete any entry but the newest: the gap is named by the missing number."""
    index = data.draw(st.integers(0, len(chain) - 2))
    del chain[index]

    verdict = verify_chain(chain)

    assert (verdict.first_bad_seq, verdict.problem) == (index + 1, "missing")


@given(
    chain=long_chains,
    data=st.data(),
)
def test_a_deleted_and_renumbered_entry_is_caught(
    chain: list[dict[str, Any]], data: st.DataObject
) -> None:
    """Closing the gap by renumbering the later entries breaks the link at the deleted place."""
    index = data.draw(st.integers(0, len(chain) - 2))
    del chain[index]
    for position in range(index, len(chain)):
        chain[position] = {**chain[position], "chain_seq": position + 1}

    verdict = verify_chain(chain)

    assert (verdict.first_bad_seq, verdict.problem) == (index + 1, "unlinked")


@given(
    chain=long_chains,
    data=st.data(),
)
def test_two_swapped_entries_are_caught(chain: list[dict[str, Any]], data: st.DataObject) -> None:
    """Swapping the places of two neighbours breaks the chain at the first of them."""
    index = data.draw(st.integers(0, len(chain) - 2))
    first, second = chain[index], chain[index + 1]
    chain[index] = {**second, "chain_seq": first["chain_seq"]}
    chain[index + 1] = {**first, "chain_seq": second["chain_seq"]}

    verdict = verify_chain(chain)

    assert not verdict.verified
    assert verdict.first_bad_seq == index + 1


def test_a_copied_entry_is_a_duplicate() -> None:
    """Two entries claiming one place (possible only with the unique constraint dropped)."""
    chain = chain_of([fields(n) for n in range(3)])
    verdict = verify_chain([*chain, {**chain[1], "event_id": "evt-copy"}])
    assert (verdict.first_bad_seq, verdict.problem) == (2, "duplicate")


def test_a_chain_not_starting_at_one_is_missing_its_first_entries() -> None:
    """Deleting the oldest entries shows as entries 1 to n missing."""
    chain = chain_of([fields(n) for n in range(4)])
    verdict = verify_chain(chain[2:])
    assert (verdict.first_bad_seq, verdict.problem) == (1, "missing")
    assert "entry 1 to 2 is missing" in verdict.explanation


def test_the_chained_fields_are_every_stored_column_but_the_id_and_the_chain() -> None:
    """A column added to `consent_events` without adding it here would go unprotected."""
    columns = {column.name for column in ConsentEventRow.__table__.columns}
    chain_and_erasure = {
        "id",
        "chain_seq",
        "prev_hash",
        "entry_hash",
        "chain_format",
        "personal_salt",
        "personal_commitment",
        "erased_at",
    }
    assert set(CHAINED_FIELDS) == columns - chain_and_erasure


# --- format 2: the personal fields through a salted commitment ------------------------------------

SALT = "00" * 31 + "01"


def committed(n: int = 0, salt: str = SALT, **changes: Any) -> dict[str, Any]:
    """A format-2 entry's fields, as the writer hands them to `link`: the event, its salt and
    the commitment to its personal fields."""
    event = fields(n, **changes)
    return {
        **event,
        "chain_format": 2,
        "personal_salt": salt,
        "personal_commitment": commit_personal(event, salt),
        "erased_at": None,
    }


def erase(row: dict[str, Any]) -> dict[str, Any]:
    """What the ledger does on erasure: personal fields and salt NULL, `erased_at` set."""
    return {
        **row,
        "ip": None,
        "user_agent": None,
        "source_id": None,
        "personal_salt": None,
        "erased_at": AT + timedelta(days=30),
    }


def test_the_commitment_is_sha256_of_the_salt_bytes_and_the_personal_json() -> None:
    """Written from the documented format: the salt's 32 bytes, then the sorted compact JSON of
    exactly ip, source_id and user_agent."""
    personal = b'{"ip":"192.0.2.7","source_id":"signup","user_agent":"Mozilla/5.0"}'
    expected = hashlib.sha256(b"\x00" * 31 + b"\x01" + personal).hexdigest()
    assert commit_personal(fields(), SALT) == expected


def test_the_commitment_example_of_the_docstring() -> None:
    """The module docstring's example: IP address alone, the others null."""
    only_ip = fields(user_agent=None, source_id=None)
    personal = b'{"ip":"192.0.2.7","source_id":null,"user_agent":null}'
    expected = hashlib.sha256(bytes(31) + b"\x01" + personal).hexdigest()
    assert commit_personal(only_ip, SALT) == expected


@pytest.mark.parametrize("salt", ["", "00" * 31, "AB" * 32, "zz" * 32, None])
def test_a_salt_is_64_lower_case_hex_digits(salt: Any) -> None:
    """Anything else is refused, not hashed some guessable way."""
    with pytest.raises(ValueError, match="salt"):
        commit_personal(fields(), salt)


def test_format_2_canonical_bytes_hold_the_commitment_not_the_personal_fields() -> None:
    """The documented format 2, written out by hand: no ip, user_agent or source_id; the
    format number and the commitment instead; salt and erasure time not covered."""
    row = committed()
    expected = (
        '{"account_id":"acme","basis":"express","cadence":null,"chain_format":2,"chain_seq":1,'
        '"event_id":"evt-0","jurisdiction":"DE","kafka_offset":0,'
        '"kafka_partition":0,"kafka_topic":"consent-events","kind":"grant","lists":["news"],'
        '"occurred_at":"2025-03-01T12:30:15.123Z",'
        '"personal_commitment":"' + row["personal_commitment"] + '",'
        '"prev_hash":"' + GENESIS_HASH + '",'
        '"recipient_key":"' + KEY + '","requires_confirmation":false,'
        '"source_kind":"form","wording_hash":null,"wording_version":"v1"}'
    ).encode()

    assert canonical_bytes(row, 1, GENESIS_HASH) == expected
    assert entry_hash(GENESIS_HASH, row, 1) == hashlib.sha256(expected).hexdigest()
    assert canonical_bytes(erase(row), 1, GENESIS_HASH) == expected


def test_a_row_without_a_format_is_format_1() -> None:
    """Rows written before the column existed, and callers that pass none, hash as before."""
    assert canonical_bytes(fields(), 1, GENESIS_HASH) == canonical_bytes(
        {**fields(), "chain_format": 1}, 1, GENESIS_HASH
    )


def test_an_unknown_format_is_refused_and_named_by_the_verdict() -> None:
    """A format the code does not know is not guessed at."""
    with pytest.raises(ValueError, match="format"):
        canonical_bytes({**committed(), "chain_format": 3}, 1, GENESIS_HASH)
    rows = chain_of([committed(0)])
    verdict = verify_chain([{**rows[0], "chain_format": 3}])
    assert (verdict.first_bad_seq, verdict.problem) == (1, "edited")


def test_an_erased_format_2_entry_keeps_its_hash_and_verifies() -> None:
    """Erasing a format-2 entry changes no hash: the chain verifies and names it erased."""
    rows = chain_of([committed(n, salt=f"{n + 1:064x}") for n in range(3)])
    rows[1] = erase(rows[1])

    verdict = verify_chain(rows)

    assert verdict.verified
    assert verdict.erased == (2,)
    assert verdict.unchecked == ()
    assert verdict.head_hash == rows[-1]["entry_hash"]


@pytest.mark.parametrize("name", PERSONAL_FIELDS)
def test_an_edited_personal_field_of_a_kept_entry_is_caught(name: str) -> None:
    """The hash covers the commitment; the salt kept lets the fields be checked against it."""
    rows = chain_of([committed(n) for n in range(3)])
    rows[1] = {**rows[1], name: "198.51.100.1"}

    verdict = verify_chain(rows)

    assert (verdict.first_bad_seq, verdict.problem) == (2, "edited")
    assert "commitment" in verdict.explanation


def test_an_erased_entry_still_catches_edits_of_its_other_fields() -> None:
    """Only the personal fields leave the check; the rest is hashed as it is."""
    rows = chain_of([committed(n) for n in range(3)])
    rows[1] = {**erase(rows[1]), "kind": "withdraw"}

    verdict = verify_chain(rows)

    assert (verdict.first_bad_seq, verdict.problem) == (2, "edited")


@pytest.mark.parametrize(
    "change",
    [
        {"ip": "198.51.100.1"},  # a field put back after erasure
        {"erased_at": None},  # the salt removed without an erasure
        {"personal_commitment": "f" * 64},
    ],
)
def test_a_half_erased_or_recommitted_entry_is_caught(change: dict[str, Any]) -> None:
    """No salt means erased whole; a field without its salt, or a salt-less row not marked
    erased, or a replaced commitment, is an edit."""
    rows = chain_of([committed(n) for n in range(2)])
    rows[0] = {**erase(rows[0]), **change}

    verdict = verify_chain(rows)

    assert (verdict.first_bad_seq, verdict.problem) == (1, "edited")


def test_a_salt_changed_on_a_kept_entry_is_caught() -> None:
    """Another salt makes another commitment."""
    rows = chain_of([committed(0)])
    rows[0] = {**rows[0], "personal_salt": "ff" * 32}
    assert verify_chain(rows).problem == "edited"


def test_an_erased_format_1_entry_is_unchecked_but_the_chain_verifies() -> None:
    """A format-1 entry's hash covered the fields that are gone: it is not checked, its stored
    hash still links the next entry, which is checked."""
    rows = chain_of([fields(n) for n in range(3)])
    rows[1] = erase(rows[1])

    verdict = verify_chain(rows)

    assert verdict.verified
    assert (verdict.erased, verdict.unchecked) == ((2,), (2,))


def test_an_erased_format_1_entry_still_breaks_the_chain_when_its_hash_is_changed() -> None:
    """What still holds of it: its stored hash is the next entry's link."""
    rows = chain_of([fields(n) for n in range(3)])
    rows[1] = {**erase(rows[1]), "entry_hash": "e" * 64}

    verdict = verify_chain(rows)

    assert (verdict.first_bad_seq, verdict.problem) == (3, "unlinked")


def test_a_format_1_entry_marked_erased_with_fields_left_is_checked() -> None:
    """`erased_at` alone does not exempt a format-1 entry: its fields are all still there to
    hash, so an edit of them shows."""
    rows = chain_of([fields(n) for n in range(2)])
    rows[0] = {**rows[0], "erased_at": AT, "kind": "withdraw"}
    assert verify_chain(rows).problem == "edited"


def test_a_mixed_chain_of_both_formats_verifies_and_is_checked_throughout() -> None:
    """Format-1 entries from before the migration, format-2 ones after, linked as one chain;
    an edit in either part is caught at its entry."""
    rows = chain_of([fields(0), fields(1), committed(2), committed(3)])
    assert [row.get("chain_format") for row in rows] == [None, None, 2, 2]
    assert rows[2]["prev_hash"] == rows[1]["entry_hash"]
    assert verify_chain(rows).verified

    erased = [erase(rows[0]), rows[1], erase(rows[2]), rows[3]]
    verdict = verify_chain(erased)
    assert verdict.verified
    assert (verdict.erased, verdict.unchecked) == ((1, 3), (1,))

    for index in (1, 3):
        tampered = [dict(row) for row in erased]
        tampered[index]["ip"] = "198.51.100.1"
        assert (verify_chain(tampered).first_bad_seq, verify_chain(tampered).problem) == (
            index + 1,
            "edited",
        )


def test_two_salts_hide_equal_personal_fields() -> None:
    """The same IP address and user agent under two salts commit differently: a kept
    commitment says nothing about whether two rows were one person's."""
    assert commit_personal(fields(), SALT) != commit_personal(fields(), "00" * 31 + "02")
