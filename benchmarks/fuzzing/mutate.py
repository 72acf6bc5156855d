"""Byte and text mutations: the classic fuzzer moves, each drawing only from the given `Random`.

Mutating valid input reaches deeper than random bytes: most of a mutated message still parses,
so the damage lands in the code behind the first checks.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

__all__ = [
    "INTERESTING_BYTES",
    "mutate_bytes",
    "mutate_text",
    "random_bytes",
    "random_text",
]

INTERESTING_BYTES = (0x00, 0x01, 0x7F, 0x80, 0xFF, 0xFE, 0x0A, 0x0D, 0x20, 0x3A, 0x3D, 0x2D)

_TEXT_ALPHABETS = (
    "abcdefghijklmnopqrstuvwxyz0123456789",
    "ABCDEFGHIJKLMNOPQRSTUVWXYZ-_.@+=/:;<> \t",
    "\x00\x01\x7f\r\n\u2028\u00e9\u00df\u4e2d\U0001f600\ufeff\ud800",
)


def random_bytes(rnd: random.Random, most: int = 512) -> bytes:
    return rnd.randbytes(rnd.randint(0, most))


def random_text(rnd: random.Random, most: int = 64) -> str:
    alphabet = "".join(rnd.sample(_TEXT_ALPHABETS, rnd.randint(1, len(_TEXT_ALPHABETS))))
    return "".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, most)))


def _flip_bit(rnd: random.Random, data: bytearray) -> None:
    if data:
        data[rnd.randrange(len(data))] ^= 1 << rnd.randrange(8)


def _set_byte(rnd: random.Random, data: bytearray) -> None:
    if data:
        data[rnd.randrange(len(data))] = rnd.choice((*INTERESTING_BYTES, rnd.randrange(256)))


def _truncate(rnd: random.Random, data: bytearray) -> None:
    del data[rnd.randint(0, len(data)) :]


def _cut_head(rnd: random.Random, data: bytearray) -> None:
    del data[: rnd.randint(0, len(data))]


def _delete_run(rnd: random.Random, data: bytearray) -> None:
    if data:
        start = rnd.randrange(len(data))
        del data[start : start + rnd.randint(1, 64)]


def _insert_run(rnd: random.Random, data: bytearray) -> None:
    at = rnd.randint(0, len(data))
    data[at:at] = rnd.randbytes(rnd.randint(1, 32))


def _duplicate_run(rnd: random.Random, data: bytearray) -> None:
    if data:
        start = rnd.randrange(len(data))
        chunk = data[start : start + rnd.randint(1, 256)]
        at = rnd.randint(0, len(data))
        data[at:at] = chunk * rnd.randint(1, 8)


def _swap_runs(rnd: random.Random, data: bytearray) -> None:
    if len(data) > 2:
        a, b = sorted(rnd.sample(range(len(data)), 2))
        size = min(rnd.randint(1, 32), b - a, len(data) - b)
        data[a : a + size], data[b : b + size] = data[b : b + size], data[a : a + size]


def _append(rnd: random.Random, data: bytearray) -> None:
    data.extend(rnd.randbytes(rnd.randint(1, 64)))


_BYTE_MOVES: Sequence[Callable[[random.Random, bytearray], None]] = (
    _flip_bit,
    _set_byte,
    _truncate,
    _cut_head,
    _delete_run,
    _insert_run,
    _duplicate_run,
    _swap_runs,
    _append,
)


def mutate_bytes(rnd: random.Random, data: bytes, moves: int | None = None) -> bytes:
    """`data` after one to a few random moves (a bit flip, a cut, a duplicated run ...)."""
    buffer = bytearray(data)
    for _ in range(moves if moves is not None else rnd.choice((1, 1, 1, 2, 3, 5))):
        rnd.choice(_BYTE_MOVES)(rnd, buffer)
    return bytes(buffer)


def mutate_text(rnd: random.Random, text: str) -> str:
    """`text` with one to a few characters changed, cut, doubled or inserted."""
    chars = list(text)
    for _ in range(rnd.choice((1, 1, 2, 3))):
        move = rnd.randrange(5)
        at = rnd.randint(0, len(chars))
        if move == 0 and chars:
            chars[rnd.randrange(len(chars))] = rnd.choice(random_text(rnd, 4) or "x")
        elif move == 1:
            del chars[at:]
        elif move == 2 and chars:
            del chars[at : at + rnd.randint(1, 8)]
        elif move == 3:
            chars[at:at] = list(random_text(rnd, 8))
        else:
            chars[at:at] = chars[at : at + rnd.randint(1, 16)] * rnd.randint(1, 4)
    return "".join(chars)
