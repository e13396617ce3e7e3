"""Where voices get their notes: the note cache, else the model, in batches.

Blocking (render): prepare() generates every note a block needs that the cache lacks, in one batch
(MAX_BATCH notes at most per model call), before the block is mixed; the output depends only on the
events and on the notes already cached (made in bfloat16 or float32 as the CPU and --full-precision had it:
model/precision.py; the two are alike within -45 dB). Live: note() never runs the model; a
missing note gets an empty Note at once and is queued to the generation thread that streams it in
(generation.py: one batch for all notes queued meanwhile, batches merged once level), from its first chunk made
ahead where start_ahead() asked for it (note_starts.py).
Notes are resampled once to the output rate by soxr, rounded to the cache's precision, given their
loop's decay and crossfade and cached (memory, and disk if the cache has one; the disk keeps only the
samples: a note read back gets its decay and crossfade made again, the same as when generated).

Bounded under a flood of notes: prepare() generates at most `block_limit` notes (the block's last
ones: earlier ones are stolen within the block anyway; any of those still played is generated on its
own), and live at most MAX_PENDING notes wait for the generation thread (more are dropped, counted
in `dropped`, with one warning).
"""
from __future__ import annotations

import logging
import threading
from typing import Sequence

import numpy as np

from ..io.progress import progress_bar
from ..model.sustain_loop import crossfade, level_loop, loop_decay, loop_points
from ..preset import Preset
from .cache import Note, NoteCache, NoteKey, step_velocity, to_cached_precision
from .generation import GenerationThread, StreamingBatch
from .half import widen
from .memory import give_back_freed_memory
from .note_starts import NoteStarts
from .resample import first_output_after, out_length, resample
from .threads import GenerationThreads

logger = logging.getLogger(__name__)

MAX_BATCH = 32
# Live: at most this many notes wait for the generation thread (each holds a note-sized buffer); a cold
# note played while they all wait is dropped (silent) rather than queued without bound.
MAX_PENDING = 128
# Live: first chunks made ahead this many at a time (note_starts.py): a cold note-on arriving meanwhile waits
# for at most one such batch (about 15 ms).
START_BATCH = 8
# ... and freed memory given back after this many such batches, and when none are left (memory.py): each time
# takes a few ms and holds the C library's allocator meanwhile.
TRIM_EVERY = 16


class NoteSupply:
    def __init__(self, preset: Preset, cache: NoteCache, sample_rate: int, blocking: bool, block_limit: int = 256,
                 threads: GenerationThreads | None = None):
        """threads: chooses torch's thread count before each blocking batch (None: torch's own setting)."""
        self.preset = preset
        self.threads = threads
        self.block_limit = max(int(block_limit), 1)
        self.dropped = 0  # live notes not played because MAX_PENDING notes were already waiting
        self.cache = cache
        self.sample_rate = sample_rate
        self.blocking = blocking
        self.note_len = out_length(preset.config.note_samples, preset.sample_rate, sample_rate)
        self.loop = loop_points(self.note_len)
        self.generated = 0  # notes the model made
        self._block_notes: dict[NoteKey, Note] = {}
        self._pending: dict[NoteKey, Note] = {}
        self._pending_lock = threading.Lock()
        self._worker: GenerationThread | None = None
        self._worker_lock = threading.Lock()
        self._starts_made = 0  # batches of starts made since freed memory was last given back
        self.starts = None if blocking else NoteStarts()  # live: notes' first chunks made ahead

    @property
    def pending(self) -> int:
        """Notes being streamed in."""
        return len(self._pending)

    @property
    def queued(self) -> int:
        """Live: notes waiting for the generation thread to take them."""
        return self._worker.queue.qsize() if self._worker is not None else 0

    def missing(self, keys: Sequence[NoteKey]) -> list[NoteKey]:
        """The keys neither in memory nor on disk."""
        return [k for k in keys if self.cached(k) is None]

    def prepare(self, keys: Sequence[NoteKey]) -> None:
        """Blocking mode: generate the next block's missing notes (one batch) and keep them for note()."""
        self._block_notes = self.generate(self.missing(list(keys)[-self.block_limit:]))

    def end_block(self) -> None:
        self._block_notes = {}

    def note(self, key: NoteKey) -> Note | None:
        """The note for a voice: from this block's batch, the cache, now (blocking) or streaming (live);
        None (live only) when MAX_PENDING notes already wait for generation."""
        note = self._block_notes.get(key)
        if note is not None:
            return note
        note = self.cached(key, disk=self.blocking)
        if note is not None:
            return note
        if self.blocking:  # the block's batch missed it (a controller reset changed the plan): generate now
            return self.generate([key])[key]
        return self._streaming(key, count_drop=True)

    def starting(self, key: NoteKey) -> bool:
        """Live: the note is being streamed in and its first chunk has not arrived yet."""
        with self._pending_lock:
            note = self._pending.get(key)
        return note is not None and note.ready == 0

    def prefetch(self, key: NoteKey) -> None:
        """Live: start streaming a note that is not in memory, ahead of the block that plays it. Safe
        from any thread; a note already cached, pending, or beyond MAX_PENDING is left alone."""
        if not self.blocking and key not in self.cache:
            self._streaming(key, count_drop=False)

    def start_ahead(self, keys: Sequence[NoteKey]) -> None:
        """Live: make these notes' first chunks ahead (those not cached), when the generation thread is idle,
        so that they sound in the block their note-on lands in (note_starts.py). Safe from any thread."""
        if self.starts is None or not keys:
            return
        self.starts.want(keys)  # the generation thread skips the cached ones (a disk look-up each)
        self._generation_thread().wake()

    def _generation_thread(self) -> GenerationThread:
        with self._worker_lock:
            if self._worker is None:
                self._worker = GenerationThread(self._start_batches, MAX_BATCH, self._make_starts)
            return self._worker

    def _streaming(self, key: NoteKey, count_drop: bool) -> Note | None:
        """The note's pending buffer, queued for the generation thread if new; None when MAX_PENDING wait."""
        with self._pending_lock:
            note = self._pending.get(key)
            if note is None:
                if len(self._pending) >= MAX_PENDING:
                    if count_drop:
                        self.dropped += 1
                        if self.dropped == 1:
                            logger.warning("more than %d new notes at once: generation cannot keep up, some are "
                                           "dropped (play them once with --preload, or they come from the cache "
                                           "next time)", MAX_PENDING)
                    return None
                note = self._pending[key] = Note(np.zeros(self.note_len, dtype=np.float32), ready=0)
                self._generation_thread().queue.put(key)
        return note

    def cached(self, key: NoteKey, disk: bool = True) -> Note | None:
        """The note from memory, or from disk (then kept in memory); None if it must be generated."""
        note = self.cache.get(key)
        if note is None and disk:
            data = self.cache.load(key)
            if data is not None:
                note = Note(self._fit(data))
                self._finish(key, note, save=False)
        return note

    def generate(self, keys: Sequence[NoteKey]) -> dict[NoteKey, Note]:
        """Generate notes now, in batches, and cache them."""
        notes: dict[NoteKey, Note] = {}
        for i in range(0, len(keys), MAX_BATCH):
            batch = keys[i:i + MAX_BATCH]
            if self.threads is not None:
                self.threads.apply()
            wav = self.preset.generate(*self._inputs(batch))
            wav = resample(wav, self.preset.sample_rate, self.sample_rate)
            for key, row in zip(batch, wav):
                notes[key] = Note(self._fit(row))
                self._finish(key, notes[key])
            self.generated += len(batch)
        return notes

    def preload(self, keys: Sequence[NoteKey], progress: bool = False) -> int:
        """Generate these notes (those not cached) ahead, with a progress bar; returns how many."""
        keys = self.missing(keys)
        need = len(keys) * (self.note_len * 4)
        if need > self.cache.max_bytes:
            logger.warning("preloading %d notes needs %.0f MiB but the note cache holds %.0f MiB: %s", len(keys),
                           need / 2**20, self.cache.max_bytes / 2**20,
                           "the first ones will be evicted (and read back from disk)" if self.cache.disk_dir
                           else "the others are generated as they are played")
            if self.cache.disk_dir is None:  # evicted notes would be generated twice: make what memory holds
                keys = keys[:self.cache.max_bytes // (self.note_len * 4)]
        with progress_bar(progress and bool(keys), total=len(keys), unit="note", desc="preload", leave=False) as bar:
            for i in range(0, len(keys), MAX_BATCH):
                self.generate(keys[i:i + MAX_BATCH])
                bar.update(len(keys[i:i + MAX_BATCH]))
        return len(keys)

    def close(self) -> None:
        if self._worker is not None:
            self._worker.stop()
            self._worker = None

    # -- internals --

    def _inputs(self, keys: Sequence[NoteKey]):
        import torch
        weights = torch.tensor([k[0] for k in keys], dtype=torch.float32)
        pitches = [k[1] for k in keys]
        velocities = [step_velocity(k[2], self.cache.velocity_steps) for k in keys]
        return weights, pitches, velocities

    def _finish(self, key: NoteKey, note: Note, save: bool = True) -> None:
        """Measure the loop's decay (or level the loop of a sustaining instrument's note), make its crossfade,
        mark the note complete and cache it. A note read back from disk was levelled before it was saved."""
        # the decay before the crossfade: a voice starts looping (and using the decay) once xfade is set
        if self._sustains(key):
            if save:
                note.data[:] = to_cached_precision(level_loop(note.data, self.loop))
            note.loop_decay = 1.0
        else:
            note.loop_decay = loop_decay(note.data, self.loop)
        note.xfade = crossfade(note.data, self.loop, note.loop_decay)
        note.ready = len(note.data)
        note.done = True
        self.cache.put(key, note, disk=save)

    def _sustains(self, key: NoteKey) -> bool:
        """Whether every instrument in the note's timbre sustains a held note in its source."""
        return all(self.preset.instruments[i].sustains for i, weight in enumerate(key[0]) if weight > 0)

    def _fit(self, wav: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """A note's samples at the cache's precision, cut or padded to the note length: float32 holding float16
        values (the disk's float16 samples are those already), into `out` (a note's buffer) when given."""
        data = np.zeros(self.note_len, dtype=np.float32) if out is None else out
        n = min(len(wav), self.note_len)
        if wav.dtype == np.float16:
            widen(wav[:n], out=data[:n])
        else:
            data[:n] = to_cached_precision(wav[:n])
        data[n:] = 0
        return data

    def _start_batches(self, keys: list[NoteKey]) -> list[StreamingBatch]:
        """Generation thread: notes found on disk are complete at once; the others are streamed in, those whose
        first chunk was made ahead in one batch (going on from there), the rest in another."""
        with self._pending_lock:
            notes = [self._pending[k] for k in keys]
        todo = list(zip(keys, notes))
        try:
            starts = {key: self.starts.take(key) if self.starts is not None else None for key in keys}
            started, cold = [], []
            for key, note in todo:
                if starts[key] is not None:
                    started.append((key, note))
                elif (data := self.cache.load(key)) is not None:
                    self._fit(data, out=note.data)
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
                batches.append(self._batch(cold, self.preset.open_stream(*self._inputs([k for k, _ in cold])), frames))
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
        def finished(ok: bool) -> None:
            self.generated += len(todo) if ok else 0
            for key, note in todo:
                if ok:
                    self._done(key, note)
                else:
                    self._failed(key, note)

        return StreamingBatch([n for _, n in todo], stream, first_frames, self.preset.sample_rate, self.sample_rate,
                              finished, made_ahead)

    def _first_frames(self) -> int:
        """A streamed note's first chunk: as few of its frames as the resampler needs to hand out any sound."""
        return -(-first_output_after(self.preset.sample_rate, self.sample_rate) // self.preset.config.stride)

    def _make_starts(self) -> bool:
        """Generation thread, when idle: make the next few wanted first chunks; False when none are wanted."""
        if self.starts is None or not self.starts.waiting:
            return False
        keys = self.starts.next_keys(START_BATCH)
        with self._pending_lock:
            unwanted = {k for k in keys if k in self._pending}  # being generated already
        unwanted |= {k for k in keys if k not in unwanted and self.cache.stored(k)}  # generated already
        self.starts.forget(list(unwanted))
        keys = [k for k in keys if k not in unwanted]
        if keys:
            stream = self.preset.open_stream(*self._inputs(keys))
            first = stream.chunk(stream.first_chunk_steps(self._first_frames()))
            self.starts.put(keys, first, stream.split())
            self._starts_made += 1
        if self._starts_made >= TRIM_EVERY or (self._starts_made and not self.starts.waiting):
            give_back_freed_memory()
            self._starts_made = 0
        return True

    def _done(self, key: NoteKey, note: Note, save: bool = True) -> None:
        self._finish(key, note, save)
        with self._pending_lock:
            self._pending.pop(key, None)

    def _failed(self, key: NoteKey, note: Note) -> None:
        """A note whose generation failed: silent for the voices waiting on it, and not cached, so that it is
        generated again when next played."""
        note.data[:] = 0
        note.ready = len(note.data)
        note.done = True
        with self._pending_lock:
            self._pending.pop(key, None)
