"""The producer loop: MIDI events -> Engine.process -> ring buffer, with a status line and a clean stop."""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Protocol, Sequence

import numpy as np

from ..io.audio import RingBuffer
from .ahead import PlayAhead
from .coalesce import coalesce
from .schedule import Schedule

if TYPE_CHECKING:
    from ..io.midi_ports import EventQueue

logger = logging.getLogger(__name__)

# On stop, notes get this long to fade by their own release, then a short fade silences the rest.
RELEASE_SECONDS = 0.25
FADE_SECONDS = 0.02
# The device has stopped taking audio if its clock stands still this long (a JACK server that
# dropped the client, a device unplugged without an error): stop instead of waiting forever.
STALL_SECONDS = 2.0
# Live: the most MIDI messages placed in one block; more wait for the next blocks (in a bounded
# midi_ports.EventQueue), so a flood of events cannot stall the audio on one huge block.
MAX_EVENTS_PER_BLOCK = 512
# Live: a block with a cold note may wait this share of a block period for the note's first chunk
# before it is mixed. A block queued ahead still plays meanwhile, so the device never waits; the note
# then starts on time instead of a block or two late. The wait leaves room to make the block: never
# longer than a period less RENDER_MARGIN times the time blocks have been taking.
FIRST_CHUNK_WAIT = 0.5
RENDER_MARGIN = 1.5


class EngineLike(Protocol):
    def process(self, events: Sequence[tuple[int, object]], frames: int) -> np.ndarray: ...
    def all_notes_off(self) -> None: ...
    def all_sound_off(self) -> None: ...
    @property
    def idle(self) -> bool: ...
    @property
    def stats(self) -> dict: ...


@dataclass
class Summary:
    blocks: int = 0
    events: int = 0
    late_events: int = 0  # live events that waited longer than a block before being placed
    coalesced: int = 0  # controllers, bends and pressures merged into a later one of the same block (coalesce.py)
    underruns: int = 0
    missing_frames: int = 0

    def line(self) -> str:
        return (f"{self.events} MIDI events, {self.blocks} blocks, {self.underruns} underruns "
                f"({self.missing_frames} frames of silence)")


def engine_stats(engine: EngineLike) -> dict:
    stats = engine.stats
    return stats() if callable(stats) else stats


def status_line(stats: dict, ring: RingBuffer) -> str:
    """One line for the terminal: what is sounding and whether audio keeps up."""
    hits, misses = int(stats.get("cache_hits", 0)), int(stats.get("cache_misses", 0))
    line = (f"voices {int(stats.get('voices', 0)):3d} | cache {hits} hits {misses} misses | "
            f"underruns {ring.underruns}")
    pending = int(stats.get("pending", 0))
    line += f" | generating {pending}" if pending else ""
    shed = int(stats.get("shed", 0))
    line += f" | voice limit {int(stats.get('voice_limit', 0))}, {shed} faded early" if shed else ""
    stood_in = int(stats.get("stood_in", 0))
    return line + (f" | stood in {stood_in}" if stood_in else "")


class Producer:
    """Renders `block` frames at a time ahead of the device, the next one once less than `target_blocks` are
    left to play: more is safer, fewer is less latency. Runs in the caller's thread; the device callback only
    copies."""

    def __init__(self, engine: EngineLike, ring: RingBuffer, sample_rate: int, block: int = 256,
                 target_blocks: float = 1.5, status: Callable[[str], None] | None = None,
                 status_interval: float = 0.25, alive: Callable[[], bool] | None = None):
        if target_blocks * block > ring.capacity:
            raise ValueError(f"ring of {ring.capacity} frames cannot hold {target_blocks} blocks of {block}")
        self.engine = engine
        self.ring = ring
        self.sample_rate = sample_rate
        self.block = block
        # frames to be heard (ring.queued) below which the next block is made: the block the device plays
        # now counts for what remains of it, so a target of 1.5 blocks makes each block half a period after
        # the device took the one before, with a block and a half of audio still to play
        self.target = round(target_blocks * block)
        self.status = status
        self.status_interval = status_interval
        self.summary = Summary()
        # the device side can die under us (JACK server gone, device unplugged): stop rather than wait
        self._device_alive = alive or (lambda: True)
        self.stalled = False
        self._clock = (-1, 0.0)  # (frames the device had read, when that was first seen)
        self._next_status = 0.0
        self.render_seconds = 0.0  # how long a block has been taking to make (smoothed)

    # -- the two sources of events --

    def run_live(self, messages: "EventQueue", stop: threading.Event,
                 clock: Callable[[], float] = time.monotonic) -> Summary:
        """Play messages stamped on arrival (midi_ports.stamping into a midi_ports.EventQueue) until `stop` is set.

        The events that arrived since the last block land in the next one as soon as they can: the first
        at its start, the others after it as far apart as they arrived, so key presses keep their spacing
        within a block. One that waited more than a period is late. At most MAX_EVENTS_PER_BLOCK are
        placed in a block; the rest wait in the queue for the next ones.
        """
        period = self.block / self.sample_rate

        def events() -> list[tuple[int, object]]:
            now = clock()
            placed = []
            taken = messages.take(MAX_EVENTS_PER_BLOCK)
            kept = coalesce(taken)
            self.summary.coalesced += len(taken) - len(kept)
            taken = kept
            first = max(min((stamp for stamp, _ in taken), default=now), now - period)
            for stamp, message in taken:
                offset = round((stamp - first) * self.sample_rate)
                if offset < 0:
                    self.summary.late_events += 1
                placed.append((min(max(offset, 0), self.block - 1), message))
            placed.sort(key=lambda e: e[0])
            wait = min(FIRST_CHUNK_WAIT * period, period - RENDER_MARGIN * self.render_seconds)
            if wait > 0:
                self._await_first_chunks(placed, now + wait, clock)
            return placed

        messages.on_arrival = getattr(self.engine, "prefetch", None)
        try:
            self._loop(events, stop.is_set)
        finally:
            messages.on_arrival = None
        return self._stop()

    def run_schedule(self, schedule: Schedule, stop: threading.Event, ahead: PlayAhead | None = None) -> Summary:
        """Play a file's schedule against the audio clock: an event at t seconds sounds t * sample_rate
        frames after the first frame written, whatever the producer's own timing. `ahead`: the file's notes
        asked of the generator ahead of the playhead, in the file's order (ahead.py)."""
        if schedule.block != self.block:
            raise ValueError(f"a schedule of {schedule.block}-frame blocks for a producer of {self.block}")
        played = schedule.played
        if ahead is not None:
            ahead.advance(0)

            def played(idle: bool) -> None:
                schedule.played(idle)
                ahead.advance(schedule.frame)
        self._loop(lambda: schedule.take(), lambda: stop.is_set() or schedule.finished, played)
        return self._stop()

    def _await_first_chunks(self, placed: list[tuple[int, object]], deadline: float,
                            clock: Callable[[], float]) -> None:
        """Wait (until `deadline`, and only while a block is still queued for the device) for the cold
        notes of these events to have their first streamed chunk."""
        if not placed:
            return
        checks = getattr(self.engine, "first_chunks", None)  # planned once, then cheap to ask again
        if checks is not None:
            ready = checks(placed)
        elif hasattr(self.engine, "notes_ready"):
            ready = lambda: self.engine.notes_ready(placed)  # noqa: E731
        else:
            return
        while (not ready() and clock() < deadline and self.ring.available() >= self.block
               and self.alive()):
            time.sleep(self.block / self.sample_rate / 16)

    def alive(self) -> bool:
        """The device is running and still taking frames."""
        if self.stalled or not self._device_alive():
            return False
        now, read = time.monotonic(), self.ring.read
        if read != self._clock[0] or self.ring.queued(self.sample_rate) < self.target:
            self._clock = (read, now)
        elif now - self._clock[1] > STALL_SECONDS:
            logger.error("the audio device took no audio for %.0f s: stopping", STALL_SECONDS)
            self.stalled = True
            return False
        return True

    # -- the loop --

    def _loop(self, events: Callable[[], list[tuple[int, object]]], finished: Callable[[], bool],
              played: Callable[[bool], None] | None = None) -> None:
        """Render the next block whenever one is due; `played(idle)` after each block."""
        # Sleep a fraction of a block: short enough to refill in time, long enough not to spin a core.
        nap = self.block / self.sample_rate / 4
        while not finished() and self.alive():
            self._report()
            if not self.due():
                time.sleep(nap)
                continue
            self._render(events())
            if played is not None:
                played(self.engine.idle)

    def due(self, now: float | None = None) -> bool:
        """Whether the next block is to be made now: less than the target is left to play, or the ring holds
        less than the device's next read will take (as much as its last), whatever is still playing."""
        return (self.ring.queued(self.sample_rate, now) < self.target
                or self.ring.available() < self.ring.last_read[1])

    def _render(self, placed: list[tuple[int, object]]) -> None:
        started = time.perf_counter()
        out = self.engine.process(placed, self.block)
        self.render_seconds += 0.2 * (time.perf_counter() - started - self.render_seconds)
        self.summary.blocks += 1
        self.summary.events += len(placed)
        written = 0
        while written < len(out):  # the ring holds far more than a block: this waits at most a moment
            written += self.ring.write(out[written:])
            if written < len(out):
                if not self.alive():
                    return
                time.sleep(self.block / self.sample_rate / 4)

    def _play_out(self, seconds: float) -> None:
        """Render `seconds` more without events, paced like the loop."""
        for _ in range(max(1, round(seconds * self.sample_rate / self.block)) if self.alive() else 0):
            while not self.due() and self.alive():
                time.sleep(self.block / self.sample_rate / 4)
            self._render([])

    def _report(self) -> None:
        if self.status is None:
            return
        now = time.monotonic()
        if now >= self._next_status:
            self._next_status = now + self.status_interval
            self.status(status_line(engine_stats(self.engine), self.ring))

    def _stop(self) -> Summary:
        """All notes off, a moment of release, all sound off (no click), then stop counting underruns."""
        self.engine.all_notes_off()
        self._play_out(RELEASE_SECONDS)
        self.engine.all_sound_off()
        self._play_out(FADE_SECONDS)
        # the device is left to drain what is queued; what it then lacks is the end, not an underrun
        deadline = time.monotonic() + 4 * self.target / self.sample_rate + 0.1
        while self.ring.available() > 0 and time.monotonic() < deadline and self.alive():
            time.sleep(self.block / self.sample_rate / 4)
        self.ring.armed = False
        self.summary.underruns = self.ring.underruns
        self.summary.missing_frames = self.ring.missing
        return self.summary
