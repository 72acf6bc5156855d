"""The built-in patterns of what is not marketing: a transaction's own wording, and links that
never count.

A segment matching `TRANSACTIONAL_CONTEXT` (a discount applied, a refund, a sign-in code, an
unsubscribe confirmed) is about this transaction and is not searched for signals, unless it also
matches `FUTURE_PURCHASE` ("on your next order"); a link matching `NEVER_PROMOTIONAL_LINKS`
(opt-out and preference pages, app stores) never counts as a shop link. `MisusePolicy` says why
each is there; `streams.content.misuse.patterns` where the phrases come from.
"""

from __future__ import annotations

__all__ = ["FUTURE_PURCHASE", "NEVER_PROMOTIONAL_LINKS", "TRANSACTIONAL_CONTEXT"]

TRANSACTIONAL_CONTEXT: dict[str, tuple[str, ...]] = {
    "en": (
        r"\bapplied\b|\bredeemed\b|\brefund(?:s|ed|ing)?\b|\bcredited\b",
        r"\byou(?:'ve| have)? saved\b",
        r"\b(?:verification|security|one-time|sign-in|login|log-in|confirmation|access) codes?\b",
        r"\bverif(?:y|ication)\b|\bsign(?:ing)? in\b|\blog(?:ging)? in\b|\bpasscode\b|\b2fa\b",
        r"\bunsubscribed\b|\bno longer receive\b|\bopted out\b",
        r"\bearly[- ]payment\b|\byour (?:e-?)?gift ?(?:card|certificate|voucher)\b",
        # A negative amount: an order line ("Promo code SPRING10: -$4.00"), not an offer.
        r"(?<![\w-])[-\u2212] ?(?:[$€£] ?\d|\d[\d.,]* ?(?:[$€£]|eur\b))",
    ),
    "de": (
        r"\bangewendet\b|\bangewandt\b|\bberücksichtigt\b|\beingelöst\b|\berstatt\w*\b"
        r"|\brückerstatt\w*\b|\bgutgeschrieben\b|\bgespart\b",
        r"\b(?:bestätigungs|sicherheits|verifizierungs|anmelde|einmal)codes?\b|\bverifizier\w*",
        r"\babgemeldet\b|\bskonto\b|\bihre?n? (?:geschenk)?gutschein\b",
    ),
    "fr": (
        r"\bappliquée?s?\b|\brembours\w*\b|\butilisée?s?\b|\bvous avez économisé\b",
        r"\bcodes? de (?:vérification|sécurité|confirmation|connexion)\b|\bvérifi\w*",
        r"\bdésabonnée?s?\b|\bdésinscrite?s?\b|\bescompte\b|\bvotre (?:carte|chèque) cadeau\b",
    ),
    "es": (
        r"\baplicad[oa]s?\b|\breembols\w*\b|\bcanjead[oa]s?\b|\bhas ahorrado\b|\bahorraste\b",
        r"\bc[óo]digos? de (?:verificación|seguridad|confirmación|acceso)\b|\bverific\w*",
        r"\biniciar sesión\b",
        r"\bdado de baja\b|\bdada de baja\b|\bpronto pago\b|\btu tarjeta regalo\b",
    ),
}

FUTURE_PURCHASE: dict[str, tuple[str, ...]] = {
    "en": (r"\b(?:next|future) (?:orders?|purchases?|visit|booking|stay|trip)\b",),
    "de": (r"\bnächsten? (?:bestellung|einkauf|kauf|buchung)\b",),
    "fr": (r"\bprochaine? (?:commande|achat|réservation|visite)\b",),
    "es": (r"\bpróxim[oa] (?:pedido|compra|reserva|visita)\b",),
}

NEVER_PROMOTIONAL_LINKS: tuple[str, ...] = (
    r"unsub|opt-?out|opt_out|preferences|abmelden|abbestellen|d[ée]sabonn|d[ée]sinscri|/baja\b",
    r"^(?:apps\.apple\.com|play\.google\.com|itunes\.apple\.com)\b",
)
