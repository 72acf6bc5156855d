"""Consent: the recipient's grants and withdrawals per account, judged by their law.

The consent fold (CASL implied consent lapsing after two years, double opt-in, imports under
review), the consent policy (which law applies where, which bases allow commercial mail) and the
index of notices coming due. Pure: decided on plain records.
"""
