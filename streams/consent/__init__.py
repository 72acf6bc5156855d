"""Consent: the recipient's grants and withdrawals per account, judged by their law.

The consent fold (double opt-in, imports under review, withdrawals), the timing of implied consent
(CASL's lapsing after two years) and the notices before it lapses, the lookup of the consent that
speaks for a message, the consent policy (which law applies where, which bases allow commercial
mail) and the index of notices coming due. Pure: decided on plain records.
"""
