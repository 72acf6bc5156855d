"""The shared foundation every layer stands on: records, their Avro codec, settings, time,
errors, the recipient key, mailbox providers and the topic catalogue.

Pure: no faust, Kafka client, HTTP, SMTP or database import (tests/unit/test_layers.py).
"""
