"""What goes out with an allowed send: cadence, list headers, unsubscribe tokens, VERP.

Pure (the signing keys module reads and writes its key file, nothing else).
"""
