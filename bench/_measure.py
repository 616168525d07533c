"""What the measured processes spend, from /proc: CPU seconds of a process tree, the main
thread's time on a core and waiting for one, the machine's other load, RSS; and texts per
second of a function called batch by batch."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "OtherLoad",
    "cpu_seconds",
    "machine_cpu_seconds",
    "main_thread_note",
    "main_thread_ns",
    "memory_mb",
    "process_tree",
    "texts_per_second",
    "worker_pids",
]


def texts_per_second(call: Callable[[Sequence[str]], Any], texts: list[str], batch: int) -> float:
    """`call` over `texts` in batches of `batch`: texts per second of wall time."""
    started = time.perf_counter()
    for start in range(0, len(texts), batch):
        call(texts[start : start + batch])
    return len(texts) / (time.perf_counter() - started)


def process_tree(pid: int) -> list[int]:
    """A process and its descendants (`run --processes N` starts children)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    tree, frontier = [pid], [pid]
    while frontier:
        children = [p for p, parent in parents.items() if parent in frontier]
        tree += children
        frontier = children
    return tree


def cpu_seconds(pids: list[int]) -> float:
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def worker_pids(tree: list[int], processes: int) -> list[int]:
    """The worker processes of a `process_tree`: its root, or with `run --processes N` the
    root's children (the root only supervises them)."""
    return tree[1:] if processes > 1 else tree[:1]


def main_thread_ns(pids: list[int]) -> dict[int, tuple[int, int, int]]:
    """Each process's main thread: nanoseconds on a core and waiting in a run queue for one;
    and its other threads' (librdkafka's) nanoseconds on a core (`/proc/PID/task/*/
    schedstat`). A main thread that is on a core for the whole span and never waits is held
    back by nothing but its own work."""
    times = {}
    for pid in pids:
        main, others = (0, 0), 0
        try:
            for task in Path(f"/proc/{pid}/task").iterdir():
                on_core, waiting, _ = (task / "schedstat").read_text().split()
                if task.name == str(pid):
                    main = (int(on_core), int(waiting))
                else:
                    others += int(on_core)
        except (OSError, ValueError):
            continue
        times[pid] = (*main, others)
    return times


def main_thread_note(
    before: dict[int, tuple[int, int, int]], after: dict[int, tuple[int, int, int]], span_s: float
) -> str:
    shares = [
        [(end - start) / 1e9 / span_s for start, end in zip(before[pid], after[pid], strict=True)]
        for pid in before
        if pid in after
    ]
    on_core, waiting, others = (", ".join(f"{s[i]:.1%}" for s in shares) for i in range(3))
    return (
        f"main thread on a core {on_core} of the span, waiting for one {waiting}; "
        f"the other threads on a core {others}"
    )


def machine_cpu_seconds() -> float:
    """Busy CPU seconds of the whole machine since boot (all cores, from /proc/stat)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


class OtherLoad:
    """CPU seconds that neither the measured processes, nor the broker, nor this benchmark
    spent: other users of the machine, whose load the figures of a run share."""

    def __init__(self, broker_pid: int) -> None:
        self.broker_pid = broker_pid
        self._start = 0.0
        self._broker_start = 0.0

    def _ours(self, pids: list[int]) -> float:
        own = os.times()
        return cpu_seconds([*pids, self.broker_pid]) + own.user + own.system

    def start(self, pids: list[int]) -> None:
        self._start = machine_cpu_seconds() - self._ours(pids)
        self._broker_start = cpu_seconds([self.broker_pid])

    def broker_seconds(self) -> float:
        """CPU seconds the broker spent since `start`: it shares the two cores."""
        return cpu_seconds([self.broker_pid]) - self._broker_start

    def seconds(self, pids: list[int]) -> float:
        return max(0.0, machine_cpu_seconds() - self._ours(pids) - self._start)


def memory_mb(pid: int, field_name: str) -> float:
    """VmRSS or VmHWM (peak) of a live process, in MB."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    line = next((ln for ln in status.splitlines() if ln.startswith(field_name)), None)
    return int(line.split()[1]) / 1024 if line else 0.0
