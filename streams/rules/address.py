"""Address rules: is the recipient address one that mail may go to at all."""

from __future__ import annotations

from streams.core.recipient import is_valid_address, normalise_address
from streams.core.records import SendRequest
from streams.policy import Policy
from streams.rules.base import RecipientView, Rule

__all__ = ["INVALID_RECIPIENT_ADDRESS", "ROLE_ADDRESS"]


def _invalid_address(request: SendRequest, view: RecipientView, policy: Policy) -> str | None:
    if is_valid_address(request.recipient):
        return None
    return (
        "The recipient address is not a valid email address, so the message cannot be "
        "delivered; correct or remove it from the list."
    )


def _role_address(request: SendRequest, view: RecipientView, policy: Policy) -> str | None:
    if not request.commercial:
        return None
    # The normalised local part: `"info"@` is `info@` (RFC 5322 §3.2.4: a quoted-string is
    # semantically identical to an atom), and case and Unicode forms fold as for the key.
    local_part = normalise_address(request.recipient).rpartition("@")[0]
    if local_part not in policy.role_local_parts:
        return None
    return (
        f"'{local_part}@' is a role address (a shared inbox, not a person), which cannot give "
        "consent to marketing; send it transactional mail only."
    )


INVALID_RECIPIENT_ADDRESS = Rule(
    name="invalid-recipient-address",
    law=(
        "RFC 5321 and RFC 5322 address syntax "
        "(platform policy: invalid addresses hurt sending reputation)"
    ),
    description="The recipient address does not parse as an email address.",
    check=_invalid_address,
)

ROLE_ADDRESS = Rule(
    name="role-address",
    law="Platform policy: role addresses cannot give individual consent to marketing",
    description="Commercial mail to a role address (info@, sales@, ...) is not allowed.",
    check=_role_address,
)
