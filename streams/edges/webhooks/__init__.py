"""The ESP webhook service: authenticate each provider's requests, publish them whole."""
