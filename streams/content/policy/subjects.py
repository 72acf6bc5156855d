"""The built-in subject lists of the content policy: reply prefixes and deceptive subjects.

`ContentPolicy` says where each list comes from; `streams.content.subject` reads a subject with
them.
"""

from __future__ import annotations

from streams.content.policy.fields import SubjectPattern

__all__ = ["DECEPTIVE_SUBJECTS", "REPLY_SUBJECT_PREFIXES"]

REPLY_SUBJECT_PREFIXES = (
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


def _subject(pattern: str, explanation: str) -> SubjectPattern:
    return SubjectPattern(pattern=pattern, explanation=explanation)


# CAN-SPAM 15 U.S.C. §7704(a)(2) forbids a subject heading likely to mislead a recipient "about
# a material fact regarding the contents or subject matter of the message"; the FTC's examples of
# deception are subjects that pose as an order confirmation, an account notice or an invoice, to
# get marketing opened. English first, then German, French and Spanish.
DECEPTIVE_SUBJECTS = (
    _subject(
        r"\byour (order|package|parcel|shipment|delivery)( #?\w+)? (has )?(shipped|been shipped|"
        r"is on (its|the) way|was delivered|has been delivered|is out for delivery)"
        r"|\b(ihre|deine) (bestellung|sendung|lieferung) (wurde|ist) (versandt|verschickt|"
        r"unterwegs|zugestellt)"
        r"|\bvotre (commande|colis) (a été expédiée?|est en route|a été livrée?)"
        r"|\b(tu|su) (pedido|paquete) (ha sido enviado|está en camino|ha sido entregado)",
        "it reads like a shipping notice for an order",
    ),
    # A subject about nothing but the reader's order ("Your order", "Re: your order", "About
    # your order #4411") is what an order notice's subject says; on an ad it claims a purchase
    # the message is not about. Only the whole subject counts (reply, forward or other short
    # prefixes aside): "Your order, your way: 20% off" and "Complete your order" say what
    # they offer.
    _subject(
        r"^\W*(?:[^\W\d_]{1,4}\s*(?:\[\d+\]|\(\d+\))?\s*:\s*)*(?:"
        r"(?:about |regarding |concerning |an update on |update on |a question about )?"
        r"your (?:recent |latest )?(?:order|purchase)"
        r"|(?:zu |zur |bezüglich )?(?:ihre[rn]?|deine[rn]?) bestellung"
        r"|(?:à propos de |au sujet de |concernant )?votre (?:commande|achat)"
        r"|(?:sobre |acerca de )?(?:tu|su) (?:pedido|compra)"
        r")(?:\s*(?:#|no\.?|nr\.?|n°|number)?\s*[\w-]*\d[\w-]*)?\W*$",
        "it reads like a notice about an order the recipient placed",
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
