"""A timeline of MIDI events fed to the engine block by block (Schedule: render, play, the tests and the benchmarks
share it), and the offline loop that plays it through as fast as it goes (play_through, render_file)."""
from __future__ import annotations

import logging
from typing import Callable, Sequence

import mido
import numpy as np

from ..gm import CC
from ..io.midi import to_frames
from ..io.progress import progress_bar

logger = logging.getLogger(__name__)

BLOCK = 1024
OFFLINE_BLOCK = 16384
# After the last event every pedal comes up and every key is released; playing stops once the engine
# has been idle this long in all, or, if voices still sound, this long after the last event (no note
# outlasts a SING note, 4 s, plus its release).
IDLE_TAIL_SECONDS = 0.25
MAX_TAIL_SECONDS = 30.0


def end_of_file() -> list[mido.Message]:
    """Sustain pedal up and all notes off on every channel."""
    return [mido.Message("control_change", channel=channel, control=control, value=0)
            for channel in range(16) for control in (CC.SUSTAIN, CC.ALL_NOTES_OFF)]


class Schedule:
    """(seconds, message) events placed into blocks of `block` frames, at their offsets within each block.

    Without `frames` it plays a whole file: after the last event, end_of_file(), then until the engine
    has been idle IDLE_TAIL_SECONDS; `end_frame` is where the file ends (its end of track: io.midi.MidiEvents),
    which play_through's audio reaches whatever sounds before it. With `frames` it plays exactly that many frames (rounded up to whole
    blocks) and releases nothing: a moment of a performance, as the tests play it.

        schedule = Schedule(events, rate, block)
        while not schedule.finished:
            out = engine.process(schedule.take(), block)
            schedule.played(engine.idle)
    """

    def __init__(self, events: Sequence[tuple[float, mido.Message]], sample_rate: int, block: int = BLOCK,
                 frames: int | None = None):
        self.timed = to_frames(sorted(events, key=lambda e: e[0]), sample_rate)
        self.sample_rate = sample_rate
        self.block = block
        self.frames = frames
        self.last_event = self.timed[-1][0] if self.timed else 0
        self.end_frame = max(int(round(getattr(events, "end", 0.0) * sample_rate)), self.last_event)
        self.frame = 0  # frames played so far
        self.finished = frames is not None and frames <= 0
        self._next = 0  # index of the first event not yet taken
        self._released = frames is not None  # a moment of a performance releases nothing at its end
        self._idle_frames = 0

    def take(self) -> list[tuple[int, mido.Message]]:
        """The events of the next block, with their offsets within it."""
        now = []
        end = self.frame + self.block
        while self._next < len(self.timed) and self.timed[self._next][0] < end:
            at, message = self.timed[self._next]
            now.append((at - self.frame, message))
            self._next += 1
        if self._next == len(self.timed) and not self._released:
            at = now[-1][0] if now else 0
            now += [(at, message) for message in end_of_file()]
            self._released = True
        return now

    def played(self, idle: bool) -> None:
        """Count the block just played; `idle`: nothing sounds in the engine after it."""
        self.frame += self.block
        if self.frames is not None:
            self.finished = self.frame >= self.frames
            return
        if not self._released:
            return
        if idle:
            self._idle_frames += self.block
            if self._idle_frames >= int(IDLE_TAIL_SECONDS * self.sample_rate):
                self.finished = True
                return
        if self.frame - self.last_event > MAX_TAIL_SECONDS * self.sample_rate:
            logger.warning("voices still sounding %g s after the last event: stopping", MAX_TAIL_SECONDS)
            self.finished = True


def play_through(engine, schedule: Schedule, write: Callable[[np.ndarray], None], progress: bool = False) -> int:
    """Play a schedule through the engine as fast as it goes, handing the audio to `write`; returns frames.

    A whole file ends at the later of its own end (Schedule.end_frame: its end of track) and IDLE_TAIL_SECONDS
    after its last sound (the effects' tail included), to the sample, whatever the block size."""
    rate = schedule.sample_rate
    out = TrailingSilence(write, schedule.block) if schedule.frames is None else None
    frames = 0
    with progress_bar(progress, total=round(schedule.last_event / rate + 1.0, 1), unit="s", desc="render", leave=False,
                      bar_format="{l_bar}{bar}| {n:.1f}/{total:.1f} s [{elapsed}<{remaining}]") as bar:
        while not schedule.finished:
            block = engine.process(schedule.take(), schedule.block)
            schedule.played(engine.idle)
            bar.update(schedule.block / rate)
            if out is None:
                write(block)
                frames += len(block)
            else:
                out.add(block)
    if out is None:
        return frames
    # idle: what follows is silence; else (stopped at MAX_TAIL_SECONDS) nothing past what was played
    tail = int(IDLE_TAIL_SECONDS * rate)
    tail = tail if engine.idle else min(out.held, tail)
    return out.finish(max(tail, schedule.end_frame - out.written))


class TrailingSilence:
    """Hands audio on to `write`, holding silence back until sound follows it, so that the end can be cut a set
    number of frames after the last sound."""

    def __init__(self, write: Callable[[np.ndarray], None], block: int):
        self.write, self.block = write, block
        self.held = 0  # silent frames not written yet
        self.written = 0

    def add(self, audio: np.ndarray) -> None:
        if audio[-1].any():  # sounding to its end, as most blocks of a piece are: no search
            last = len(audio)
        else:
            sounding = np.flatnonzero(audio.any(axis=1))
            if not len(sounding):
                self.held += len(audio)
                return
            last = int(sounding[-1]) + 1
        self._silence(self.held)
        self.write(audio[:last])
        self.written += last
        self.held = len(audio) - last

    def finish(self, tail: int) -> int:
        """Write `tail` frames of silence after the last sound; returns the frames written in all."""
        self._silence(tail)
        return self.written

    def _silence(self, frames: int) -> None:
        for start in range(0, frames, self.block):
            self.write(np.zeros((min(self.block, frames - start), 2), dtype=np.float32))
        self.written += frames


def render_file(engine, events, write: Callable[[np.ndarray], None], progress: bool = False,
                whole_notes: bool = False) -> int:
    """Render a whole file offline: every note it needs made first (in batches, cached ones read back; each
    only as long as the file plays it, note_uses.py, unless `whole_notes`), then mixed in OFFLINE_BLOCK-frame
    blocks. The same sound as BLOCK-frame blocks (within float rounding, tests/test_offline_render.py) while no
    voice is stolen; long blocks spread the per-block work of the mix over more samples. Returns frames written."""
    if not whole_notes:
        from .note_uses import note_seconds
        engine.supply.lengths.update(note_seconds(engine.planner, events, engine.config.release, engine.tuning_a4))
    engine.preload(events, progress=progress)
    return play_through(engine, Schedule(events, engine.sample_rate, OFFLINE_BLOCK), write, progress)
