"""The parts of `consent_proof.py`: the ledger it proves consent from, made in a database of the
run's own. The script itself holds the measurements."""

__all__: list[str] = []
