"""Sending accounts' reputation: rates per provider, the strike ladder, misuse, standing.

Complaint and bounce rates counted in event time, the strikes a breach earns, transactional
misuse counted per account, and the standing every gate worker enforces. Pure.
"""
