"""The one-click POST (RFC 8058): `POST /u/<token>` with a hostile body, through the real app.

Mailbox providers post `List-Unsubscribe=One-Click`, form-encoded or (some) as plain text;
anyone else may post anything. The request is built in memory (aiohttp's mocked request, no
socket) and goes through the application's router and middleware, so the body limit and the
route's own reading are both exercised. The oracle sorts each answer by what the service says:
200 unsubscribed; 400 for a body that does not ask for one click, for a link that is not a
one-click link, for a bad token, or for a body over the limit; 410 for an expired link. Any
other status, or an exception out of the app (a 500 in service), is a crash.
"""

from __future__ import annotations

import asyncio
import random
from functools import lru_cache
from typing import Any
from unittest import mock

from aiohttp import web
from aiohttp.streams import StreamReader
from aiohttp.test_utils import make_mocked_request
from multidict import CIMultiDict

from fuzzing.engine import Outcome, Target, accepted, rejected
from fuzzing.mutate import mutate_bytes, mutate_text, random_bytes, random_text
from fuzzing.tokens import NOW, issue_random, signer
from streams.core.clock import FrozenClock
from streams.edges.web.app import MAX_BODY_BYTES, ONE_CLICK_BODY, make_web_app

__all__ = ["REASONS", "target"]

REASONS = frozenset(
    {"bad-body", "bad-token", "expired", "not-one-click", "too-large", "rate-limited"}
)

_FORM = "application/x-www-form-urlencoded"
_CONTENT_TYPES = (
    _FORM,
    _FORM,
    f"{_FORM}; charset=utf-8",
    f"{_FORM}; charset=latin-1",
    f"{_FORM}; charset=no-such-charset",
    f"{_FORM}; charset=utf-16",
    "multipart/form-data; boundary=XyZ",
    "multipart/form-data",
    "multipart/form-data; boundary=",
    "text/plain",
    "text/plain; charset=utf-8",
    "text/plain; charset=no-such-charset",
    "text/plain; charset=utf-16",
    "application/json",
    "application/octet-stream",
    None,
    "",
)


def _multipart(rnd: random.Random, value: bytes) -> bytes:
    name = rnd.choice((b"List-Unsubscribe", b"list-unsubscribe", b"X", b""))
    closing = b"--XyZ--\r\n" if rnd.random() < 0.8 else b""
    return (
        b'--XyZ\r\nContent-Disposition: form-data; name="'
        + name
        + b'"\r\n\r\n'
        + value
        + b"\r\n"
        + closing
    )


def _body(rnd: random.Random) -> bytes:
    move = rnd.randrange(10)
    good = ONE_CLICK_BODY.encode()
    if move <= 1:
        return good
    if move == 2:
        return rnd.choice(
            (
                good + b"\r\n",
                b"  " + good,
                b"List-Unsubscribe=One%2DClick",
                b"List-Unsubscribe=One-Click&List-Unsubscribe=No",
                b"List-Unsubscribe=one-click",
                b"list-unsubscribe=One-Click",
                b"List-Unsubscribe=One-Click&" + b"a=b&" * rnd.randint(1, 2000),
                b"\xef\xbb\xbf" + good,
                good.decode().encode("utf-16"),
                b"List-Unsubscribe=%FF%FE",
                b"=&=&&==",
                b"%",
            )
        )
    if move <= 4:
        return mutate_bytes(rnd, good)
    if move == 5:
        return mutate_text(rnd, ONE_CLICK_BODY).encode("utf-8", "surrogatepass")
    if move == 6:
        return _multipart(rnd, rnd.choice((b"One-Click", b"one-click", random_bytes(rnd, 20))))
    if move == 7:
        return good * rnd.choice((150, 160, 200, 1000))  # about the 4 KiB limit and above
    if move == 8:
        return random_text(rnd, 200).encode("utf-8", "surrogatepass")
    return random_bytes(rnd, 600)


def _token(rnd: random.Random) -> str:
    move = rnd.randrange(10)
    if move <= 6:
        return issue_random(rnd, purpose="message", age_days=rnd.uniform(0.01, 300))
    if move == 7:
        return issue_random(rnd, purpose="message", age_days=rnd.uniform(401, 900))
    if move == 8:
        return issue_random(rnd, purpose="confirmation", age_days=1)
    token = mutate_text(rnd, issue_random(rnd, purpose="message", age_days=1))
    # A path segment cannot hold these; the router would not route such a URL to the handler.
    return "".join(char for char in token if char.isascii() and char not in "/?#% \t\r\n") or "x"


def _case(rnd: random.Random) -> tuple[str, str | None, bytes]:
    return _token(rnd), rnd.choice(_CONTENT_TYPES), _body(rnd)


class _Service:
    """One app and one loop per process; the publisher only counts what it is handed."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.published = 0

        async def publish(record: object) -> None:
            self.published += 1

        self.app = make_web_app(signer(), publish, FrozenClock(NOW))
        self.app.freeze()

    async def post(self, token: str, content_type: str | None, body: bytes) -> web.StreamResponse:
        protocol = mock.Mock(_reading_paused=False)
        payload = StreamReader(protocol, 2**16, loop=self.loop)
        payload.feed_data(body)
        payload.feed_eof()
        headers: CIMultiDict[str] = CIMultiDict({"Content-Length": str(len(body))})
        if content_type is not None:
            headers["Content-Type"] = content_type
        request = make_mocked_request(
            "POST",
            f"/u/{token}",
            headers=headers,
            app=self.app,
            payload=payload,
            client_max_size=MAX_BODY_BYTES,
            loop=self.loop,
        )
        return await self.app._handle(request)


@lru_cache(maxsize=1)
def _service() -> _Service:
    return _Service()


def _reason(response: Any) -> Outcome:
    status = response.status
    text = response.text if isinstance(response, web.Response) else ""
    text = text or ""
    if status == 200 and text == "unsubscribed\n":
        return accepted("unsubscribed")
    if status == 400 and text.startswith("expected List-Unsubscribe=One-Click"):
        return rejected("bad-body")
    if status == 400 and text.startswith("not a one-click link"):
        return rejected("not-one-click")
    if status == 400 and "<title>Request too large" in text:
        return rejected("too-large")
    if status == 400 and "<title>This link is not valid" in text:
        return rejected("bad-token")
    if status == 410:
        return rejected("expired")
    if status == 429:
        return rejected("rate-limited")
    return rejected(f"http-{status}")


def _check(case: tuple[str, str | None, bytes]) -> Outcome:
    service = _service()
    try:
        response = service.loop.run_until_complete(service.post(*case))
    except web.HTTPException as exc:  # raised rather than returned: aiohttp answers it as is
        response = exc
    return _reason(response)


def _describe(case: tuple[str, str | None, bytes]) -> str:
    token, content_type, body = case
    return f"token {token[:60]!r}, Content-Type {content_type!r}, body {body[:150]!r}"


def target() -> Target:
    return Target(
        name="one-click",
        what="one-click POST body (POST /u/<token>, RFC 8058)",
        reasons=REASONS,
        generate=_case,
        check=_check,
        describe=_describe,
    )
