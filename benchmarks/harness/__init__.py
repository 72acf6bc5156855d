"""The machinery the benchmark scripts share, one module per job.

- `errors`: `BenchError`, the one way a phase says it failed or ran out of time.
- `stats`: percentiles, latency summaries, a phase's time limit, figures made safe for JSON.
- `report`: the console, progress bars, phases, the machine table, the JSON line and file.
- `system`: CPU probes (a process, the broker, the whole machine) and the machine's description.
- `broker`: a run's isolated place on the broker: settings under a fresh topic prefix, its
  topics (made at the start, deleted at the end), the group coordinator it waits for.
- `workers`: worker subprocesses (start, check, stop) and what their logs say.
- `producing`: publishing many records, a steady background load, a probe's paced sends.
- `consuming`: reading topics without a group, counting records and committed offsets, timing an
  output topic by its CreateTime stamps.
- `content`: what every benchmark's sends carry, so the rules it does not target deny nothing.
- `gate`: the real gate under test: its verified domains handed over, a first decision, its
  group settled, its decisions counted.
- `profiles`: cProfile output summarised by whose code the time is spent in.
- `options`: the command-line options every broker benchmark takes alike.
- `run`: a script's outer frame: the broker check, the run, and the clean-up whatever happens.

The scripts run with `benchmarks/` first on `sys.path`, so they import these as `harness.<job>`.
"""

__all__: list[str] = []
