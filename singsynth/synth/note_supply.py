"""Where voices get their notes: the note cache, else the model, in batches.

NoteSupply finds notes in the cache and generates the missing ones in batches (MAX_BATCH notes at most per model
call): what preloading, exporting and rendering share. The making and the reading back are the note maker's
(note_maker.py): a note's samples at the preset's rate go to the disk as the model made them, and, at another
output rate, the note as played there (resampled, rounded to float16, given its loop's decay and crossfade by
finish_note); a note read back gets its decay and crossfade made again, the same as when generated. Made in
bfloat16 or float32 as the CPU and --full-precision had it (model/precision.py; the two are alike within -45 dB).

Two supplies play from it, each asking the cache once per note:
- BlockingSupply (render): prepare() takes a block's planned notes, finds each once (memory, disk) and
  generates the missing ones in one batch before the block is mixed, so the output depends only on the events
  and on the notes already cached. Each note only as far as `lengths` wants it (a file's longest use of it,
  note_uses.py), extended where a voice is about to read past that (reach(), asked by the mixer). At most
  `block_limit` notes are generated per block (the block's last ones: earlier ones are stolen within the block
  anyway; any of those still played is generated on its own).
- LiveSupply (live_supply.py): never runs the model in the caller's thread; a cold note streams in from the
  live generator and a ready note of the same instrument stands in for it meanwhile. It plays whole notes.
"""
from __future__ import annotations

import logging
from typing import Sequence

import numpy as np

from ..io.progress import progress_bar
from ..model.sustain_loop import Loop, crossfade, level_loop, loop_decay, loop_points
from ..preset import Preset
from .cache import Note, NoteCache, NoteKey, step_velocity, to_cached_precision
from .half import widen
from .note_maker import NoteMaker
from .plan import NotePlan, Planned, planned_keys
from .resample import out_length
from .threads import GenerationThreads

logger = logging.getLogger(__name__)

MAX_BATCH = 32


def finish_note(note: Note, loop: Loop, sustains: bool, level: bool = True) -> None:
    """Measure the loop's decay (or level the loop of a sustaining instrument's note: `level`, unless read back
    from disk, where it was levelled before it was saved), make its crossfade and mark the note complete."""
    # the decay before the crossfade: a voice starts looping (and using the decay) once xfade is set
    if sustains:
        if level:
            note.data[:] = to_cached_precision(level_loop(note.data, loop))
        note.loop_decay = 1.0
    else:
        note.loop_decay = loop_decay(note.data, loop)
    note.xfade = crossfade(note.data, loop, note.loop_decay)
    note.ready = len(note.data)
    note.done = True


def fit(wav: np.ndarray, note_len: int, out: np.ndarray | None = None) -> np.ndarray:
    """A note's samples at the cache's precision, cut or padded to the note length: float32 holding float16
    values (the disk's float16 samples are those already), into `out` (a note's buffer) when given."""
    data = np.zeros(note_len, dtype=np.float32) if out is None else out
    n = min(len(wav), note_len)
    if wav.dtype == np.float16:
        widen(wav[:n], out=data[:n])
    else:
        data[:n] = to_cached_precision(wav[:n])
    data[n:] = 0
    return data


def sustains(preset: Preset, key: NoteKey) -> bool:
    """Whether every instrument in the note's timbre sustains a held note in its source."""
    return all(preset.instruments[i].sustains for i, weight in enumerate(key[0]) if weight > 0)


def model_inputs(keys: Sequence[NoteKey], velocity_steps: int):
    """The model's inputs for these notes: timbre weights [B, instruments] (float32), pitches, velocities."""
    weights = np.array([k[0] for k in keys], dtype=np.float32)
    pitches = [k[1] for k in keys]
    velocities = [step_velocity(k[2], velocity_steps) for k in keys]
    return weights, pitches, velocities


class NoteSupply:
    """The notes of one preset at one output rate: from the cache, else generated now, in batches."""

    def __init__(self, preset: Preset, cache: NoteCache, sample_rate: int, threads: GenerationThreads | None = None):
        """threads: chooses torch's thread count before each batch (None: torch's own setting). Whole notes only:
        the blocking supply below makes them as short as a file plays them."""
        self.preset = preset
        self.threads = threads
        self.cache = cache
        self.sample_rate = sample_rate
        self.note_len = out_length(preset.config.note_samples, preset.sample_rate, sample_rate)
        self.loop = loop_points(self.note_len)
        self.generated = 0  # notes the model made
        # notes made to length, read back, extended, finished (note_maker.py)
        self.maker = NoteMaker(preset, cache, sample_rate, self.note_len, self._finish,
                               lambda key: sustains(preset, key), lambda keys: model_inputs(keys, cache.velocity_steps),
                               threads, MAX_BATCH)
        self.reused = 0  # notes found in the cache (memory or disk) the first time they were needed
        self._met: set[NoteKey] = set()  # notes needed so far: each counts once, generated or reused

    # what the maker holds, read and set here: the lengths wanted, the notes held short, those extended, and a wait
    # for the model where it loads meanwhile
    lengths = property(lambda self: self.maker.lengths, lambda self, v: setattr(self.maker, "lengths", v))
    shorts = property(lambda self: self.maker.shorts)
    extended = property(lambda self: self.maker.extended)
    before_generating = property(lambda self: self.maker.before_generating,
                                 lambda self, v: setattr(self.maker, "before_generating", v))

    # what live play adds (live_supply.py); blocking, nothing is ever being streamed in
    pending = 0
    dropped = 0
    # render's: before a channel's block is mixed, the notes made short reach as far as it reads (BlockingSupply)
    reach = None

    def missing(self, keys: Sequence[NoteKey]) -> list[NoteKey]:
        """The keys neither in memory nor on disk, or held there shorter than `lengths` wants them."""
        return [k for k in keys if self.cached(k) is None or self.maker.too_short(k)]

    def missing_on_disk(self, keys: Sequence[NoteKey]) -> bool:
        """Whether any of these notes has no file in the cache (nothing is read: a quick look before any work)."""
        return any(not self.cache.stored(k) for k in keys)

    def cached(self, key: NoteKey, disk: bool = True) -> Note | None:
        """The note from memory, or from disk (then kept in memory); None if it must be generated."""
        note = self.cache.get(key)
        if note is None and disk:
            note = self.maker.from_disk(key)
        if note is not None and key not in self._met:
            self._met.add(key)
            self.reused += 1
        return note

    def generate(self, keys: Sequence[NoteKey]) -> dict[NoteKey, Note]:
        """Generate notes now, in batches, as far as `lengths` wants each (notes held short are extended), and
        cache them (note_maker.py)."""
        before = self.maker.generated
        notes = self.maker.generate(keys)
        self.generated += self.maker.generated - before
        self._met.update(keys)
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
        """Nothing to stop (the live supply stops its generator); the disk cache kept under its cap."""
        self.cache.prune()

    def _finish(self, key: NoteKey, note: Note, save: bool = True) -> None:
        """Make the note complete (finish_note) and cache it; a note read back from disk is not saved again."""
        finish_note(note, self.loop, sustains(self.preset, key), level=save)
        self.cache.put(key, note, disk=save)


class BlockingSupply(NoteSupply):
    """Render: every note a block needs is there before the block is mixed."""

    def __init__(self, preset: Preset, cache: NoteCache, sample_rate: int, block_limit: int = 256,
                 threads: GenerationThreads | None = None):
        super().__init__(preset, cache, sample_rate, threads)
        self.maker.lengths = {}  # notes made as long as a file plays them (render_file), else whole
        self.block_limit = max(int(block_limit), 1)
        self._block_notes: dict[NoteKey, Note] = {}

    def reach(self, voices: Sequence, own: dict, phase: np.ndarray, release_len: int) -> None:
        """Before a channel's block is mixed: the notes made short hold what their voices read in it."""
        self.generated += self.maker.reach(voices, own, phase, release_len)

    def prefetch(self, plan: NotePlan) -> bool:
        """Nothing to start ahead: prepare() makes every note before its block."""
        return False

    def starting(self, key: NoteKey) -> bool:
        """No note is ever streaming in."""
        return False

    def prepare(self, planned: Sequence[Planned]) -> None:
        """The block's notes, each looked up once (memory, then disk), the missing ones generated in one batch."""
        keys = planned_keys(planned)[-self.block_limit:]
        found = {k: self.cached(k) for k in keys}
        short = {k for k, n in found.items() if n is not None and self.maker.too_short(k)}
        self._block_notes = {k: n for k, n in found.items() if n is not None and k not in short}
        self._block_notes.update(self.generate([k for k, n in found.items() if n is None or k in short]))

    def end_block(self) -> None:
        self._block_notes = {}

    def note(self, plan: NotePlan) -> Note:
        """The note for a voice: from this block's notes, else (beyond block_limit) the cache or the model now."""
        note = self._block_notes.get(plan.key)
        if note is None:
            note = self.cached(plan.key) or self.generate([plan.key])[plan.key]
            self._block_notes[plan.key] = note
        return note
