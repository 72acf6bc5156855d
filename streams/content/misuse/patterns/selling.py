"""The built-in patterns of the selling signals: recommendations, win-back, referrals,
newsletter invitations, calls to buy, sales urgency, shop links and promotional subject words.

The wording of a message that sells rather than reports on a transaction (`MisusePolicy` gives
each signal's weight and why it counts; `streams.content.misuse.patterns` says where the phrases
come from). `PROMOTIONAL_LINK` is matched on a link's host, path and query, `PROMOTIONAL_SUBJECT`
on the subject only; the others on every segment of the subject, the body text and link texts.
"""

from __future__ import annotations

__all__ = [
    "CALL_TO_BUY",
    "CROSS_SELL",
    "OPT_IN_INVITATION",
    "PROMOTIONAL_LINK",
    "PROMOTIONAL_SUBJECT",
    "REENGAGEMENT",
    "REFERRAL",
    "URGENCY",
]

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
