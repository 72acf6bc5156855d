"""The demo: a realistic day of sends through a real gate worker, then what the gate decided.

`scenario` builds the records (pure, seeded), `run` publishes them through a gate worker it starts
and collects the decisions, dead letters and ledger rows, and `report` turns those into tables.
`sendgate demo` (`streams.cli.demo`) and `scripts/demo` are the ways in.
"""

from streams.demo.run import DemoOptions, DemoResult, run_demo
from streams.demo.scenario import Scenario, build_scenario, expected_failed_rules

__all__ = [
    "DemoOptions",
    "DemoResult",
    "Scenario",
    "build_scenario",
    "expected_failed_rules",
    "run_demo",
]
