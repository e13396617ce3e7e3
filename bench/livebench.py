"""Shared pieces of the JACK benchmarks: synthesizer processes, singsynth's status line, a streaming rig, memory.

The rig of tests/jack_helpers.py sends a short list of events and records one take; StreamRig keeps one
clock from arm() on, sends long schedules (hundreds of thousands of events, packed in numpy arrays),
takes events to send at once, and records as much as it is given room for.
"""
from __future__ import annotations

import collections
import math
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from jack_helpers import JackServer, Rig  # noqa: E402

SOUNDFONT = "/usr/share/sounds/sf3/FluidR3Mono_GM.sf3"
STATUS = re.compile(r"voices\s+(\d+) \| cache (\d+) hits (\d+) misses \| underruns (\d+)(?: \| generating (\d+))?"
                    r"(?: \| voice limit (\d+), (\d+) faded early)?(?: \| stood in (\d+))?")
# the line `listen` logs when it stops (live.Summary.line)
SUMMARY = re.compile(r"(\d+) MIDI events, (\d+) blocks, (\d+) underruns \((\d+) frames of silence\)")
SILENCE_DBFS = -60.0


def start(command: list[str], env: dict, stdin=None) -> subprocess.Popen:
    """A synthesizer process; read its stderr (StatusReader) on a long run, or a full pipe stops it."""
    return subprocess.Popen(command, env=env, stdin=stdin, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def fluidsynth_command(soundfont: str, client: str, sample_rate: int = 48_000, *options: str) -> list[str]:
    """`fluidsynth -a jack -m jack` as the benchmarks run it: audio and MIDI under the JACK name `client`.
    Start it with stdin=subprocess.PIPE: its shell then waits on the pipe, and closing it ends the shell."""
    command = ["fluidsynth", "-a", "jack", "-m", "jack", "-o", f"audio.jack.id={client}",
               "-o", f"midi.jack.id={client}", "-o", f"synth.sample-rate={sample_rate}"]
    for option in options:
        command += ["-o", option]
    return command + [soundfont]


class StatusReader:
    """Follows singsynth's status line (stderr, '\\r'-separated) from a thread.

    Other lines (log messages, the summary at exit) are kept in `log` (the last 200) and tracebacks are
    counted; `closed` is set when stderr ends."""

    def __init__(self, stream):
        self.voices = self.underruns = self.pending = 0
        self.hits = self.misses = 0  # the note cache's
        self.max_voices = 0
        self.shed = 0  # voices faded early because blocks took too long to mix (live voice limit)
        self.lines = 0
        self.tracebacks = 0
        self.log: collections.deque[str] = collections.deque(maxlen=200)
        self.closed = threading.Event()
        self._stream = stream
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        buffer = ""
        while True:
            chunk = os.read(self._stream.fileno(), 4096)
            if not chunk:
                if buffer.strip():
                    self.log.append(buffer.strip())
                self.closed.set()
                return
            *lines, buffer = re.split(r"[\r\n]", buffer + chunk.decode(errors="replace"))
            for line in lines:
                match = STATUS.search(line)
                if match:
                    self.voices, self.underruns = int(match[1]), int(match[4])
                    self.hits, self.misses = int(match[2]), int(match[3])
                    self.pending = int(match[5] or 0)
                    self.shed = int(match[7] or 0)
                    self.max_voices = max(self.max_voices, self.voices)
                    self.lines += 1
                elif line.strip():
                    self.log.append(line.strip())
                    self.tracebacks += line.startswith("Traceback")

    def settle(self, timeout: float = 10.0) -> bool:
        """Wait until nothing sounds and nothing is being generated."""
        deadline = time.monotonic() + timeout
        seen = self.lines
        while time.monotonic() < deadline:
            if self.lines > seen + 1 and self.voices == 0 and self.pending == 0:
                return True
            time.sleep(0.1)
        return False

    def drained(self, timeout: float) -> float | None:
        """Seconds until the status line shows nothing being generated (None: not within timeout)."""
        t0 = time.monotonic()
        seen = self.lines
        while time.monotonic() - t0 < timeout:
            if self.lines > seen and self.pending == 0:
                return time.monotonic() - t0
            time.sleep(0.05)
        return None

    def summary(self, timeout: float = 10.0) -> dict[str, int] | None:
        """The exit summary (events, blocks, underruns, missing_frames), once the process has ended."""
        self.closed.wait(timeout)
        for line in reversed(self.log):
            match = SUMMARY.search(line)
            if match:
                return dict(zip(("events", "blocks", "underruns", "missing_frames"), map(int, match.groups())))
        return None

    def find(self, pattern: str) -> re.Match | None:
        """The last logged line matching `pattern`."""
        for line in reversed(self.log):
            match = re.search(pattern, line)
            if match:
                return match
        return None


def children(pid: int) -> list[int]:
    """The process's child processes (their parent's id, from /proc/*/stat)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[1] == str(pid):
            found.append(int(stat.parent.name))
    return found


class MemoryProbe:
    """Samples a process's resident memory with its children's (/proc/PID/status VmRSS) every `interval` seconds
    in a thread.

    `samples` holds (seconds since start, RSS MiB); peak() is the kernel's high-water mark (VmHWM), which
    also catches peaks between samples."""

    def __init__(self, pid: int, interval: float = 0.5):
        self.pid = pid
        self.interval = interval
        self.samples: list[tuple[float, float]] = []
        self.hwm = 0.0
        self._t0 = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def read(self) -> tuple[float, float] | None:
        """(VmRSS, VmHWM) in MiB now, of the process and its children (singsynth's note generator runs in a
        child process: synth/worker.py; the high-water marks summed, an upper bound), or None once it is gone."""
        own = self._read(self.pid)
        if own is None:
            return None
        for child in children(self.pid):
            more = self._read(child)
            if more is not None:
                own = (own[0] + more[0], own[1] + more[1])
        return own

    @staticmethod
    def _read(pid: int) -> tuple[float, float] | None:
        try:
            text = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            return None
        fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
        try:
            return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024
        except (KeyError, ValueError, IndexError):  # a zombie has no memory lines
            return None

    def elapsed(self) -> float:
        """Seconds since the probe started: the time base of `samples`."""
        return time.monotonic() - self._t0

    def sample(self) -> float | None:
        now = self.read()
        if now is None:
            return None
        self.samples.append((time.monotonic() - self._t0, now[0]))
        self.hwm = max(self.hwm, now[1])
        return now[0]

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            if self.sample() is None:
                return

    def peak(self) -> float:
        self.sample()
        return self.hwm

    def parts(self) -> list[tuple[str, float]]:
        """Each process's own high-water mark (VmHWM, MiB) now: the process's, then its children's by name."""
        found = []
        for pid in [self.pid, *children(self.pid)]:
            try:
                name = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            own = self._read(pid)
            if own is not None:
                kind = "player" if pid == self.pid else ("worker" if "spawn_main" in name else
                                                          "resource tracker" if "resource_tracker" in name else "child")
                found.append((kind, own[1]))
        return found

    def stop(self) -> None:
        self.sample()
        self._stop.set()
        self._thread.join(timeout=5)


def pack(events: list[tuple[int, bytes]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(frame, MIDI bytes) pairs -> frames [N] int64, data [N, 3] uint8, sizes [N] uint8, sorted by frame."""
    events = sorted(events, key=lambda e: e[0])
    frames = np.array([f for f, _ in events], np.int64)
    data = np.zeros((len(events), 3), np.uint8)
    sizes = np.array([len(d) for _, d in events], np.uint8)
    for i, (_, message) in enumerate(events):
        data[i, :len(message)] = np.frombuffer(message, np.uint8)
    return frames, data, sizes


class StreamRig(Rig):
    """A Rig with one clock from arm() on: `position` counts frames since then, and never resets.

    schedule() sends packed events at absolute frames, one schedule after another; send_now() sends
    messages at the start of the next period (their frames land in `sent_now`). Audio is recorded from
    frame `record_start` on, as far as `audio` (record_seconds) has room; `peaks` keeps each period's
    peak for the whole run. Events JACK refused (a full MIDI buffer) are counted in `unsent`.
    """

    def __init__(self, server: JackServer, record_seconds: float, name: str = "rig"):
        # set before Rig activates the client: the process callback may run at once
        import jack
        self._refused = jack.JackError
        # [frames, data, sizes, index of the next to send]: one list, swapped whole by schedule()
        self._schedule: list = [np.zeros(0, np.int64), np.zeros((0, 3), np.uint8), np.zeros(0, np.uint8), 0]
        self._now: collections.deque[bytes] = collections.deque()
        self.sent_now: list[tuple[int, bytes]] = []
        self.sent = self.unsent = 0
        self.peaks: list[float] = []
        self.record_start = 0  # the frame recorded at audio[0]
        super().__init__(server, record_seconds, name=name)

    def arm(self) -> None:
        self.position = 0
        self.armed = True

    def schedule(self, frames: np.ndarray, data: np.ndarray, sizes: np.ndarray) -> None:
        """Send events (from pack()) at absolute frames; those already past go out at once.
        The previous schedule must have been sent (not busy)."""
        if self.busy:
            raise RuntimeError("schedule() while the previous schedule is still being sent")
        self._schedule = [frames, data, sizes, 0]

    def send_now(self, messages: list[bytes]) -> None:
        self._now.extend(messages)

    @property
    def busy(self) -> bool:
        """Scheduled events are still to be sent."""
        return self._schedule[3] < len(self._schedule[0])

    def _write(self, offset: int, message) -> None:
        try:
            self.midi_out.write_midi_event(offset, message)
            self.sent += 1
        except self._refused:
            self.unsent += 1

    def _process(self, frames: int) -> None:
        self.midi_out.clear_buffer()
        if not self.armed:
            return
        start = self.position
        end = start + frames
        while self._now:  # offset 0, before the scheduled ones: JACK wants events in time order
            message = self._now.popleft()
            self._write(0, message)
            self.sent_now.append((start, message))
        current = self._schedule
        schedule, data, sizes, i = current
        while i < len(schedule) and schedule[i] < end:
            self._write(max(int(schedule[i]) - start, 0), data[i, :sizes[i]])
            i += 1
        current[3] = i
        left, right = self.inputs[0].get_array(), self.inputs[1].get_array()
        self.peaks.append(max(float(np.abs(left).max()), float(np.abs(right).max())))
        at = start - self.record_start
        if 0 <= at < len(self.audio):
            n = min(frames, len(self.audio) - at)
            self.audio[at:at + n, 0] = left[:n]
            self.audio[at:at + n, 1] = right[:n]
        self.position = end

    def wait_until(self, frame: int, stall: float = 10.0) -> None:
        """Block until the clock reaches `frame`; RuntimeError if it stands still `stall` seconds."""
        last, since = self.position, time.monotonic()
        while self.position < frame:
            time.sleep(0.02)
            if self.position != last:
                last, since = self.position, time.monotonic()
            elif time.monotonic() - since > stall:
                raise RuntimeError(f"the JACK clock stood still for {stall:.0f} s")

    def wait_quiet(self, hold: float = 0.3, timeout: float = 10.0, threshold_dbfs: float = SILENCE_DBFS) -> bool:
        """Wait until every period of the last `hold` seconds peaked below threshold_dbfs."""
        threshold = 10 ** (threshold_dbfs / 20)
        periods = max(1, math.ceil(hold * self.rate / self.client.blocksize))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            recent = self.peaks[-periods:]
            if len(recent) == periods and max(recent) < threshold:
                return True
            time.sleep(0.05)
        return False


def probe(rig: StreamRig, messages: list[bytes], release: list[bytes], hold: float = 0.3,
          timeout: float = 5.0) -> float | None:
    """Send `messages` (ending with a note-on) now, `release` `hold` seconds later; return the seconds from
    the note-on to the first period above -60 dBFS (period resolution), None if none within `timeout`."""
    threshold = 10 ** (SILENCE_DBFS / 20)
    period = rig.client.blocksize
    sent = len(rig.sent_now) + len(messages)
    rig.send_now(messages)
    t0 = time.monotonic()
    while len(rig.sent_now) < sent:
        if time.monotonic() - t0 > 10:
            raise RuntimeError("the probe was not sent in 10 s (JACK stalled?)")
        time.sleep(0.005)
    frame = rig.sent_now[sent - 1][0]
    first, scanned, released = None, frame // period, False
    while first is None and rig.position < frame + timeout * rig.rate:
        if not released and rig.position >= frame + hold * rig.rate:
            rig.send_now(release)
            released = True
        peaks = rig.peaks
        for i in range(scanned, len(peaks)):
            if peaks[i] > threshold:
                first = i
                break
        scanned = len(peaks)
        time.sleep(0.01)
    if not released:
        rig.send_now(release)
    return None if first is None else max(first * period - frame, 0) / rig.rate


def dbfs(x: float) -> float:
    return 20 * math.log10(x) if x > 0 else -math.inf


def level(audio: np.ndarray) -> tuple[float, float]:
    """(peak, RMS) of a stereo segment, in dBFS."""
    if not len(audio):
        return math.nan, math.nan
    return dbfs(float(np.abs(audio).max())), dbfs(float(np.sqrt(np.mean(np.square(audio, dtype=np.float64)))))


def silent_after(audio: np.ndarray, start: int, rate: int, threshold_dbfs: float = SILENCE_DBFS,
                 hop: float = 0.01) -> float | None:
    """Seconds from `start` until the sound stays below threshold_dbfs to the end of `audio` (None: never)."""
    threshold = 10 ** (threshold_dbfs / 20)
    loud = np.flatnonzero(np.abs(audio[start:]).max(axis=1) > threshold)
    if not len(loud):
        return 0.0
    last = int(loud[-1]) + 1
    if start + last >= len(audio) - int(hop * rate):
        return None
    return last / rate


def fmt_db(value: float) -> str:
    return "silent" if value == -math.inf else ("-" if math.isnan(value) else f"{value:.1f}")
