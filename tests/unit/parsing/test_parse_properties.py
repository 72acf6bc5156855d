"""parse_message never raises: mutated corpus messages, huge, deep and pathological input.

Property: whatever the bytes, the result is a `ParsedMessage`, and kind `other` comes with a
reason. Examples are bounded (`max_examples`) so the module runs in a few seconds.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.parsing import ParsedMessage, parse_message
from streams.parsing.mime import MAX_DEPTH

CORPUS = (Path(__file__).resolve().parents[3] / ".." / "shared" / "corpora").resolve()


def _corpus_messages() -> list[bytes]:
    if not CORPUS.is_dir():
        return []
    files = sorted(path for path in CORPUS.rglob("*") if path.is_file() and path.suffix != ".md")
    return [path.read_bytes() for path in files if path.name != "expected.jsonl"]


MESSAGES = _corpus_messages()


def _check(raw: bytes) -> ParsedMessage:
    parsed = parse_message(raw)
    assert isinstance(parsed, ParsedMessage)
    if parsed.kind == "other":
        assert parsed.reason
    return parsed


def test_corpus_is_there() -> None:
    """The mutations start from the development corpus; without it this module proves little."""
    assert MESSAGES, f"development corpus not found at {CORPUS}"


def _truncate(raw: bytes, where: float) -> bytes:
    return raw[: int(len(raw) * where)]


def _flip(raw: bytes, positions: list[int], value: int) -> bytes:
    data = bytearray(raw)
    for position in positions:
        if data:
            data[position % len(data)] = value
    return bytes(data)


def _delete_header_lines(raw: bytes, keep_every: int) -> bytes:
    head, separator, body = raw.partition(b"\n\n")
    lines = head.split(b"\n")
    return b"\n".join(line for index, line in enumerate(lines) if index % keep_every) + (
        separator + body
    )


def _duplicate_boundaries(raw: bytes, times: int) -> bytes:
    lines = raw.split(b"\n")
    out: list[bytes] = []
    for line in lines:
        out.append(line)
        if line.startswith(b"--"):
            out.extend([line] * times)
    return b"\n".join(out)


def _wrong_charset(raw: bytes, label: bytes) -> bytes:
    return raw.replace(b"charset=", b"charset=" + label + b"-").replace(b'charset="', b'charset="x')


def _wrap(raw: bytes, levels: int) -> bytes:
    for _ in range(levels):
        raw = b"Content-Type: message/rfc822\nMIME-Version: 1.0\n\n" + raw
    return raw


MUTATIONS = st.one_of(
    st.tuples(st.just("truncate"), st.floats(0, 1)),
    st.tuples(
        st.just("flip"),
        st.lists(st.integers(0, 10**6), min_size=1, max_size=20),
        st.integers(0, 255),
    ),
    st.tuples(st.just("delete-headers"), st.integers(2, 5)),
    st.tuples(st.just("duplicate-boundaries"), st.integers(1, 3)),
    st.tuples(st.just("wrong-charset"), st.sampled_from([b"x-bogus", b"utf-7", b"\xff", b""])),
    st.tuples(st.just("wrap"), st.integers(1, 8)),
)


def _mutate(raw: bytes, mutation: tuple) -> bytes:
    name, *arguments = mutation
    if name == "truncate":
        return _truncate(raw, *arguments)
    if name == "flip":
        return _flip(raw, *arguments)
    if name == "delete-headers":
        return _delete_header_lines(raw, *arguments)
    if name == "duplicate-boundaries":
        return _duplicate_boundaries(raw, *arguments)
    if name == "wrong-charset":
        return _wrong_charset(raw, *arguments)
    return _wrap(raw, *arguments)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(index=st.integers(min_value=0), mutations=st.lists(MUTATIONS, min_size=1, max_size=3))
def test_mutated_corpus_messages_never_raise(index: int, mutations: list[tuple]) -> None:
    """Truncated, byte-flipped, header-less, boundary-doubled, mislabelled messages parse."""
    assert MESSAGES, f"development corpus not found at {CORPUS}"
    raw = MESSAGES[index % len(MESSAGES)]
    for mutation in mutations:
        raw = _mutate(raw, mutation)
    _check(raw)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=4096))
def test_arbitrary_bytes_never_raise(raw: bytes) -> None:
    """Random bytes parse to some kind, `other` with a reason."""
    _check(raw)


def test_message_nested_200_levels_is_other_too_deeply_nested() -> None:
    """A message/rfc822 200 levels deep is refused with a reason, not a RecursionError."""
    raw = _wrap(b"From: a@example.org\nSubject: x\n\nhello\n", 200)
    parsed = _check(b"From: b@example.org\nSubject: outer\n" + raw)
    assert (parsed.kind, parsed.reason) == ("other", "too-deeply-nested")


def test_multipart_nested_200_levels_is_other_too_deeply_nested() -> None:
    """Multiparts nested 200 deep (each with its own boundary) are refused with a reason."""
    body = b"Content-Type: text/plain\n\nhello\n"
    for level in range(200):
        boundary = f"b{level}".encode()
        body = (
            b"Content-Type: multipart/mixed; boundary="
            + boundary
            + b"\n\n--"
            + boundary
            + b"\n"
            + body
            + b"\n--"
            + boundary
            + b"--\n"
        )
    parsed = _check(b"From: b@example.org\nMIME-Version: 1.0\n" + body)
    assert parsed.kind == "other"
    assert parsed.reason in ("too-deeply-nested", "unparseable")
    assert MAX_DEPTH < 200


def test_ten_megabyte_body_is_read_from_its_head() -> None:
    """A 10 MB message parses quickly; only its head is read, and the result says so."""
    assert MESSAGES, f"development corpus not found at {CORPUS}"
    raw = MESSAGES[0] + b"\n" + (b"A" * 76 + b"\n") * (10 * 1024 * 1024 // 77)
    started = time.perf_counter()
    parsed = _check(raw)
    assert time.perf_counter() - started < 5
    assert parsed.truncated


@pytest.mark.parametrize(
    "line",
    [
        pytest.param(b"a" * 1_000_000, id="letters"),
        pytest.param(b"a@" * 500_000, id="at-signs"),
        pytest.param(b"5.1." * 250_000, id="status-like"),
        pytest.param(b"<" * 1_000_000, id="angle-brackets"),
        pytest.param((b"x" * 63 + b"@") * 15_625, id="long-local-parts"),
    ],
)
def test_pathological_one_megabyte_line_is_linear(line: bytes) -> None:
    """A 1 MB line in a bounce's text cannot make a regex backtrack for long."""
    raw = (
        b"From: MAILER-DAEMON@mx.example.org\nSubject: Undelivered Mail Returned to Sender\n"
        b"Content-Type: text/plain\n\nYour message could not be delivered.\n" + line + b"\n"
    )
    started = time.perf_counter()
    _check(raw)
    assert time.perf_counter() - started < 3
