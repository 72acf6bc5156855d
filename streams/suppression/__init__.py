"""Suppressions: who must not be mailed, at which scope, and why.

The fold of unsubscribes and operator suppressions, what a feedback-loop report asks of them, and
unsubscribes that arrive by mail or from a one-click link. Pure: decided on plain records.
"""
