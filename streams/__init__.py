"""sendgate: an email-compliance gate that runs as a Kafka stream processor."""

__all__ = ["__version__"]

__version__ = "0.1.0"
