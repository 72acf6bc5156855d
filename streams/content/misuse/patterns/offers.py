"""The built-in patterns of the offer signals: discount codes, money off, free offers.

A code for a purchase, a price offer and a free or special offer are what a transactional message
must not carry on top of its transaction (`MisusePolicy` gives each signal's weight and why it
counts; `streams.content.misuse.patterns` says where the phrases come from).
"""

from __future__ import annotations

__all__ = ["DISCOUNT_CODE", "FREE_OFFER", "MONEY_OFF"]

_AMOUNT = r"(?:[$€£] ?\d[\d.,]*|\d[\d.,]* ?(?:[$€£]|eur\b|euros?\b|usd\b|cents?\b))"
"""An amount of money as printed: "$5", "5 €", "12.50 EUR", "50 cents"."""
_CODE = r"[\"'«]? ?(?=[a-z0-9-]*[a-z])(?=[a-z0-9-]*\d)[a-z0-9][a-z0-9-]{3,19}\b"
"""A code as senders print them: 4 to 20 letters and digits with at least one of each (SAVE10,
BIENVENUE20); a code of digits alone is a sign-in or order number, not a discount."""

DISCOUNT_CODE: dict[str, tuple[str, ...]] = {
    "en": (
        r"\b(?:promo(?:tional)?|discount|coupon|voucher|offer|presale|pre-sale|welcome) codes?\b"
        r"(?: ?:? ?[a-z0-9][a-z0-9-]{2,19}\b)?",
        rf"\b(?:use|using|with|enter|apply|redeem)(?: the| your| our| this| my)? code {_CODE}",
        r"\bcoupons?\b",
    ),
    "de": (
        r"\b(?:gutschein|rabatt|aktions|promo|vorteils)-?codes?\b",
        rf"\b(?:mit dem|den|dem|code eingeben:?) ?code {_CODE}",
    ),
    "fr": (
        r"\bcodes? (?:promo|de réduction|de remise|avantage|privilège|de bienvenue)\b",
        rf"\b(?:avec|utilisez|saisissez|entrez)(?: le| votre)? code {_CODE}",
    ),
    "es": (
        r"\bc[óo]digos? (?:de descuento|promocional|promo|de cup[óo]n)\b",
        rf"\b(?:con|usa|usando|introduce|utiliza|aplica)(?: el| tu)? c[óo]digo {_CODE}",
        r"\bcup[óo]n(?:es)?\b",
    ),
}

MONEY_OFF: dict[str, tuple[str, ...]] = {
    "en": (
        r"\b\d{1,3}(?:[.,]\d{1,2})? ?% ?(?:off|discount)\b",
        rf"{_AMOUNT} ?off\b",
        rf"\bsave\b(?: up to| an extra| over)? (?:\d{{1,3}}(?:[.,]\d+)? ?%|{_AMOUNT})",
        rf"\b(?:regular(?:ly)?|normally|usually|rrp|list price)\W{{0,3}}{_AMOUNT}",
        r"\bhalf[- ]price\b|\bbogo\b|\bbuy (?:one|two|\d),? get (?:one|\d)(?: free| half)?\b",
        r"\b(?:flash|summer|winter|spring|autumn|fall|holiday|end of season|clearance|"
        r"anniversary|warehouse|big|mid-season) sale\b|\bblack friday\b|\bcyber monday\b",
        r"(?<![\w.,])-\d{1,2} ?% (?:on|sur|auf|en)\b",
    ),
    "de": (
        r"\b\d{1,3}(?:[.,]\d{1,2})? ?% ?(?:rabatt|nachlass|preisnachlass|ermässigung|günstiger)\b",
        rf"{_AMOUNT} ?(?:rabatt|nachlass|günstiger)\b",
        r"\b(?:sparen sie|spare|sparen)\b(?: bis zu)? \d{1,3} ?%",
        rf"\b(?:statt|uvp)\W{{0,3}}{_AMOUNT}",
        r"\b(?:sommer|winter)schlussverkauf\b",
    ),
    "fr": (
        r"\b\d{1,3}(?:[.,]\d{1,2})? ?% ?(?:de réduction|de remise|de rabais|offerts?)\b",
        rf"{_AMOUNT} ?(?:de réduction|de remise|de rabais|offerts?)\b",
        r"\b(?:économisez|profitez de)\b(?: jusqu'à)? \d{1,3} ?%",
        rf"\bau lieu de\W{{0,3}}{_AMOUNT}",
        r"\bsoldes\b|\bventes? privées?\b",
    ),
    "es": (
        r"\b\d{1,3}(?:[.,]\d{1,2})? ?% ?(?:de descuento|de dto|dto|de rebaja)\b",
        rf"{_AMOUNT} ?(?:de descuento|de rebaja)\b",
        r"\b(?:ahorra|ahorre)\b(?: hasta)?(?: un)? \d{1,3} ?%",
        rf"\b(?:antes|precio normal)\W{{0,3}}{_AMOUNT}",
        r"\brebajas\b",
    ),
}

FREE_OFFER: dict[str, tuple[str, ...]] = {
    "en": (
        r"\btry\b(?: \S+){0,3} (?:for )?free\b",
        r"\b(?:start|begin|claim|activate) (?:your|a|my) (?:\d+[- ]day )?free trial\b",
        r"\bfree for (?:\d+|one|two|three|a) (?:days?|weeks?|months?|year)\b",
        r"\b(?:first|next|1st) (?:\w+ )?(?:months?|year|week|lesson|class|session|box) "
        r"(?:is |are )?(?:free|on us)\b",
        r"\b(?:\d+|one|two|three) (?:days?|weeks?|months?) (?:free|on us)\b",
        r"\bfree (?:webinar|e-?book|guide|consultation|masterclass|workshop|gift|samples?)s?\b",
        r"\bfree (?:shipping|delivery) (?:on|for|over|when)\b",
        r"\bno (?:joining|sign-?up|setup|set-up|enrol?ment|activation) fees?\b",
        r"\b(?:chance to win|enter to win|win an?\b|sweepstakes|giveaway|prize draw)",
        r"\b(?:welcome|little) gift\b",
        r"\b(?:exclusive|special|limited) (?:offers?|deals?|discounts?|pricing)\b",
        r"\bearly access to (?:our )?(?:sales?|deals|offers)\b",
        rf"\b(?:for )?(?:just|only) {_AMOUNT}",
    ),
    "de": (
        r"\b(?:gratis|kostenlos|unverbindlich) (?:testen|ausprobieren)\b",
        r"\b(?:erster|ersten|1\.) monat (?:gratis|kostenlos|geschenkt)\b",
        r"\b\d+ (?:tage|wochen|monate) (?:gratis|kostenlos)\b",
        r"\bgewinnspiel\b|\bgewinnen sie\b|\bzu gewinnen\b",
        r"\b(?:willkommens|begrüssungs)geschenk\b",
        r"\b(?:versandkostenfrei|kostenloser versand) ab\b",
        r"\b(?:exklusive[snr]?|sonder)-? ?angebot\b|\bangebot für (?:sie|dich)\b",
        rf"\b(?:für )?(?:nur|schon ab) {_AMOUNT}",
    ),
    "fr": (
        r"\bessai gratuit\b",
        r"\b(?:premier|1er) mois (?:offert|gratuit)\b",
        r"\bgratuit(?:ement)? pendant \d+\b",
        r"\bjeu[- ]concours\b|\btentez de gagner\b|\bà gagner\b",
        r"\bcadeau de bienvenue\b",
        r"\blivraison (?:offerte|gratuite) (?:dès|à partir)\b",
        r"\boffres? (?:exclusives?|spéciales?|limitées?)\b",
        rf"\b(?:pour )?seulement {_AMOUNT}",
    ),
    "es": (
        r"\bpru[ée]ba(?:lo|la)? gratis\b",
        r"\b(?:primer|primeros \d+) mes(?:es)? gratis\b",
        r"\bgratis durante\b",
        r"\bsorteo\b|\bparticipa y gana\b",
        r"\benv[íi]o gratis (?:en|para|a partir|desde)\b",
        r"\bofertas? (?:exclusivas?|especial(?:es)?|limitadas?)\b|\bdescuentos? exclusivos?\b",
        rf"\b(?:por )?(?:solo|sólo) {_AMOUNT}",
        r"\bregalo de bienvenida\b",
    ),
}
