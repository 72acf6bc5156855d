"""Read a message's body parts as the content rules' facts: the text a reader sees, and its links.

The `text/plain` body, else the `text/html` body rendered to text (`streams.content.html_text`),
hidden elements left out with a warning; links from the HTML anchors, then the bare URLs in the
text; both cut to a send request's limits with a warning, never refused (see
`streams.content.message_facts`).
"""

from __future__ import annotations

import re
from email.message import EmailMessage

from streams.content.html_text import MAX_URL_CHARS, render_html
from streams.core.records import MAX_BODY_LINKS, MAX_BODY_TEXT_CHARS, BodyLink, MessageBody

__all__ = ["message_body"]

_BARE_URL = re.compile(r"(?:https?://|mailto:)[^\s<>\"'`]+", re.IGNORECASE)
_URL_TRAILING = ".,;:!?'\")]}>*"


def message_body(message: EmailMessage, warnings: list[str]) -> MessageBody:
    plain = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    links: list[BodyLink] = []
    rendered = None
    if html is not None:
        rendered = render_html(_part_text(html, warnings))
        links.extend(rendered.links)
        if rendered.hidden_elements:
            warnings.append(
                f"{rendered.hidden_elements} HTML element(s) hidden from the reader (hidden, "
                "display:none or visibility:hidden): their text and links are not counted"
            )
    if plain is not None:
        text = _normalise_newlines(_part_text(plain, warnings)).strip()
    elif rendered is not None:
        text = rendered.text
    else:
        warnings.append("the message has no text/plain or text/html body: its text is empty")
        text = ""
    known = {link.url for link in links}
    for url in _bare_urls(text):
        if url not in known:
            known.add(url)
            links.append(BodyLink(url=url, text=url))
    if len(text) > MAX_BODY_TEXT_CHARS:
        warnings.append(
            f"body text cut to {MAX_BODY_TEXT_CHARS:,} of {len(text):,} characters: the rules "
            "do not see the rest"
        )
        text = text[:MAX_BODY_TEXT_CHARS]
    if len(links) > MAX_BODY_LINKS:
        warnings.append(
            f"{len(links) - MAX_BODY_LINKS} links past the first {MAX_BODY_LINKS} left out"
        )
        links = links[:MAX_BODY_LINKS]
    return MessageBody(text=text, links=tuple(links))


def _part_text(part: EmailMessage, warnings: list[str]) -> str:
    """The part's text, its transfer encoding undone, decoded by its declared charset.

    8-bit text that declares no charset (so US-ASCII, RFC 2045 §5.2) but is valid UTF-8 is read
    as UTF-8, as mail clients do; an unknown charset is read as UTF-8 with replacement characters.
    """
    kind = part.get_content_type()
    charset = part.get_content_charset()
    payload = part.get_payload(decode=True)
    data = payload if isinstance(payload, bytes) else b""
    if charset in (None, "us-ascii", "ascii") and not data.isascii():
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            warnings.append(f"the {kind} part has 8-bit text and no charset: read as UTF-8")
            return text
    try:
        return data.decode(charset or "us-ascii", "replace")
    except (LookupError, ValueError):  # ValueError: a charset name Python cannot even look up
        warnings.append(f"unknown charset {charset!r} in the {kind} part: read as UTF-8")
        return data.decode("utf-8", "replace")


def _normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _bare_urls(text: str) -> list[str]:
    """`http(s):` and `mailto:` URLs in plain text, without the punctuation that ends a sentence
    (a closing parenthesis stays when the URL opened one)."""
    urls = []
    for match in _BARE_URL.finditer(text):
        url = match.group()
        while url and url[-1] in _URL_TRAILING:
            if url[-1] == ")" and url.count("(") >= url.count(")"):
                break
            url = url[:-1]
        if url.lower() not in ("http://", "https://", "mailto:") and len(url) <= MAX_URL_CHARS:
            urls.append(url)
    return urls
