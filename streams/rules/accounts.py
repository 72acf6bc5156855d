"""Account rules: what enforcement (`streams.reputation.strikes`, through every worker's copy)
stopped.

Mailbox providers judge a shared IP by everyone who sends from it, so a platform stops one
customer's damage before providers act against all of them. The ladder (after a well-known
platform's three-strike policy): strike 1 disables broadcasts and follow-up sequences,
strike 3 terminates; a pause stops the account's mail to one provider (Amazon SES publishes the
same kind of levels for its own senders: review at 0.1% complaints, pause at 0.5%). Transactional
mail keeps flowing under a strike or a termination: a receipt or a password reset is owed to the
recipient whatever the sender did with its newsletters. A pause stops everything to that
provider, as a provider's own block would.

The exception is an account that abused that privilege: transactional mail bypasses unsubscribes,
so an account whose transactional sends carried marketing too often
(`streams.reputation.misuse`) has its transactional sending suspended until it is reinstated;
its commercial mail is judged by the other rules as before.
"""

from __future__ import annotations

from collections.abc import Callable

from streams.core.records import SendRequest
from streams.policy import Policy
from streams.reputation.standing import AccountSnapshot
from streams.rules.base import RecipientView, Rule, RuleCheck

__all__ = [
    "ACCOUNT_BROADCASTS_DISABLED",
    "ACCOUNT_TERMINATED",
    "PROVIDER_PAUSED",
    "TRANSACTIONAL_SUSPENDED",
]

_STRIKE_POLICY = (
    "Platform policy: complaint-rate strikes (fewer than 1 complaint per 1,000 messages per "
    "mailbox provider per week; Gmail and Yahoo bulk-sender rules)"
)


def _stopped_when(
    stops: Callable[[AccountSnapshot, SendRequest], bool],
    explain: Callable[[SendRequest, AccountSnapshot], str],
) -> RuleCheck:
    """The check of a rule that the account's enforcement state decides: silent when the gate
    has nothing on record for the account or its state does not stop this request."""

    def check(request: SendRequest, view: RecipientView, policy: Policy) -> str | None:
        account = view.account
        if account is None or not stops(account, request):
            return None
        return explain(request, account)

    return check


def _terminated(request: SendRequest, account: AccountSnapshot) -> str:
    return (
        f"Account {request.account_id} was terminated after {account.strikes} strikes for "
        "complaint or bounce rates over the platform's lines: it may send no commercial mail "
        "until it is reinstated. Transactional mail still goes."
    )


ACCOUNT_TERMINATED = Rule(
    name="account-terminated",
    law=f"{_STRIKE_POLICY}: the last strike of the ladder terminates the account",
    description="A terminated account sends no commercial mail.",
    check=_stopped_when(
        lambda account, request: account.commercial_denied and request.commercial, _terminated
    ),
)


def _is_stopped_broadcast(account: AccountSnapshot, request: SendRequest) -> bool:
    """Broadcasts and sequences are the commercial bulk mail; one-off mail still goes."""
    return account.broadcasts_denied and request.commercial and request.send_kind == "bulk"


def _broadcasts_disabled(request: SendRequest, account: AccountSnapshot) -> str:
    return (
        f"Broadcasts and follow-up sequences of account {request.account_id} are disabled after a "
        f"strike ({account.strikes} on record) for a complaint rate over the platform's line; "
        "one-off and transactional messages still go. The account is re-enabled once it passes "
        "the best-practice review."
    )


ACCOUNT_BROADCASTS_DISABLED = Rule(
    name="account-broadcasts-disabled",
    law=f"{_STRIKE_POLICY}: strike 1 disables broadcasts and sequences",
    description="A struck account sends no broadcasts or sequences until it is reinstated.",
    check=_stopped_when(_is_stopped_broadcast, _broadcasts_disabled),
)


def _provider_paused(request: SendRequest, view: RecipientView, policy: Policy) -> str | None:
    account = view.account
    if account is None:
        return None
    if account.all_providers_paused:
        where = "every mailbox provider"
    elif view.provider is not None and view.provider in account.paused_providers:
        where = f"mailbox provider {view.provider}"
    else:
        return None
    return (
        f"Mail from account {request.account_id} to {where} is paused because its complaint or "
        "bounce rate there passed the pause level; it resumes when the account is reinstated."
    )


PROVIDER_PAUSED = Rule(
    name="provider-paused",
    law=(
        "Platform policy: per-provider pause levels (as Amazon SES pauses at 0.5% complaints "
        "or 10% bounces)"
    ),
    description="No mail from an account to a provider its rates got it paused at.",
    check=_provider_paused,
)


def _transactional_suspended(request: SendRequest, account: AccountSnapshot) -> str:
    return (
        f"Transactional sending of account {request.account_id} is suspended: its transactional "
        "messages carried marketing more often than the platform allows. Transactional mail "
        "skips unsubscribe choices, so none is sent until the account is reinstated; commercial "
        "mail, which honours them, is judged as usual."
    )


TRANSACTIONAL_SUSPENDED = Rule(
    name="account-transactional-suspended",
    law=(
        "Platform policy: transactional streams bypass unsubscribes, so an account that sent "
        "marketing as transactional loses them until reinstated"
    ),
    description="An account whose transactional sending is suspended sends no transactional mail.",
    check=_stopped_when(
        lambda account, request: account.transactional_suspended and not request.commercial,
        _transactional_suspended,
    ),
)
