"""The parts of `gate_throughput.py`: its workload, the personalised twins, the contenders, the
click-to-effective probes, the figures and the tables, and its opening phases as steps
(`phases`, which `replay_speed.py` runs too). The script itself holds the scenario."""

__all__: list[str] = []
