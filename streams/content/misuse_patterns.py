"""The built-in phrase lists of the transactional-misuse detector, per language (en, de, fr, es).

Data only: `streams.content.misuse` holds the detector and `MisusePolicy`, whose docstring gives
each signal's weight and why it counts. Each list here is the default of the `MisusePolicy` field
of the same name in lower case (`DISCOUNT_CODE` is `discount_code.patterns`,
`TRANSACTIONAL_CONTEXT` is `transactional_context`, ...).

Where the phrases come from: the wording senders use to sell (discount codes, price offers,
product recommendations, win-back and abandoned-cart mail, referral bonuses, newsletter sign-ups,
free offers, calls to buy, sales urgency) and the wording a transactional message uses about its
own transaction (a discount applied, a refund, a sign-in code, an unsubscribe confirmed), in
English, German, French and Spanish. They were written for this detector and tuned on the "dev"
half of the labelled set `tests/data/content/transactional_misuse.jsonl` (the "heldout" half was
not read while tuning); `benchmarks/misuse_accuracy.py` measures them on both halves. A change
here is a change to the detector: re-run that benchmark.

Patterns are Python regular expressions (`re`) matched on the normalised, casefolded text (see
`streams.content.misuse`): lower case, German "ß" spelled "ss", typographic quotes as straight
ones. The languages only group the lists: every pattern applies to every message.

How a policy file overrides them (`[misuse]`, validated by `MisusePolicy`): a signal may give only
its `weight`, or `patterns` for some languages; a language it gives replaces that language's
built-in list, and the languages and weight it leaves out keep the built-in value.
`transactional_context` and `future_purchase` are replaced per language the same way;
`never_promotional_links`, one list, is replaced whole. For example:

    [misuse.cross_sell]
    weight = 8

    [misuse.cross_sell.patterns]
    en = ['\\bpicks\\b']    # replaces the English list; de, fr and es stay built in
"""

from __future__ import annotations

__all__ = [
    "CALL_TO_BUY",
    "CROSS_SELL",
    "DISCOUNT_CODE",
    "FREE_OFFER",
    "FUTURE_PURCHASE",
    "MONEY_OFF",
    "NEVER_PROMOTIONAL_LINKS",
    "OPT_IN_INVITATION",
    "PROMOTIONAL_LINK",
    "PROMOTIONAL_SUBJECT",
    "REENGAGEMENT",
    "REFERRAL",
    "TRANSACTIONAL_CONTEXT",
    "URGENCY",
]

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

CROSS_SELL: dict[str, tuple[str, ...]] = {
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

REENGAGEMENT: dict[str, tuple[str, ...]] = {
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

REFERRAL: dict[str, tuple[str, ...]] = {
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

OPT_IN_INVITATION: dict[str, tuple[str, ...]] = {
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

CALL_TO_BUY: dict[str, tuple[str, ...]] = {
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

URGENCY: dict[str, tuple[str, ...]] = {
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

PROMOTIONAL_LINK: dict[str, tuple[str, ...]] = {
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

PROMOTIONAL_SUBJECT: dict[str, tuple[str, ...]] = {
    "en": (
        r"\bsale\b|\bdeals?\b|\bsave\b|\bexclusive\b|\bjust for you\b|\bgift\b",
        r"(?<![\w.,])-\d{1,2} ?%",
        r"[🎁🔥⚡💥]",
    ),
    "de": (r"\bangebote?\b|\baktion\b|\brabatt\b|\bgeschenk\b",),
    "fr": (r"\bsoldes\b|\bpromo\b|\boffre\b|\bcadeau\b",),
    "es": (r"\brebajas\b|\bofertas?\b|\bregalo\b|\bpromo\b",),
}

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
