"""The live generator: fed the keys of cold notes, it streams each into a buffer of its own, chunk by chunk.

It owns its state (the notes being made, the first chunks made ahead) and its thread (generation.py's
GenerationThread, which batches, schedules and merges the streams). It calls nothing back but a Sink, told of
each chunk written and each note complete: the flow runs one way, from the keys in to the notes out. The same
generator runs in the worker process (worker.py), where its sink sends the notes to the player's process.
"""
from __future__ import annotations

import logging
from typing import Protocol, Sequence

import numpy as np

from ..preset import Preset
from ..model.sustain_loop import loop_points
from .cache import Note, NoteCache, NoteKey
from .generation import GenerationThread, StreamingBatch
from .memory import give_back_freed_memory
from .note_starts import NoteStarts
from .note_supply import MAX_BATCH, finish_note, fit, model_inputs, sustains
from .pending import PendingNotes
from .resample import first_output_after

logger = logging.getLogger(__name__)

# At most this many notes wait for the generation thread (each holds a note-sized buffer); a cold note played
# while they all wait is refused (want() returns None) rather than queued without bound.
MAX_PENDING = 128
# First chunks made ahead this many at a time (note_starts.py): a cold note-on arriving meanwhile waits for at
# most one such batch (about 15 ms).
START_BATCH = 8
# ... and freed memory given back after this many such batches, and when none are left (memory.py): each time
# takes a few ms and holds the C library's allocator meanwhile.
TRIM_EVERY = 16


def ahead_keys(spans: Sequence[tuple], velocity_steps: int) -> list[NoteKey]:
    """Every note of these (timbre, lowest key, highest key) at every velocity step, in the order their starts are
    made: the keys nearest middle C and a firm touch first."""
    keys = [(timbre, p, s) for timbre, low, high in spans for p in range(low, high + 1) for s in range(velocity_steps)]
    return sorted(keys, key=lambda k: (abs(k[1] - 60), abs(k[2] - 3 * velocity_steps // 4)))


class Sink(Protocol):
    def wrote(self, key: NoteKey, note: Note, start: int, end: int) -> None: ...
    def done(self, key: NoteKey, note: Note, save: bool) -> None: ...
    def failed(self, key: NoteKey, note: Note) -> None: ...


class LiveGenerator:
    """Streams cold notes in; `cache` is only read (its disk, for notes made earlier) and asked what is stored."""

    def __init__(self, preset: Preset, cache: NoteCache, sample_rate: int, note_len: int, sink: Sink,
                 starts: bool = True):
        self.preset = preset
        self.cache = cache
        self.sample_rate = sample_rate
        self.note_len = note_len
        self.loop = loop_points(note_len)
        self.sink = sink
        self.generated = 0
        self.starts = NoteStarts() if starts else None  # notes' first chunks made ahead
        self._pending = PendingNotes(note_len, MAX_PENDING)
        self._thread: GenerationThread | None = None
        self._starts_made = 0  # batches of starts made since freed memory was last given back
        self._key_of: dict[int, NoteKey] = {}  # the notes streaming, by id: their keys

    @property
    def pending(self) -> int:
        """Notes being streamed in."""
        return len(self._pending)

    def want(self, key: NoteKey) -> Note | None:
        """The note's buffer, streaming in (queued if new); None while MAX_PENDING notes wait. Any thread."""
        return self._pending.want(key, self._queue)

    def starting(self, key: NoteKey) -> bool:
        """The note is being streamed in and its first chunk has not arrived yet."""
        return self._pending.starting(key)

    def start_ahead(self, keys: Sequence[NoteKey]) -> None:
        """Make these notes' first chunks ahead (those not cached) when the thread is idle (note_starts.py)."""
        if self.starts is None or not keys:
            return
        self.starts.want(keys)  # the generation thread skips the cached ones (a disk look-up each)
        self._generation_thread().wake()

    def start_ahead_spans(self, spans: Sequence[tuple]) -> None:
        """start_ahead() for every note of these (timbre, lowest key, highest key): ahead_keys()."""
        self.start_ahead(ahead_keys(spans, self.cache.velocity_steps))

    def close(self) -> None:
        """Finish the notes under way, then stop the thread."""
        if self._thread is not None:
            self._thread.stop()
            self._thread = None

    def _queue(self, key: NoteKey) -> None:
        self._generation_thread().queue.put(key)

    def _generation_thread(self) -> GenerationThread:
        if self._thread is None:
            self._thread = GenerationThread(self._start_batches, MAX_BATCH, self._make_starts)
        return self._thread

    # -- in the generation thread --

    def _start_batches(self, keys: list[NoteKey]) -> list[StreamingBatch]:
        """Notes found on disk are complete at once; the others are streamed in, those whose first chunk was
        made ahead in one batch (going on from there), the rest in another."""
        todo = self._pending.of(keys)
        try:
            starts = {key: self.starts.take(key) if self.starts is not None else None for key in keys}
            started, cold = [], []
            for key, note in todo:
                if starts[key] is not None:
                    started.append((key, note))
                elif (data := self.cache.load_played(key)) is not None and len(data) >= self.note_len:  # as played
                    fit(data, self.note_len, out=note.data)
                    self._done(key, note, save=False)
                else:
                    cold.append((key, note))
            frames = self._first_frames()
            batches = []
            if started:
                streams = [starts[k][1] for k, _ in started]
                batches.append(self._batch(started, type(streams[0]).merge(streams), frames,
                                           made_ahead=np.stack([starts[k][0] for k, _ in started])))
            if cold:
                inputs = model_inputs([k for k, _ in cold], self.cache.velocity_steps)
                batches.append(self._batch(cold, self.preset.open_stream(*inputs), frames))
            return batches
        except Exception:
            # leave silence rather than a voice waiting forever
            logger.exception("note generation failed; those notes stay silent")
            for key, note in todo:
                if not note.done:
                    self._failed(key, note)
            return []

    def _batch(self, todo: list[tuple[NoteKey, Note]], stream, first_frames: int,
               made_ahead: np.ndarray | None = None) -> StreamingBatch:
        self._key_of.update((id(note), key) for key, note in todo)  # batches merge: the key of any note written

        def finished(ok: bool) -> None:
            self.generated += len(todo) if ok else 0
            for key, note in todo:
                self._done(key, note) if ok else self._failed(key, note)

        return StreamingBatch([n for _, n in todo], stream, first_frames, self.preset.sample_rate, self.sample_rate,
                              finished, made_ahead, self._wrote)

    def _wrote(self, note: Note, start: int, end: int) -> None:
        self.sink.wrote(self._key_of[id(note)], note, start, end)

    def _first_frames(self) -> int:
        """A streamed note's first chunk: as few of its frames as the resampler needs to hand out any sound."""
        return -(-first_output_after(self.preset.sample_rate, self.sample_rate) // self.preset.config.stride)

    def _make_starts(self) -> bool:
        """When idle: make the next few wanted first chunks; False when none are wanted."""
        if self.starts is None or not self.starts.waiting:
            return False
        keys = self.starts.next_keys(START_BATCH)
        unwanted = self._pending.among(keys)  # being generated already
        unwanted |= {k for k in keys if k not in unwanted and self.cache.stored(k)}  # generated already
        self.starts.forget(list(unwanted))
        keys = [k for k in keys if k not in unwanted]
        if keys:
            stream = self.preset.open_stream(*model_inputs(keys, self.cache.velocity_steps))
            first = stream.chunk(stream.first_chunk_steps(self._first_frames()))
            self.starts.put(keys, first, stream.split())
            self._starts_made += 1
        if self._starts_made >= TRIM_EVERY or (self._starts_made and not self.starts.waiting):
            give_back_freed_memory()
            self._starts_made = 0
        return True

    def _done(self, key: NoteKey, note: Note, save: bool = True) -> None:
        finish_note(note, self.loop, sustains(self.preset, key), level=save)
        self._key_of.pop(id(note), None)
        self._pending.release(key)
        self.sink.done(key, note, save)

    def _failed(self, key: NoteKey, note: Note) -> None:
        """Generating the note failed: silent for the voices waiting on it, and not cached, so that it is
        generated again when next played."""
        note.data[:] = 0
        note.ready = len(note.data)
        note.done = True
        self._key_of.pop(id(note), None)
        self._pending.release(key)
        self.sink.failed(key, note)
