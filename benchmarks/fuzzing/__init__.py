"""The fuzzing targets that `benchmarks/fuzz.py` runs at full size and `tests/fuzz` runs small.

One module per target, each a `Target`: a case generator that draws only from the `Random` it is
handed (so a seed replays a run, and hypothesis can drive it in the tests) and an oracle that
sorts one case into accepted or rejected-with-a-reason, letting anything else escape as a crash.
The generators live here rather than under `tests/` because the benchmark scripts import by
package name from `benchmarks/` and the tests already import the benchmarks' pure parts that way.

- `engine`: `Target`, `Outcome`, `Tally` (counts, reasons, crashes, times) and the per-case
  watchdog and time limit.
- `mutate`: byte and text mutations shared by the targets.
- `parser`, `codec`, `tokens`, `one_click`, `intake`, `publish`: the targets.
- `targets`: the registry, by name, built lazily so a worker process builds only what it runs.
"""

__all__: list[str] = []
