"""The content policy: the switches, phrase lists and patterns the content rules judge a message by.

Each default below says where it comes from. Phrase lists are matched case-insensitively, on
whole words, with any run of white space standing for a space and typographic apostrophes for
`'`; patterns are Python regular expressions (`re`), validated here so a policy file with a
broken one is refused at load time rather than at the first send. `streams.rules.content`
compiles each list once and keeps the compiled form.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

__all__ = ["ContentPolicy", "SubjectPattern"]


def _compiles(pattern: str) -> str:
    """A pattern that `re` cannot compile is refused with the reason."""
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"{pattern!r} is not a valid regular expression: {exc}") from None
    return pattern


Pattern = Annotated[str, Field(min_length=1, max_length=1000), AfterValidator(_compiles)]
Phrase = Annotated[str, Field(min_length=1, max_length=200)]


class SubjectPattern(BaseModel):
    """A subject that would mislead on a commercial message, and what to tell the sender."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    pattern: Pattern
    """Matched case-insensitively anywhere in the subject."""
    explanation: str = Field(min_length=1, max_length=500)
    """Why such a subject misleads, said to the sender (e.g. "looks like a shipping notice")."""


def _subject(pattern: str, explanation: str) -> SubjectPattern:
    return SubjectPattern(pattern=pattern, explanation=explanation)


# CAN-SPAM 15 U.S.C. §7704(a)(2) forbids a subject heading likely to mislead a recipient "about
# a material fact regarding the contents or subject matter of the message"; the FTC's examples of
# deception are subjects that pose as an order confirmation, an account notice or an invoice, to
# get marketing opened. English first, then German, French and Spanish.
_DECEPTIVE_SUBJECTS = (
    _subject(
        r"\byour (order|package|parcel|shipment|delivery)( #?\w+)? (has )?(shipped|been shipped|"
        r"is on (its|the) way|was delivered|has been delivered|is out for delivery)"
        r"|\b(ihre|deine) (bestellung|sendung|lieferung) (wurde|ist) (versandt|verschickt|"
        r"unterwegs|zugestellt)"
        r"|\bvotre (commande|colis) (a été expédiée?|est en route|a été livrée?)"
        r"|\b(tu|su) (pedido|paquete) (ha sido enviado|está en camino|ha sido entregado)",
        "it reads like a shipping notice for an order",
    ),
    _subject(
        r"\bpassword (reset|change|expir\w*)|\breset your password\b"
        r"|\bpasswort (zurücksetzen|ändern|abgelaufen)"
        r"|\b(réinitialis\w+|changement) (de )?(votre )?mot de passe"
        r"|\b(restablecer|cambiar|restablecimiento de) (tu |su |la )?contraseña",
        "it reads like a password reset",
    ),
    _subject(
        r"\byour account (has been |was |is |will be )?(suspended|locked|closed|disabled|"
        r"deactivated|on hold|compromised)"
        r"|\b(ihr|dein) konto (wurde |ist |wird )?(gesperrt|gekündigt|deaktiviert|geschlossen)"
        r"|\bvotre compte (a été |est |sera )?(suspendu|bloqué|fermé|désactivé)"
        r"|\b(tu|su) cuenta (ha sido |está |será )?(suspendida|bloqueada|cerrada|desactivada)",
        "it reads like a notice about the recipient's account",
    ),
    _subject(
        r"\bpayment (failed|declined|unsuccessful|overdue|was declined)"
        r"|\b(card|payment method) (was |has been )?declined"
        r"|\bzahlung (fehlgeschlagen|abgelehnt)|\bpaiement (refusé|échoué|rejeté)"
        r"|\bpago (rechazado|fallido|denegado)",
        "it reads like a failed-payment notice",
    ),
    _subject(
        r"^\W*(your )?invoice\b|\binvoice (#|no\b|number\b)|\b(new|unpaid|overdue|outstanding) "
        r"invoice\b|^\W*(ihre |deine )?rechnung\b|\brechnung (nr\b|#)|\b(offene|neue) rechnung\b"
        r"|^\W*(votre )?facture\b|\bfacture (n°|#)|^\W*(tu |su )?factura\b",
        "it reads like an invoice",
    ),
    _subject(
        r"\bdelivery (failed|attempt(ed)?|unsuccessful|failure)|\b(failed|missed|unsuccessful) "
        r"delivery\b|\bzustellung (fehlgeschlagen|nicht möglich)|\bzustellversuch"
        r"|\béchec de (la )?livraison|\b(entrega fallida|intento de entrega)",
        "it reads like a failed-delivery notice",
    ),
    _subject(
        r"\b(verify|confirm) your (account|identity|e-?mail( address)?)\b"
        r"|\b(bestätigen|verifizieren) sie (ihr konto|ihre e-mail)"
        r"|\b(vérifiez|confirmez) votre (compte|identité|adresse)"
        r"|\b(verifica|confirma) (tu|su) (cuenta|identidad|correo)",
        "it reads like an account verification request",
    ),
)

_UNSUBSCRIBE_PHRASES = (
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

_UNSUBSCRIBE_URL_MARKERS = (
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

_UNSUBSCRIBE_REPLY_PATTERNS = (
    # "Reply with UNSUBSCRIBE", "reply 'remove' to stop receiving these" (not "do not reply").
    r"(?<!not )(?<!n't )\breply\b[^.\n]{0,40}\b(unsubscribe|remove|stop|opt[ -]?out)\b",
    # "Send an email to ... with the subject Unsubscribe".
    r"\b(send|email|write)\b[^.\n]{0,80}\bsubject( line)?\b[^.\n]{0,20}\b(unsubscribe|remove)\b",
    r"\bantworten sie\b[^.\n]{0,40}\b(abmelden|abbestellen|stopp?)\b",
    r"\brépondez\b[^.\n]{0,40}\b(désabonner|désinscrire|stop)\b",
    r"\bresponde[rn]?\b[^.\n]{0,40}\b(baja|stop)\b",
)

_AD_PHRASES = (
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

_PERMISSION_PHRASES = (
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

_NON_SENDER_NAMES = frozenset(
    {
        "noreply",
        "donotreply",
        "donoreply",
        "info",
        "mail",
        "email",
        "newsletter",
        "news",
        "mailer",
        "mailerdaemon",
        "admin",
        "notifications",
        "notification",
        "marketing",
        "sales",
        "support",
        "unknown",
        "sender",
    }
)

_REVIEW_REQUEST_PATTERNS = (
    r"\b(leave|write|post|share|give|submit)\b[^.!?\n]{0,30}\b(reviews?|ratings?|feedback|"
    r"testimonials?)\b",
    r"\b(rate|review) (us|your|our|the|it|this|them)\b",
    r"\b(bewerten|bewertung|rezension)\w*",
    r"\b(laissez|donnez|partagez|rédigez)\b[^.!?\n]{0,30}\b(avis|note)\b"
    r"|\b(évaluez|notez)[- ]nous\b",
    r"\b(deja|déjanos|escribe|comparte)\b[^.!?\n]{0,30}\b(reseña|opinión|valoración)\b"
    r"|\b(valóranos|califícanos)\b",
)

_REVIEW_INCENTIVE_PATTERNS = (
    r"\b\d{1,3} ?% ?(off|discount|rabatt|de réduction|de remise|de descuento)\b",
    r"[$€£] ?\d+|\b\d+ ?[$€£]",
    r"\b(discount|coupon|voucher|promo code|gift ?cards?|gift certificate|store credit|credits?|"
    r"rewards?|cash ?back|free gift|freebie|bonus points|points|prize|sweepstakes?|prize draw|"
    r"raffle|entry|entries|chance to win|enter(ed)? to win)\b",
    r"\bfree (product|item|sample|month|shipping|trial|drink|coffee|meal|dessert|upgrade)s?\b",
    r"\b(gutschein|rabatt|gutschrift|prämie|gewinnspiel|verlosung|geschenk)\w*",
    r"\b(bon d'achat|réduction|remise|code promo|cadeau|carte cadeau|tirage au sort|concours)\b",
    r"\b(descuento|cupón|regalo|tarjeta regalo|sorteo|premio)\b",
)

_POSITIVE_REVIEW_PATTERNS = (
    # "5 stars", "five-star"; not "1 to 5 stars" or "out of 5 stars" (a scale, not a demand).
    r"(?<!to )(?<!of )(?<!1-)(?<!1\u2013)(?<!1 - )\b(5|five)[- ]?stars?\b",
    r"★★★★★",
    r"\b(positive|good|great|glowing|favou?rable|excellent|top|5-star|five-star) "
    r"(reviews?|ratings?|feedback|scores?)\b",
    r"\bif you (love|loved|like|liked|enjoy|enjoyed|are happy|were happy|are satisfied|"
    r"were satisfied|are pleased|were pleased)\b",
    r"\b(loved it|love it|happy with (it|your \w+)|satisfied|enjoyed it)\?",
    r"\brate us (5|five|10|ten)\b|\b10/10\b",
    r"\b(5|fünf)[- ]sterne\b|\bpositive (bewertung|rezension)\b|\bwenn (sie|du) zufrieden\b",
    r"\b(5|cinq)[- ]étoiles\b|\bavis positif\b|\bsi vous (êtes|étiez) satisfait",
    r"\b(5|cinco)[- ]estrellas\b|\b(reseña|opinión|valoración) positiva\b"
    r"|\bsi te (gustó|ha gustado|encantó)\b",
)

# One pattern per address format; a body passes when any matches. Compiled with re.MULTILINE (^
# and $ match at line ends) and case-sensitive unless a pattern says `(?i:...)`: capitals are what
# tell "123 Main St" from "2 miles down the road". Runs of spaces and tabs in the body are one
# space by the time these run.
_POSTAL_ADDRESS_PATTERNS = (
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

_FREE_MAIL_DOMAINS = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "yahoo.com",
        "yahoo.co.uk",
        "ymail.com",
        "outlook.com",
        "hotmail.com",
        "live.com",
        "msn.com",
        "aol.com",
        "icloud.com",
        "me.com",
        "mac.com",
        "gmx.de",
        "gmx.net",
        "web.de",
        "mail.com",
        "proton.me",
        "protonmail.com",
        "zoho.com",
        "yandex.ru",
        "mail.ru",
        "qq.com",
        "163.com",
    }
)


class ContentPolicy(BaseModel):
    """What the content rules (`streams.rules.content`) require of a message. Defaults, with
    their sources:

    Switches
    - `require_postal_address` True: CAN-SPAM 15 U.S.C. §7704(a)(5)(A)(iii) (a valid physical
      postal address; a registered post-office box counts, 16 CFR 316.2); CASL s.6(2) and the
      CRTC's Electronic Commerce Protection Regulations (SOR/2012-36) s.2 (a mailing address);
      the Spam Act 2003 (Cth) s.17 wants accurate contact information.
    - `require_verified_domains` True: platform policy; From and Reply-To on domains the
      account proved it controls (CAN-SPAM §7704(a)(1) forbids misleading header information).
    - `bulk_authentication` True: Gmail's "Email sender guidelines" and Yahoo's "Sender Best
      Practices" (February 2024) for bulk senders: SPF and DKIM, DMARC (p=none at least), From
      aligned with the SPF or DKIM domain, one-click unsubscribe signed by DKIM (RFC 8058).
    - `require_ad_identification` False: CAN-SPAM §7704(a)(5)(A)(i) asks commercial mail to
      identify itself as an advertisement, but §7704(a)(5)(B) exempts mail sent with the
      recipient's prior affirmative consent, which is all a platform that requires opt-in sends;
      platforms whose senders mail without opt-in turn it on.
    - `require_permission_reminder` False: no law requires a reminder of why the recipient gets
      the mail; some platforms do (it lowers complaints), and turn it on.
    - `flag_only_rules` (none): content, misuse and frequency rules whose failure the decision
      reports under `flags` without denying, for a platform that warns its senders before it
      enforces a rule (a new one, or its own policy rather than a law). Only these kinds of
      rules can be flagged (`streams.rules.FLAGGABLE_RULES`); suppression, consent and
      enforcement rules always deny.

    Phrase lists (English, German, French, Spanish, with some Dutch, Italian, Portuguese)
    - `unsubscribe_phrases`: the words a link's visible text uses for an opt-out (CAN-SPAM
      §7704(a)(5)(A)(ii) "clear and conspicuous notice of the opportunity to decline"; CASL
      s.11(1); Spam Act s.18); a "manage preferences" page counts, as it offers the opt-out.
    - `unsubscribe_url_markers`: substrings of a link's URL that name an opt-out page.
    - `unsubscribe_reply_patterns`: body text telling the reader to opt out by replying or by
      writing with a subject (CAN-SPAM §7704(a)(3) accepts a "functioning return electronic mail
      address").
    - `ad_identification_phrases`: the labels advertising uses ("Advertisement", "Ad:",
      "Sponsored", German "Anzeige" and "Werbung", French "Publicité", ...).
    - `permission_reminder_phrases`: the usual openings of a permission reminder ("You are
      receiving this because...", "Sie erhalten diese E-Mail...", "Vous recevez ce message...").
    - `reply_subject_prefixes`: the reply and forward markers mail programs put before a subject
      (RFC 5322 §3.6.5 "Re:"; localised forms Outlook and Thunderbird use: "AW", "WG", "TR",
      "RV", "SV", "VS", "Antw", "Rif", "Enc").
    - `deceptive_subject_patterns`: subjects that pose as a transaction (CAN-SPAM §7704(a)(2)),
      each with the sentence that says why.
    - `non_sender_display_names`: From display names that name a mailbox, not a sender
      ("No Reply", "Info", "Newsletter"), compared with letters and digits only, lower-cased.

    Review requests (16 CFR 465.4: no incentive conditioned on a review's sentiment)
    - `review_request_patterns`, `review_incentive_patterns`, `positive_review_patterns`: a
      message fails when all three match within `review_window_paragraphs` consecutive
      paragraphs (the subject counts as the first): a request for a review, a reward, and a
      condition on a positive one. 2 by default: the offer often sits in the paragraph after the
      ask. An incentive for every review, whatever it says, passes: 16 CFR 465.4 bans incentives
      conditioned on the sentiment, and the reviewer's disclosure of the incentive (FTC
      Endorsement Guides, 16 CFR 255.5) is no fact the message carries.

    Domains
    - `free_mail_domains`: mailbox providers whose domains anyone can get an address at. Only the
      provider's servers can send mail that passes DMARC for them: Yahoo and AOL publish
      p=reject, and Gmail's sender guidelines say not to impersonate Gmail From headers and
      announce quarantine enforcement; bulk-sender rules want the sender's own authenticated
      domain. The list: widely used free-mail services.
    - `reply_to_allowed_domains` (none): domains a Reply-To may use besides the account's
      verified ones (a platform's shared reply-handling domain, for example).

    Postal addresses
    - `postal_address_patterns`: the address formats a body's postal address is recognised by:
      a street line (USPS Publication 28, Canada Post, Royal Mail, Australia Post; Deutsche Post
      and PostNL street-then-number; La Poste), a post-office box, or a postcode in its national
      form (US state and ZIP, Canadian A1A 1A1, UK outward and inward code, Australian state and
      4 digits, EU 5 digits followed by a city). Heuristics: one match is enough.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    require_postal_address: bool = Field(default=True, strict=True)
    require_verified_domains: bool = Field(default=True, strict=True)
    flag_only_rules: frozenset[str] = frozenset()
    bulk_authentication: bool = Field(default=True, strict=True)
    require_ad_identification: bool = Field(default=False, strict=True)
    require_permission_reminder: bool = Field(default=False, strict=True)

    unsubscribe_phrases: tuple[Phrase, ...] = Field(default=_UNSUBSCRIBE_PHRASES, min_length=1)
    unsubscribe_url_markers: tuple[Phrase, ...] = _UNSUBSCRIBE_URL_MARKERS
    unsubscribe_reply_patterns: tuple[Pattern, ...] = _UNSUBSCRIBE_REPLY_PATTERNS
    ad_identification_phrases: tuple[Phrase, ...] = Field(default=_AD_PHRASES, min_length=1)
    permission_reminder_phrases: tuple[Phrase, ...] = Field(
        default=_PERMISSION_PHRASES, min_length=1
    )
    reply_subject_prefixes: tuple[Phrase, ...] = (
        "re",
        "fwd",
        "fw",
        "aw",
        "wg",
        "tr",
        "rv",
        "sv",
        "vs",
        "antw",
        "rif",
        "enc",
    )
    deceptive_subject_patterns: tuple[SubjectPattern, ...] = _DECEPTIVE_SUBJECTS
    non_sender_display_names: frozenset[str] = _NON_SENDER_NAMES

    review_request_patterns: tuple[Pattern, ...] = _REVIEW_REQUEST_PATTERNS
    review_incentive_patterns: tuple[Pattern, ...] = _REVIEW_INCENTIVE_PATTERNS
    positive_review_patterns: tuple[Pattern, ...] = _POSITIVE_REVIEW_PATTERNS
    review_window_paragraphs: int = Field(default=2, ge=1, le=20, strict=True)

    free_mail_domains: frozenset[str] = _FREE_MAIL_DOMAINS
    reply_to_allowed_domains: frozenset[str] = frozenset()

    postal_address_patterns: tuple[Pattern, ...] = Field(
        default=_POSTAL_ADDRESS_PATTERNS, min_length=1
    )

    @field_validator("free_mail_domains", "reply_to_allowed_domains")
    @classmethod
    def _domains(cls, domains: frozenset[str]) -> frozenset[str]:
        """Domains as DNS compares them: lower-case, no root dot, IDNA A-labels."""
        names = set()
        for domain in domains:
            name = domain.strip().rstrip(".").lower()
            try:
                name = name.encode("idna").decode("ascii")
            except UnicodeError:
                raise ValueError(f"{domain!r} is not a domain name") from None
            if "." not in name or not re.fullmatch(r"[a-z0-9.-]+", name):
                raise ValueError(f"{domain!r} is not a domain name")
            names.add(name)
        return frozenset(names)

    @field_validator("non_sender_display_names")
    @classmethod
    def _folded(cls, names: frozenset[str]) -> frozenset[str]:
        """Stored as they are compared: letters and digits only, lower-case."""
        return frozenset(
            folded
            for name in names
            if (folded := "".join(c for c in name.casefold() if c.isalnum()))
        )

    @field_validator("reply_subject_prefixes")
    @classmethod
    def _bare_prefixes(cls, prefixes: tuple[str, ...]) -> tuple[str, ...]:
        """Written without the colon ("re", not "Re:"); the rule adds it."""
        return tuple(prefix.strip().rstrip(":").strip().lower() for prefix in prefixes)
