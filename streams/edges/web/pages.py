"""The HTML of the unsubscribe service's pages (`streams.edges.web.app`): the preference page and
its choices, the bad and expired link pages with the form that mails a link, the answers to that
form, and the pages that say a choice is done.

The handlers decide what happened; these functions only say it. They are pure, from plain values
(a token, the paths the request came in on, what the policy offers) to HTML or to an aiohttp
response, so the wording can be read in one place and checked without a server. Every value that
came from outside (token fields, cadence names, typed links) is escaped where it is put in. Pages
work without script, every field has a label, and forms post to paths relative to the page, so the
service also works behind a proxy that serves it under a path prefix.
"""

from __future__ import annotations

import html
from datetime import datetime

from aiohttp import web

from streams.sending.unsubscribe_tokens import UnsubscribeToken
from streams.suppression.unsubscribe import CADENCE_PREFIX

__all__ = [
    "Offer",
    "bad_address",
    "bad_token",
    "cadence_done",
    "check_your_mail",
    "choice_done",
    "choices_form",
    "confirm_form",
    "cross_site",
    "document",
    "expired",
    "no_confirmations",
    "not_recorded",
    "nothing_to_confirm",
    "offers",
    "preferences",
    "too_large",
    "too_many_requests",
    "unknown_choice",
]

Offer = tuple[str, str]
"""(form value, label as HTML) of one button on the preference page."""

_TOO_MANY = "<p>Please try again in a minute.</p>"
_WRITE_TO_THE_SENDER = (
    "<p>Use the unsubscribe link of a more recent message from the sender, or write to the "
    "sender and ask to be removed.</p>"
)


def document(title: str, body: str, status: int = 200) -> web.Response:
    """Every page: one small document around `body` (HTML), readable on a phone."""
    text = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:36rem;margin:2rem auto;padding:0 1rem;
line-height:1.5}}button{{font-size:1rem;padding:.6rem 1rem;margin:.3rem 0;width:100%}}
fieldset{{border:1px solid #888;padding:1rem;margin:0 0 1rem}}label{{display:block;
font-weight:600}}input{{font-size:1rem;padding:.5rem;width:100%;box-sizing:border-box}}</style>
</head><body><main><h1>{html.escape(title)}</h1>{body}</main></body></html>"""
    return web.Response(text=text, status=status, content_type="text/html", charset="utf-8")


def _relative(page_path: str, target: str) -> str:
    """`target`, a path from the service's root, relative to the page at `page_path`."""
    return "../" * (page_path.count("/") - 1) + target


# --- limits and refusals --------------------------------------------------------------------


def too_many_requests() -> web.Response:
    """429 for a client over its request rate."""
    return document("Too many requests", _TOO_MANY, 429)


def not_recorded(retry_after_s: int) -> web.Response:
    """503 when Kafka could not take a choice: the person must not leave believing it is done."""
    response = document(
        "Not confirmed yet",
        "<p>We could not confirm your choice just now, so it may <strong>not</strong> have "
        "taken effect.</p><p>Please try again in a minute: reload this page, or go back and choose "
        "again. Choosing twice does no harm.</p>",
        503,
    )
    response.headers["Retry-After"] = str(retry_after_s)
    return response


def too_large() -> web.Response:
    """400 for a body over the service's size limit."""
    return document("Request too large", "<p>That request was too large.</p>", 400)


# --- bad links and links by mail --------------------------------------------------------------


def confirm_form(page_path: str, token_text: str | None, note: str = "") -> str:
    """The labelled form that asks for a link by mail; `token_text` (the link the page is for)
    goes along when there is one, `note` (HTML) is said before what the form does."""
    hidden = (
        f'<input type="hidden" name="token" value="{html.escape(token_text)}">'
        if token_text
        else ""
    )
    return (
        f'<form method="post" action="{_relative(page_path, "confirm")}">{hidden}'
        "<fieldset><legend>Get a link by email</legend>"
        f'<p id="address-help">{note}We mail a link to your email preferences to the address '
        "you enter. Nothing changes until you open it and choose.</p>"
        '<label for="address">Your email address</label>'
        '<input id="address" name="address" type="text" inputmode="email" '
        'autocomplete="email" autocapitalize="off" spellcheck="false" maxlength="320" '
        'required aria-describedby="address-help">'
        '<button type="submit">Email me a link</button></fieldset></form>'
    )


def bad_token(page_path: str, *, offer_form: bool, mails_links: bool) -> web.Response:
    """400 for a forged, altered or truncated link. `offer_form`: a link by mail would offer
    something (only the platform-wide choice, as the link names no sender); `mails_links`: the
    service can mail links at all."""
    said = (
        "<p>The unsubscribe link is incomplete or was changed (some mail programs break "
        "long links across lines). Open it again from the message, or use the unsubscribe "
        "link of a more recent message.</p>"
    )
    if offer_form:
        note = (
            "This link does not say who sent the message, so the link we mail can only stop "
            "all mail sent to you through this platform. "
        )
        body = said + confirm_form(page_path, None, note)
    elif not mails_links:
        body = said + (
            "<p>This service cannot mail you a new link. You can also write to the sender "
            "and ask to be removed.</p>"
        )
    else:
        body = said + "<p>You can also write to the sender and ask to be removed.</p>"
    return document("This link is not valid", body, 400)


def expired(
    expired_at: datetime, token_text: str, page_path: str, *, offer_form: bool, mails_links: bool
) -> web.Response:
    """410 for a link of ours past its time; the form (if `offer_form`) carries the link along so
    the mailed one can renew it."""
    said = (
        f"<p>Unsubscribe links work for a limited time; this one ended on "
        f"{expired_at:%d %B %Y}.</p>"
    )
    if offer_form:
        body = said + confirm_form(page_path, token_text) + _WRITE_TO_THE_SENDER
    elif not mails_links:
        body = said + "<p>This service cannot mail you a new link.</p>" + _WRITE_TO_THE_SENDER
    else:
        body = said + _WRITE_TO_THE_SENDER
    return document("This link has expired", body, 410)


def no_confirmations() -> web.Response:
    """503 for a link by mail asked of a service with no relay."""
    return document(
        "Links by mail are not available",
        "<p>This service cannot mail you a link.</p>" + _WRITE_TO_THE_SENDER,
        503,
    )


def cross_site() -> web.Response:
    """403 for a form posted from another site: other sites must not make browsers ask for mail."""
    return document("Not allowed", "<p>Please use the form on our own page.</p>", 403)


def nothing_to_confirm() -> web.Response:
    """400 for a link by mail that would offer nothing."""
    return document("This link is not valid", _WRITE_TO_THE_SENDER, 400)


def bad_address(page_path: str, token_text: str | None) -> web.Response:
    """400 for a typed text that is not one email address, with the form again."""
    return document(
        "That is not an email address",
        '<p role="alert">Please enter one email address, such as '
        "jo.smith@example.com.</p>" + confirm_form(page_path, token_text),
        400,
    )


def check_your_mail() -> web.Response:
    """The one answer to every valid address, mailed or not, so it tells a stranger nothing."""
    return document(
        "Check your mail",
        '<p role="status">If this address gets mail through us, a link is on its way to it. '
        "Nothing changes until you open the link and choose.</p>",
    )


# --- the preference page ----------------------------------------------------------------------


def offers(
    token: UnsubscribeToken,
    cadence_now: str | None,
    *,
    cadence_choices: tuple[str, ...],
    offer_platform_opt_out: bool,
) -> list[Offer]:
    """What the token's page offers, in order; cadences but `cadence_now`. The form values are
    also what the page may post back (`streams.edges.web.app` checks a choice against them)."""
    offered: list[Offer] = []
    account = token.account_id
    if account is not None:
        if token.cadence is not None:
            offered += [
                (f"{CADENCE_PREFIX}{name}", f"Get this mail {html.escape(name)} instead")
                for name in cadence_choices
                if name != cadence_now
            ]
        what = (
            f"the list “{html.escape(token.list_id)}”" if token.list_id else "this kind of message"
        )
        offered += [
            ("list", f"Unsubscribe from {what}"),
            ("account", f"Unsubscribe from everything {html.escape(account)} sends"),
        ]
    if offer_platform_opt_out:
        offered.append(("platform", "Stop all mail sent through this platform"))
    if token.purpose == "message":
        offered.append(("spam", "Report this message as spam (and unsubscribe)"))
    return offered


def choices_form(offered: list[Offer], token_path: str, cadence_now: str | None) -> str:
    """The form of `offered` (see `offers`), cadences apart, posting to `<token_path>/choose`."""
    if not offered:
        return "<p>There is nothing to choose with this link.</p>" + _WRITE_TO_THE_SENDER

    def buttons(items: list[Offer]) -> str:
        return "".join(
            f'<button type="submit" name="choice" value="{html.escape(value)}">{label}</button>'
            for value, label in items
        )

    cadences = [item for item in offered if item[0].startswith(CADENCE_PREFIX)]
    others = [item for item in offered if not item[0].startswith(CADENCE_PREFIX)]
    how_often = ""
    if cadences:
        now_line = f"<p>You get this mail {html.escape(cadence_now)}.</p>" if cadence_now else ""
        how_often = (
            "<fieldset><legend>How often would you like this mail?</legend>"
            f"{now_line}{buttons(cadences)}</fieldset>"
        )
    return (
        f'<form method="post" action="{html.escape(token_path)}/choose">{how_often}'
        "<fieldset><legend>What would you like to do?</legend>"
        f"{buttons(others)}</fieldset></form>"
    )


def _intro(account_id: str | None) -> str:
    if account_id is None:
        return "<p>This link is for mail sent to your address through this platform.</p>"
    return f"<p>This link is for mail from <strong>{html.escape(account_id)}</strong>.</p>"


def preferences(
    account_id: str | None, offered: list[Offer], token_path: str, cadence_now: str | None
) -> web.Response:
    """The page behind a link: whose mail it is for, and the choices."""
    return document(
        "Your email preferences",
        _intro(account_id) + choices_form(offered, token_path, cadence_now),
    )


def unknown_choice() -> web.Response:
    """400 for a choice the page did not offer."""
    return document("Unknown choice", "<p>Please pick one of the offered choices.</p>", 400)


def choice_done(
    choice: str,
    account_id: str | None,
    again: bool,
    offered: list[Offer],
    token_path: str,
    cadence_now: str | None,
) -> web.Response:
    """An unsubscribe or spam report done (`again`: this process had done it before), with the
    choices still there: the person may want more than one."""
    said = {
        "list": "You are unsubscribed from this list.",
        "account": f"You will get no more mail from {html.escape(account_id or '')}.",
        "platform": "You will get no more mail sent through this platform.",
        "spam": "Thank you: the message is reported as spam, and you are unsubscribed.",
    }[choice]
    note = "<p>(You had already done this; nothing changed.)</p>" if again else ""
    return document(
        "Done",
        f'<p role="status">{said}</p>{note}' + choices_form(offered, token_path, cadence_now),
    )


def cadence_done(cadence: str, offered: list[Offer], token_path: str) -> web.Response:
    """A cadence chosen, with the choices again (now without it) so going back is one click."""
    said = f"From now on you will get this mail {html.escape(cadence)}."
    return document(
        "Done",
        f'<p role="status">{said}</p>' + choices_form(offered, token_path, cadence),
    )
