"""`sendgate web`: the one-click unsubscribe endpoint and the page behind the link.

- `POST /u/<token>` with the body `List-Unsubscribe=One-Click` (RFC 8058 §3.2): the mailbox
  provider's one-click unsubscribe. It unsubscribes the recipient from the token's list (or, for
  mail that named no list, from the account), answers 200 once Kafka has the click, and asks for
  nothing: no login, no redirect, no confirmation. Only message links take it; a confirmation
  link (below) is never in a `List-Unsubscribe` header and gets 400.
- `GET /u/<token>`: a page that says what the link is for and offers the choices as plain forms
  (this list, everything from the sender, all mail through the platform if the policy's
  `offer_platform_opt_out` says so, report as spam) and, when the token carries the cadence of the
  consent the message was sent under, "get this mail <cadence> instead" for each of the policy's
  `cadence_choices` but the current one. A GET never changes anything: mail scanners fetch links
  (RFC 8058 §3.2).
- `POST /u/<token>/choose` with `choice=list|account|platform|spam|cadence:<name>`: the page's
  forms. A cadence choice is a `cadence_changed` consent event (`consent-events`).
- `POST /confirm` with `address` (and `token`, the expired link's text): a link by mail, below.

Every unsubscribe is published (`unsubscribe-clicks`, or `feedback-reports` for a spam report)
with an id made from the token and the choice, so a second click publishes the same record again
and changes nothing; the page says so when this process has seen it before. A cadence choice sets
state rather than adding to it (the last choice must win, also after going back and forth on one
page), so its event id also holds the moment of the choice; a repeated choice sets the same
cadence again, which changes nothing either.

Kafka down. Nothing is answered 200 (or "done") unless Kafka has acknowledged the record. When
it cannot be handed over (the broker is unreachable, or did not acknowledge in time), the answer
is 503 with `Retry-After` saying the unsubscribe is not confirmed: plain text for the one-click
POST, whose sender (a mailbox provider) retries, and a page for a person, who can. Retrying is
safe: the record's id is the same, so a click that landed after all is not counted twice. Such
answers count as `sendgate_web_refused_total{reason="kafka-unavailable"}`. The service itself
runs without Kafka (`streams.edges.web.serve`).

Bad links. A forged, altered or truncated token gets a 400 page, an expired one a 410 page; both
say what happened and, where possible, offer a labelled form (no script needed) to have a link
mailed to an address the visitor types. Nothing is ever unsubscribed on the strength of a typed-in
address: `POST /confirm` only mails that address a fresh link to the ordinary preference page
(`streams.edges.confirmation_mail`), and the person chooses there, having proved they read the
mailbox.
What the fresh link offers:

- the expired link was sent to the typed address (same recipient key): a renewed copy of it, with
  everything the original offered;
- the expired link was sent to someone else (a forwarded message): a confirmation for the typed
  address and the link's account and list, without "report as spam" (whoever forwards an old
  message must not be able to file complaints against its sender from any number of addresses)
  and without cadences (the link's cadence was someone else's);
- a forged link says nothing we can trust: a confirmation that names no account and offers only
  the platform-wide choice. When the policy does not offer it, the 400 page has no form and says
  to use a link from a recent message or to write to the sender.

Without a relay (`confirmation_smtp_host` unset) the pages offer no form and say so. Every valid
submission gets the same page at once ("if this address gets mail through us, a link is on its
way"), whether a mail goes out or not, and the mail is sent in the background, so neither the
answer nor its timing tells a stranger anything. Confirmations are limited to one per recipient
key per `confirmation_interval_s`, to `confirmations_per_minute` for the whole service, and by the
per-client bucket below; a cross-site form post (`Sec-Fetch-Site: cross-site`) is refused, so
other sites cannot make visitors' browsers request mail. Addresses are never logged nor put in
metrics; the per-key memory holds recipient keys only.

Bodies over 4 KiB are refused; pages, confirmations and bad tokens are rate-limited per client (a
token bucket per peer address, kept in memory only and never logged), while one-click POSTs with a
valid token never are: they come from mailbox providers' servers, many people's clicks from few
addresses. Forms post to paths relative to the page, so the service also works behind a proxy
that serves it under a path prefix. Prometheus metrics on `/metrics`.

This module holds the routes and what they decide; the pages' HTML is in `streams.edges.web.pages`
and the per-client and per-address limits in `streams.edges.web.limits`.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import datetime

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

from streams.core.clock import Clock
from streams.core.errors import ServiceUnavailableError
from streams.core.recipient import RecipientKeyer, is_valid_address
from streams.core.records import ConsentEvent, FeedbackReport, UnsubscribeClick
from streams.edges.confirmation_mail import (
    ConfirmationMailer,
    ConfirmationNotSentError,
    mailable_address,
)
from streams.edges.web import pages
from streams.edges.web.limits import OncePer, TokenBuckets
from streams.sending.policy import UnsubscribePolicy
from streams.sending.unsubscribe_tokens import (
    BadTokenError,
    ExpiredTokenError,
    UnsubscribeToken,
    UnsubscribeTokens,
)
from streams.suppression.unsubscribe import (
    CADENCE_PREFIX,
    Choice,
    action_id,
    cadence_event_for,
    click_for,
    spam_report_for,
)

__all__ = ["WebSettings", "make_web_app"]

log = logging.getLogger(__name__)

Publish = Callable[[UnsubscribeClick | FeedbackReport | ConsentEvent], Awaitable[object]]

MAX_BODY_BYTES = 4096
ONE_CLICK_BODY = "List-Unsubscribe=One-Click"
REMEMBERED_ACTIONS = 100_000
SHUTDOWN_GRACE_S = 30.0
"""How long stopping the service waits for confirmation mails still being handed to the relay."""
RETRY_AFTER_S = 30
"""What a 503 asks the client to wait: about what a broker takes to restart."""

ACTIONS = Counter("sendgate_web_actions", "Unsubscribe actions published, by choice.", ["choice"])
REFUSED = Counter("sendgate_web_refused", "Requests refused, by reason.", ["reason"])
CONFIRMATIONS = Counter(
    "sendgate_web_confirmations", "Confirmation mails, by outcome.", ["outcome"]
)
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
        cadence_choices: tuple[str, ...] = UnsubscribePolicy().cadence_choices,
        requests_per_minute: int = 60,
        confirmation_interval_s: float = 600.0,
        confirmations_per_minute: int = 30,
    ) -> None:
        self.offer_platform_opt_out = offer_platform_opt_out
        self.cadence_choices = cadence_choices
        self.requests_per_minute = requests_per_minute
        self.confirmation_interval_s = confirmation_interval_s
        self.confirmations_per_minute = confirmations_per_minute


def make_web_app(
    tokens: UnsubscribeTokens,
    publish: Publish,
    clock: Clock,
    settings: WebSettings | None = None,
    *,
    keyer: RecipientKeyer | None = None,
    mailer: ConfirmationMailer | None = None,
) -> web.Application:
    """The aiohttp application; `publish` must return once Kafka has acknowledged. Without a
    `mailer` (and the `keyer` that turns a typed address into its recipient key) the bad-link
    pages offer no confirmation by mail."""
    if mailer is not None and keyer is None:
        raise ValueError("confirmations need the recipient keyer as well as the mailer")
    settings = settings or WebSettings()
    buckets = TokenBuckets(settings.requests_per_minute)
    once_per_key = OncePer(settings.confirmation_interval_s)
    all_confirmations = TokenBuckets(settings.confirmations_per_minute, clients=1)
    seen: OrderedDict[str, None] = OrderedDict()
    sending: set[asyncio.Task[None]] = set()

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
                return pages.too_many_requests()
            try:
                return await handler(request)
            except web.HTTPRequestEntityTooLarge:
                REFUSED.labels("too_large").inc()
                return pages.too_large()
            except ServiceUnavailableError as exc:
                REFUSED.labels("kafka-unavailable").inc()
                log.warning("%s: not recorded, answered 503: %s", route, exc)
                if route == "one_click":
                    return web.Response(
                        text="unsubscribe not confirmed: service unavailable, try again later\n",
                        status=503,
                        headers={"Retry-After": str(RETRY_AFTER_S)},
                    )
                return pages.not_recorded(RETRY_AFTER_S)
        finally:
            LATENCY.labels(route).observe(time.perf_counter() - started)

    # --- confirmation by mail ---------------------------------------------------------------

    def can_confirm(origin: UnsubscribeToken | None) -> bool:
        """Whether a confirmation for a link like `origin` (None: forged) would offer anything."""
        knows_account = origin is not None and origin.account_id is not None
        return mailer is not None and (knows_account or settings.offer_platform_opt_out)

    def bad_token(exc: BadTokenError, page_path: str) -> web.Response:
        REFUSED.labels(exc.problem).inc()
        return pages.bad_token(
            page_path, offer_form=can_confirm(None), mails_links=mailer is not None
        )

    def expired(exc: ExpiredTokenError, token_text: str, page_path: str) -> web.Response:
        REFUSED.labels("expired").inc()
        return pages.expired(
            exc.expired_at,
            token_text,
            page_path,
            offer_form=can_confirm(exc.token),
            mails_links=mailer is not None,
        )

    def read_origin(token_text: str) -> UnsubscribeToken | None:
        """The link the confirmation is asked for: valid or expired, else None (forged)."""
        if not token_text:
            return None
        try:
            return tokens.verify(token_text, now=clock.now())
        except ExpiredTokenError as exc:
            return exc.token
        except BadTokenError:
            return None

    def confirmation_token(origin: UnsubscribeToken | None, recipient_key: str) -> str:
        now = clock.now()
        if origin is not None and origin.recipient_key == recipient_key:
            # The typed address is the one the link was sent to: renew the link as it was.
            return tokens.issue(
                recipient_key=recipient_key,
                account_id=origin.account_id,
                list_id=origin.list_id,
                request_id=origin.request_id,
                issued_at=now,
                cadence=origin.cadence,
                purpose=origin.purpose,
            )
        account_id = origin.account_id if origin is not None else None
        list_id = origin.list_id if origin is not None else None
        seed = "\x1f".join(
            ("confirm-v1", recipient_key, account_id or "", list_id or "", now.isoformat())
        )
        return tokens.issue(
            recipient_key=recipient_key,
            account_id=account_id,
            list_id=list_id,
            request_id="confirm-" + hashlib.sha256(seed.encode()).hexdigest()[:16],
            issued_at=now,
            purpose="confirmation",
        )

    async def deliver(sender: ConfirmationMailer, address: str, token: str, at: datetime) -> None:
        try:
            await sender.send(address, token, at)
        except ConfirmationNotSentError as exc:
            CONFIRMATIONS.labels("failed").inc()
            log.warning("confirmation mail not sent: %s", exc)
        except Exception as exc:  # the message might hold the address: only its type is logged
            CONFIRMATIONS.labels("failed").inc()
            log.error("confirmation mail not sent: unexpected %s", type(exc).__name__)
        else:
            CONFIRMATIONS.labels("sent").inc()

    async def confirm(request: web.Request) -> web.Response:
        if mailer is None or keyer is None:
            REFUSED.labels("no_confirmations").inc()
            return pages.no_confirmations()
        if request.headers.get("Sec-Fetch-Site") == "cross-site":
            REFUSED.labels("cross_site").inc()
            return pages.cross_site()
        form = await request.post()
        address, token_text = form.get("address"), form.get("token")
        address = address if isinstance(address, str) else ""
        token_text = token_text if isinstance(token_text, str) else ""
        origin = read_origin(token_text)
        if not can_confirm(origin):
            REFUSED.labels("nothing_to_confirm").inc()
            return pages.nothing_to_confirm()
        mail_to = mailable_address(address)
        if mail_to is None or not is_valid_address(address):
            REFUSED.labels("bad_address").inc()
            return pages.bad_address(request.path, token_text if origin is not None else None)
        recipient_key = keyer.key(address)
        if not once_per_key.allow(recipient_key):
            CONFIRMATIONS.labels("limited_per_address").inc()
        elif not all_confirmations.allow("all"):
            CONFIRMATIONS.labels("limited_overall").inc()
        else:
            task = asyncio.create_task(
                deliver(mailer, mail_to, confirmation_token(origin, recipient_key), clock.now())
            )
            sending.add(task)
            task.add_done_callback(sending.discard)
        return pages.check_your_mail()

    async def finish_sending(app: web.Application) -> None:
        if sending:
            await asyncio.wait(set(sending), timeout=SHUTDOWN_GRACE_S)

    # --- the links and the page -------------------------------------------------------------

    def read_token(request: web.Request) -> UnsubscribeToken | web.Response:
        token_text = request.match_info["token"]
        page_path = request.path
        try:
            return tokens.verify(token_text, now=clock.now())
        except BadTokenError as exc:
            if request.match_info.route.name == "one_click" and not buckets.allow(
                request.remote or "?"
            ):
                REFUSED.labels("rate_limited").inc()
                return pages.too_many_requests()
            return bad_token(exc, page_path)
        except ExpiredTokenError as exc:
            return expired(exc, token_text, page_path)

    async def act(token: UnsubscribeToken, choice: Choice) -> bool:
        """Publish the choice; True if this process had already published it. Remembered only
        once acknowledged: a retry after a 503 is the first time it was recorded."""
        now = clock.now()
        record = spam_report_for(token, now) if choice == "spam" else click_for(token, choice, now)
        await publish(record)
        ACTIONS.labels(choice).inc()
        return remember(action_id(token, choice))

    async def one_click(request: web.Request) -> web.Response:
        token = read_token(request)
        if isinstance(token, web.Response):
            return token
        if token.purpose != "message":
            REFUSED.labels("not_one_click").inc()
            return web.Response(text="not a one-click link; open it in a browser\n", status=400)
        try:
            if request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
                one_click_asked = (await request.post()).get("List-Unsubscribe") == "One-Click"
            else:
                one_click_asked = (await request.text()).strip() == ONE_CLICK_BODY
        except (ValueError, LookupError):  # undecodable, or a charset Python does not know
            one_click_asked = False
        if not one_click_asked:
            REFUSED.labels("bad_body").inc()
            return web.Response(text="expected List-Unsubscribe=One-Click\n", status=400)
        await act(token, "list")
        return web.Response(text="unsubscribed\n", status=200)

    def offers(token: UnsubscribeToken, cadence_now: str | None) -> list[pages.Offer]:
        """What the token's page offers under this service's policy; cadences but `cadence_now`."""
        return pages.offers(
            token,
            cadence_now,
            cadence_choices=settings.cadence_choices,
            offer_platform_opt_out=settings.offer_platform_opt_out,
        )

    def accepted(token: UnsubscribeToken, choice: object) -> str | None:
        """`choice` if the page of `token` may post it, else None. Any of the cadences is
        accepted, the current one too: going back must be possible."""
        if not isinstance(choice, str):
            return None
        if choice.startswith(CADENCE_PREFIX):
            cadence_offered = (
                token.account_id is not None
                and token.cadence is not None
                and choice.removeprefix(CADENCE_PREFIX) in settings.cadence_choices
            )
            return choice if cadence_offered else None
        return choice if choice in {value for value, _ in offers(token, None)} else None

    async def page(request: web.Request) -> web.Response:
        token = read_token(request)
        if isinstance(token, web.Response):
            return token
        return pages.preferences(
            token.account_id, offers(token, token.cadence), request.path, token.cadence
        )

    async def choose(request: web.Request) -> web.Response:
        token = read_token(request)
        if isinstance(token, web.Response):
            return token
        choice = accepted(token, (await request.post()).get("choice"))
        token_path = request.path.removesuffix("/choose")
        if choice is None:
            REFUSED.labels("bad_choice").inc()
            return pages.unknown_choice()
        if choice.startswith(CADENCE_PREFIX):
            cadence = choice.removeprefix(CADENCE_PREFIX)
            await publish(cadence_event_for(token, cadence, clock.now()))
            ACTIONS.labels("cadence").inc()
            return pages.cadence_done(cadence, offers(token, cadence), token_path)
        again = await act(token, choice)  # type: ignore[arg-type]
        return pages.choice_done(
            choice,
            token.account_id,
            again,
            offers(token, token.cadence),
            token_path,
            token.cadence,
        )

    async def metrics(request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=[limits])
    app.router.add_post("/u/{token}", one_click, name="one_click")
    app.router.add_get("/u/{token}", page, name="page")
    app.router.add_post("/u/{token}/choose", choose, name="choose")
    app.router.add_post("/confirm", confirm, name="confirm")
    app.router.add_get("/metrics", metrics, name="metrics")
    app.on_shutdown.append(finish_sending)
    return app
