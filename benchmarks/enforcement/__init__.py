"""The parts of `enforcement_latency.py`: the probes and the readers of the enforcement chain,
the state every probe starts from, the measurement, its figures and tables. The script itself
holds the scenario."""

__all__: list[str] = []
