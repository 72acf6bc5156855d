"""Replaying the gate's recorded traffic: decide recorded requests again, on the state each
decision recorded, to audit the gate (`verify`), to try another policy (`what-if`), and to show
what the gate knew about one person at a moment (`state`).

A replay reads topics with no consumer group and writes only to files (or the terminal); it
never touches a live worker's tables, topics or committed offsets.
"""
