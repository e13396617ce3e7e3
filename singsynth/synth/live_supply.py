"""Live: the note cache, else the live generator streaming the note in, with a ready note standing in meanwhile.

note() never runs the model: a note in memory is played as it is, a cold one gets its streaming buffer at once
(the generator's: in the worker process, worker.py, or a thread of this one, generator.py). Until its first
samples arrive, stand_in() offers the nearest complete note of the same timbre in memory, which the engine
plays resampled to the key and scaled to the velocity, as a sampler plays its nearest sample, and crossfades
into the note's own sound once that has arrived (engine.py, _swap_stand_ins). So every note-on sounds at once.

Bounded under a flood: at most generator.MAX_PENDING notes stream at once; a cold note beyond them plays only
from its stand-in (counted in `dropped` when there is none either).
"""
from __future__ import annotations

import logging
from typing import Sequence

from ..preset import Preset
from .cache import Note, NoteCache, NoteKey, step_velocity
from .generator import MAX_PENDING, LiveGenerator
from .note_supply import NoteSupply
from .plan import NotePlan, Planned
from .worker import GeneratorProcess

logger = logging.getLogger(__name__)

# A stand-in is chosen by its distance in semitones plus this much per velocity step apart (16 steps across
# the velocity range: a note an octave away at the same touch is as near as the same key at the other extreme).
STEP_WEIGHT = 0.75
# Its gain: the ratio of the two velocities, kept within these bounds (a sampler's velocity scaling).
STAND_IN_GAIN = (0.25, 4.0)


class LiveSupply(NoteSupply):
    def __init__(self, preset: Preset, cache: NoteCache, sample_rate: int, process: bool = True,
                 threads: int = 1, starts: bool = True):
        """process: the generator in a worker process (True) or a thread of this one (False: tests, and where
        a process cannot be started); threads: torch's threads for it."""
        self._made_here = 0
        super().__init__(preset, cache, sample_rate)
        self.dropped = 0  # cold notes with neither a stream nor a stand-in: not heard
        self.stood_in = 0  # cold notes played from a stand-in until their own sound arrived
        # per timbre and pitch, the velocity steps of the notes complete in memory (some may have been evicted since)
        self._complete: dict[tuple[float, ...], dict[int, set[int]]] = {}
        if process:
            self.generator = GeneratorProcess(preset, cache, sample_rate, self.note_len, self, starts, threads)
        else:
            self.generator = LiveGenerator(preset, cache, sample_rate, self.note_len, self, starts)

    @property
    def generated(self) -> int:
        """Notes the model made: streamed in, and generated here (preload)."""
        return self._made_here + self.generator.generated

    @generated.setter
    def generated(self, value: int) -> None:
        self._made_here = value

    @property
    def pending(self) -> int:
        return self.generator.pending

    @property
    def restarts(self) -> int:
        return getattr(self.generator, "restarts", 0)

    # -- what the engine asks --

    def prepare(self, planned: Sequence[Planned]) -> None:
        """Nothing to make before the block: the notes are asked for as they are played."""

    def end_block(self) -> None:
        pass

    def note(self, plan: NotePlan) -> Note | None:
        """The note in memory, else its buffer streaming in; None while too many notes already stream."""
        note = self.cache.get(plan.key)
        if note is not None:
            self._complete_note(plan.key)
            return note
        return self.generator.want(plan.key)

    def stand_in(self, plan: NotePlan, velocity: int) -> tuple[Note, NoteKey, float] | None:
        """The nearest complete note of the plan's timbre in memory, its key and the gain that brings it to
        `velocity`; None if there is none."""
        pitches = self._complete.get(plan.timbre)
        steps = self.cache.velocity_steps
        for _ in range(4):  # a few tries: the nearest may have been evicted since
            if not pitches:
                return None
            pitch, step = min(((p, s) for p in self._nearest_pitches(pitches, plan.pitch) for s in pitches[p]),
                              key=lambda k: abs(k[0] - plan.pitch) + STEP_WEIGHT * abs(k[1] - plan.step))
            key = (plan.timbre, pitch, step)
            note = self.cache.get(key)
            if note is not None:
                ratio = step_velocity(plan.step, steps) / step_velocity(step, steps)
                return note, key, min(max(ratio, STAND_IN_GAIN[0]), STAND_IN_GAIN[1])
            pitches[pitch].discard(step)
            if not pitches[pitch]:
                del pitches[pitch]
        return None

    @staticmethod
    def _nearest_pitches(pitches: dict[int, set[int]], pitch: int) -> list[int]:
        """The pitches that can hold the nearest note: the nearest one either side and any within the velocity
        weight's reach of it (a look at a few keys, not at every note in memory)."""
        reach = STEP_WEIGHT * 15
        for distance in range(128):
            found = [p for p in (pitch - distance, pitch + distance) if p in pitches]
            if found:
                return [p for p in range(pitch - distance - int(reach), pitch + distance + int(reach) + 1)
                        if p in pitches]
        return []

    def drop(self) -> None:
        """A cold note that neither streams (too many already do) nor has a stand-in: not heard."""
        self.dropped += 1
        if self.dropped == 1:
            logger.warning("more than %d new notes at once: generation cannot keep up, some are dropped (play them "
                           "once with --preload, or they come from the cache next time)", MAX_PENDING)

    def starting(self, key: NoteKey) -> bool:
        """The note is being streamed in and its first chunk has not arrived yet."""
        return self.generator.starting(key)

    def prefetch(self, plan: NotePlan) -> bool:
        """Start streaming a note not in memory, ahead of the block that plays it. Any thread. False: it is
        cold and too many notes already stream."""
        return plan.key in self.cache or self.generator.want(plan.key) is not None

    def start_ahead(self, keys: Sequence[NoteKey]) -> None:
        """Make these notes' first chunks ahead, when the generator is idle (note_starts.py)."""
        self.generator.start_ahead(keys)

    def start_ahead_spans(self, spans: Sequence[tuple]) -> None:
        """start_ahead() for every note of these (timbre, lowest key, highest key), in generator.ahead_keys()'s order."""
        self.generator.start_ahead_spans(spans)

    def wait_ready(self, timeout: float) -> bool:
        """Wait for the generator to be able to generate (a worker loads the preset first)."""
        wait = getattr(self.generator, "wait_ready", None)
        return wait(timeout) if wait is not None else True

    def close(self) -> None:
        self.generator.close()

    # -- what the generator hands over (its Sink) --

    def wrote(self, key: NoteKey, note: Note, start: int, end: int) -> None:
        pass  # the voices read the buffer as it fills

    def done(self, key: NoteKey, note: Note, save: bool) -> None:
        self.cache.put(key, note, disk=save)
        self._complete_note(key)

    def failed(self, key: NoteKey, note: Note) -> None:
        logger.debug("note %s could not be generated", key[1:])

    def _finish(self, key: NoteKey, note: Note, save: bool = True) -> None:
        super()._finish(key, note, save)
        self._complete_note(key)

    def _complete_note(self, key: NoteKey) -> None:
        self._complete.setdefault(key[0], {}).setdefault(key[1], set()).add(key[2])
