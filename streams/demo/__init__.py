"""The demo: a realistic day of sends through a real gate worker, then what the gate decided.

Pure: `scenario` builds the records from a seed, `expected` says what the policy decides for
them, `report` turns decoded results into tables. With I/O: `run` orchestrates, starting a gate
worker (`worker_process`) and reading its output (`collector`). `sendgate demo`
(`streams.cli.demo`) and `scripts/demo` are the ways in.
"""

from streams.demo.expected import expected_failed_rules
from streams.demo.run import DemoOptions, DemoResult, run_demo
from streams.demo.scenario import Scenario, build_scenario

__all__ = [
    "DemoOptions",
    "DemoResult",
    "Scenario",
    "build_scenario",
    "expected_failed_rules",
    "run_demo",
]
