"""Read the signing domain and signed fields of DKIM-Signature fields (RFC 6376 §3.5).

`streams.content.message_facts` reports them in a message file's `MailAuthentication`, for the
rules that need to know which domain signed and which fields the signature covers. Nothing is
verified (no key is fetched, no hash computed): a template usually carries no signature (the
mailer signs at send time), and one it carries proves nothing until the sent message is checked.

- The tag list is read per §3.2: folding white space around tags, `=` and `;` and a trailing `;`
  are tolerated, tag names are case-sensitive, and a repeated tag or a spec that is not
  `tag=value` makes the whole list invalid.
- `d=` is the signing domain and `h=` the signed field names (§3.5), lower-cased, each once, in
  first-seen order, at most `_MAX_SIGNED_HEADERS` (what a request holds). A signature with an
  invalid tag list or no `d=` is ignored, with a warning.
- With several signatures, the one whose `d=` shares the From domain's registrable domain (DMARC
  relaxed alignment, RFC 7489 §3.1.1) is reported, else the first.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from email.utils import parseaddr
from typing import Final, NamedTuple

from streams.core.providers import registrable_domain

__all__ = ["DkimSignature", "dkim_tags", "reported_signature"]

_MAX_SIGNED_HEADERS: Final = 100
"""The most signed field names a send request holds (`MailAuthentication.dkim_signed_headers`)."""
_FIELD_NAME = re.compile(r"[!-9;-~]{1,76}")
"""A field name a send request holds: RFC 5322 §3.6.8 printable characters but `:`, 1 to 76."""


class DkimSignature(NamedTuple):
    """What a DKIM-Signature says: who signed (`d=`) and which fields (`h=`)."""

    domain: str
    signed_headers: tuple[str, ...]


def dkim_tags(value: str) -> dict[str, str]:
    """A DKIM-Signature's tag list (RFC 6376 §3.2) as {tag: value}, values stripped.

    Tolerant where the grammar allows it (folding white space around tags, `=` and `;`, a
    trailing `;`) and of empty specs (`;;`); `ValueError` for what makes the whole list invalid
    (§3.2: a repeated tag; a spec without `=` or with a bad tag name).
    """
    tags: dict[str, str] = {}
    for spec in value.split(";"):
        if not spec.strip():
            continue
        name, equals, tag_value = spec.partition("=")
        name = name.strip()
        if not equals or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", name):
            raise ValueError(f"{spec.strip()[:40]!r} is not a tag=value spec")
        if name in tags:
            raise ValueError(f"tag {name}= occurs twice")
        tags[name] = tag_value.strip()
    return tags


def reported_signature(
    values: Iterable[str], from_address: str, warnings: list[str]
) -> DkimSignature | None:
    """The signature to report among the DKIM-Signature field `values` (in file order), or None
    when none is readable; what was ignored or chosen is added to `warnings`."""
    signatures: list[DkimSignature] = []
    for value in values:
        signature = _dkim_signature(value, warnings)
        if signature is not None:
            signatures.append(signature)
    if len(signatures) <= 1:
        return signatures[0] if signatures else None
    from_domain = registrable_domain(parseaddr(from_address)[1].rpartition("@")[2])
    aligned = [s for s in signatures if from_domain and registrable_domain(s.domain) == from_domain]
    reported = aligned[0] if aligned else signatures[0]
    warnings.append(
        f"{len(signatures)} DKIM signatures: reporting d={reported.domain}"
        + (" (aligned with From)" if aligned else " (the first; none is aligned with From)")
    )
    return reported


def _dkim_signature(raw: str, warnings: list[str]) -> DkimSignature | None:
    """(d=, h= lower-cased, each name once in first-seen order), or None with a warning."""
    try:
        tags = dkim_tags(raw)
    except ValueError as error:
        warnings.append(f"a DKIM-Signature is ignored: {error}")
        return None
    domain = "".join(tags.get("d", "").split()).lower().rstrip(".")
    if not domain or len(domain) > 255:
        warnings.append("a DKIM-Signature is ignored: it has no d= domain")
        return None
    names: list[str] = []
    for item in tags.get("h", "").split(":"):
        field = "".join(item.split()).lower()
        if field and _FIELD_NAME.fullmatch(field) and field not in names:
            names.append(field)
    if not names:
        warnings.append(
            f"the DKIM-Signature with d={domain} has no h= list (RFC 6376 requires one)"
        )
    if len(names) > _MAX_SIGNED_HEADERS:
        warnings.append(f"the DKIM h= list is cut to its first {_MAX_SIGNED_HEADERS} field names")
        names = names[:_MAX_SIGNED_HEADERS]
    return DkimSignature(domain, tuple(names))
