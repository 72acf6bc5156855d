"""The parts of `replay_speed.py`: the raw read it is compared with (`raw`), the replays it
times and the stricter policy it tries (`replays`), where a replay's time goes (`stages`), its
figures and checks (`figures`) and its tables (`printing`). The script holds the scenario; the
traffic comes from `throughput.phases`, the same as `gate_throughput.py`'s."""

__all__: list[str] = []
