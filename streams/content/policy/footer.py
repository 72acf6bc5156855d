"""The built-in footer lists of the content policy: how commercial mail offers an unsubscribe,
labels itself an advertisement, reminds the reader why it came, and shows a postal address.

`ContentPolicy` says where each list comes from; `streams.content.body` finds them in a body.
"""

from __future__ import annotations

__all__ = [
    "AD_PHRASES",
    "PERMISSION_PHRASES",
    "POSTAL_ADDRESS_PATTERNS",
    "UNSUBSCRIBE_PHRASES",
    "UNSUBSCRIBE_REPLY_PATTERNS",
    "UNSUBSCRIBE_URL_MARKERS",
]

UNSUBSCRIBE_PHRASES = (
    "unsubscribe",
    "opt out",
    "opt-out",
    "manage preferences",
    "manage your preferences",
    "manage subscription",
    "manage your subscription",
    "email preferences",
    "update preferences",
    "update your preferences",
    "subscription preferences",
    "preference center",
    "preference centre",
    "abmelden",
    "abbestellen",
    "austragen",
    "désabonner",
    "désabonnement",
    "désinscrire",
    "désinscription",
    "se désabonner",
    "darse de baja",
    "darte de baja",
    "dar de baja",
    "cancelar suscripción",
    "anular suscripción",
    "afmelden",
    "uitschrijven",
    "disiscriviti",
    "annulla iscrizione",
    "descadastrar",
    "cancelar inscrição",
)

UNSUBSCRIBE_URL_MARKERS = (
    "unsub",
    "optout",
    "opt-out",
    "opt_out",
    "preferences",
    "abmelden",
    "abbestellen",
    "desabonn",
    "desinscri",
)

# Reply instructions (CAN-SPAM §7704(a)(3)(A)(i) accepts "a functioning return electronic mail
# address" as the opt-out): a reply verb, not negated ("do not reply", "ne répondez pas", "no
# responda"), and in the same sentence either the word to send ("reply STOP", "reply 'no
# thanks'"; a bare "no" only in quotes, "reply no later than" is no opt-out) or what the reply
# does ("and I won't email you again", "to be taken off our list"), or, before the verb, the
# wish it serves ("if you'd rather not hear from me, reply"). "Reply to this email with
# questions" names no way out and does not count. Matched case-insensitively on the body with
# lines wrapped in mid-sentence joined (`streams.content.text.unwrapped`); a sentence may hold an
# address ("reply to hello@example.com"), so only a stop before a space ends it.
_GAP = r"(?:[^.!?\n]|[.!?](?=\S))"
_REPLY_EN = r"(?<!not )(?<!n't )(?<!never )\b(?:reply|replying|respond|responding)\b"
_REPLY_DE = r"(?<!nicht )\bantwort(?:e|en|et)?\b(?!(?: sie)? nicht\b)"
_REPLY_FR = r"(?<!ne )(?<!n')(?<!pas )\br[ée]pond(?:ez|s|re|ant)\b(?! pas\b)"
_REPLY_ES = r"(?<!no )\b(?:respond(?:e|a|er|an|iendo)|contest(?:a|e|ar|ando))\b"
_QUOTE_OPEN = r"[\"'«\u201c\u201e]\s*"  # curly single quotes are "'" once folded
_QUOTE_CLOSE = r"\W{0,2}[\"'»\u201d\u201c]"

UNSUBSCRIBE_REPLY_PATTERNS = (
    # "Reply with UNSUBSCRIBE", "reply 'remove' to stop receiving these", "reply 'no thanks'",
    # "reply 'no'", "just reply no thanks".
    rf"{_REPLY_EN}{_GAP}{{0,60}}\b(?:unsubscribe|remove|stop|opt[ -]?out|no,? thanks|"
    rf"no,? thank you|not interested)\b",
    rf"{_REPLY_EN}{_GAP}{{0,60}}{_QUOTE_OPEN}no{_QUOTE_CLOSE}",
    # "... reply and I won't email you again", "... and we'll take you off our list".
    rf"{_REPLY_EN}{_GAP}{{0,80}}\b(?:(?:won't|wont|will not|never|not) (?:e-?mail|mail|contact|"
    rf"write to|message|bother) (?:you|u)\b|(?:won't|will not|never) hear from (?:me|us)\b|"
    rf"(?:take|remove|drop|delete) you (?:off|from)\b|off (?:our|the|my|this) (?:mailing |e-?mail "
    rf")?list\b|no (?:more|further) (?:e-?mails|messages|mail)\b)",
    # "If you'd rather not hear from me, just reply", "Don't want these emails? Reply ...".
    rf"\b(?:rather not|don't want to|do not want to|no longer (?:want|wish) to|prefer not to)"
    rf" (?:hear from|receive|get)\b{_GAP}{{0,60}}{_REPLY_EN}",
    # "Send an email to ... with the subject Unsubscribe".
    r"\b(send|email|write)\b[^.\n]{0,80}\bsubject( line)?\b[^.\n]{0,20}\b(unsubscribe|remove)\b",
    # "Antworten Sie mit „Abmelden“", "antworte einfach mit STOPP", "antworten Sie mit „Nein
    # danke“, dann schreibe ich Ihnen nicht mehr", "um sich abzumelden, antworten Sie ...".
    rf"{_REPLY_DE}{_GAP}{{0,60}}\b(?:abmelden|abmeldung|abbestellen|austragen|stopp?|nein,? danke|"
    rf"kein interesse|abzumelden|abzubestellen|auszutragen|keine (?:e-mails?|mails?|nachrichten|"
    rf"werbung|post) mehr|nicht mehr (?:an)?schreiben|nicht mehr kontaktieren|(?:aus|von) "
    rf"(?:dem|der|unserem|unserer|meinem|meiner) (?:verteiler|liste|mailingliste|newsletter))\b",
    rf"\b(?:abzumelden|abzubestellen|auszutragen|keine (?:e-mails?|mails?|nachrichten|werbung)"
    rf" mehr)\b{_GAP}{{0,60}}{_REPLY_DE}",
    # "Répondez STOP", "répondez « désabonner »", "répondez simplement « non merci » et nous ne
    # vous écrirons plus", "pour ne plus recevoir nos courriels, répondez ...".
    rf"{_REPLY_FR}{_GAP}{{0,60}}(?:\b(?:stop|d[ée]sabonn\w*|d[ée]sinscri\w*|non,? merci|"
    rf"pas int[ée]ress[ée]e?s?|ne plus recevoir|plus de (?:courriels?|e-?mails?|messages?))\b|"
    rf"\bne (?:vous |te )?(?:[ée]crir|recontacter|contacter|solliciter)\w* plus\b|"
    rf"\b(?:retir|supprim)\w* de (?:la|notre|ma|nos) (?:liste|listes)\b)",
    rf"\bne plus (?:recevoir|[êe]tre contact[ée]e?)\b{_GAP}{{0,60}}{_REPLY_FR}",
    # "Responde BAJA", "responda con «no, gracias» y no le volveremos a escribir", "para dejar
    # de recibir estos correos, contesta ...".
    rf"{_REPLY_ES}{_GAP}{{0,60}}\b(?:baja|stop|no,? gracias|no me interesa|cancelar (?:la |mi )?"
    rf"suscripción|dejar(?:á|ás|án)? de recibir|no (?:te|le|les|os) volver\w* a (?:escribir|"
    rf"contactar|enviar)|no (?:te|le|les|os) (?:escribir|contactar|enviar)\w* más|(?:eliminar|"
    rf"quitar|sacar|borrar)(?:te|le|lo|la)? de (?:la|nuestra|mi|nuestras) (?:lista|listas))\b",
    rf"\b(?:dejar de recibir|darte de baja|darse de baja|darle de baja)\b{_GAP}{{0,60}}{_REPLY_ES}",
)

AD_PHRASES = (
    "advertisement",
    "advertising",
    "ad:",
    "[ad]",
    "(ad)",
    "sponsored",
    "promotion",
    "promotional",
    "anzeige",
    "werbung",
    "publicité",
    "publicidad",
    "pubblicità",
    "reclame",
)

PERMISSION_PHRASES = (
    "you are receiving this",
    "you're receiving this",
    "you received this",
    "you are getting this",
    "you're getting this",
    "you signed up",
    "you subscribed",
    "you are subscribed",
    "you're subscribed",
    "you opted in",
    "you have opted in",
    "you registered for",
    "sent to you because",
    "vous recevez ce",
    "vous recevez cet",
    "vous avez reçu ce",
    "vous êtes inscrit",
    "vous vous êtes inscrit",
    "vous êtes abonné",
    "sie erhalten diese",
    "sie erhalten diesen",
    "du erhältst diese",
    "du erhältst diesen",
    "sie haben sich angemeldet",
    "newsletter angemeldet",
    "newsletter abonniert",
    "recibes este",
    "recibe este",
    "has recibido este",
    "ha recibido este",
    "te suscribiste",
    "estás suscrito",
)

# One pattern per address format; a body passes when any matches. Compiled with re.MULTILINE (^
# and $ match at line ends) and case-sensitive unless a pattern says `(?i:...)`: capitals are what
# tell "123 Main St" from "2 miles down the road". Runs of spaces and tabs in the body are one
# space by the time these run.
POSTAL_ADDRESS_PATTERNS = (
    # A house number, up to four capitalised words, a street type (USPS Publication 28 C1
    # suffixes; Canada Post, Royal Mail and Australia Post use the same English words).
    r"\b\d{1,6}[A-Z]?(?:[-/]\d{1,5}[A-Z]?)?,? (?:[A-Z0-9][\w'.-]{0,40} ){0,4}"
    r"(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Way|Court|Ct|Place|Pl|Parkway|Pkwy|Highway|Hwy|"
    r"Terrace|Tce|Crescent|Cres|Close|Square|Sq|Circle|Cir|Trail|Parade|Pde|Row|Mews|Broadway|Quay)\b",
    # German, Austrian, Swiss, Dutch: the street name, then the number (Deutsche Post; PostNL):
    # "Musterstraße 12", "Konrad-Adenauer-Straße 3a", "Berliner Str. 5", "Keizersgracht 123".
    r"\b(?:[A-ZÄÖÜ][\wäöüß'-]{0,40}?(?:[Ss]tra(?:ß|ss)e|[Ss]tr\.|[Ww]eg|[Gg]asse|[Pp]latz|"
    r"[Aa]llee|[Dd]amm|[Uu]fer|[Cc]haussee|[Ss]traat|[Ll]aan|[Gg]racht|[Pp]lein|[Kk]ade)|Straße|Strasse|"
    r"Str\.|Weg|Gasse|Platz|Allee|Damm|Ufer|Chaussee|Straat|Laan|Gracht|Plein|Kade) \d{1,4} ?"
    r"[a-zA-Z]?\b",
    # French (La Poste, Canada Post for Quebec): number, street type, a capitalised name.
    r"\b\d{1,4}(?: ?(?:bis|ter|[A-Z]))?,? (?i:rue|avenue|av\.|boulevard|bd|place|chemin|allée|"
    r"impasse|quai|route|cours|passage|rond-point) (?:(?:de la|de l'|du|des|de|d'|la|le|les) ?)?"
    r"[A-ZÀ-ÖØ-Þ]",
    # Spanish and Italian: street type, name, number.
    r"\b(?:Calle|C/|Avda\.?|Avenida|Paseo|Plaza|Carrer|Piazza|Viale) [^\n,]{1,40}?,? \d{1,4}\b",
    # Post-office boxes (a registered box is a valid address under CAN-SPAM, 16 CFR 316.2).
    r"\b(?i:P\.? ?O\.? ?Box|Post Office Box|GPO Box|Locked Bag|Postfach|Case postale|"
    r"Bo[iî]te postale|Apartado(?: de correos)?|Casella postale) ?\d{1,6}\b|\bB\.?P\.? \d{1,6}\b",
    # US: ", ST 12345" or ", ST 12345-6789" (USPS state or territory abbreviation and ZIP or
    # ZIP+4); without the comma only with ZIP+4 ("ID 12345" alone may be a member number).
    r", (?:AL|AK|AZ|AR|CA|CO|CT|DE|DC|FL|GA|HI|ID|IL|IN|IA|KS|KY|LA|ME|MD|MA|MI|MN|MS|MO|MT|NE|"
    r"NV|NH|NJ|NM|NY|NC|ND|OH|OK|OR|PA|RI|SC|SD|TN|TX|UT|VT|VA|WA|WV|WI|WY|PR|GU|VI) \d{5}"
    r"(?:-\d{4})?\b|\b[A-Z]{2} \d{5}-\d{4}\b",
    # Canada: "A1A 1A1" (Canada Post: no D, F, I, O, Q, U; no W or Z first).
    r"\b[ABCEGHJ-NPRSTVXY]\d[ABCEGHJ-NPRSTV-Z] \d[ABCEGHJ-NPRSTV-Z]\d\b",
    # UK: outward code, space, inward code (Royal Mail PAF).
    r"\b(?:GIR 0AA|[A-PR-UWYZ][A-HK-Y]?\d[A-Z\d]? \d[ABD-HJLNP-UW-Z]{2})\b",
    # Ireland: an Eircode (the Eircode guide: a routing key, a letter and two
    # digits or D6W, then a space and four of 0-9 and A C D E F H K N P R T V W X Y). With a
    # letter in the last four anywhere ("D02 XY00", "A65 F4E2"); all digits only as an address
    # part of its own, after a comma or at a line start ("the T20 2024 final" is no address).
    r"\b(?:[ACDEFHKNPRTV-Y]\d{2}|D6W) (?=[\dACDEFHKNPRTV-Y]{0,3}[ACDEFHKNPRTV-Y])"
    r"[\dACDEFHKNPRTV-Y]{4}\b"
    r"|(?:^|, ?)(?:[ACDEFHKNPRTV-Y]\d{2}|D6W) \d{4}(?= ?(?:$|[,.;|·•\u2013\u2014]))",
    # Ireland without an Eircode (An Post): a Dublin postal district (1-18, 20, 22, 24, 6W) or
    # one of the 26 counties as an address part: ", Dublin 2", ", Co. Clare", ", County Cork".
    r"(?:^|, ?)(?:Dublin (?:6W|1[0-8]|[1-9]|2[024])|(?:Co\.?|County) (?:Carlow|Cavan|Clare|Cork|"
    r"Donegal|Dublin|Galway|Kerry|Kildare|Kilkenny|Laois|Leitrim|Limerick|Longford|Louth|Mayo|"
    r"Meath|Monaghan|Offaly|Roscommon|Sligo|Tipperary|Waterford|Westmeath|Wexford|Wicklow))"
    r"(?= ?(?:$|[,.;|·•\u2013\u2014]))",
    # Australia: suburb, state, 4-digit postcode (Australia Post).
    r"\b[A-Z][\w'-]{0,40},? (?:NSW|VIC|QLD|SA|WA|TAS|NT|ACT) \d{4}\b",
    # EU 5-digit postcodes (DE, FR, ES, IT, FI, ...) with a capitalised city, at the start of a
    # line or after a separator and ending the segment: "10115 Berlin", "D-80331 München",
    # "75002 Paris, France", "60311 Frankfurt am Main".
    r"(?:^|[,|·•;\u2013\u2014] ?)(?:[A-Z]{1,2}-)?\d{5} [A-ZÀ-ÖØ-Þ][^\W\d_]+"
    r"(?:[ -](?:[a-zà-ÿ]{1,3}[ -])?[A-ZÀ-ÖØ-Þ][^\W\d_]+){0,2}"
    r"(?: (?i:cedex)(?: \d{1,2})?)? ?(?=$|[,|·•;\u2013\u2014(])",
)
