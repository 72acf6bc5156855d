"""`sendgate web`: the one-click unsubscribe endpoint and the page behind the link (issue 7).

- `POST /u/<token>` with the body `List-Unsubscribe=One-Click` (RFC 8058 §3.2): the mailbox
  provider's one-click unsubscribe. It unsubscribes the recipient from the token's list (or, for
  mail that named no list, from the account), answers 200 once Kafka has the click, and asks for
  nothing: no login, no redirect, no confirmation.
- `GET /u/<token>`: a page that says what the link is for and offers the choices as plain forms
  (this list, everything from the sender, all mail through the platform, report as spam). A GET
  never unsubscribes by itself: mail scanners fetch links (RFC 8058 §3.2).
- `POST /u/<token>/choose` with `choice=list|account|platform|spam`: the page's forms.

Every action is published (`unsubscribe-clicks`, or `feedback-reports` for a spam report) with an
id made from the token and the choice, so a second click publishes the same record again and
changes nothing; the page says so when this process has seen it before. Bad tokens get 400
(forged, altered, truncated) or 410 (expired) pages that say what happened. Bodies over 4 KiB are
refused; pages and bad tokens are rate-limited per client (a token bucket per peer address, kept
in memory only and never logged), while one-click POSTs with a valid token never are: they come
from mailbox providers' servers, many people's clicks from few addresses. Prometheus metrics on
`/metrics`.
"""

from __future__ import annotations

import hashlib
import html
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Literal

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

from streams.clock import Clock
from streams.records import FeedbackReport, UnsubscribeClick
from streams.unsubscribe_tokens import (
    BadTokenError,
    ExpiredTokenError,
    UnsubscribeToken,
    UnsubscribeTokens,
)

__all__ = ["Choice", "WebSettings", "click_for", "make_web_app", "spam_report_for"]

Choice = Literal["list", "account", "platform", "spam"]
Publish = Callable[[UnsubscribeClick | FeedbackReport], Awaitable[object]]

MAX_BODY_BYTES = 4096
ONE_CLICK_BODY = "List-Unsubscribe=One-Click"
REMEMBERED_ACTIONS = 100_000

ACTIONS = Counter("sendgate_web_actions", "Unsubscribe actions published, by choice.", ["choice"])
REFUSED = Counter("sendgate_web_refused", "Requests refused, by reason.", ["reason"])
LATENCY = Histogram(
    "sendgate_web_request_seconds", "Time to answer, by route.", ["route"], buckets=(
        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    )
)  # fmt: skip


class WebSettings:
    """What the service needs beyond the token signer: policy choices and limits."""

    def __init__(
        self,
        *,
        offer_platform_opt_out: bool = True,
        requests_per_minute: int = 60,
    ) -> None:
        self.offer_platform_opt_out = offer_platform_opt_out
        self.requests_per_minute = requests_per_minute


def _action_id(token: UnsubscribeToken, choice: Choice) -> str:
    parts = ("web-v1", token.recipient_key, token.account_id, token.list_id or "", choice)
    return "web-" + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


def click_for(token: UnsubscribeToken, choice: Choice, at: datetime) -> UnsubscribeClick:
    """The unsubscribe a choice asks for; the same token and choice give the same click id."""
    scope = "account" if choice == "list" and token.list_id is None else choice
    return UnsubscribeClick(
        click_id=_action_id(token, choice),
        recipient_key=token.recipient_key,
        scope=scope,  # type: ignore[arg-type]
        account_id=None if scope == "platform" else token.account_id,
        list_id=token.list_id if scope == "list" else None,
        method="one_click",
        clicked_at=at,
    )


def spam_report_for(token: UnsubscribeToken, at: datetime) -> FeedbackReport:
    """ "Report this as spam" files a complaint as an ISP's feedback loop would."""
    return FeedbackReport(
        report_id=_action_id(token, "spam"),
        recipient_key=token.recipient_key,
        feedback_type="abuse",
        reporter="sendgate unsubscribe page",
        account_id=token.account_id,
        request_id=token.request_id,
        list_id=token.list_id,
        received_at=at,
        source="web:report-spam",
    )


class _Buckets:
    """Token buckets per client, bounded; only in memory."""

    def __init__(self, per_minute: int, clients: int = 10_000) -> None:
        self._rate = per_minute / 60.0
        self._burst = float(per_minute)
        self._state: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._clients = clients

    def allow(self, client: str) -> bool:
        now = time.monotonic()
        tokens, last = self._state.pop(client, (self._burst, now))
        tokens = min(self._burst, tokens + (now - last) * self._rate)
        allowed = tokens >= 1.0
        self._state[client] = (tokens - 1.0 if allowed else tokens, now)
        while len(self._state) > self._clients:
            self._state.popitem(last=False)
        return allowed


def _page(title: str, body: str, status: int = 200) -> web.Response:
    document = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:36rem;margin:2rem auto;padding:0 1rem;
line-height:1.5}}button{{font-size:1rem;padding:.6rem 1rem;margin:.3rem 0;width:100%}}
fieldset{{border:1px solid #888;padding:1rem}}</style></head>
<body><main><h1>{html.escape(title)}</h1>{body}</main></body></html>"""
    return web.Response(text=document, status=status, content_type="text/html", charset="utf-8")


def make_web_app(
    tokens: UnsubscribeTokens,
    publish: Publish,
    clock: Clock,
    settings: WebSettings | None = None,
) -> web.Application:
    """The aiohttp application; `publish` must return once Kafka has acknowledged."""
    settings = settings or WebSettings()
    buckets = _Buckets(settings.requests_per_minute)
    seen: OrderedDict[str, None] = OrderedDict()

    def remember(action_id: str) -> bool:
        """True if this process published the action before."""
        again = action_id in seen
        seen[action_id] = None
        seen.move_to_end(action_id)
        while len(seen) > REMEMBERED_ACTIONS:
            seen.popitem(last=False)
        return again

    @web.middleware
    async def limits(request: web.Request, handler: Callable) -> web.StreamResponse:
        route = request.match_info.route.name or "other"
        started = time.perf_counter()
        try:
            # One-click POSTs come from mailbox providers' servers, many people's clicks from few
            # addresses: a valid token is never rate-limited (it is the recipient's own, and its
            # action idempotent); a bad token is charged in `read_token`.
            limited = route not in ("metrics", "one_click")
            if limited and not buckets.allow(request.remote or "?"):
                REFUSED.labels("rate_limited").inc()
                return _page("Too many requests", "<p>Please try again in a minute.</p>", 429)
            try:
                return await handler(request)
            except web.HTTPRequestEntityTooLarge:
                REFUSED.labels("too_large").inc()
                return _page("Request too large", "<p>That request was too large.</p>", 400)
        finally:
            LATENCY.labels(route).observe(time.perf_counter() - started)

    def bad_token(exc: BadTokenError) -> web.Response:
        REFUSED.labels(exc.problem).inc()
        return _page(
            "This link is not valid",
            "<p>The unsubscribe link is incomplete or was changed (some mail programs break "
            "long links across lines). Open it again from the message, or use the "
            "unsubscribe link of a more recent message.</p>",
            400,
        )

    def read_token(request: web.Request) -> UnsubscribeToken | web.Response:
        try:
            return tokens.verify(request.match_info["token"], now=clock.now())
        except BadTokenError as exc:
            if request.match_info.route.name == "one_click" and not buckets.allow(
                request.remote or "?"
            ):
                REFUSED.labels("rate_limited").inc()
                return _page("Too many requests", "<p>Please try again in a minute.</p>", 429)
            return bad_token(exc)
        except ExpiredTokenError as exc:
            REFUSED.labels("expired").inc()
            return _page(
                "This link has expired",
                f"<p>Unsubscribe links work for a limited time; this one ended on "
                f"{exc.expired_at:%d %B %Y}. Use the link in a more recent message from the "
                "sender, or write to the sender to be removed.</p>",
                410,
            )

    async def act(token: UnsubscribeToken, choice: Choice) -> bool:
        """Publish the choice; True if this process had already published it."""
        now = clock.now()
        record = spam_report_for(token, now) if choice == "spam" else click_for(token, choice, now)
        again = remember(_action_id(token, choice))
        await publish(record)
        ACTIONS.labels(choice).inc()
        return again

    async def one_click(request: web.Request) -> web.Response:
        token = read_token(request)
        if isinstance(token, web.Response):
            return token
        try:
            if request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
                one_click_asked = (await request.post()).get("List-Unsubscribe") == "One-Click"
            else:
                one_click_asked = (await request.text()).strip() == ONE_CLICK_BODY
        except (ValueError, UnicodeDecodeError):
            one_click_asked = False
        if not one_click_asked:
            REFUSED.labels("bad_body").inc()
            return web.Response(text="expected List-Unsubscribe=One-Click\n", status=400)
        await act(token, "list")
        return web.Response(text="unsubscribed\n", status=200)

    def _choices(token: UnsubscribeToken, path: str) -> str:
        what = (
            f"the list “{html.escape(token.list_id)}”" if token.list_id else "this kind of message"
        )
        options = [
            ("list", f"Unsubscribe from {what}"),
            ("account", f"Unsubscribe from everything {html.escape(token.account_id)} sends"),
        ]
        if settings.offer_platform_opt_out:
            options.append(("platform", "Stop all mail sent through this platform"))
        options.append(("spam", "Report this message as spam (and unsubscribe)"))
        buttons = "".join(
            f'<button type="submit" name="choice" value="{value}">{label}</button>'
            for value, label in options
        )
        return (
            f'<form method="post" action="{html.escape(path)}/choose">'
            "<fieldset><legend>What would you like to do?</legend>"
            f"{buttons}</fieldset></form>"
        )

    async def page(request: web.Request) -> web.Response:
        token = read_token(request)
        if isinstance(token, web.Response):
            return token
        return _page(
            "Your email preferences",
            f"<p>This link is for mail from <strong>{html.escape(token.account_id)}</strong>."
            "</p>" + _choices(token, request.path),
        )

    async def choose(request: web.Request) -> web.Response:
        token = read_token(request)
        if isinstance(token, web.Response):
            return token
        form = await request.post()
        choice = form.get("choice")
        if choice not in ("list", "account", "platform", "spam") or (
            choice == "platform" and not settings.offer_platform_opt_out
        ):
            REFUSED.labels("bad_choice").inc()
            return _page("Unknown choice", "<p>Please pick one of the offered choices.</p>", 400)
        again = await act(token, choice)  # type: ignore[arg-type]
        said = {
            "list": "You are unsubscribed from this list.",
            "account": f"You will get no more mail from {html.escape(token.account_id)}.",
            "platform": "You will get no more mail sent through this platform.",
            "spam": "Thank you: the message is reported as spam, and you are unsubscribed.",
        }[choice]
        note = "<p>(You had already done this; nothing changed.)</p>" if again else ""
        path = request.path.removesuffix("/choose")
        return _page("Done", f'<p role="status">{said}</p>{note}' + _choices(token, path))

    async def metrics(request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=[limits])
    app.router.add_post("/u/{token}", one_click, name="one_click")
    app.router.add_get("/u/{token}", page, name="page")
    app.router.add_post("/u/{token}/choose", choose, name="choose")
    app.router.add_get("/metrics", metrics, name="metrics")
    return app
