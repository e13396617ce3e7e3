"""How many CPU threads the model generates notes with, offline (render, note, eval).

torch's threads wait for each other at every operation. While another program keeps a core busy, a
thread that lands on that core holds all the others back: on a 2-core machine where another program kept
one core busy with matrix products, a cold render of Mozart's K. 525 on torch's own two threads, before
this policy, took 14.6 s against 6.6 s idle (docs/benchmarks.md, "With a busy core"). So, unless a count
is given, the count is chosen again before each batch of notes: as many threads as cores that other
programs left idle since the last choice, measured from the kernel's CPU times of the cores this process
may use (/proc/stat) minus this process's own. A core counts as busy once others used more than
BUSY_SHARE of one.
"""
from __future__ import annotations

import math
import os
import time
from typing import Callable

from ..process import settings

# Others using more than this share of a core take it: a thread there would wait on them.
BUSY_SHARE = 0.25
# Below this much time since the last measure, the CPU times are too coarse (10 ms ticks): keep the choice.
MIN_WINDOW = 0.2
TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def usable_cores() -> list[int]:
    """The cores this process may run on (its affinity: taskset, a container's cpuset), else all of them."""
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def busy_cpu_seconds(cores: list[int] | None = None, stat: str = "/proc/stat") -> float | None:
    """CPU seconds spent busy since boot on these cores (default: the usable ones), from the kernel's per-core
    lines; None where the kernel does not say."""
    wanted = {f"cpu{c}" for c in (usable_cores() if cores is None else cores)}
    try:
        with open(stat) as f:
            lines = [line.split() for line in f if line.startswith("cpu")]
    except OSError:
        return None
    busy = [sum(int(x) for x in (fields[1:4] + fields[6:9])) for fields in lines if fields[0] in wanted]
    return sum(busy) / TICKS if busy else None  # user, nice, system, then irq, softirq, steal


def own_cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


class GenerationThreads:
    """threads(): the count for the next batch. `fixed`: always that many (--threads N)."""

    def __init__(self, fixed: int | None = None, cores: int | None = None,
                 busy: Callable[[], float | None] = busy_cpu_seconds, own: Callable[[], float] = own_cpu_seconds,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep):
        if fixed is not None and fixed < 1:
            raise ValueError(f"{fixed} threads: give at least 1")
        self.fixed = fixed
        self.cores = cores or len(usable_cores())
        self._busy, self._own, self._clock, self._sleep = busy, own, clock, sleep
        self._choice: int | None = None
        self._mark = self._sample()

    def threads(self) -> int:
        if self.fixed is not None:
            return self.fixed
        now = self._sample()
        if now is None or self._mark is None:  # no /proc/stat: half the cores, as live playing uses
            return max(1, self.cores // 2)
        window = now[0] - self._mark[0]
        if self._choice is None and window < MIN_WINDOW:  # the first choice waits for a measure it can trust
            self._sleep(MIN_WINDOW - window)
            now = self._sample() or now
            window = now[0] - self._mark[0]
        if window >= MIN_WINDOW or self._choice is None:
            others = ((now[1] - self._mark[1]) - (now[2] - self._mark[2])) / max(window, 1e-9)  # cores' worth
            taken = max(0, math.ceil(others - BUSY_SHARE))
            self._choice = max(1, self.cores - taken)
            self._mark = now
        return self._choice

    def apply(self, blas: bool = False) -> int:
        """Set torch's thread count for the next batch (through the process settings, which put it back when the
        command ends), or numpy's BLAS threads' where `blas` (the numpy forward pass makes the notes); returns it."""
        count = self.threads()
        if blas:
            settings().set_blas_threads(count)
        else:
            settings().set_torch_threads(count)
        return count

    def _sample(self) -> tuple[float, float, float] | None:
        busy = self._busy()
        return None if busy is None else (self._clock(), busy, self._own())
