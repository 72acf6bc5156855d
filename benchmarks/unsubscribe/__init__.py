"""The parts of `unsubscribe_latency.py`: the probes and the reader of the gate's output, the
one-click POSTs, the measurement, the endpoint's throughput, the figures and the tables. The
script itself holds the scenario."""

__all__: list[str] = []
