"""System probes: the CPU a process, the local broker or the whole machine used, and a process's
resident memory (Linux /proc), and the machine's description printed beside the figures.

A figure only means something beside the load it was measured under: a contender at one full
core is bound by its own work, one well below it is waiting; a busy machine (someone else's
processes) makes every figure slower.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import time
from pathlib import Path

from streams.core.settings import PROJECT_ROOT

__all__ = [
    "CpuMeter",
    "LoadSampler",
    "broker_pid",
    "machine_busy_cpu_seconds",
    "machine_info",
    "process_cpu_seconds",
    "process_rss_bytes",
]

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds a process has used so far (Linux /proc), None if unknown."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def process_rss_bytes(pid: int) -> int | None:
    """A process's resident memory now (VmRSS of Linux /proc), None if unknown (it has exited).

    Resident, not virtual: what the process holds in RAM, the figure that grows when it leaks
    and that the kernel's OOM killer looks at."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024  # kB
    except (OSError, IndexError, ValueError):
        return None
    return None


def machine_busy_cpu_seconds() -> float | None:
    """CPU seconds all cores together have spent busy since boot (Linux /proc/stat: everything
    but idle and iowait), None if unknown. Two samples tell how loaded the whole machine was,
    other people's processes included."""
    try:
        values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    except (OSError, IndexError, ValueError):
        return None
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return (sum(values) - idle) / _CLOCK_TICKS


def broker_pid() -> int | None:
    """The local Kafka broker's process id, if it runs on this machine: the one this checkout's
    `scripts/services` started when it runs (other checkouts may run brokers of their own on
    other ports), else the first found."""
    try:
        started = int((PROJECT_ROOT / ".data" / "kafka" / "broker.pid").read_text().strip())
        if b"kafka.Kafka" in (Path("/proc") / str(started) / "cmdline").read_bytes():
            return started
    except (OSError, ValueError):
        pass
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if b"kafka.Kafka" in command:
            return int(entry.name)
    return None


class CpuMeter:
    """Samples the CPU time of some processes, to tell a busy process from a waiting one."""

    def __init__(self, pids: dict[str, int | None]) -> None:
        self._pids = {name: pid for name, pid in pids.items() if pid is not None}
        self.samples: list[tuple[float, dict[str, float]]] = []

    def sample(self) -> None:
        cpu = {name: process_cpu_seconds(pid) for name, pid in self._pids.items()}
        self.samples.append(
            (time.monotonic(), {name: value for name, value in cpu.items() if value is not None})
        )

    def share(self, first: int = 0, last: int = -1) -> dict[str, float]:
        """Per process, CPU seconds per wall second between two samples (1.0 = one full core)."""
        (start, before), (end, after) = self.samples[first], self.samples[last]
        wall = max(end - start, 1e-9)
        return {name: (after[name] - before[name]) / wall for name in after if name in before}


class LoadSampler:
    """A CpuMeter plus the machine's busy CPU, sampled together: how much of the machine the
    measured processes used, and how much everybody else did meanwhile."""

    def __init__(self, pids: dict[str, int | None]) -> None:
        self.meter = CpuMeter(pids)
        self.machine: list[float | None] = []
        self.wall: list[float] = []

    def sample(self) -> None:
        self.meter.sample()
        self.machine.append(machine_busy_cpu_seconds())
        self.wall.append(time.monotonic())

    def shares(self) -> dict[str, float]:
        """Cores busy between the first and last sample: each process's, the whole machine's and
        the rest (everybody else's processes)."""
        if len(self.meter.samples) < 2:
            return {}
        shares = self.meter.share()
        machine, wall = self.machine, self.wall
        if machine[0] is not None and machine[-1] is not None and wall[-1] > wall[0]:
            shares["whole machine"] = (machine[-1] - machine[0]) / (wall[-1] - wall[0])
            shares["everything else"] = shares["whole machine"] - sum(
                value for name, value in shares.items() if name != "whole machine"
            )
        return shares


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _ram_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return float("nan")


def _kafka_version() -> str:
    """The broker version from the jars scripts/services runs (`kafka_2.13-X.Y.Z.jar`)."""
    jars = sorted((PROJECT_ROOT / ".data" / "kafka" / "libs").glob("kafka_2.*-*.jar"))
    for jar in jars:
        version = jar.stem.split("-", 1)[1]
        if version[:1].isdigit():
            return version
    return "unknown (not the scripts/services broker)"


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "-"


def machine_info(partitions: int) -> dict[str, str]:
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    return {
        "cpu cores (os.cpu_count)": str(os.cpu_count()),
        "cpu model": _cpu_model(),
        "ram": f"{_ram_gib():.1f} GiB",
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "kafka broker": f"{_kafka_version()} (KRaft, one node, on the same machine)",
        "partitions": str(partitions),
        "libraries": ", ".join(
            f"{name} {_version(name)}"
            for name in ("faust-streaming", "aiokafka", "fastavro", "pydantic", "rocksdict")
        ),
        "load average at end (1/5/15 min)": " ".join(f"{value:.2f}" for value in load),
    }
