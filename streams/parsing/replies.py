"""Tell automatic replies (RFC 3834) and challenge mail from human replies; spot unsubscribe asks.

Automatic replies are never bounces: a vacation notice says nothing about the address. RFC 3834
section 5 asks responders to send `Auto-Submitted: auto-replied`; many do not, so the legacy
headers (`X-Autoreply`, `X-Autorespond`, `Precedence: auto_reply`) and subject phrases in the
seven default languages count too. Challenge-response systems (mail that asks the sender to
prove it is human) are auto-replies of kind `challenge`.

A human reply asks to unsubscribe when one of its first `OPENING_LINES` non-quoted lines (or its
subject) carries a keyword of `keywords` (language -> phrases). Quoted text (`> ...`, "On ...
wrote:", Outlook's "-----Original Message-----" and their translations) ends the opening, so a
quoted footer with "unsubscribe" in it never counts. Matching is on case-folded, accent-stripped
words:

* a phrase ending in `*` matches any word starting with it (`désinscri*`);
* a short single word (`stop`, `baja`: under `STRONG_MIN_CHARS` letters, no space) counts only
  when the line is at most `SHORT_LINE_WORDS` words ("STOP", "stop please"), because "I will
  stop by on Monday" is not an unsubscribe;
* any other phrase counts anywhere in a line of at most `LONG_LINE_WORDS` words unless a negation
  ("not", "nicht", "pas", ...) comes before it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from email.message import Message
from typing import Final

from streams.parsing.mime import header
from streams.parsing.model import AutoReplyDetails, ReplyDetails

__all__ = [
    "DEFAULT_UNSUBSCRIBE_KEYWORDS",
    "OPENING_LINES",
    "detect_autoreply",
    "detect_reply",
    "is_reply",
    "opening_lines",
]

DEFAULT_UNSUBSCRIBE_KEYWORDS: Final[Mapping[str, Sequence[str]]] = {
    "en": (
        "unsubscribe*",
        "stop",
        "remove me",
        "take me off",
        "opt out",
        "stop sending",
        "no more emails",
        "delete me from",
    ),
    "de": (
        "abmelden",
        "abmeldung",
        "abbestellen",
        "austragen",
        "stopp",
        "bitte entfernen",
        "entfernen sie mich",
        "keine werbung",
        "keine e-mails mehr",
    ),
    "fr": (
        "désabonne*",
        "désinscri*",
        "stop",
        "retirez-moi",
        "supprimez-moi",
        "ne plus recevoir",
    ),
    "es": (
        "darme de baja",
        "dar de baja",
        "darse de baja",
        "dadme de baja",
        "baja",
        "cancelar suscripción",
        "cancelar la suscripción",
        "eliminarme",
        "quitarme de la lista",
    ),
    "nl": ("afmelden", "uitschrijven", "verwijder mij", "verwijder me", "stop"),
    "it": ("disiscrivi*", "cancellami", "rimuovimi", "annulla iscrizione", "stop"),
    "pt": (
        "cancelar inscrição",
        "descadastr*",
        "remova-me",
        "me remova",
        "sair da lista",
        "parar",
    ),
}
OPENING_LINES: Final = 3
STRONG_MIN_CHARS: Final = 6
SHORT_LINE_WORDS: Final = 3
LONG_LINE_WORDS: Final = 15
_NEGATIONS: Final = frozenset(
    [
        "not",
        "don't",
        "dont",
        "never",
        "nicht",
        "nie",
        "kein",
        "keine",
        "ne",
        "pas",
        "jamais",
        "nunca",
        "niet",
        "geen",
        "nooit",
        "non",
        "mai",
        "nao",
    ]
)
_QUOTE_INTRO_ENDINGS: Final = (
    "wrote:",
    "schrieb:",
    "a écrit :",
    "a écrit:",
    "escribió:",
    "schreef:",
    "ha scritto:",
    "escreveu:",
)
_QUOTE_SEPARATORS: Final = (
    "-----original message",
    "-----ursprüngliche nachricht",
    "----- message d'origine",
    "-------- message original",
    "-----mensaje original",
    "-----oorspronkelijk bericht",
    "-----messaggio originale",
    "-----mensagem original",
    "________________",
    "sent from my",
)
_REPLY_PREFIXES: Final = ("re", "aw", "sv", "antw", "rif", "res", "ref", "vs", "odp", "r")

_AUTOREPLY_HEADERS: Final = ("X-Autoreply", "X-Autorespond", "X-Autoresponder", "X-Vacation")
_VACATION_SUBJECTS: Final = (
    "out of office",
    "out of the office",
    "automatic reply",
    "autoreply",
    "auto-reply",
    "auto reply",
    "auto response",
    "autoresponse",
    "auto:",
    "vacation",
    "on leave",
    "abwesenheit",
    "abwesend",
    "automatische antwort",
    "nicht im büro",
    "réponse automatique",
    "absence",
    "respuesta automática",
    "fuera de la oficina",
    "afwezig",
    "automatisch antwoord",
    "risposta automatica",
    "fuori ufficio",
    "fuori sede",
    "resposta automática",
    "ausente",
    "fora do escritório",
)
_CHALLENGE_HEADERS: Final = ("X-Challenge", "X-Challenge-Response", "X-Boxbe-Challenge")
_CHALLENGE_VENDORS: Final = (
    "spamarrest",
    "spam arrest",
    "boxbe",
    "mailblocks",
    "choicemail",
    "tmda",
    "sendio",
    "bluebottle",
)
_CHALLENGE_PHRASES: Final = (
    "please confirm your message",
    "confirm that you are a human",
    "verify that you are a human",
    "prove that you are human",
    "verify your message",
    "sender verification",
    "approved senders",
    "approved sender list",
    "challenge-response",
    "challenge response",
    "awaiting your verification",
    "click the link below to verify",
    "i use a spam filter that requires",
)
_TAG = re.compile(r"<[^<>]{0,2000}>")
_NON_WORD = re.compile(r"[^\w'*]+")


def detect_autoreply(message: Message, body: str) -> AutoReplyDetails | None:
    """An auto-reply or challenge, with the evidence; None for anything else.

    Call it only after bounce detection: Exim marks its bounces `Auto-Submitted: auto-replied`.
    """
    subject = header(message, "Subject").casefold()
    opening = body[:4096].casefold()
    for name in _CHALLENGE_HEADERS:
        if header(message, name):
            return AutoReplyDetails(kind="challenge", evidence=f"header {name}")
    for vendor in _CHALLENGE_VENDORS:
        if vendor in subject or vendor in opening:
            return AutoReplyDetails(kind="challenge", evidence=f"challenge system {vendor}")
    for phrase in _CHALLENGE_PHRASES:
        if phrase in subject or phrase in opening:
            return AutoReplyDetails(kind="challenge", evidence=f"phrase {phrase!r}")
    vacation_phrase = next((phrase for phrase in _VACATION_SUBJECTS if phrase in subject), None)
    auto_submitted = header(message, "Auto-Submitted").strip().lower()
    if auto_submitted.startswith("auto-replied"):
        kind = "vacation" if vacation_phrase else "auto-reply"
        return AutoReplyDetails(kind=kind, evidence="Auto-Submitted: auto-replied")
    for name in _AUTOREPLY_HEADERS:
        value = header(message, name).strip().lower()
        if value and value not in ("no", "false", "0"):
            kind = "vacation" if vacation_phrase else "auto-reply"
            return AutoReplyDetails(kind=kind, evidence=f"header {name}")
    precedence = (header(message, "Precedence") or header(message, "X-Precedence")).lower()
    if "auto_reply" in precedence or "auto-reply" in precedence:
        return AutoReplyDetails(kind="auto-reply", evidence="Precedence: auto_reply")
    if vacation_phrase:
        return AutoReplyDetails(kind="vacation", evidence=f"subject {vacation_phrase!r}")
    return None


def is_reply(message: Message) -> bool:
    """True when the message answers another: In-Reply-To, References or a `Re:` subject."""
    if header(message, "In-Reply-To") or header(message, "References"):
        return True
    subject = header(message, "Subject").strip().lower()
    prefix, colon, _ = subject.partition(":")
    return bool(colon) and prefix.strip() in _REPLY_PREFIXES


def detect_reply(
    message: Message,
    body: str,
    keywords: Mapping[str, Sequence[str]] = DEFAULT_UNSUBSCRIBE_KEYWORDS,
) -> ReplyDetails | None:
    """The unsubscribe verdict of a human reply; None if it is neither a reply nor an ask."""
    candidates = [_strip_reply_prefixes(header(message, "Subject"))]
    candidates.extend(opening_lines(body))
    for line in candidates:
        words = _words(line)
        if not words:
            continue
        for language, phrases in keywords.items():
            for phrase in phrases:
                if _matches(words, phrase):
                    return ReplyDetails(
                        unsubscribe_requested=True, language=language, phrase=phrase
                    )
    if is_reply(message):
        return ReplyDetails(unsubscribe_requested=False)
    return None


def opening_lines(body: str, count: int = OPENING_LINES) -> list[str]:
    """The first `count` non-empty lines that precede any quoted text."""
    text = body[:16384]
    if "<" in text and ">" in text and ("<html" in text.lower() or "<div" in text.lower()):
        text = _TAG.sub("\n", text)
    lines: list[str] = []
    for raw_line in text.splitlines():
        line = raw_line.strip()
        if not line:
            continue
        folded = line.casefold()
        if line.startswith(">") or line.startswith("|"):
            break
        if folded.endswith(_QUOTE_INTRO_ENDINGS) or folded.startswith(_QUOTE_SEPARATORS):
            break
        if folded.startswith(("from:", "von:", "de :", "de:", "van:", "da:")):
            break
        lines.append(line)
        if len(lines) >= count:
            break
    return lines


def _strip_reply_prefixes(subject: str) -> str:
    text = subject.strip()
    for _ in range(5):
        prefix, colon, rest = text.partition(":")
        if colon and prefix.strip().lower() in _REPLY_PREFIXES:
            text = rest.strip()
        else:
            break
    return text


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def _words(text: str) -> list[str]:
    return [word for word in _NON_WORD.split(_fold(text).replace("-", " ")) if word]


def _matches(words: list[str], phrase: str) -> bool:
    wanted = _words(phrase)
    if not wanted:
        return False
    prefix = wanted[-1].endswith("*")
    if prefix:
        wanted[-1] = wanted[-1].rstrip("*")
    size = len(wanted)
    strong = size > 1 or prefix or len(wanted[0]) >= STRONG_MIN_CHARS
    limit = LONG_LINE_WORDS if strong else SHORT_LINE_WORDS
    if len(words) > limit:
        return False
    for start in range(len(words) - size + 1):
        window = words[start : start + size]
        head_ok = window[:-1] == wanted[:-1]
        last_ok = window[-1].startswith(wanted[-1]) if prefix else window[-1] == wanted[-1]
        if head_ok and last_ok:
            return not any(word in _NEGATIONS for word in words[:start])
    return False
