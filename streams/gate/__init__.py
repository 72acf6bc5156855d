"""The worker: the faust app, its tables and agents, the batch decider and the fences.

The only layer that imports faust. Agents decode, call the pure layers, and emit; the edges
(`streams.edges`) never import this package, and the CLI reaches it only when `sendgate worker`
runs.
"""
