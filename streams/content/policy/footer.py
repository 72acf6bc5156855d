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

UNSUBSCRIBE_REPLY_PATTERNS = (
    # "Reply with UNSUBSCRIBE", "reply 'remove' to stop receiving these" (not "do not reply").
    r"(?<!not )(?<!n't )\breply\b[^.\n]{0,40}\b(unsubscribe|remove|stop|opt[ -]?out)\b",
    # "Send an email to ... with the subject Unsubscribe".
    r"\b(send|email|write)\b[^.\n]{0,80}\bsubject( line)?\b[^.\n]{0,20}\b(unsubscribe|remove)\b",
    r"\bantworten sie\b[^.\n]{0,40}\b(abmelden|abbestellen|stopp?)\b",
    r"\brépondez\b[^.\n]{0,40}\b(désabonner|désinscrire|stop)\b",
    r"\bresponde[rn]?\b[^.\n]{0,40}\b(baja|stop)\b",
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
    r"Terrace|Tce|Crescent|Cres|Close|Square|Sq|Circle|Cir|Trail|Parade|Pde|Row|Mews|Broadway)\b",
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
    # Australia: suburb, state, 4-digit postcode (Australia Post).
    r"\b[A-Z][\w'-]{0,40},? (?:NSW|VIC|QLD|SA|WA|TAS|NT|ACT) \d{4}\b",
    # EU 5-digit postcodes (DE, FR, ES, IT, FI, ...) with a capitalised city, at the start of a
    # line or after a separator and ending the segment: "10115 Berlin", "D-80331 München",
    # "75002 Paris, France", "60311 Frankfurt am Main".
    r"(?:^|[,|·•;\u2013\u2014] ?)(?:[A-Z]{1,2}-)?\d{5} [A-ZÀ-ÖØ-Þ][^\W\d_]+"
    r"(?:[ -](?:[a-zà-ÿ]{1,3}[ -])?[A-ZÀ-ÖØ-Þ][^\W\d_]+){0,2}"
    r"(?: (?i:cedex)(?: \d{1,2})?)? ?(?=$|[,|·•;\u2013\u2014(])",
)
