"""The URLs enforcement events go to, and the one form of each that may be shown.

A configured URL may carry a password (`https://user:pass@host/...`) or a token in its query;
neither may reach a log line, a metric, a dead letter's reason or the terminal. Everything that
shows a receiver shows `shown` (scheme, host, port and path) or, on a metric, `host`.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = ["Receiver", "receiver"]


@dataclass(frozen=True, slots=True)
class Receiver:
    """One configured URL, ready to POST to."""

    url: str
    """As configured: the request goes here, with any userinfo and query it holds."""
    shown: str
    """`scheme://host[:port]/path`: what logs, dead letters and the terminal say."""
    host: str
    """`host[:port]`: the metrics' label, one per receiving service."""


def receiver(url: str) -> Receiver:
    """Parse a configured URL; `ValueError` with a message that never repeats the URL whole
    (the caller says which setting, or which position, was wrong)."""
    text = url.strip()
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise ValueError("is not a URL (bad host or port)") from None
    if parts.scheme not in ("http", "https"):
        raise ValueError("must start with http:// or https://")
    if not parts.hostname:
        raise ValueError("names no host")
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    if port is not None:
        host = f"{host}:{port}"
    path = parts.path or "/"
    return Receiver(url=text, shown=f"{parts.scheme}://{host}{path}", host=host)
