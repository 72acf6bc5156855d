"""Find and normalise RFC 5321 mailbox addresses in report fields and free text, in linear time.

A single regex such as `[\\w.+-]+@[\\w.-]+` searched over a long line without an `@` retries the
local-part class at every start position: quadratic time on a pathological 1 MB line. Here every
`@` is located with `str.find` and only a bounded window on each side of it is matched, so the
cost is linear in the text and the number of `@` signs (which is capped too).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Final

__all__ = ["MAX_ADDRESSES_SCANNED", "clean_address", "find_addresses", "is_plausible_address"]

MAX_ADDRESSES_SCANNED: Final = 500
_LOCAL_WINDOW = 64  # RFC 5321 section 4.5.3.1.1: local part at most 64 octets
_DOMAIN_WINDOW = 255  # section 4.5.3.1.2
_LOCAL_TAIL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}\Z")
_DOMAIN_HEAD = re.compile(r"#?[A-Za-z0-9][A-Za-z0-9-]{0,62}(?:\.[A-Za-z0-9-]{1,63}){0,20}")
_ADDRESS = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}@#?[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){0,20}\Z"
)


def find_addresses(text: str, limit: int = MAX_ADDRESSES_SCANNED) -> Iterator[tuple[int, str]]:
    """Yield `(position of the @, address)` for every address-shaped token, left to right."""
    start = 0
    seen = 0
    while seen < limit:
        at = text.find("@", start)
        if at < 0:
            return
        seen += 1
        start = at + 1
        local = _LOCAL_TAIL.search(text, max(0, at - _LOCAL_WINDOW), at)
        if local is None:
            continue
        domain = _DOMAIN_HEAD.match(text, at + 1, at + 1 + _DOMAIN_WINDOW)
        if domain is None:
            continue
        candidate = clean_address(local.group() + "@" + domain.group())
        if candidate:
            yield at, candidate


def clean_address(value: str | None) -> str | None:
    """The bare address of `<addr>`, `rfc822; addr`, `"x" <addr>` or `addr`, lower-cased."""
    if not value:
        return None
    text = value.strip()
    if ";" in text and text.split(";", 1)[0].strip().lower() in ("rfc822", "rfc-822", "x400"):
        text = text.split(";", 1)[1].strip()
    if "<" in text and ">" in text[text.find("<") :]:
        inner = text[text.find("<") + 1 : text.find(">", text.find("<"))].strip()
        if "@" in inner:
            text = inner
    text = text.strip(" \t\r\n<>\"'()[],;:.")
    if text.lower().startswith("mailto:"):
        text = text[7:]
    if " " in text:
        for token in text.split():
            if "@" in token:
                text = token.strip("<>\"'()[],;:.")
                break
    return text.lower() if is_plausible_address(text) else None


def is_plausible_address(text: str) -> bool:
    """True for `local@domain` with a dotted domain (bounded length, no spaces)."""
    if not text or len(text) > 320 or "@" not in text:
        return False
    local, _, domain = text.rpartition("@")
    if not local or "." not in domain or domain.startswith(".") or domain.endswith("."):
        return False
    return _ADDRESS.match(text) is not None
