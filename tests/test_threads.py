"""The offline thread policy: as many threads as cores that other programs leave idle."""
from __future__ import annotations

import subprocess
import sys
import time

import pytest

from singsynth.synth.threads import MIN_WINDOW, TICKS, GenerationThreads, busy_cpu_seconds, usable_cores


class Counters:
    """CPU times as the kernel would report them, advanced by hand: busy seconds on all cores, this
    process's own seconds, the clock."""

    def __init__(self):
        self.now = self.busy = self.own = 0.0
        self.slept = 0.0

    def run(self, seconds: float, others: float, ours: float) -> None:
        self.now += seconds
        self.busy += seconds * (others + ours)
        self.own += seconds * ours

    def sleep(self, seconds: float) -> None:
        self.slept += seconds
        self.run(seconds, self.others_while_asleep, 0.0)

    others_while_asleep = 0.0

    def policy(self, cores: int = 2, fixed: int | None = None) -> GenerationThreads:
        return GenerationThreads(fixed, cores, busy=lambda: self.busy, own=lambda: self.own,
                                 clock=lambda: self.now, sleep=self.sleep)


@pytest.mark.parametrize("cores, others, ours, expected", [
    (2, 0.05, 0.3, 2),  # an idle machine: every core
    (2, 1.0, 1.0, 1),  # a core busy elsewhere is left alone
    (8, 2.6, 4.0, 5),  # others use 2.6 cores' worth: three cores taken
])
def test_threads_are_the_cores_others_leave_idle(cores, others, ours, expected):
    c = Counters()
    policy = c.policy(cores=cores)
    c.run(1.0, others=others, ours=ours)
    assert policy.threads() == expected


def test_the_choice_follows_the_load_between_batches():
    c = Counters()
    policy = c.policy(cores=2)
    c.run(1.0, others=0.0, ours=2.0)
    assert policy.threads() == 2
    c.run(0.5, others=1.0, ours=1.0)  # another program starts
    assert policy.threads() == 1
    c.run(0.05, others=0.0, ours=1.0)  # too short a window to judge: the choice stays
    assert policy.threads() == 1
    c.run(0.5, others=0.0, ours=1.0)  # it stopped
    assert policy.threads() == 2


def test_the_first_choice_waits_for_a_measure_it_can_trust():
    c = Counters()
    c.others_while_asleep = 1.0
    policy = c.policy(cores=2)
    assert policy.threads() == 1
    assert c.slept == pytest.approx(MIN_WINDOW)


def test_a_fixed_count_is_kept_and_checked():
    c = Counters()
    policy = c.policy(cores=2, fixed=3)
    c.run(1.0, others=2.0, ours=0.0)
    assert policy.threads() == 3
    with pytest.raises(ValueError):
        GenerationThreads(0)


def test_busy_seconds_are_those_of_the_usable_cores(tmp_path):
    stat = tmp_path / "stat"
    stat.write_text("cpu  30 0 3 100 0 0 0 0 0 0\ncpu0 10 0 1 50 9 0 0 0 0 0\ncpu1 20 0 2 50 0 1 1 1 0 0\n")
    assert busy_cpu_seconds([0], str(stat)) == pytest.approx(11 / TICKS)  # idle and iowait are not busy
    assert busy_cpu_seconds([0, 1], str(stat)) == pytest.approx(36 / TICKS)
    assert busy_cpu_seconds([7], str(stat)) is None


def test_without_kernel_cpu_times_half_the_cores():
    assert GenerationThreads(None, 4, busy=lambda: None).threads() == 2


@pytest.mark.skipif(busy_cpu_seconds() is None or len(usable_cores()) < 2,
                    reason="needs /proc/stat (Linux) and two cores to leave one")
def test_a_real_busy_process_takes_its_core():
    cores = len(usable_cores())
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)
        policy = GenerationThreads()
        time.sleep(0.5)
        assert policy.threads() <= cores - 1
    finally:
        busy.kill()
        busy.wait()


@pytest.mark.parametrize("command", [["render", "examples/demo.mid", "-o", "out.wav"],
                                     ["note", "--instrument", "0", "-o", "out.wav"]])
def test_threads_below_one_is_refused_in_one_line(command, tmp_path, capsys):
    from pathlib import Path

    from singsynth.cli import main
    root = Path(__file__).resolve().parents[1]
    args = [str(root / a) if a.endswith(".mid") else str(tmp_path / a) if a.endswith(".wav") else a for a in command]
    assert main([*args, "--threads", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--threads 0" in err[0]
    assert not (tmp_path / "out.wav").exists()
