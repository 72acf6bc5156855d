"""The content policy (`[content]`): the switches, phrase lists and patterns the content rules
judge a message by, each default with where it comes from.

The built-in lists are in this package's modules by what they are for (`subjects`, `footer`,
`senders`, `reviews`); this model validates a policy file's values once, at load time.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

from streams.content.policy.fields import Pattern, Phrase, SubjectPattern
from streams.content.policy.footer import (
    AD_PHRASES,
    PERMISSION_PHRASES,
    POSTAL_ADDRESS_PATTERNS,
    UNSUBSCRIBE_PHRASES,
    UNSUBSCRIBE_REPLY_PATTERNS,
    UNSUBSCRIBE_URL_MARKERS,
)
from streams.content.policy.reviews import (
    POSITIVE_REVIEW_PATTERNS,
    REVIEW_INCENTIVE_PATTERNS,
    REVIEW_REQUEST_PATTERNS,
)
from streams.content.policy.senders import (
    FREE_MAIL_DOMAINS,
    NON_SENDER_NAMES,
    PROTECTED_BRANDS,
)
from streams.content.policy.subjects import DECEPTIVE_SUBJECTS, REPLY_SUBJECT_PREFIXES

__all__ = ["ContentPolicy"]


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
    - `protected_brands`: brand names a From display name may carry only on mail from the
      brand's own domains ("PayPal" <service@acct-review-center.example> poses as PayPal without
      naming any domain). A short default of the brands phishing poses as most; a platform adds
      its own customers' brands, or sets it empty.

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

    unsubscribe_phrases: tuple[Phrase, ...] = Field(default=UNSUBSCRIBE_PHRASES, min_length=1)
    unsubscribe_url_markers: tuple[Phrase, ...] = UNSUBSCRIBE_URL_MARKERS
    unsubscribe_reply_patterns: tuple[Pattern, ...] = UNSUBSCRIBE_REPLY_PATTERNS
    ad_identification_phrases: tuple[Phrase, ...] = Field(default=AD_PHRASES, min_length=1)
    permission_reminder_phrases: tuple[Phrase, ...] = Field(
        default=PERMISSION_PHRASES, min_length=1
    )
    reply_subject_prefixes: tuple[Phrase, ...] = REPLY_SUBJECT_PREFIXES
    deceptive_subject_patterns: tuple[SubjectPattern, ...] = DECEPTIVE_SUBJECTS
    non_sender_display_names: frozenset[str] = NON_SENDER_NAMES

    review_request_patterns: tuple[Pattern, ...] = REVIEW_REQUEST_PATTERNS
    review_incentive_patterns: tuple[Pattern, ...] = REVIEW_INCENTIVE_PATTERNS
    positive_review_patterns: tuple[Pattern, ...] = POSITIVE_REVIEW_PATTERNS
    review_window_paragraphs: int = Field(default=2, ge=1, le=20, strict=True)

    free_mail_domains: frozenset[str] = FREE_MAIL_DOMAINS
    reply_to_allowed_domains: frozenset[str] = frozenset()
    protected_brands: dict[str, frozenset[str]] = Field(
        default_factory=lambda: dict(PROTECTED_BRANDS)
    )

    postal_address_patterns: tuple[Pattern, ...] = Field(
        default=POSTAL_ADDRESS_PATTERNS, min_length=1
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
