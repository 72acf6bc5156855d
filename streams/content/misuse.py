"""Find marketing in a message sent as transactional (CAN-SPAM 16 CFR 316.3, CASL s.6(6)).

A transactional stream bypasses unsubscribes (a receipt is owed whatever the recipient chose), so
a platform cannot let marketing ride on it. `assess_misuse` reads a message's subject, body text
and links and says which marketing signals it carries; the rule `transactional-misuse`
(`streams.rules.misuse`) denies a transactional send whose score reaches the policy's threshold.
Pure: text in, a frozen value out.

The detector is a table, not a model. Each signal is a list of patterns per language with a
weight in points (`MisusePolicy`, which documents each default); a signal counts once however many
times it matches, the score is the sum of the weights of the signals found, and the message is
misuse when the score reaches `threshold` (10). The strong signals (a discount code, a money-off
offer, product recommendations, a come-back message, a referral bonus, an invitation to sign up
for marketing) decide alone; the weak ones (a call to buy, a link to a shop page, sales urgency, a
promotional subject, a free offer) need another beside them.

How text is read
- Normalised once: Unicode NFKC (full-width and non-breaking characters become plain ones),
  typographic quotes become straight ones, then the text is cut into segments (a line, or a
  sentence within a line), each with its white space collapsed and case folded (`str.casefold`:
  German "ß" reads "ss", so patterns spell it that way). Link texts are segments too.
- Every language's patterns apply to every message: a message's language is not guessed (a
  French receipt may carry an English banner). The languages only group the lists.
- Transactional context: a segment that also says the discount was applied, refunded or redeemed
  ("Member discount applied: -$3.56", "we've refunded $12.00 for your WELCOME15 code"), names a
  sign-in or verification code, or confirms an unsubscribe (the full list: `MisusePolicy`), is
  about this transaction and no signal is looked for in it, unless it points at a future
  purchase ("on your next order").
- Links: a link's URL (host, path, query) is matched against `promotional_link`; links to
  opt-out or preference pages and to app stores never count.
- The subject: every text signal's patterns, and `promotional_subject`'s own, are looked for in
  it; a match there adds `promotional_subject` (CAN-SPAM 16 CFR 316.3(a)(2)(i): a subject that
  makes a recipient expect an advertisement makes the message commercial).

Evidence: each signal keeps up to three snippets of at most six words, cut from the message as
written (after NFKC); anything shaped like an email address in a snippet is replaced by
"[address]", so an explanation built from them never carries the recipient's address.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Annotated, Any, Literal
from urllib.parse import unquote, urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, computed_field, model_validator

from streams.records import MessageBody

__all__ = [
    "SIGNAL_LABELS",
    "MisuseAssessment",
    "MisusePolicy",
    "Signal",
    "SignalName",
    "SignalPolicy",
    "assess_misuse",
]

SignalName = Literal[
    "discount_code",
    "money_off",
    "cross_sell",
    "reengagement",
    "referral",
    "opt_in_invitation",
    "free_offer",
    "call_to_buy",
    "promotional_link",
    "promotional_subject",
    "urgency",
]

SIGNAL_LABELS: dict[SignalName, str] = {
    "discount_code": "a discount code",
    "money_off": "a money-off offer",
    "cross_sell": "product recommendations",
    "reengagement": "a come-back (re-engagement) message",
    "referral": "a referral bonus",
    "opt_in_invitation": "an invitation to sign up for marketing",
    "free_offer": "a free or special offer",
    "call_to_buy": "a call to buy, upgrade or sign up",
    "promotional_link": "a link to a shop, offer or sign-up page",
    "promotional_subject": "a promotional subject line",
    "urgency": "sales urgency",
}
"""What each signal is called in an explanation a support agent reads."""

_TEXT_SIGNALS: tuple[SignalName, ...] = (
    "discount_code",
    "money_off",
    "cross_sell",
    "reengagement",
    "referral",
    "opt_in_invitation",
    "free_offer",
    "call_to_buy",
    "urgency",
)
"""The signals looked for in the subject, the body text and the link texts."""


def _compiles(pattern: str) -> str:
    """A pattern that `re` cannot compile, alone or inside a group, is refused with the reason."""
    try:
        re.compile(f"(?:{pattern})")
    except re.error as exc:
        raise ValueError(f"{pattern!r} is not a valid regular expression: {exc}") from None
    return pattern


Pattern = Annotated[str, Field(min_length=1, max_length=1000), AfterValidator(_compiles)]
Language = Annotated[str, Field(pattern=r"^[a-z]{2,3}$")]
PatternsByLanguage = dict[Language, tuple[Pattern, ...]]


# --- The built-in lists. Patterns are Python regular expressions matched on casefolded text. ---

_AMOUNT = r"(?:[$€£] ?\d[\d.,]*|\d[\d.,]* ?(?:[$€£]|eur\b|euros?\b|usd\b|cents?\b))"
_CODE = r"[\"'«]? ?(?=[a-z0-9-]*[a-z])(?=[a-z0-9-]*\d)[a-z0-9][a-z0-9-]{3,19}\b"
"""A code as senders print them: 4 to 20 letters and digits with at least one of each (SAVE10,
BIENVENUE20); a code of digits alone is a sign-in or order number, not a discount."""

_DISCOUNT_CODE: dict[str, tuple[str, ...]] = {
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

_MONEY_OFF: dict[str, tuple[str, ...]] = {
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

_CROSS_SELL: dict[str, tuple[str, ...]] = {
    "en": (
        r"\byou(?: might| may| could| will|'ll) (?:also )?(?:like|love|enjoy|need)\b",
        r"\b(?:customers|shoppers|fans|people|others)(?: who [\w ]{1,30})? also (?:bought|liked|"
        r"viewed|loved|purchased)\b",
        r"\bfrequently bought together\b",
        r"\b(?:recommended|recommendations|picked|picks|selected) for you\b|\b(?:top|our) picks\b",
        r"\bbest[- ]?sell(?:ers?|ing)\b",
        r"\bnew (?:arrivals?|season|collection|releases)\b|\bjust (?:dropped|arrived|landed)\b",
        r"\bcomplete (?:the|your) (?:look|set|collection)\b|\bnow in stock\b",
        r"\bpairs (?:well|perfectly|nicely) with\b|\bgoes (?:great|well|perfectly) with\b",
        r"\binspired by your (?:purchase|order|browsing)\b|\brecommendations based on\b",
        r"\bon sale (?:now|today)\b",
    ),
    "de": (
        r"\bdas könnte (?:ihnen|dir) (?:auch )?(?:gefallen|interessieren)\b",
        r"\bpassend (?:dazu|zu ihrem kauf|zu deinem kauf)\b",
        r"\b(?:kunden|andere) kauften auch\b",
        r"\bneu im sortiment\b|\bneuheiten\b|\bneue kollektion\b",
        r"\bunsere? (?:bestseller|topseller)\b|\bempfehlungen für (?:sie|dich)\b",
    ),
    "fr": (
        r"\bvous (?:aimerez|pourriez aimer) (?:aussi|également)\b",
        r"\bnos (?:nouveautés|meilleures ventes|best-?sellers)\b|\bnouvelle collection\b",
        r"\bdécouvrez (?:aussi|également)\b|\bcomplétez votre (?:look|tenue|collection)\b",
        r"\b(?:sélectionnés?|recommandés?) pour vous\b|\bles clients ont aussi\b",
    ),
    "es": (
        r"\brecomendad[oa]s para (?:ti|usted)\b",
        r"\b(?:también )?te (?:puede|podría)n? (?:gustar|interesar)\b",
        r"\blos más vendidos\b|\bnueva colección\b|\bnuestras novedades\b",
    ),
}

_REENGAGEMENT: dict[str, tuple[str, ...]] = {
    "en": (
        # "We miss you", not "we missed you": a courier's missed delivery says the latter.
        r"\bwe(?:'ve| have)? (?:really )?miss(?:ing)? you\b",
        r"\bcome back (?:and|for|to (?:us|shop|see))\b",
        r"\b(?:haven't|have not) (?:placed an order|ordered|shopped|bought anything)\b",
        r"\b(?:see|have|welcome) you back\b",
        r"\bleft (?:\S+ ){0,3}in your (?:cart|basket|shopping bag)\b",
        r"\byour (?:cart|basket) is (?:waiting|about to expire)\b",
        r"\b(?:items?|something) (?:waiting |still )?in your (?:cart|basket)\b",
        r"\byou left (?:something|these|this|items?)(?: \S+){0,2} behind\b",
        r"\bforg[eo]t (?:something|anything)\b|\bstill thinking (?:about|it over)\b",
    ),
    "de": (
        r"\bwir vermissen (?:sie|dich|euch)\b",
        r"\bkomm(?:en sie)? (?:doch )?(?:wieder )?zurück\b",
        r"\b(?:artikel|etwas|produkte) (?:liegen )?(?:in|im) (?:ihrem|deinem) warenkorb\b",
        r"\b(?:ihr|dein) warenkorb wartet\b",
    ),
    "fr": (
        r"\bvous nous manquez\b|\btu nous manques\b",
        r"\brevenez (?:nous voir|vite|chez nous)\b",
        r"\b(?:votre|ton) panier (?:vous attend|t'attend)\b",
        r"\b(?:articles?|produits?) dans (?:votre|ton) panier\b",
    ),
    "es": (
        r"\b(?:te|le|los|las) (?:echamos de menos|extrañamos)\b",
        r"\bvuelve (?:a visitarnos|pronto|con nosotros)\b",
        r"\btu (?:carrito|cesta) te espera\b",
        r"\b(?:dejado|olvidado) (?:\S+ ){0,3}en tu (?:carrito|cesta)\b",
    ),
}

_REFERRAL: dict[str, tuple[str, ...]] = {
    "en": (
        r"\b(?:refer|bring|invite) (?:a|your|\d+) (?:friends?|buddy)\b",
        r"\b(?:refer|bring)-a-friend\b",
        r"\b(?:each|every) (?:friend|person) (?:you refer|who (?:joins|signs up|subscribes))\b",
        r"\byou both get\b",
        r"\breferral (?:bonus|reward|code|link|programme|program|credit)\b",
    ),
    "de": (
        r"\bfreunde? werben\b",
        r"\bfreund(?:e|in)? (?:einladen|empfehlen|mitbringen)\b",
        r"\b(?:werbe|empfehlungs)prämie\b",
    ),
    "fr": (
        r"\bparrain\w*\b|\bfilleule?s?\b",
        r"\binvitez (?:un|une|vos) (?:ami|proche)\w*\b",
    ),
    "es": (
        r"\b(?:invita|recomienda|trae) a (?:un amigo|una amiga|tus amigos)\b",
        r"\bpor cada amig[oa]\b",
        r"\b(?:programa|código) de (?:referidos|recomendación)\b",
    ),
}

_OPT_IN_INVITATION: dict[str, tuple[str, ...]] = {
    "en": (
        r"\b(?:subscribe|sign up|register|join|opt in)\b(?: \S+){0,5} (?:newsletter|mailing "
        r"list|email list|e-?mail updates|marketing e-?mails)\b",
        r"\bbe the first to (?:hear|know|see|get)\b",
    ),
    "de": (
        r"\b(?:newsletter|infobrief) (?:abonnieren|bestellen)\b",
        r"\b(?:melde dich|melden sie sich)\b(?: \S+){0,4} newsletter\b",
        r"\bzum newsletter anmelden\b",
    ),
    "fr": (
        r"\b(?:inscrivez-vous|abonnez-vous|inscris-toi|abonne-toi)\b(?: \S+){0,4} (?:newsletter|"
        r"lettre d'information|infolettre)\b",
    ),
    "es": (
        r"\b(?:suscríbete|suscribete|suscríbase|apúntate|regístrate)\b(?: \S+){0,4} "
        r"(?:newsletter|bolet[íi]n)\b",
    ),
}

_FREE_OFFER: dict[str, tuple[str, ...]] = {
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

_CALL_TO_BUY: dict[str, tuple[str, ...]] = {
    "en": (
        r"^\W*shop\b(?! ?[:#])(?: [^\s.!?,]+){0,2}",
        r"\bshop (?:now|today|online|(?:the|our|these|all|new|more)(?: [^\s.!?,]+)?)",
        r"\b(?:start|continue|keep|happy) shopping\b",
        r"\bbuy (?:now|today|online|more|again|it again)\b",
        r"\bbuy an? \S+(?: \S+)? (?:pack|bundle|pass|package|membership|subscription)\b",
        r"\border (?:now|today)\b|\badd to (?:cart|basket|bag)\b",
        r"(?<!your )(?<!you )(?<!the )\bupgrade (?:to(?: [^\s.!?,]+)?|now|today|this week)",
        r"\b(?:join|try|switch to)\b(?: \S+){0,3} (?:premium|plus|pro|gold|vip|club|prime|"
        r"rewards|loyalty)\b",
        r"\bcomplete your (?:purchase|order) (?:now|today)\b|\bcheckout now\b",
        r"\bgo (?:premium|pro|plus|gold)\b",
        r"\b(?:sign up|subscribe|register|enrol?l?) (?:now|today)\b",
        r"\b(?:start|begin) your (?:\d+[- ]day )?(?:free )?trial\b",
        r"\b(?:see|view|compare|explore|check out)(?: \S+){0,2} (?:plans|offers|deals|pricing|"
        r"packages)\b",
        r"\b(?:save|reserve|book|claim) (?:my|your) (?:seat|spot)\b",
        r"\bbook (?:a|your) (?:free )?(?:consultation|demo|tasting)\b",
        r"\bdiscover\b(?! card)",
        r"\bbrowse (?:our|new|the latest|the collection|the sale|best|more|all)\b"
        r"(?! (?:help|faq|support|docs))(?: [^\s.!?,]+)?",
        r"\bfind more (?:shows|events|products|deals|offers|styles)\b",
        r"\bcheck out (?:our|the) (?:new|latest|sale|deals|collection|range)\b",
        r"\badd(?: \S+){0,2} to (?:my|your) (?:visit|appointment|booking|order|stay|trip)\b",
    ),
    "de": (
        r"\bjetzt (?:kaufen|bestellen|shoppen|einkaufen|entdecken|sichern|testen|upgraden|"
        r"zugreifen|abonnieren)\b",
        r"\b(?:zum|zurück zum) (?:online-?)?shop\b",
        r"\bentdecken\b",
        r"\bsichern sie sich\b|\bsichere dir\b",
        r"\bupgrade (?:auf|jetzt)\b",
    ),
    "fr": (
        r"\bdécouvr(?:ez|ir)\b",
        r"\bj'en profite\b|\bprofitez-en\b|\ben profiter\b",
        r"\bprofitez de (?:notre offre|nos offres|l'offre|la promo\w*|nos promo\w*)\b",
        r"\b(?:acheter|commander|réserver) (?:maintenant|dès maintenant|dès aujourd'hui)\b",
        r"\bvoir (?:les|nos) (?:offres|promotions|promos|nouveautés|produits|soldes)\b",
        r"\bpassez (?:à|au) (?:premium|l'offre)\b",
        r"\bréserver un essai\b|\bje m'abonne\b",
    ),
    "es": (
        r"\bver (?:ofertas|rebajas|promociones|novedades|productos|colección)\b",
        r"\bcompra(?:r)? (?:ahora|ya|hoy)\b",
        r"\bdescubr(?:e|ir)\b",
        r"\baprovecha\b(?! (?:tu|su|sus|tus) )",
        r"\bfinaliza(?:r)? (?:la |tu )?compra\b|\bcompleta (?:tu|la) compra\b",
        r"\bhazte (?:premium|socio|miembro)\b|\bir a la tienda\b",
    ),
}

_URGENCY: dict[str, tuple[str, ...]] = {
    "en": (
        r"\blimited[- ]time\b",
        r"\b(?:offer|sale|deal|discount|promotion|promo|prices?) (?:ends|expires|ending|"
        r"valid until)\b",
        r"\bends (?:tonight|midnight|at midnight)\b",
        r"\b(?:today|this week|this weekend) only\b|\bonly until\b",
        r"\b(?:while|until) (?:stocks?|supplies) last\b",
        r"\bhurry\b|\blast chance\b|\bdon't miss (?:out|it|this)\b",
        r"\b(?:spaces|spots|places|seats) are limited\b|\blimited (?:spaces|spots|places)\b",
        r"\bbefore (?:it's|they're) gone\b|\bonly \d+ left\b",
    ),
    "de": (
        r"\bnur (?:noch )?(?:heute|bis|für kurze zeit|diese woche)\b",
        r"\b(?:begrenzte|für kurze) zeit\b",
        r"\bsolange (?:der )?vorrat reicht\b",
        r"\bletzte chance\b|\bnicht verpassen\b",
        r"\b(?:angebot|aktion|rabatt) (?:endet|gilt nur)\b",
        r"\bendet (?:heute|morgen|bald|um mitternacht)\b",
    ),
    "fr": (
        r"\b(?:offre|promotion|vente) (?:limitée|valable jusqu|se termine)\b",
        r"\b(?:durée|temps) limitée?\b",
        r"\bdernière chance\b|\bjusqu'à épuisement des stocks\b",
        r"\b(?:seulement|uniquement) jusqu'(?:au|à)\b",
        r"\bne (?:manquez|ratez) pas\b",
        r"\btermine (?:ce soir|demain|bientôt|dimanche)\b|\baujourd'hui seulement\b",
    ),
    "es": (
        r"\bs[óo]lo hasta\b",
        r"\b(?:por )?tiempo limitado\b",
        r"\b[úu]ltima oportunidad\b|\bhasta agotar (?:existencias|stock)\b",
        r"\bno te lo pierdas\b|\bdate prisa\b",
        r"\btermina (?:hoy|esta noche|mañana|pronto|el domingo)\b|\bs[óo]lo (?:por )?hoy\b",
    ),
}

_PROMOTIONAL_LINK: dict[str, tuple[str, ...]] = {
    "en": (
        r"^(?:shop|store|deals|offers|promo|sale|outlet)\.",
        r"/(?:shop|store|sale|sales|offers?|deals?|promos?|promotions?|catalog(?:ue)?|"
        r"collections?|products?|pricing|plans|premium|upgrade|trial|subscribe|signup|sign-up|"
        r"join|picks|bestsellers?|new-arrivals|whats-new|clearance|outlet|webinars?|referral|"
        r"refer|invite|bring-a-friend|newsletter|cart|basket|checkout)(?=[/?#.]|$)",
        r"^[^/?#]+/new/?(?:[?#]|$)",
        r"[?&](?:promo|promo_?code|code|coupon|offer|discount|voucher|presale|trial)=",
    ),
    "de": (
        r"/(?:angebote|aktionen|neuheiten|gutscheine?|warenkorb)(?=[/?#.]|$)",
        r"[?&](?:gutschein|rabatt)=",
    ),
    "fr": (r"/(?:soldes|promos|boutique|nouveautes|parrainage|offres|panier)(?=[/?#.]|$)",),
    "es": (
        r"/(?:rebajas|ofertas|promociones|tienda|novedades|carrito|cesta)(?=[/?#.]|$)",
        r"[?&](?:codigo|cupon)=",
    ),
}

_PROMOTIONAL_SUBJECT: dict[str, tuple[str, ...]] = {
    "en": (
        r"\bsale\b|\bdeals?\b|\bsave\b|\bexclusive\b|\bjust for you\b|\bgift\b",
        r"(?<![\w.,])-\d{1,2} ?%",
        r"[🎁🔥⚡💥]",
    ),
    "de": (r"\bangebote?\b|\baktion\b|\brabatt\b|\bgeschenk\b",),
    "fr": (r"\bsoldes\b|\bpromo\b|\boffre\b|\bcadeau\b",),
    "es": (r"\brebajas\b|\bofertas?\b|\bregalo\b|\bpromo\b",),
}

_TRANSACTIONAL_CONTEXT: dict[str, tuple[str, ...]] = {
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

_FUTURE_PURCHASE: dict[str, tuple[str, ...]] = {
    "en": (r"\b(?:next|future) (?:orders?|purchases?|visit|booking|stay|trip)\b",),
    "de": (r"\bnächsten? (?:bestellung|einkauf|kauf|buchung)\b",),
    "fr": (r"\bprochaine? (?:commande|achat|réservation|visite)\b",),
    "es": (r"\bpróxim[oa] (?:pedido|compra|reserva|visita)\b",),
}

_NEVER_PROMOTIONAL_LINKS: tuple[str, ...] = (
    r"unsub|opt-?out|opt_out|preferences|abmelden|abbestellen|d[ée]sabonn|d[ée]sinscri|/baja\b",
    r"^(?:apps\.apple\.com|play\.google\.com|itunes\.apple\.com)\b",
)


def _flat(patterns: dict[str, tuple[str, ...]]) -> tuple[str, ...]:
    """Every language's patterns, in a stable order (languages sorted)."""
    return tuple(p for language in sorted(patterns) for p in patterns[language])


class SignalPolicy(BaseModel):
    """One signal: its weight in points and its patterns, per language."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    weight: int = Field(ge=0, le=100, strict=True)
    patterns: PatternsByLanguage

    def all_patterns(self) -> tuple[str, ...]:
        return _flat(self.patterns)


def _signal(weight: int, patterns: dict[str, tuple[str, ...]]) -> Any:
    return Field(default_factory=lambda: SignalPolicy(weight=weight, patterns=patterns))


def _by_language(patterns: dict[str, tuple[str, ...]]) -> Any:
    return Field(default_factory=lambda: dict(patterns))


class MisusePolicy(BaseModel):
    """How the transactional-misuse rule finds marketing. Defaults, with their reasons:

    Patterns are Python regular expressions (`re`) matched on the normalised, casefolded text
    (see the module docstring); a plain phrase is a pattern too. Lists are given per language
    (en, de, fr, es built in) and all apply to every message. In a policy file a signal may give
    only its `weight`, or only some languages: what it leaves out keeps the built-in value.

    Signals and weights (points; `threshold` 10: a score of 10 or more is misuse)
    - `discount_code` 10: "use code SAVE10", "promo code", "coupon", "Gutscheincode", "code
      promo", "código de descuento": a code for a purchase is an inducement to buy (CASL s.6(6)
      exempts only messages that solely do a transactional thing).
    - `money_off` 10: "20% off", "$5 off", "save 15%", "(regular $299)", "25 % Rabatt", "20 € de
      réduction", "50 % de descuento": a price offer.
    - `cross_sell` 10: "you might also like", "customers also bought", "bestsellers", "new
      arrivals", "recomendados para ti", "neu im Sortiment": selling other products.
    - `reengagement` 10: "we miss you", "come back and ...", "you left something in your cart",
      "wir vermissen Sie", "vous nous manquez", "tu carrito te espera": win-back and abandoned-cart
      mail, commercial by purpose (platforms such as Postmark refuse it on transactional
      streams). "We missed you" is left out: couriers say it of a missed delivery.
    - `referral` 10: "refer a friend", "bring a friend", "you both get", "parrainez",
      "Freunde werben": a bonus for bringing customers.
    - `opt_in_invitation` 10: "subscribe to our newsletter", "be the first to hear", "inscrivez-
      vous à notre newsletter": inviting the reader to opt in to marketing.
    - `free_offer` 7: "try Premium free", "first month free", "free e-book", "chance to win",
      "exclusive offer", "essai gratuit": an offer, but one a transactional message also names
      when it confirms what was bought ("your first month is free"), so it needs another signal.
    - `call_to_buy` 6: "Shop now", "buy now", "upgrade to Pro", "join Premium", "see plans",
      "Jetzt kaufen", "Découvrez", "Ver ofertas". Renewing or paying for what the customer
      already has ("Renew domain", "Pay invoice") is not one.
    - `promotional_link` 5: a link whose URL is a shop, sale, offer, pricing, product or sign-up
      page (`/shop`, `/sale`, `/offers`, `/pricing`, `/newsletter`, `shop.` hosts) or carries an
      offer parameter (`?promo=`, `?code=`, `?offer=`). Links to opt-out and preference pages
      and to app stores never count (`never_promotional_links`).
    - `promotional_subject` 5: a text signal, or one of this signal's own words ("sale",
      "deal", "save", "exclusive", "gift", "-30%", "🎁"), in the subject (16 CFR
      316.3(a)(2)(i)). "Free" and a bare "%" are left out: "Your free trial has started" and
      "Your storage is 90% full" are transactional subjects.
    - `urgency` 4: "limited time", "ends tonight", "only until", "while stocks last", "solo
      hasta": sales pressure, which a transactional deadline ("this link expires in 15
      minutes") does not match.

    Context
    - `transactional_context`: a segment that says a discount was applied, refunded or redeemed,
      shows a negative amount (an order line: "Promo code SPRING10: -$4.00"), offers an
      early-payment discount on an invoice (Skonto, escompte), speaks of the reader's own gift
      card, of signing in or of verification, or confirms an unsubscribe, is not searched for
      signals: it describes this transaction, not a new one.
    - `future_purchase`: "next order", "prochaine commande", ...: a segment pointing at a future
      purchase is searched even when it has transactional context ("we've refunded the
      difference; here is 10% off your next order").
    - `never_promotional_links`: URL patterns of links that never count as promotional.

    The default weights and threshold were set on the development half of a labelled set of 136
    messages (`tests/data/content/transactional_misuse.jsonl`); `benchmarks/misuse_accuracy.py`
    prints the precision and recall on both halves.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    threshold: int = Field(default=10, ge=1, le=1000, strict=True)
    discount_code: SignalPolicy = _signal(10, _DISCOUNT_CODE)
    money_off: SignalPolicy = _signal(10, _MONEY_OFF)
    cross_sell: SignalPolicy = _signal(10, _CROSS_SELL)
    reengagement: SignalPolicy = _signal(10, _REENGAGEMENT)
    referral: SignalPolicy = _signal(10, _REFERRAL)
    opt_in_invitation: SignalPolicy = _signal(10, _OPT_IN_INVITATION)
    free_offer: SignalPolicy = _signal(7, _FREE_OFFER)
    call_to_buy: SignalPolicy = _signal(6, _CALL_TO_BUY)
    promotional_link: SignalPolicy = _signal(5, _PROMOTIONAL_LINK)
    promotional_subject: SignalPolicy = _signal(5, _PROMOTIONAL_SUBJECT)
    urgency: SignalPolicy = _signal(4, _URGENCY)
    transactional_context: PatternsByLanguage = _by_language(_TRANSACTIONAL_CONTEXT)
    future_purchase: PatternsByLanguage = _by_language(_FUTURE_PURCHASE)
    never_promotional_links: tuple[Pattern, ...] = _NEVER_PROMOTIONAL_LINKS

    @model_validator(mode="before")
    @classmethod
    def _keep_built_in_parts(cls, data: Any) -> Any:
        """A signal or list given in part keeps the built-in value of what it leaves out."""
        if not isinstance(data, dict):
            return data
        merged = dict(data)
        for name in SIGNAL_LABELS:
            given = merged.get(name)
            if isinstance(given, dict):
                built_in = cls.model_fields[name].get_default(call_default_factory=True)
                merged[name] = {
                    "weight": given.get("weight", built_in.weight),
                    "patterns": {**built_in.patterns, **given.get("patterns", {})},
                    **{k: v for k, v in given.items() if k not in ("weight", "patterns")},
                }
        for name in ("transactional_context", "future_purchase"):
            given = merged.get(name)
            if isinstance(given, dict):
                built_in = cls.model_fields[name].get_default(call_default_factory=True)
                merged[name] = {**built_in, **given}
        return merged

    def signal(self, name: SignalName) -> SignalPolicy:
        policy: SignalPolicy = getattr(self, name)
        return policy


class Signal(BaseModel):
    """A signal found in a message: what it is, what it weighs, and the words that showed it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: SignalName
    label: str
    weight: int
    evidence: tuple[str, ...]
    """Up to three snippets of at most six words each, as the message wrote them."""


class MisuseAssessment(BaseModel):
    """What `assess_misuse` found: the signals, their total score, and the verdict."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    score: int
    threshold: int
    signals: tuple[Signal, ...] = ()

    @computed_field  # type: ignore[prop-decorator]
    @property
    def is_misuse(self) -> bool:
        return self.score >= self.threshold

    def describe(self, limit: int = 4) -> str:
        """The signals for a person: 'a discount code ("SAVE10"), a call to buy ("Shop now")'."""
        ordered = sorted(self.signals, key=lambda s: -s.weight)
        parts = [
            f'{s.label} ("{s.evidence[0]}")' if s.evidence else s.label for s in ordered[:limit]
        ]
        if len(ordered) > limit:
            parts.append(f"{len(ordered) - limit} more")
        return ", ".join(parts)


# --- Matching ---

_MAX_EVIDENCE = 3
_MAX_EVIDENCE_WORDS = 6
_QUOTES = str.maketrans(
    dict.fromkeys("\u2018\u2019\u02bc", "'") | dict.fromkeys("\u201c\u201d\u201e", '"')
)
"""Typographic quotes (' ' and the modifier apostrophe; " " and the German low quote) as plain."""
_WHITE_SPACE = re.compile(r"\s+")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_ADDRESS = re.compile(r"[^\s@]+@[^\s@]+")
_EDGE = re.compile(r"^[^\w$€£%]+|[^\w$€£%]+$")


@dataclass(frozen=True, slots=True)
class _Segment:
    """A line or sentence: `shown` as written (NFKC, white space collapsed), `folded` as
    matched; `origin[i]` is the index in `shown` of `folded[i]` (None: the same index)."""

    shown: str
    folded: str
    origin: tuple[int, ...] | None
    in_subject: bool

    def snippet(self, start: int, end: int) -> str:
        if self.origin is not None:
            start, end = self.origin[start], self.origin[end - 1] + 1
        return _evidence(self.shown[start:end])


def _evidence(text: str) -> str:
    text = _ADDRESS.sub("[address]", _EDGE.sub("", text))
    words = text.split(" ")
    if len(words) > _MAX_EVIDENCE_WORDS:
        return " ".join(words[:_MAX_EVIDENCE_WORDS]) + "…"
    return text


def _segment(text: str, in_subject: bool) -> _Segment | None:
    shown = _WHITE_SPACE.sub(" ", text).strip()
    if not shown:
        return None
    folded = shown.casefold()
    origin = None
    if len(folded) != len(shown):  # "ß" folds to "ss": remember where each folded char came from
        origin = tuple(i for i, char in enumerate(shown) for _ in char.casefold())
    return _Segment(shown, folded, origin, in_subject)


def _normalise(text: str) -> str:
    return unicodedata.normalize("NFKC", text).translate(_QUOTES)


def _segments(text: str, in_subject: bool) -> list[_Segment]:
    found = []
    for line in _normalise(text).splitlines():
        for sentence in _SENTENCE_END.split(line):
            segment = _segment(sentence, in_subject)
            if segment is not None:
                found.append(segment)
    return found


@lru_cache(maxsize=256)
def _regex(patterns: tuple[str, ...]) -> re.Pattern[str] | None:
    """One compiled alternation per list, compiled once per distinct list."""
    if not patterns:
        return None
    return re.compile("|".join(f"(?:{pattern})" for pattern in patterns))


def _link_target(url: str) -> str | None:
    """A web link as matched: host, path and query, casefolded and percent-decoded."""
    try:
        parts = urlsplit(unicodedata.normalize("NFKC", url.strip()))
        host = parts.hostname
    except ValueError:  # "http://[::1": a malformed link is no shop page
        return None
    if parts.scheme.lower() not in ("http", "https") or not host:
        return None
    target = host + unquote(parts.path)
    if parts.query:
        target += "?" + unquote(parts.query)
    return target.casefold()


def assess_misuse(subject: str, body: MessageBody | None, policy: MisusePolicy) -> MisuseAssessment:
    """The marketing signals in a message's subject, body text and links, and their score."""
    segments = _segments(subject, in_subject=True)
    if body is not None:
        segments += _segments(body.text, in_subject=False)
        for link in body.links:
            segments += _segments(link.text, in_subject=False)

    context = _regex(_flat(policy.transactional_context))
    future = _regex(_flat(policy.future_purchase))
    judged = [
        segment
        for segment in segments
        if context is None
        or not context.search(segment.folded)
        or (future is not None and future.search(segment.folded))
    ]

    evidence: dict[SignalName, list[str]] = {name: [] for name in SIGNAL_LABELS}

    def note(name: SignalName, snippet: str) -> None:
        seen = {known.casefold() for known in evidence[name]}
        if snippet and snippet.casefold() not in seen and len(evidence[name]) < _MAX_EVIDENCE:
            evidence[name].append(snippet)

    for name in _TEXT_SIGNALS:
        regex = _regex(policy.signal(name).all_patterns())
        if regex is None:
            continue
        for segment in judged:
            for match in regex.finditer(segment.folded):
                if match.end() == match.start():
                    continue
                snippet = segment.snippet(match.start(), match.end())
                note(name, snippet)
                if segment.in_subject:
                    note("promotional_subject", snippet)

    subject_words = _regex(policy.promotional_subject.all_patterns())
    if subject_words is not None:
        for segment in judged:
            if segment.in_subject:
                for match in subject_words.finditer(segment.folded):
                    note("promotional_subject", segment.snippet(match.start(), match.end()))

    shop_links = _regex(policy.promotional_link.all_patterns())
    exempt = _regex(tuple(policy.never_promotional_links))
    if shop_links is not None and body is not None:
        for link in body.links:
            target = _link_target(link.url)
            if target is None or (exempt is not None and exempt.search(target)):
                continue
            match = shop_links.search(target)
            if match is not None:
                text = _WHITE_SPACE.sub(" ", _normalise(link.text)).strip()
                note("promotional_link", _evidence(text or match.group(0)))

    signals = tuple(
        Signal(name=name, label=SIGNAL_LABELS[name], weight=weight, evidence=tuple(snippets))
        for name, snippets in evidence.items()
        if snippets and (weight := policy.signal(name).weight) > 0
    )
    return MisuseAssessment(
        score=sum(signal.weight for signal in signals),
        threshold=policy.threshold,
        signals=signals,
    )
