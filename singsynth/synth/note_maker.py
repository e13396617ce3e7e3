"""How a blocking supply makes its notes: each as far as `lengths` wants it (note_uses.py), extended where it was
made short, stored at the preset's rate and as played at the output rate, read back, finished for voices.

Notes are made by the model's stream in a fixed schedule of chunks (note_length.py), so that a note made short and
extended later is the whole note's beginning. What the disk holds: cache.py. A note read back is resampled (unless
it is kept as played at the output rate) and gets its loop's levelling, decay and crossfade made again, the same
as when generated. The live supply (note_supply.py) makes whole notes and shares reading back and finishing.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from ..preset import Preset
from ..model.sustain_loop import level_loop, loop_points
from . import note_length
from .cache import Note, NoteCache, NoteKey, to_cached_precision
from .half import widen
from .resample import out_length, resample
from .threads import GenerationThreads


class NoteMaker:
    def __init__(self, preset: Preset, cache: NoteCache, sample_rate: int, note_len: int,
                 finish: Callable[[NoteKey, Note, bool], None], sustains: Callable[[NoteKey], bool],
                 inputs: Callable[[Sequence[NoteKey]], tuple], threads: GenerationThreads | None = None,
                 max_batch: int = 32):
        """finish(key, note, save): a looped or whole note's decay and crossfade made, the note cached (the
        supply's); sustains(key): whether the note's loop is levelled; inputs(keys): the model's inputs for notes;
        threads: chooses torch's thread count before each batch."""
        self.preset = preset
        self.cache = cache
        self.sample_rate = sample_rate
        self.note_len = note_len  # a whole note at the output rate
        self.finish, self.sustains, self.inputs = finish, sustains, inputs
        self.threads = threads
        self.max_batch = max_batch
        self.source_len = preset.config.note_samples  # a whole note's samples at the preset's rate
        # seconds of each note wanted (note_uses.py; a note it does not name is made whole); None: only whole notes
        # are made or read back (live play, export). The blocking supply gives it a dict.
        self.lengths: dict[NoteKey, float] | None = None
        self.shorts: dict[NoteKey, note_length.Short] = {}  # notes in memory made short of the whole note
        self.generated = 0  # notes the model made from their start
        self.extended = 0  # notes taken further from where their stream stopped
        self.before_generating: Callable[[], None] | None = None  # waits for the model loading meanwhile, if any
        self._steps: dict[tuple[NoteKey, float], int | None] = {}  # wanted_steps, worked out once
        # samples at the preset's rate the resampler reads ahead: a short note's last ones wait for what follows
        self._margin = int(note_length.RESAMPLE_MARGIN_SECONDS * preset.sample_rate)

    def from_disk(self, key: NoteKey) -> Note | None:
        """The note from disk (then kept in memory): as played at this rate where it was before, else from its
        samples at the preset's rate; only a whole note where `lengths` is None; None if there is none."""
        short_too = self.lengths is not None
        played = self.cache.load_played(key)
        if played is not None and (short_too or len(played) >= self.note_len):
            return self.played(key, widen(played))
        data = self.cache.load(key)
        if data is not None and (short_too or len(data) >= self.source_len):
            return self.made(key, data, None, save=False)
        return None

    def wanted_steps(self, key: NoteKey) -> int | None:
        """The stream steps a note is wanted to (whole chunks, or to its loop end, all that a held voice reads);
        None: the whole note (live, a drum hit, a note `lengths` does not name)."""
        seconds = self.lengths.get(key) if self.lengths is not None else None
        if seconds is None:
            return None
        known = self._steps.get((key, seconds), False)
        if known is not False:
            return known
        steps = None
        if not self._drums(key):
            if seconds < note_length.WHOLE:
                steps = note_length.steps_for(self.preset, int(seconds * self.preset.sample_rate) + 1,
                                              self.sustains(key))
            steps = steps if steps is not None else note_length.loop_end_steps(self.preset)
        if len(self._steps) > 1 << 16:
            self._steps.clear()
        self._steps[(key, seconds)] = steps
        return steps

    def _drums(self, key: NoteKey) -> bool:
        """Whether the note is a drum kit's: its voices play it to its end."""
        return any(self.preset.instruments[i].drums for i, weight in enumerate(key[0]) if weight > 0)

    def too_short(self, key: NoteKey) -> bool:
        """Whether the note in memory is shorter than `lengths` wants it (a note held short, or made to its loop
        end where the whole is wanted)."""
        if key not in self.shorts:
            return False
        steps = self.wanted_steps(key)
        if steps is None:
            return True
        note = self.cache.peek(key)
        return note is None or (note.short_key is not None and self._played_len(steps) > note.made)

    def _played_len(self, steps: int) -> int:
        """The output samples a note made short at `steps` holds (the resampler's last ones wait for what follows)."""
        made = note_length.chunk_output(self.preset, steps)
        return out_length(made - self._margin, self.preset.sample_rate, self.sample_rate)

    def reach(self, voices: Sequence, own: dict, phase: np.ndarray, release_len: int) -> int:
        """Blocking, before a channel's block is mixed: every note generated short holds what its voices read in
        the block (own: a voice's reading advance by its index, where it has its own pitch movement; else the
        channel's `phase`), those that do not extended together. A voice ending within the block (its release,
        a quick fade) reads only up to there. Returns how many notes were generated afresh (none held any more)."""
        keys: dict[NoteKey, float] = {}
        n = len(phase) - 1
        for k, v in enumerate(voices):
            note = v.note
            key = note.short_key
            if key is None:
                continue
            end = self.voice_frames(v.env, n, v.release_len or release_len)
            need = int(v.pos + float((own[k] if k in own else phase)[end])) + 2
            if need > note.made:
                # ahead of the next blocks too: extensions come a chunk or more at a time
                keys[key] = max(keys.get(key, 0.0), 1.5 * need / self.sample_rate)
        if not keys:
            return 0
        for key, seconds in keys.items():
            self.lengths[key] = max(self.lengths.get(key, 0.0), seconds)
        before = self.generated
        self.generate(list(keys))
        return self.generated - before

    @staticmethod
    def voice_frames(env, n: int, release_len: int) -> int:
        """Frames of a block of n a voice still sounds in: to its release's end, its quick fade's, its cut."""
        end = n
        if env.release_at >= 0:
            end = min(end, release_len - env.release_at)
        elif env.release_from is not None:
            end = min(end, env.release_from + release_len)
        if env.kill_left is not None:
            end = min(end, (env.kill_from or 0) + env.kill_left)
        if env.cut_at is not None:
            end = min(end, env.cut_at)
        return max(end, 0)

    def generate(self, keys: Sequence[NoteKey]) -> dict[NoteKey, Note]:
        """Generate notes now, in batches, as far as `lengths` wants each (notes held short are extended), and
        cache them."""
        notes: dict[NoteKey, Note] = {}
        if keys and self.before_generating is not None:
            self.before_generating()
        wanted = {k: self.wanted_steps(k) for k in keys}
        longest = max((s for s in wanted.values() if s is not None), default=0)
        todo = sorted(keys, key=lambda k: longest + 1 if wanted[k] is None else wanted[k])  # alike lengths batched
        extending = [k for k in todo if self._short(k) is not None]
        fresh = [k for k in todo if k not in extending]
        for i in range(0, len(extending), self.max_batch):
            batch = extending[i:i + self.max_batch]
            self._apply_threads()
            made = note_length.extend(self.preset, [self.shorts[k] for k in batch], [wanted[k] for k in batch])
            for key, (samples, stream) in zip(batch, made):
                notes[key] = self.made(key, samples, stream)
            self.extended += len(batch)
        for i in range(0, len(fresh), self.max_batch):
            batch = fresh[i:i + self.max_batch]
            self._apply_threads()
            made = note_length.generate(self.preset, self.inputs(batch), [wanted[k] for k in batch])
            for key, (samples, stream) in zip(batch, made):
                notes[key] = self.made(key, samples, stream)
            self.generated += len(batch)
        return notes

    def resampled(self, samples: np.ndarray) -> np.ndarray:
        """A note's samples at the preset's rate -> the output rate."""
        return resample(samples[None], self.preset.sample_rate, self.sample_rate)[0]

    def _apply_threads(self) -> None:
        if self.threads is not None:  # torch's threads, or numpy's BLAS threads where numpy makes the notes
            self.threads.apply(blas=getattr(self.preset, "runs_arrays", False))

    def _short(self, key: NoteKey) -> note_length.Short | None:
        """A note held short, with its stream (read back from the disk's state) to go on from; None: none."""
        short = self.shorts.get(key)
        if short is not None and short.samples is None:  # read back as played: its samples are on disk
            data = self.cache.load(key)
            short.samples = data
            if short.samples is None or len(short.samples) >= self.source_len:
                del self.shorts[key]  # gone (pruned): made again from its start
                return None
        if short is not None and short.stream is None:
            arrays = self.cache.load_state(key)
            stream = self.preset.open_stream(*self.inputs([key])) if arrays is not None else None
            if stream is None or not note_length.restore(stream, arrays):
                del self.shorts[key]  # no state to go on from: made again from its start
                return None
            short.stream = stream
        return short

    def made(self, key: NoteKey, samples: np.ndarray, stream, save: bool = True) -> Note:
        """A note from its samples at the preset's rate (float32, as generated: a sustaining instrument's
        loop is levelled here, on the way out), whole, complete to its loop end, or short (`stream`: where a note
        generated short of the whole stands; None for one read from disk, whose length tells): stored, resampled,
        kept as played (at another rate than the preset's), finished, cached."""
        if samples.dtype != np.float32:
            samples = samples.astype(np.float32)
        samples = samples[:self.source_len]
        whole = len(samples) == self.source_len
        looped = whole or len(samples) >= note_length.loop_samples(self.preset)  # all a held voice reads
        if whole:
            self.shorts.pop(key, None)
        else:
            self.shorts[key] = note_length.Short(samples, stream)
        if save:
            self.cache.save(key, samples, None if whole else note_length.state_arrays(stream))
        if looped and self.sustains(key):  # made level at the preset's rate
            samples = level_loop(samples, loop_points(self.source_len))
        played = self.resampled(samples)
        if not looped:  # the resampler's last samples wait for what follows
            played = played[:max(len(played) - out_length(self._margin, self.preset.sample_rate, self.sample_rate), 0)]
        if self.sample_rate != self.preset.sample_rate:  # as it is kept on disk: a warm render reads it as it is
            played = to_cached_precision(played)
            self.cache.save_played(key, played)
        return self.played(key, played, looped)

    def played(self, key: NoteKey, played: np.ndarray, looped: bool | None = None) -> Note:
        """The note for voices from its samples as played (at the output rate, as far as they are made): whole or to
        its loop end (its loop made), or short (read ahead into silence, extended before a voice reaches its end).
        A note already in memory takes its new samples in place: voices playing it read them."""
        if looped is None:  # read back: its length tells
            looped = len(played) >= out_length(note_length.loop_samples(self.preset), self.preset.sample_rate,
                                               self.sample_rate)
            if looped and len(played) < self.note_len:
                self.shorts.setdefault(key, note_length.Short(None, None))
            elif not looped:
                self.shorts[key] = note_length.Short(None, None)
        if looped:
            data = self.padded(played)  # past the loop end only a drum hit reads, and those are made whole
        else:  # silence to read ahead into, so that a voice near its end still reads in a bank (engine._mix)
            data = np.zeros(len(played) + note_length.READ_AHEAD, dtype=np.float32)
            data[:len(played)] = played
        note = self.cache.peek(key)
        if note is None:
            note = Note(data)
        else:
            note.data = data
        note.short_key = None if looped else key
        note.made = len(played)
        if looped:
            self.finish(key, note, save=False)
        else:
            note.ready, note.done = len(data), True
            self.cache.put(key, note)
        return note

    def padded(self, wav: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """A note's samples cut or padded to the note length (into `out` when given), as they are: resampled from
        float16 samples at the preset's rate, the same whether generated now or read back."""
        data = np.empty(self.note_len, dtype=np.float32) if out is None else out
        n = min(len(wav), self.note_len)
        data[:n] = wav[:n]
        data[n:] = 0
        return data

