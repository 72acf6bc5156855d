"""What comes back from the mail servers: bounce history, and inbound mail turned into events.

Parsing the mail itself is `streams.parsing`; here its results become the records the gate keeps
its state from, and delivery events fold into a recipient's soft-bounce history. Pure.
"""
