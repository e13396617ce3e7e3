"""Notes generated only as far as they sound, in whole chunks of the model's stream, and extended later.

A file's note is generated to the longest use it has there (note_uses.py), rounded up to the next of a few fixed
points of the model's stream (SHORT_STEPS, the loop end, the end); where the stream stops short of the model's note,
its state (the LSTM's, the decoder's look-ahead, the overlap-add still open, a displaced reading's) is kept, in
memory and on disk beside the samples, so that a longer use later goes on from there instead of starting again.
Every note is made by the same chunks from its start, so a note made short and extended is, over what it had, the
note made whole (within 1e-6, tests/test_note_length.py; float32 notes are made in pairs for that, see run()).

A note may stay short only up to where its loop starts to matter: a sustaining instrument's loop is levelled over
the whole loop (model/sustain_loop.py), from the loop start, and the crossfade before the loop end needs the whole
loop; past that the note is made to its loop end, all that a held voice reads (drum hits, played to their end, whole).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from ..model.sustain_loop import loop_points

WHOLE = float("inf")  # seconds wanted of a note to be generated whole
# Where a note may stop short, in LSTM steps (a step is 16 ms of a note at 16 kHz or 48 kHz): 0.56 s and 1.33 s of
# it; past that, at its loop end. Each boundary costs a note about as much as 25 steps (the harmonic stage lays its
# partials out again at every chunk), so there are few: a note held to its loop end costs what a whole note did.
SHORT_STEPS = (48, 96)
# Samples at the preset's rate past what a note is wanted for: soxr's filter reads this far ahead, so that the
# output up to the wanted length is what the whole note gives (a resampled prefix differs only in its last 1,000
# samples at 48 kHz from 16 kHz, 2,100 at 44.1 kHz).
RESAMPLE_MARGIN_SECONDS = 0.08
# Output samples of silence after a short note's end: a render's block (schedule.OFFLINE_BLOCK) read at up to an
# octave up, so that a voice in its last block reads in a bank, as one of a whole note does; what it reads there is
# past its release, at no gain (NoteSupply.reach extends the note before any voice reads that far while sounding).
READ_AHEAD = 2 * 16384


@dataclass
class Short:
    """A note generated short of the model's length: its samples at the preset's rate (float32, as made) and
    where its stream stood (None: on disk, read when the note is extended)."""
    samples: np.ndarray | None  # None: read back as played, its samples still on disk
    stream: Any | None


def chunk_output(preset, steps: int) -> int:
    """Samples of the note a stream has handed out after `steps` LSTM steps (decoded frames whose look-ahead is
    known, less the padding before the note)."""
    cfg = preset.config
    context = cfg.decoder_kernel // 2
    held_back = 0
    if getattr(cfg, "vibrato", False):  # the displaced reading holds back what a later frame could still move
        from ..model.numpy_harmonic import reach_samples  # vibrato.py's, without importing torch
        held_back = reach_samples(cfg.sample_rate)
    return max((steps - context) * cfg.stride - cfg.padding - held_back, 0)


def short_limit(preset, sustains: bool) -> int:
    """The most samples (preset rate) a note may stay short at: its loop start for a sustaining instrument (the
    loop is levelled from there), else the start of the crossfade before the loop end."""
    l0, l1, x = loop_points(preset.config.note_samples)
    return l0 if sustains else l1 - x


def steps_for(preset, samples: int, sustains: bool) -> int | None:
    """The first of SHORT_STEPS whose output holds `samples` of the note and the resampler's margin; None: none
    does, or the note may not stay short that long (then it is made to its loop end)."""
    want = samples + int(RESAMPLE_MARGIN_SECONDS * preset.sample_rate)
    limit = short_limit(preset, sustains)
    for steps in SHORT_STEPS:
        made = chunk_output(preset, steps)
        if made >= want:
            return steps if made <= limit and steps < preset.config.steps else None
    return None


def loop_samples(preset) -> int:
    """The samples (preset rate) a note needs for every voice but a drum hit's: to its loop end (a held voice reads
    the loop over and over, never past it), and the resampler's margin."""
    return loop_points(preset.config.note_samples)[1] + int(RESAMPLE_MARGIN_SECONDS * preset.sample_rate)


def loop_end_steps(preset) -> int | None:
    """The LSTM steps whose output reaches loop_samples(); None: the whole note (as long or longer)."""
    return _loop_end_steps(preset.config, preset.sample_rate)


@functools.lru_cache(maxsize=8)
def _loop_end_steps(config, sample_rate: int) -> int | None:
    preset = _Framing(config, sample_rate)
    want, steps = loop_samples(preset), 1
    while chunk_output(preset, steps) < want:
        steps += 1
    return steps if steps < config.steps and chunk_output(preset, steps) < config.note_samples else None


@dataclass(frozen=True)
class _Framing:
    """What the step arithmetic reads of a preset."""
    config: Any
    sample_rate: int


def chunk_size(preset, step: int) -> int:
    """The steps of the chunk starting at `step`: up to the next of SHORT_STEPS, the loop end and the note's end.
    Every note is made by the same chunks, whatever batch it is in and wherever it stops."""
    end = loop_end_steps(preset)
    stops = [*SHORT_STEPS, *([end] if end is not None else []), preset.config.steps]
    return next((stop for stop in stops if stop > step), step + preset.config.steps) - step


BALLAST = -1  # a note run along in a batch only to keep it from running alone; what it makes is dropped


def _alone_differs(stream) -> bool:
    """Whether one note alone would run on other LSTM kernels than in a batch (float32 on the CPU, where one note's
    small call takes torch's own kernels: model/sing.py's lstm_kernels), so that it would round differently. A numpy
    stream (model/numpy_stream.py) rounds each note alike in any batch."""
    if getattr(stream, "batch_independent", False):
        return False
    state = getattr(stream, "state", None)
    return state is not None and not state.bfloat16 and state.conditioning.device.type == "cpu"


def run(preset, stream, targets: Sequence[int | None]) -> list[tuple[np.ndarray, Any | None]]:
    """Advance a batch's stream chunk by chunk, each note to its target steps (None: to the note's end), the notes
    that reach theirs leaving the batch (a note's cost is its steps, whatever the batch); each note's samples
    handed out and its own stream where it stopped short of the note's end (else None). Where the rounding
    depends on the batch's size (float32), notes are made two at a time, a copy of one riding along where the
    other is done or absent."""
    if len(targets) > 2 and _alone_differs(stream):
        # float32: a batch's rounding depends on its size, so each note is made in a pair (as cheap a note:
        # the work is the notes' steps), the same whatever else is made and however far each goes
        parts, made = stream.split(), []
        for i in range(0, len(parts), 2):
            made += run(preset, type(stream).merge(parts[i:i + 2]), targets[i:i + 2])
        return made
    rows: list[list[np.ndarray]] = [[] for _ in targets]
    made = [None] * len(targets)
    live = list(range(len(targets)))  # the notes still in the batch, in its order
    if len(live) == 1 and _alone_differs(stream):
        stream, live = type(stream).merge([stream, stream.split()[0]]), [0, BALLAST]

    def finish(i: int, own) -> None:
        made[i] = (np.concatenate(rows[i]) if rows[i] else np.zeros(0, dtype=np.float32), own)

    while any(i != BALLAST for i in live):
        chunk = stream.chunk(chunk_size(preset, stream.step))
        for row, i in zip(chunk, live):
            if i != BALLAST:
                rows[i].append(row)
        if stream.done:
            for i in live:
                if i != BALLAST:
                    finish(i, None)
            break
        stop = [i != BALLAST and targets[i] is not None and stream.step >= targets[i] for i in live]
        if any(stop):
            parts = stream.split()
            for part, i, end in zip(parts, live, stop):
                if end:
                    finish(i, part)
            rest = [part for part, end in zip(parts, stop) if not end]
            live = [i for i, end in zip(live, stop) if not end]
            if len(rest) == 1 and live != [BALLAST] and _alone_differs(rest[0]):
                rest, live = rest + [next(p for p, end in zip(parts, stop) if end).split()[0]], live + [BALLAST]
            if any(i != BALLAST for i in live):
                stream = type(rest[0]).merge(rest)
    return made


def generate(preset, inputs, steps: Sequence[int | None]) -> list[tuple[np.ndarray, Any | None]]:
    """A batch of notes (preset.open_stream's inputs), each to its `steps` (None: whole): each note's samples at
    the preset's rate and its own stream where the note stopped short."""
    return run(preset, preset.open_stream(*inputs), steps)


def extend(preset, shorts: Sequence[Short], steps: Sequence[int | None]) -> list[tuple[np.ndarray, Any | None]]:
    """Notes made short, taken on to their `steps` (None: whole), together where their streams stand at the same
    step: each one's samples (all of them, from its start) and its stream if still short."""
    made: list[tuple[np.ndarray, Any | None] | None] = [None] * len(shorts)
    by_step: dict[int, list[int]] = {}
    for i, short in enumerate(shorts):
        by_step.setdefault(short.stream.step, []).append(i)
    for group in by_step.values():
        streams = [shorts[i].stream for i in group]
        for i, (more, own) in zip(group, run(preset, type(streams[0]).merge(streams), [steps[i] for i in group])):
            made[i] = (np.concatenate([shorts[i].samples, more]), own)
    return made


# -- a stream's state on disk (cache.NoteCache.save / load_state) --

def state_arrays(stream) -> dict[str, np.ndarray] | None:
    """A one-note NoteStream's state as arrays for the disk (bfloat16 tensors as their bits); None for a stream
    that cannot be stored (a test double's)."""
    if hasattr(stream, "state_arrays"):  # a numpy stream's: the same arrays
        return stream.state_arrays()
    state = getattr(stream, "state", None)
    if state is None or state.lstm is None:
        return None
    import torch

    def array(t: torch.Tensor) -> np.ndarray:
        t = t.detach().cpu()
        return t.view(torch.int16).numpy() if t.dtype == torch.bfloat16 else t.float().numpy()

    arrays = {"h": array(state.lstm[0]), "c": array(state.lstm[1]), "embeddings": array(state.embeddings),
              "tail": array(state.tail), "bfloat16": np.array([state.lstm[0].dtype == torch.bfloat16]),
              "counters": np.array([state.step, state.decoded, state.emitted], dtype=np.int64)}
    warp = getattr(state, "warp", None)
    if warp is not None:  # the note's own vibrato: the displaced reading's samples in reach and displacements
        arrays.update(warp_samples=array(warp.samples), warp_displacement=array(warp.displacement),
                      warp_counters=np.array([warp.samples_start, warp.first_frame, warp.done_until], dtype=np.int64))
    return arrays


def restore(stream, arrays: dict[str, np.ndarray]) -> bool:
    """Put a stored state into a freshly opened one-note stream of the same note; False if it does not fit."""
    if hasattr(stream, "restore"):  # a numpy stream's
        return stream.restore(arrays)
    import torch
    state = stream.state
    try:
        bf16 = bool(arrays["bfloat16"][0])

        def tensor(a: np.ndarray, like: torch.Tensor | None = None) -> torch.Tensor:
            t = torch.from_numpy(np.array(a))
            return t.view(torch.bfloat16) if bf16 and t.dtype == torch.int16 else t

        h, c = tensor(arrays["h"]), tensor(arrays["c"])
        embeddings, tail = torch.from_numpy(np.array(arrays["embeddings"])), torch.from_numpy(np.array(arrays["tail"]))
        step, decoded, emitted = (int(v) for v in arrays["counters"])
    except (KeyError, ValueError, TypeError, IndexError):
        return False
    if bf16 != state.bfloat16 or tail.shape != state.tail.shape or embeddings.shape[:2] != state.embeddings.shape[:2]:
        return False  # made at another precision (--full-precision) or by another model shape
    dev = state.conditioning.device
    warp = getattr(state, "warp", None)
    if (warp is None) != ("warp_samples" not in arrays):
        return False
    if warp is not None:
        try:
            warp.samples = torch.from_numpy(np.array(arrays["warp_samples"])).to(dev)
            warp.displacement = torch.from_numpy(np.array(arrays["warp_displacement"])).to(dev)
            warp.samples_start, warp.first_frame, warp.done_until = (int(v) for v in arrays["warp_counters"])
        except (KeyError, ValueError, TypeError):
            return False
    state.lstm = (h.to(dev), c.to(dev))
    state.embeddings, state.tail = embeddings.to(dev), tail.to(dev)
    state.step, state.decoded, state.emitted = step, decoded, emitted
    return True
