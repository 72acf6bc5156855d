"""The transactional-misuse detector (`streams.content.misuse`) and its gate rule.

Examples here are written for these tests (example.* domains); the labelled set in
`tests/data/content/transactional_misuse.jsonl` is only read by the last test, which guards the
detector's measured precision and recall on the set's heldout half.
"""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from pydantic import ValidationError

from streams.content.misuse import (
    SIGNAL_LABELS,
    MisuseAssessment,
    MisusePolicy,
    assess_misuse,
)
from streams.core.records import BodyLink, MessageBody, SendRequest
from streams.policy import Policy
from streams.rules.base import RecipientView
from streams.rules.misuse import TRANSACTIONAL_MISUSE
from tests.support.factory import send_request

POLICY = MisusePolicy()
RECIPIENT = "dana.reyes@mail.example.net"
LABELLED_SET = (
    Path(__file__).resolve().parents[1] / "data" / "content" / ("transactional_misuse.jsonl")
)


def assess(
    subject: str,
    text: str = "",
    links: tuple[tuple[str, str], ...] = (),
    policy: MisusePolicy = POLICY,
) -> MisuseAssessment:
    body = MessageBody(text=text, links=tuple(BodyLink(url=u, text=t) for u, t in links))
    return assess_misuse(subject, body, policy)


def fired(assessment: MisuseAssessment) -> set[str]:
    return {signal.name for signal in assessment.signals}


# --- Clear examples of both kinds ---

TRANSACTIONAL = {
    "receipt": (
        "Your receipt from Lantern Books, order LB-3391",
        "Thanks for your order.\nThe Overstory (paperback) \u2013 $18.99\nShipping: $3.50\n"
        "Total: $22.49 charged to card ending 1182\nView your order\n"
        "Lantern Books, 9 Quill Street, Salem, MA 01970",
        (("https://lanternbooks.example/account/orders/LB-3391", "View your order"),),
    ),
    "shipping": (
        "Your parcel is on its way",
        "Order 7781 left our warehouse today. Tracking number: ZX 4410 2291.\n"
        "Expected delivery: Thursday.\nTrack your parcel",
        (("https://track.example.com/ZX44102291", "Track your parcel"),),
    ),
    "password reset": (
        "Reset your password",
        "Someone asked to reset the password for your Ferngrove account. The link works for 30 "
        "minutes.\nReset password\nIf this wasn't you, ignore this email.",
        (("https://app.ferngrove.example/reset?t=91ac", "Reset password"),),
    ),
    "sign-in code": (
        "Your sign-in code",
        "Use code 482913 to sign in. Or enter code K7P2QZ on the verification page. It expires "
        "in 10 minutes.",
        (),
    ),
    "appointment": (
        "Reminder: eye test on Monday 3 March at 11:20",
        "Your appointment at Clearview Optics is on Monday at 11:20 with Dr. Osei.\n"
        "Please bring your current glasses.\nReschedule or cancel",
        (("https://clearview.example/appointments/A-118/manage", "Reschedule or cancel"),),
    ),
    "subscription renewal": (
        "Your Premium plan renews on 1 June",
        "Your Premium plan renews on 1 June for $96.00 a year. Your free trial ended in 2024.\n"
        "Manage plan\nManage email preferences",
        (
            ("https://account.example.com/plan", "Manage plan"),
            ("https://account.example.com/preferences", "Manage email preferences"),
        ),
    ),
    "trial started": (
        "Your free trial has started",
        "Welcome to Premium. Your first month is free, then $9.99 a month. Cancel any time.",
        (),
    ),
    "missed delivery": (
        "We missed you \u2013 parcel ZX 4410 2291",
        "Our courier could not deliver your parcel today. We'll try again tomorrow.\n"
        "Rearrange delivery",
        (("https://track.example.com/ZX44102291/redeliver", "Rearrange delivery"),),
    ),
}

MARKETING = {
    "receipt with a code for next time": (
        "Your receipt, order LB-3392",
        "Total: $22.49 charged to card ending 1182.\nTake 15% off your next order with code "
        "READMORE15.",
        (),
    ),
    "shipping notice with a sale banner": (
        "Your parcel is on its way",
        "Summer sale: up to 40% off garden furniture, this week only!\n"
        "Order 7781 left our warehouse today.",
        (("https://homeware.example/sale/garden", "Shop the sale"),),
    ),
    "password reset with an upgrade pitch": (
        "Reset your password",
        "Reset password\nGo Pro today: unlimited projects for $4 a month. Upgrade now",
        (("https://ferngrove.example/pricing", "Upgrade now"),),
    ),
    "booking with a newsletter invitation": (
        "Your table is booked",
        "Table for 2 on Friday at 20:00.\nSign up for our newsletter to hear about tasting "
        "evenings.",
        (),
    ),
    "order confirmation with recommendations": (
        "Order confirmed",
        "We've received order 5512.\nCustomers who bought this also bought: a reading lamp.",
        (),
    ),
    "win-back as an account notice": (
        "Account notice",
        "We miss you, Dana! Come back and see what's new.",
        (("https://shop.example.com/", "Visit the shop"),),
    ),
}


@pytest.mark.parametrize("name", TRANSACTIONAL)
def test_clear_transactional_examples_are_not_misuse(name: str) -> None:
    """A receipt, a notice or a reminder that sells nothing is not misuse."""
    assessment = assess(*TRANSACTIONAL[name])
    assert not assessment.is_misuse, assessment


@pytest.mark.parametrize("name", MARKETING)
def test_clear_marketing_examples_are_misuse(name: str) -> None:
    """A transactional message that also sells is misuse."""
    assessment = assess(*MARKETING[name])
    assert assessment.is_misuse, assessment


# --- Each signal, firing and not firing ---

# signal: (subject, text, links) that fires it, and a near miss that must not.
SIGNALS: dict[str, tuple[tuple[str, str, tuple[tuple[str, str], ...]], ...]] = {
    "discount_code": (
        ("Receipt", "Use code SAVE10 on your next order.", ()),
        ("Receipt", "Your order code is 55120. Use code 55120 when you call us.", ()),
    ),
    "money_off": (
        ("Receipt", "This weekend: 25% off all rain jackets.", ()),
        ("Receipt", "VAT (20%): $4.00. Interest rate 0.5% APY.", ()),
    ),
    "cross_sell": (
        ("Receipt", "You might also like our linen napkins.", ()),
        ("Receipt", "You ordered linen napkins.", ()),
    ),
    "reengagement": (
        ("Hello", "You left 2 items in your cart.", ()),
        ("Hello", "We missed you today: the courier will try again tomorrow.", ()),
    ),
    "referral": (
        ("Invoice", "Refer a friend and get a month on us.", ()),
        ("Invoice", "Your friend's invoice was sent to them separately.", ()),
    ),
    "opt_in_invitation": (
        ("Booking", "Subscribe to our newsletter for seasonal menus.", ()),
        ("Booking", "You subscribed to this list on 3 May; confirm your subscription.", ()),
    ),
    "free_offer": (
        ("Receipt", "Try Premium free for 30 days.", ()),
        ("Receipt", "Free cancellation until 12 May. Shipping: free.", ()),
    ),
    "call_to_buy": (
        ("Receipt", "Shop now", ()),
        ("Receipt", "FreshCart Shop: your order is ready. Renew domain. Pay invoice.", ()),
    ),
    "promotional_link": (
        ("Receipt", "", (("https://example.com/offers/spring", "See more"),)),
        ("Receipt", "", (("https://example.com/account/orders/55", "View your order"),)),
    ),
    "promotional_subject": (
        ("Flash deals inside: your receipt", "Thanks for your order.", ()),
        ("Your receipt for order 55", "Thanks for your order.", ()),
    ),
    "urgency": (
        ("Receipt", "Offer ends tonight, while stocks last.", ()),
        ("Reset your password", "This link expires in 15 minutes.", ()),
    ),
}


def test_every_signal_has_a_case() -> None:
    assert set(SIGNALS) == set(SIGNAL_LABELS)


@pytest.mark.parametrize("name", SIGNALS)
def test_signal_fires(name: str) -> None:
    """Each signal is found in a message that has it."""
    firing, _ = SIGNALS[name]
    assert name in fired(assess(*firing))


@pytest.mark.parametrize("name", SIGNALS)
def test_signal_does_not_fire_on_a_near_miss(name: str) -> None:
    """Each signal stays silent on transactional words that look like it."""
    _, near_miss = SIGNALS[name]
    assert name not in fired(assess(*near_miss))


def test_strong_signal_alone_is_misuse_weak_signal_alone_is_not() -> None:
    """A discount code decides alone; a call to buy needs another signal beside it."""
    assert assess("Receipt", "Use code SAVE10 on your next order.").is_misuse
    alone = assess("Receipt", "Discover what your new account can do.")
    assert fired(alone) == {"call_to_buy"}
    assert not alone.is_misuse
    with_link = assess(
        "Receipt", "Discover our range.", (("https://example.com/shop", "Discover our range"),)
    )
    assert with_link.score == 11
    assert with_link.is_misuse


def test_a_signal_counts_once_however_often_it_matches() -> None:
    """Three offers are one money-off signal, its weight counted once."""
    assessment = assess("Receipt", "20% off shoes.\n30% off bags.\n$5 off socks.")
    assert [s.name for s in assessment.signals] == ["money_off"]
    assert assessment.score == POLICY.money_off.weight


# --- Transactional context ---


@pytest.mark.parametrize(
    "text",
    [
        "Member discount applied: -$3.56\nTotal: $36.06",
        "Promo code SPRING10: -$4.00",
        "Rabatt (SOMMER10): -5,00 €",
        "Descuento aplicado: 10 % de descuento en este pedido.",
        "Remise appliquée : 10 % de réduction sur cette commande.",
        "Your promo code WELCOME15 wasn't applied, so we've refunded the 15% discount ($12.00).",
        "You saved 20% on this order.",
        "A 2% discount for early payment applies if paid within 10 days.",
        "Use code GIFT7Q2X at checkout to redeem your gift card.",
        "You've been unsubscribed and will no longer receive special offers.",
        "Order total: $289.53. View your order. Manage preferences.",
    ],
)
def test_transactional_context_does_not_fire_by_itself(text: str) -> None:
    """Totals, discounts applied to this order, refunds of a promo amount and account links
    describe the transaction, not a new sale."""
    assessment = assess("Your order 4410", text)
    assert assessment.score == 0, assessment


@pytest.mark.parametrize(
    "text",
    [
        # A plain-text part wraps where the line is full, not where the sentence ends.
        "Paid with card ending 5100. The 30% winter sale price has already been\n"
        "applied to this order; nothing else is needed from you.",
        "Der Rabatt aus dem Sommerschlussverkauf wurde bei dieser Bestellung\nbereits angewendet.",
        "Le code BIENVENUE10 (10 % de réduction) a bien été\nappliqué à cette commande.",
        "Tu código de descuento VERANO15 ya ha sido\naplicado a este pedido.",
    ],
)
def test_a_sentence_wrapped_over_two_lines_keeps_its_transactional_context(text: str) -> None:
    """The words that place an offer in this transaction may fall on the line after it."""
    assert assess("Order confirmation LO-310077", text).score == 0


@pytest.mark.parametrize(
    "text",
    [
        # Each line its own item: the second starts with a capital after a full stop.
        "Your refund of $12.00 has been credited.\nWinter sale: 30% off everything this week.",
        # A wrapped offer is still an offer, and still one for a future purchase.
        "We've refunded $5.00 to your card, and here is 10% off\nyour next order.",
    ],
)
def test_an_offer_beside_a_transactional_line_still_counts(text: str) -> None:
    assert "money_off" in fired(assess("Refund issued", text))


def test_a_future_purchase_is_marketing_even_beside_a_refund() -> None:
    """A code for the next order is an offer, even in the sentence that confirms a refund."""
    assessment = assess("Refund issued", "We've refunded $5 and here is 10% off your next order.")
    assert "money_off" in fired(assessment)
    assert assessment.is_misuse


def test_subject_signal_adds_promotional_subject() -> None:
    """A marketing phrase in the subject counts as itself and as a promotional subject."""
    assessment = assess("We miss you! 20% off inside", "Hi Dana.")
    assert {"reengagement", "money_off", "promotional_subject"} <= fired(assessment)


def test_a_malformed_link_is_ignored() -> None:
    assert assess("Receipt", "", (("http://[::1", "Shop now"),)).score == 6


def test_opt_out_and_app_store_links_never_count() -> None:
    assessment = assess(
        "Receipt",
        "",
        (
            ("https://example.com/newsletter/unsubscribe?u=1", "Unsubscribe"),
            ("https://play.google.com/store/apps/details?id=example", "Get it on Google Play"),
        ),
    )
    assert assessment.score == 0


# --- Languages and normalisation ---


@pytest.mark.parametrize(
    ("subject", "text", "signal"),
    [
        (
            "Ihre Bestellung ist unterwegs",
            "Nur bis Sonntag: 15 % Rabatt auf alle Jacken!",
            "money_off",
        ),
        ("Bestellbestätigung", "Das könnte Ihnen auch gefallen: unser Maßband.", "cross_sell"),
        ("Ihre Rechnung", "Wir vermissen Sie! Mit dem Code ZURUECK15 sparen.", "reengagement"),
        (
            "Votre commande",
            "Utilisez le code MERCI10 sur votre prochaine commande.",
            "discount_code",
        ),
        ("Votre facture", "Parrainez un ami et recevez 20 € de réduction.", "referral"),
        ("Votre rendez-vous", "Inscrivez-vous à notre newsletter.", "opt_in_invitation"),
        ("Tu pedido", "¡Solo hasta el domingo! 20 % de descuento en toda la tienda.", "money_off"),
        ("Tu cita", "Recomendados para ti: champú y acondicionador.", "cross_sell"),
        ("Tu factura", "Invita a un amigo y gana un mes gratis.", "referral"),
    ],
)
def test_german_french_and_spanish(subject: str, text: str, signal: str) -> None:
    assessment = assess(subject, text)
    assert signal in fired(assessment)
    assert assessment.is_misuse


@pytest.mark.parametrize(
    ("subject", "text"),
    [
        ("Ihre Rückerstattung", "Die Gutschrift auf Ihrem Konto erfolgt in 3 Tagen."),
        ("Votre remboursement", "Nous avons remboursé 29,90 € sur votre carte."),
        ("Tu pedido ha sido enviado", "Número de seguimiento: ER-1. Entrega el martes."),
        ("Votre facture", "Montant : 39,99 € TTC. Escompte de 2 % pour paiement anticipé."),
    ],
)
def test_german_french_and_spanish_transactional(subject: str, text: str) -> None:
    assert assess(subject, text).score == 0


def test_text_is_normalised_before_matching() -> None:
    """Full-width characters (NFKC), typographic apostrophes, case and spacing do not hide a
    signal; "ß" is matched as "ss"."""
    assert "money_off" in fired(
        assess("Receipt", "Get \uff12\uff10\uff05 \uff2f\uff26\uff26 today")
    )
    assert "reengagement" in fired(assess("Receipt", "WE\u2019VE   MISSED\nWe   MISS   you"))
    assert "money_off" in fired(assess("Rechnung", "Jetzt 10 % Ermäßigung sichern"))


# --- Evidence ---


def test_evidence_is_a_few_words_as_written() -> None:
    assessment = assess("Receipt", "Use code SAVE10 on your next order.")
    [signal] = assessment.signals
    assert signal.evidence == ("Use code SAVE10",)
    long = assess("Receipt", "Join our wonderful amazing members club plus")
    for signal in long.signals:
        assert all(len(snippet.split()) <= 7 for snippet in signal.evidence)
        assert len(signal.evidence) <= 3


def test_evidence_never_carries_an_address() -> None:
    """Anything shaped like an email address in a snippet is replaced."""
    assessment = assess(
        "Receipt",
        f"Subscribe {RECIPIENT} to our newsletter",
        (("https://e.example/shop", RECIPIENT),),
    )
    text = json.dumps(assessment.model_dump())
    assert RECIPIENT not in text
    link = next(s for s in assessment.signals if s.name == "promotional_link")
    assert link.evidence == ("[address]",)


def test_describe_names_the_signals_strongest_first() -> None:
    assessment = assess(
        "Receipt",
        "Shop now\nUse code SAVE10 on your next order.",
    )
    assert assessment.describe() == (
        'a discount code ("Use code SAVE10"), a call to buy, upgrade or sign up ("Shop now")'
    )


# --- The policy ---


def test_threshold_comes_from_the_policy() -> None:
    """The same message is misuse or not by the policy's threshold."""
    message = ("Receipt", "Use code SAVE10 on your next order.")
    assert assess(*message).is_misuse
    assert not assess(*message, policy=MisusePolicy(threshold=20)).is_misuse
    low = MisusePolicy(threshold=5)
    assert assess("Receipt", "Shop now", policy=low).is_misuse


def test_a_weight_of_zero_turns_a_signal_off() -> None:
    policy = MisusePolicy.model_validate({"discount_code": {"weight": 0}})
    assessment = assess("Receipt", "Use code SAVE10 on your next order.", policy=policy)
    assert assessment.score == 0
    assert assessment.signals == ()


def test_a_policy_given_in_part_keeps_the_built_in_rest() -> None:
    """A weight alone keeps the patterns; one language replaces that language only."""
    policy = MisusePolicy.model_validate(
        {"money_off": {"weight": 3}, "cross_sell": {"patterns": {"en": [r"\bpicks\b"]}}}
    )
    assert policy.money_off.weight == 3
    assert policy.money_off.patterns == POLICY.money_off.patterns
    assert policy.cross_sell.patterns["en"] == (r"\bpicks\b",)
    assert policy.cross_sell.patterns["de"] == POLICY.cross_sell.patterns["de"]
    assert policy.cross_sell.weight == POLICY.cross_sell.weight


@pytest.mark.parametrize(
    "data",
    [
        {"threshold": 0},
        {"surprise": 1},
        {"money_off": {"weight": -1}},
        {"money_off": {"patterns": {"en": ["(unclosed"]}}},
        {"money_off": {"patterns": {"english": ["off"]}}},
        {"never_promotional_links": ["[bad"]},
    ],
)
def test_a_bad_policy_is_refused(data: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        MisusePolicy.model_validate(data)


def test_policy_is_frozen() -> None:
    with pytest.raises(ValidationError):
        POLICY.threshold = 3  # type: ignore[misc]


def test_no_body_judges_the_subject_alone() -> None:
    assert assess_misuse("Your receipt", None, POLICY).score == 0
    assert assess_misuse("We miss you: 20% off", None, POLICY).is_misuse


# --- The gate rule ---


def gate_policy(misuse: MisusePolicy = POLICY) -> Any:
    """The gate's policy carrying `misuse`; a stand-in until `Policy` has the field."""
    if "misuse" in Policy.model_fields:
        return Policy.model_validate(
            {"name": "test", "version": "1", "misuse": misuse.model_dump()}
        )
    return SimpleNamespace(misuse=misuse)


receipt = partial(
    send_request,
    list_id=None,
    recipient=RECIPIENT,
    classification="transactional",
    from_address="orders@lanternbooks.example",
    subject="Your receipt, order LB-3392",
    body=MessageBody(
        text=f"Receipt for {RECIPIENT}. Total: $22.49.\nUse code READMORE15 on your next "
        "order.\nShop now",
        links=(BodyLink(url="https://lanternbooks.example/shop", text="Shop now"),),
    ),
)
"""A receipt from a bookshop that also sells: a discount code and a call to buy."""


def check(send: SendRequest, misuse: MisusePolicy = POLICY) -> str | None:
    return TRANSACTIONAL_MISUSE.check(send, RecipientView(), gate_policy(misuse))


def test_rule_names_its_law() -> None:
    assert TRANSACTIONAL_MISUSE.name == "transactional-misuse"
    assert "316.3" in TRANSACTIONAL_MISUSE.law
    assert "CASL s.6(6)" in TRANSACTIONAL_MISUSE.law


def test_rule_denies_transactional_mail_carrying_marketing() -> None:
    failure = TRANSACTIONAL_MISUSE.evaluate(receipt(), RecipientView(), gate_policy())
    assert failure is not None
    assert failure.rule == "transactional-misuse"
    explanation = failure.explanation
    assert 'a discount code ("Use code READMORE15")' in explanation
    assert 'a call to buy, upgrade or sign up ("Shop now")' in explanation
    assert "commercial" in explanation
    assert "unsubscribe link" in explanation
    assert "remove the marketing" in explanation
    assert RECIPIENT not in explanation


def test_rule_passes_clean_transactional_mail() -> None:
    clean = receipt(body=MessageBody(text="Total: $22.49 charged to card ending 1182."))
    assert check(clean) is None
    assert check(receipt(body=None)) is None


def test_rule_leaves_commercial_mail_to_the_other_rules() -> None:
    """Commercial mail, by classification or by declared promotional content, is judged by the
    consent and content rules, not by this one."""
    assert check(receipt(classification="commercial")) is None
    assert check(receipt(promotional_content=True)) is None


def test_rule_reads_the_threshold_from_the_policy() -> None:
    assert check(receipt()) is not None
    assert check(receipt(), MisusePolicy(threshold=100)) is None


# --- The labelled set ---

# The single heldout run of the frozen detector (benchmarks/misuse_accuracy.py) measured
# precision 35/36 = 0.972 and recall 35/39 = 0.897 on the 79 heldout messages. The floors sit one
# error below each (36/38 = 0.947, 34/39 = 0.872): they guard against regressions; nothing was
# tuned to them, and the heldout split must not be used to tune the detector.
HELDOUT_PRECISION_FLOOR = 0.94
HELDOUT_RECALL_FLOOR = 0.87


def test_precision_and_recall_on_the_heldout_split() -> None:
    rows = [
        json.loads(line)
        for line in LABELLED_SET.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    heldout = [row for row in rows if row["split"] == "heldout"]
    assert len(rows) >= 100
    tp = fp = fn = 0
    for row in heldout:
        body = MessageBody(
            text=row["text"],
            links=tuple(BodyLink(url=link["url"], text=link["text"]) for link in row["links"]),
        )
        predicted = assess_misuse(row["subject"], body, POLICY).is_misuse
        actual = row["label"] == "marketing"
        tp += predicted and actual
        fp += predicted and not actual
        fn += actual and not predicted
    precision = tp / (tp + fp)
    recall = tp / (tp + fn)
    assert precision >= HELDOUT_PRECISION_FLOOR, (precision, recall)
    assert recall >= HELDOUT_RECALL_FLOOR, (precision, recall)
