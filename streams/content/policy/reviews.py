"""The built-in review lists of the content policy: a request for a review, a reward, and a
condition on a positive one (16 CFR 465.4 forbids the three together).

`ContentPolicy` says how they combine; `streams.content.body.buys_positive_reviews` applies them.
"""

from __future__ import annotations

__all__ = ["POSITIVE_REVIEW_PATTERNS", "REVIEW_INCENTIVE_PATTERNS", "REVIEW_REQUEST_PATTERNS"]

REVIEW_REQUEST_PATTERNS = (
    r"\b(leave|write|post|share|give|submit)\b[^.!?\n]{0,30}\b(reviews?|ratings?|feedback|"
    r"testimonials?)\b",
    r"\b(rate|review) (us|your|our|the|it|this|them)\b",
    r"\b(bewerten|bewertung|rezension)\w*",
    r"\b(laissez|donnez|partagez|rédigez)\b[^.!?\n]{0,30}\b(avis|note)\b"
    r"|\b(évaluez|notez)[- ]nous\b",
    r"\b(deja|déjanos|escribe|comparte)\b[^.!?\n]{0,30}\b(reseña|opinión|valoración)\b"
    r"|\b(valóranos|califícanos)\b",
)

REVIEW_INCENTIVE_PATTERNS = (
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

POSITIVE_REVIEW_PATTERNS = (
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
