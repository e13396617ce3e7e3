"""Notes generated chunk by chunk in numpy (model/numpy_forward.py): SING.stream_chunk and model/streaming.py's
NoteStream without torch, with the same methods, so that note_length.py runs either.

The state is SING's StreamState in arrays, and what a stream keeps besides: each note's partial frequencies and
their spread over the bins, laid out once. On disk it is the same arrays as torch's (note_length.state_arrays), so a
note made short by one runtime is extended by the other.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

import numpy as np

from .numpy_forward import ArraySING
from .numpy_harmonic import reach_samples, warp_note


@dataclass
class ArrayWarp:
    """vibrato.WarpStream in arrays."""
    samples: np.ndarray
    samples_start: int
    displacement: np.ndarray
    first_frame: int
    done_until: int


@dataclass
class ArrayState:
    conditioning: np.ndarray  # [B, C]
    cond_input: np.ndarray  # [B, 4H]: the conditioning's projection into the first LSTM layer
    gain: np.ndarray  # [B]
    instrument_weights: np.ndarray
    pitch: np.ndarray
    lstm: tuple[np.ndarray, np.ndarray] | None
    step: int
    embeddings: np.ndarray
    decoded: int
    tail: np.ndarray
    emitted: int
    rise: np.ndarray | None = None
    warp: ArrayWarp | None = None
    freqs: np.ndarray | None = None  # harmonic stage: [B, K] and each note's spread
    spread: list[np.ndarray] = field(default_factory=list)
    bfloat16: bool = False  # always float32: read by note_length.py as of a torch state


def _rows(state: ArrayState, index: list[int]) -> ArrayState:
    pick = (lambda a: None if a is None else a[index].copy())
    warp = state.warp
    return ArrayState(pick(state.conditioning), pick(state.cond_input), pick(state.gain),
                      pick(state.instrument_weights), pick(state.pitch),
                      None if state.lstm is None else (state.lstm[0][:, index].copy(), state.lstm[1][:, index].copy()),
                      state.step, pick(state.embeddings), state.decoded, pick(state.tail), state.emitted,
                      pick(state.rise),
                      None if warp is None else ArrayWarp(warp.samples[index].copy(), warp.samples_start,
                                                          warp.displacement[index].copy(), warp.first_frame,
                                                          warp.done_until),
                      pick(state.freqs), [state.spread[i] for i in index] if state.spread else [])


def _stack(states: list[ArrayState]) -> ArrayState:
    first = states[0]
    if any((s.step, s.decoded, s.emitted) != (first.step, first.decoded, first.emitted) for s in states):
        raise ValueError("streams at different points of their notes cannot be batched")
    cat = (lambda name: None if getattr(first, name) is None else np.concatenate([getattr(s, name) for s in states]))
    lstm = None if first.lstm is None else (np.concatenate([s.lstm[0] for s in states], 1),
                                            np.concatenate([s.lstm[1] for s in states], 1))
    warp = None
    if first.warp is not None:
        w = first.warp
        if any((s.warp.samples_start, s.warp.first_frame, s.warp.done_until) != (w.samples_start, w.first_frame,
                                                                               w.done_until) for s in states):
            raise ValueError("displaced readings at different points of their notes cannot be batched")
        warp = ArrayWarp(np.concatenate([s.warp.samples for s in states]), w.samples_start,
                         np.concatenate([s.warp.displacement for s in states]), w.first_frame, w.done_until)
    return ArrayState(cat("conditioning"), cat("cond_input"), cat("gain"), cat("instrument_weights"), cat("pitch"),
                      lstm, first.step, cat("embeddings"), first.decoded, cat("tail"), first.emitted, cat("rise"), warp,
                      cat("freqs"), [a for s in states for a in s.spread])


def start(model: ArraySING, instrument_weights: np.ndarray, pitch: np.ndarray, velocity: np.ndarray) -> ArrayState:
    """SING.start_stream."""
    cfg = model.config
    pitch = np.asarray(pitch, dtype=np.int64).reshape(-1)
    iw = np.asarray(instrument_weights, dtype=np.float32)
    cond, gain = model.conditioning(iw, pitch, velocity)
    batch, c = len(pitch), model.context
    freqs = model.harmonic.frequencies(iw, pitch) if model.harmonic is not None else None
    warp = (ArrayWarp(np.zeros((batch, 0), np.float32), 0, np.zeros((batch, 0), np.float32), -1, 0)
            if cfg.decoder == "harmonic" and cfg.vibrato else None)
    return ArrayState(cond, cond @ model.input_weight, gain, iw, pitch, None, 0,
                      np.zeros((batch, cfg.embedding_dim, c), np.float32), 0,
                      np.zeros((batch, cfg.frame - cfg.stride), np.float32), 0, model.rise_samples(cond), warp, freqs)


def done(model: ArraySING, state: ArrayState) -> bool:
    return state.decoded > model.config.note_frames[1]


def chunk(model: ArraySING, state: ArrayState, steps: int) -> np.ndarray:
    """SING.stream_chunk: advance the LSTM by `steps`, return the note samples now final [B, n] (before gains)."""
    cfg, c = model.config, model.context
    first, last = cfg.note_frames
    end = min(cfg.steps, last + 1 + c)
    steps = min(steps, end - state.step)
    emb = state.embeddings
    if steps > 0:
        new, state.lstm = model.lstm(state.cond_input, state.step, steps, state.lstm)
        state.step += steps
        emb = np.concatenate([emb, new], axis=2)
        if state.step == end:
            emb = np.pad(emb, ((0, 0), (0, 0), (0, last + 1 + c - end)))
    ready = min(emb.shape[2] - 2 * c, last + 1 - state.decoded)
    skip = min(max(first - state.decoded, 0), max(ready, 0))
    if skip:
        emb, ready = emb[:, :, skip:], ready - skip
        state.decoded += skip
        state.emitted += skip * cfg.stride
    if ready <= 0:
        state.embeddings = emb
        return np.zeros((emb.shape[0], 0), np.float32)
    window = np.ascontiguousarray(emb[:, :, :ready + 2 * c])
    if model.harmonic is not None:
        if not state.spread:
            state.spread = model.harmonic.spread(state.freqs)
        wav, displacement = model.harmonic.frames_and_displacement(model.features(window), state.instrument_weights,
                                                                   state.pitch, state.decoded, state.spread,
                                                                   state.freqs)
    else:
        wav, displacement = model.frames_and_displacement(window, state.instrument_weights, state.pitch,
                                                          state.decoded)
    overlap = cfg.frame - cfg.stride
    wav[:, :overlap] += state.tail
    state.embeddings = emb[:, :, ready:]
    state.decoded += ready
    last_chunk = done(model, state)
    final = wav[:, :ready * cfg.stride] if not last_chunk else wav
    state.tail = wav[:, ready * cfg.stride:].copy()
    begin = state.emitted
    state.emitted += final.shape[1]
    if state.warp is not None:
        final, begin = warp_chunk(state.warp, final, begin, displacement, state.decoded - ready, last_chunk, cfg)
    lo = max(cfg.padding - begin, 0)
    hi = min(cfg.padding + cfg.note_samples - begin, final.shape[1])
    note = final[:, lo:max(hi, lo)] + np.float32(model.offset)
    if state.rise is not None:
        note = apply_rise(note, state.rise, begin + lo - cfg.padding)
    return note * state.gain[:, None]


def warp_chunk(stream: ArrayWarp, final: np.ndarray, final_start: int, displacement: np.ndarray, first_frame: int,
               last: bool, cfg) -> tuple[np.ndarray, int]:
    """vibrato.warp_chunk."""
    if stream.first_frame < 0:
        stream.first_frame = first_frame
        stream.samples_start = stream.done_until = final_start
    stream.displacement = np.concatenate([stream.displacement, displacement.astype(np.float32)], axis=1)
    stream.samples = np.concatenate([stream.samples, final.astype(np.float32)], axis=1)
    reach = reach_samples(cfg.sample_rate)
    end = stream.samples_start + stream.samples.shape[1]
    ready = end if last else end - reach
    begin = stream.done_until
    if ready <= begin:
        return np.zeros((final.shape[0], 0), np.float32), begin
    out = warp_note(stream.samples, stream.samples_start, stream.displacement, stream.first_frame, begin,
                    ready - begin, cfg.frame, cfg.stride)
    stream.done_until = ready
    keep_from = max(ready - reach - stream.samples_start, 0)
    stream.samples = stream.samples[:, keep_from:]
    stream.samples_start += keep_from
    return out, begin


def apply_rise(wav: np.ndarray, samples: np.ndarray, begin: int) -> np.ndarray:
    """onset.apply_rise: a raised cosine over each note's rise time from its first sample."""
    reach = min(wav.shape[1], max(int(math.ceil(float(samples.max()))) - begin, 0))
    if reach <= 0:
        return wav
    n = np.arange(begin, begin + reach, dtype=np.float32)
    u = np.clip(n[None, :] / samples[:, None], 0.0, 1.0)
    out = wav.copy()
    out[:, :reach] *= (0.5 - 0.5 * np.cos(np.float32(math.pi) * u)).astype(np.float32)
    return out


class ArrayNoteStream:
    """model/streaming.py's NoteStream, run by ArraySING."""

    batch_independent = True  # a note rounds alike in any batch (note_length.run need not pair notes)

    def __init__(self, model: ArraySING, state: ArrayState, gains: np.ndarray):
        self.model = model
        self.state = state
        self.gains = gains  # [B, 1]

    def __len__(self) -> int:
        return self.state.conditioning.shape[0]

    @property
    def step(self) -> int:
        return self.state.step

    @property
    def done(self) -> bool:
        return done(self.model, self.state)

    def first_chunk_steps(self, frames: int) -> int:
        return frames + -(-self.model.config.padding // self.model.config.stride) + self.model.context

    def chunk(self, steps: int) -> np.ndarray:
        return (chunk(self.model, self.state, steps) * self.gains).astype(np.float32, copy=False)

    def split(self) -> list["ArrayNoteStream"]:
        return [ArrayNoteStream(self.model, _rows(self.state, [i]), self.gains[i:i + 1].copy())
                for i in range(len(self))]

    @staticmethod
    def merge(streams: list["ArrayNoteStream"]) -> "ArrayNoteStream":
        if len(streams) == 1:
            return streams[0]
        return ArrayNoteStream(streams[0].model, _stack([s.state for s in streams]),
                               np.concatenate([s.gains for s in streams]))

    # -- on disk: the arrays note_length.state_arrays writes for a torch stream --

    def state_arrays(self) -> dict[str, np.ndarray] | None:
        state = self.state
        if state.lstm is None:
            return None
        arrays = {"h": state.lstm[0], "c": state.lstm[1], "embeddings": state.embeddings, "tail": state.tail,
                  "bfloat16": np.array([False]),
                  "counters": np.array([state.step, state.decoded, state.emitted], dtype=np.int64)}
        if state.warp is not None:
            warp = state.warp
            arrays.update(warp_samples=warp.samples, warp_displacement=warp.displacement,
                          warp_counters=np.array([warp.samples_start, warp.first_frame, warp.done_until], np.int64))
        return arrays

    def restore(self, arrays: dict[str, np.ndarray]) -> bool:
        """A stored state into this freshly opened one-note stream; False if it does not fit (made in bfloat16 or by
        another model shape)."""
        state = self.state
        try:
            if bool(arrays["bfloat16"][0]):
                return False
            h, c = np.array(arrays["h"], np.float32), np.array(arrays["c"], np.float32)
            embeddings, tail = np.array(arrays["embeddings"], np.float32), np.array(arrays["tail"], np.float32)
            step, decoded, emitted = (int(v) for v in arrays["counters"])
            warp = copy.copy(state.warp)
            if (warp is None) != ("warp_samples" not in arrays):
                return False
            if warp is not None:
                warp.samples = np.array(arrays["warp_samples"], np.float32)
                warp.displacement = np.array(arrays["warp_displacement"], np.float32)
                warp.samples_start, warp.first_frame, warp.done_until = (int(v) for v in arrays["warp_counters"])
        except (KeyError, ValueError, TypeError, IndexError):
            return False
        if tail.shape != state.tail.shape or embeddings.shape[:2] != state.embeddings.shape[:2] or \
                h.shape[1:] != (1, state.cond_input.shape[1] // 4):
            return False
        state.lstm, state.embeddings, state.tail, state.warp = (h, c), embeddings, tail, warp
        state.step, state.decoded, state.emitted = step, decoded, emitted
        return True


def open_stream(model: ArraySING, instrument_weights, pitch, velocity, gains) -> ArrayNoteStream:
    """The notes to be generated chunk by chunk, at `gains` (a number or [B, 1])."""
    state = start(model, np.asarray(instrument_weights, np.float32), pitch, velocity)
    batch = len(state.pitch)
    g = np.broadcast_to(np.asarray(gains, np.float32).reshape(-1, 1), (batch, 1)).copy()
    return ArrayNoteStream(model, state, g)
