"""SING: embeddings and LSTM sequence generator, decoders (the paper's or harmonic), pretraining encoder.

Défossez, Zeghidour, Usunier, Bottou, Bach, "SING: Symbol-to-Instrument Neural Generator",
NeurIPS 2018 (arXiv:1810.09785).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Callable, Iterator, TypeVar

import torch
from torch import nn
from torch.nn import functional as F

from .config import VELOCITY_CLASSES, ModelConfig
from .chunks import chunk_steps
from .harmonic import HarmonicDecoder
from .lstm_kernels import lstm_kernels
from .onset import RiseHead, apply_rise
from .overlap import transposed_overlap_add
from .vibrato import WarpStream, start_warp, warp_chunk
from .whole_note import whole_note

Chunk = TypeVar("Chunk")  # a stream's chunk [B, n]: a tensor from the model, an array from a preset


def squared_hann(length: int) -> torch.Tensor:
    return torch.hann_window(length, periodic=False) ** 2


def velocity_weights(velocity: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """MIDI velocities [B] (1..127) -> interpolation weights over the classes [B, 5] and gains [B].

    Between two classes the embedding is interpolated linearly, so 90 is not snapped to 100;
    at a class value it is that class's embedding exactly. Below 25 the 25 embedding is used
    and the waveform is scaled by (v / 25) ** 2, the usual square-law velocity curve.
    """
    classes = torch.tensor(VELOCITY_CLASSES, dtype=torch.float32, device=velocity.device)
    v = velocity.to(torch.float32).clamp(1, 127)
    gain = torch.where(v < classes[0], (v / classes[0]) ** 2, torch.ones_like(v))
    v = v.clamp(min=float(classes[0]))
    upper = torch.searchsorted(classes, v, right=False).clamp(1, len(classes) - 1)
    lower = upper - 1
    t = (v - classes[lower]) / (classes[upper] - classes[lower])
    weights = torch.zeros(v.shape[0], len(classes), device=velocity.device)
    weights.scatter_(1, lower[:, None], (1 - t)[:, None])
    weights.scatter_add_(1, upper[:, None], t[:, None])
    return weights, gain


class SequenceGenerator(nn.Module):
    """(instrument, pitch, velocity) -> one embedding per frame [B, D, T], not autoregressive."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.instrument = nn.Embedding(config.n_instruments, config.instrument_dim)
        self.pitch = nn.Embedding(128, config.pitch_dim)
        self.velocity = nn.Embedding(len(VELOCITY_CLASSES), config.velocity_dim)
        self.time = nn.Embedding(config.steps, config.time_dim) if config.time_dim else None
        inputs = config.instrument_dim + config.pitch_dim + config.velocity_dim + config.time_dim
        self.lstm = nn.LSTM(inputs, config.lstm_hidden, config.lstm_layers, batch_first=True)
        self.output = nn.Linear(config.lstm_hidden, config.embedding_dim)

    def conditioning(self, instrument_weights: torch.Tensor, pitch: torch.Tensor,
                     velocity_weights: torch.Tensor) -> torch.Tensor:
        """Weights over instruments [B, I], pitches [B], weights over velocity classes [B, 5] -> [B, C]."""
        return torch.cat([
            instrument_weights @ self.instrument.weight,
            self.pitch(pitch),
            velocity_weights @ self.velocity.weight,
        ], dim=1)

    def forward(self, conditioning: torch.Tensor, start: int = 0, steps: int | None = None,
                state: tuple[torch.Tensor, torch.Tensor] | None = None, bfloat16: bool = False):
        """Run steps [start, start + steps); returns embeddings [B, D, steps] and the LSTM state (bfloat16 where
        `bfloat16`: the LSTM then runs on its weights cast to bfloat16 once, model/precision.py)."""
        steps = self.config.steps - start if steps is None else steps
        x = conditioning[:, None, :].expand(-1, steps, -1)  # [B, T, C]
        if self.time is not None:
            t = self.time.weight[start:start + steps][None].expand(x.shape[0], -1, -1)
            x = torch.cat([x, t], dim=2)
        lstm = self._bfloat16_lstm() if bfloat16 else self.lstm
        with lstm_kernels(x.shape[0], steps, x.device, bfloat16):
            y, state = lstm(x.to(torch.bfloat16) if bfloat16 else x, state)
        return self.output(y.float()).transpose(1, 2), state

    def _bfloat16_lstm(self) -> nn.LSTM:
        """A copy of the LSTM with its weights in bfloat16, made again whenever the weights change (loaded, moved);
        kept outside the module's parameters and state."""
        weights = [(p, p.data_ptr(), None if p.is_inference() else p._version) for p in self.lstm.parameters()]
        made = self.__dict__.get("_bfloat16_copy")
        # the parameters themselves are held, so that new ones never pass for them at a freed address; a parameter
        # made under inference_mode has no version to tell an in-place change by
        if made is None or len(made[0]) != len(weights) or any(
                a[0] is not b[0] or a[1:] != b[1:] for a, b in zip(made[0], weights)):
            made = (weights, copy.deepcopy(self.lstm).to(torch.bfloat16).requires_grad_(False))
            self.__dict__["_bfloat16_copy"] = made
        return made[1]


def decoder_body(config: ModelConfig) -> nn.Sequential:
    """SING's decoder body: a kernel-9 convolution over the embeddings, then pointwise layers [B, H, T]."""
    layers: list[nn.Module] = [nn.Conv1d(config.embedding_dim, config.hidden, config.decoder_kernel), nn.ReLU()]
    for _ in range(config.pointwise_layers):
        layers += [nn.Conv1d(config.hidden, config.hidden, 1), nn.ReLU()]
    return nn.Sequential(*layers)


class Decoder(nn.Module):
    """The paper's output stage. Embeddings [B, D, T] -> waveform: windowed 1024-sample frames overlapped at
    stride 256, from a transposed convolution. It ignores the notes' instruments and pitches."""

    def __init__(self, config: ModelConfig, body: nn.Module):
        super().__init__()
        self.config = config
        self.context = config.decoder_kernel // 2
        self.body = body
        self.synthesis = nn.ConvTranspose1d(config.hidden, 1, config.frame, config.stride)
        self.register_buffer("window", squared_hann(config.frame), persistent=False)

    @property
    def offset(self) -> torch.Tensor:
        """What is added once to every sample: the output bias."""
        return self.synthesis.bias

    def frames(self, embeddings: torch.Tensor, instrument_weights: torch.Tensor | None = None,
               pitch: torch.Tensor | None = None, first_frame: int = 0) -> torch.Tensor:
        """Embeddings with `context` extra steps each side [B, D, T + 2c] -> overlap-added [B, (T-1)*stride+frame].

        Without the output bias: it belongs once to each sample, not once to each frame."""
        return transposed_overlap_add(self.body(embeddings), self.synthesis.weight, self.window, self.config.stride)

    def frames_and_displacement(self, embeddings: torch.Tensor, instrument_weights: torch.Tensor | None = None,
                                pitch: torch.Tensor | None = None, first_frame: int = 0) -> tuple[torch.Tensor, None]:
        """frames(), and no vibrato: the paper's output stage has none."""
        return self.frames(embeddings), None

    def forward(self, embeddings: torch.Tensor, instrument_weights: torch.Tensor | None = None,
                pitch: torch.Tensor | None = None) -> torch.Tensor:
        """[B, D, steps] -> the note [B, note_samples]."""
        return whole_note(self, embeddings, instrument_weights, pitch)


def build_decoder(config: ModelConfig) -> nn.Module:
    """The output stage that `config.decoder` names, on SING's decoder body."""
    decoders = {"conv": Decoder, "harmonic": HarmonicDecoder}
    if config.decoder not in decoders:
        raise ValueError(f"unknown decoder {config.decoder!r}; known: {', '.join(decoders)}")
    return decoders[config.decoder](config, decoder_body(config))


class Encoder(nn.Module):
    """Waveform [B, note_samples] -> embeddings [B, D, steps]; only used to pretrain the decoder."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.analysis = nn.Conv1d(1, config.hidden, config.frame, config.stride)
        layers: list[nn.Module] = [nn.ReLU()]
        for _ in range(config.pointwise_layers):
            layers += [nn.Conv1d(config.hidden, config.hidden, 1), nn.ReLU()]
        layers.append(nn.Conv1d(config.hidden, config.embedding_dim, 1))
        self.body = nn.Sequential(*layers)
        self.register_buffer("window", squared_hann(config.frame), persistent=False)

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        padded = F.pad(wav, (self.config.padding, self.config.padding))[:, None]
        kernel = self.analysis.weight * self.window
        return self.body(F.conv1d(padded, kernel, self.analysis.bias, self.config.stride))


@dataclass
class StreamState:
    """What a note in progress carries from one chunk to the next."""
    conditioning: torch.Tensor
    gain: torch.Tensor
    instrument_weights: torch.Tensor  # [B, I] and pitch [B]: the output stage's knowledge of the notes
    pitch: torch.Tensor
    lstm: tuple[torch.Tensor, torch.Tensor] | None
    step: int  # LSTM steps done
    embeddings: torch.Tensor  # [B, D, k]: the steps not yet decoded, with the context before them
    decoded: int  # frames decoded
    tail: torch.Tensor  # [B, frame - stride]: overlap-add still waiting for later frames
    emitted: int  # padded-waveform samples handed out or skipped
    bfloat16: bool = False  # made in bfloat16 (model/precision.py)
    rise: torch.Tensor | None = None  # [B] each note's rise time in samples, where the model learns one
    warp: WarpStream | None = None  # the displaced reading, where the model learns a vibrato


class SING(nn.Module):
    """The generator used to play: sequence generator + decoder (the encoder lives apart)."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.sequence = SequenceGenerator(config)
        self.decoder = build_decoder(config)
        conditioning = config.instrument_dim + config.pitch_dim + config.velocity_dim
        self.rise = RiseHead(conditioning, config.sample_rate) if config.attack else None

    def forward(self, instrument_weights: torch.Tensor, pitch: torch.Tensor, velocity: torch.Tensor) -> torch.Tensor:
        """Instrument weights [B, I], MIDI pitches [B], MIDI velocities [B] -> notes [B, note_samples]."""
        vel_weights, gain = velocity_weights(velocity)
        conditioning = self.sequence.conditioning(instrument_weights, pitch, vel_weights)
        embeddings, _ = self.sequence(conditioning)
        note = self.decoder(embeddings, instrument_weights, pitch)
        if self.rise is not None:
            note = apply_rise(note.float(), self.rise(conditioning), 0)
        return note * gain[:, None]

    @property
    def device(self) -> torch.device:
        return self.sequence.instrument.weight.device

    def instrument_weights(self, instruments: torch.Tensor) -> torch.Tensor:
        """Instrument indices [B] -> one-hot weights [B, I]."""
        return F.one_hot(instruments, self.config.n_instruments).to(torch.float32)

    # -- streaming: a note chunk by chunk, whose concatenation equals forward() (in float32; a bfloat16 stream
    # rounds differently from forward() under autocast) --

    def start_stream(self, instrument_weights: torch.Tensor, pitch: torch.Tensor, velocity: torch.Tensor,
                     bfloat16: bool = False) -> StreamState:
        """A batch of notes to stream chunk by chunk (stream_chunk), in bfloat16 where asked (model/precision.py)."""
        vel_weights, gain = velocity_weights(velocity)
        cond = self.sequence.conditioning(instrument_weights, pitch, vel_weights)
        batch, c = cond.shape[0], self.decoder.context
        zeros = cond.new_zeros
        rise = self.rise(cond) if self.rise is not None else None
        warp = start_warp(batch, cond.device) if getattr(self.decoder, "warp", None) is not None else None
        return StreamState(cond, gain, instrument_weights, pitch, None, 0, zeros(batch, self.config.embedding_dim, c),
                           0, zeros(batch, self.config.frame - self.config.stride), 0, bfloat16, rise, warp)

    def stream_chunk(self, state: StreamState, steps: int) -> torch.Tensor:
        """Advance the LSTM by `steps` and return the note samples now final [B, n] (n may be 0).

        Only the frames that reach the note are decoded (config.note_frames), and the LSTM stops once the
        last of them has its look-ahead."""
        cfg, c = self.config, self.decoder.context
        first, last = cfg.note_frames
        end = min(cfg.steps, last + 1 + c)  # the LSTM steps the note's frames see
        steps = min(steps, end - state.step)
        emb = state.embeddings
        if steps > 0:
            new, state.lstm = self.sequence(state.conditioning, state.step, steps, state.lstm, state.bfloat16)
            state.step += steps
            emb = torch.cat([emb, new], dim=2)
            if state.step == end:  # the last frames' look-ahead past the final step is zero padding
                emb = F.pad(emb, (0, last + 1 + c - end))
        ready = min(emb.shape[2] - 2 * c, last + 1 - state.decoded)  # frames whose whole context is known
        skip = min(max(first - state.decoded, 0), max(ready, 0))  # frames wholly in the padding before the note
        if skip:
            emb, ready = emb[:, :, skip:], ready - skip
            state.decoded += skip
            state.emitted += skip * cfg.stride  # nothing decoded yet: the tail holds no sound to carry
        if ready <= 0:
            state.embeddings = emb
            return state.conditioning.new_zeros(emb.shape[0], 0)
        with torch.autocast(emb.device.type, dtype=torch.bfloat16, enabled=state.bfloat16):
            wav, displacement = self.decoder.frames_and_displacement(
                emb[:, :, :ready + 2 * c], state.instrument_weights, state.pitch,
                first_frame=state.decoded)  # [B, (ready-1)*stride + frame]
        wav = wav.float()  # the overlap carried to the next chunk stays float32 whatever the decoder gave
        overlap = cfg.frame - cfg.stride
        wav[:, :overlap] += state.tail
        state.embeddings = emb[:, :, ready:]
        state.decoded += ready
        last_chunk = self.stream_done(state)
        final = wav[:, :ready * cfg.stride] if not last_chunk else wav
        state.tail = wav[:, ready * cfg.stride:]
        start = state.emitted
        state.emitted += final.shape[1]
        if state.warp is not None:
            final, start = warp_chunk(state.warp, final, start, displacement, state.decoded - ready, last_chunk,
                                      cfg.frame, cfg.stride, cfg.sample_rate)
        # keep only the note: drop the padding before it and after it
        lo = max(cfg.padding - start, 0)
        hi = min(cfg.padding + cfg.note_samples - start, final.shape[1])
        note = final[:, lo:max(hi, lo)] + self.decoder.offset
        if state.rise is not None:
            note = apply_rise(note, state.rise, start + lo - cfg.padding)
        return note * state.gain[:, None]

    def stream_done(self, state: StreamState) -> bool:
        """Whether the note's last frame has been decoded."""
        return state.decoded > self.config.note_frames[1]

    def first_chunk_steps(self, first_steps: int) -> int:
        """The LSTM steps of a first chunk holding `first_steps` frames of the note: it also runs the steps that
        only cover the padding before the note and the decoder's look-ahead, so that it already holds sound."""
        return first_steps + -(-self.config.padding // self.config.stride) + self.decoder.context

    def stream(self, instrument_weights: torch.Tensor, pitch: torch.Tensor, velocity: torch.Tensor,
               first_steps: int = 1, steps: int = 64, bfloat16: bool = False) -> Iterator[torch.Tensor]:
        """Yield a note chunk by chunk: `first_steps` frames of the note first, then twice as many each time,
        up to `steps` at a time; doubling keeps each next chunk ready well before the audio already made has
        played (a step makes 16 ms of a note; on a CPU it takes about 1 ms)."""
        state = self.start_stream(instrument_weights, pitch, velocity, bfloat16)
        yield from stream_chunks(lambda n: self.stream_chunk(state, n), lambda: self.stream_done(state),
                                 self.first_chunk_steps(first_steps), first_steps, steps)


def stream_chunks(make: Callable[[int], Chunk], done: Callable[[], bool], first_chunk: int, first_steps: int,
                  steps: int) -> Iterator[Chunk]:
    """make(n) for the steps of each chunk (chunk_steps) until done(), the chunks that hold no samples yet left out:
    the loop of a stream, whatever makes its chunks (SING.stream, Preset.stream)."""
    for chunk in chunk_steps(first_chunk, first_steps, steps):
        if done():
            return
        out = make(chunk)
        if out.shape[1]:
            yield out


def split_state(state: StreamState) -> list[StreamState]:
    """One stream state per note of a batch, each its own copy (a batch's tensors are not kept alive)."""
    lstm = state.lstm
    return [StreamState(state.conditioning[i:i + 1].clone(), state.gain[i:i + 1].clone(),
                        state.instrument_weights[i:i + 1].clone(), state.pitch[i:i + 1].clone(),
                        None if lstm is None else (lstm[0][:, i:i + 1].clone(), lstm[1][:, i:i + 1].clone()),
                        state.step, state.embeddings[i:i + 1].clone(), state.decoded, state.tail[i:i + 1].clone(),
                        state.emitted, state.bfloat16, None if state.rise is None else state.rise[i:i + 1].clone(),
                        None if state.warp is None else state.warp.split(i))
            for i in range(state.conditioning.shape[0])]


def stack_states(states: list[StreamState]) -> StreamState:
    """Notes' stream states at the same point of their notes, as one batch."""
    first = states[0]
    if any((s.step, s.decoded, s.emitted) != (first.step, first.decoded, first.emitted) for s in states):
        raise ValueError("streams at different points of their notes cannot be batched")
    if any(s.bfloat16 != first.bfloat16 for s in states):
        raise ValueError("streams made in bfloat16 and in float32 cannot be batched")
    cat = torch.cat
    lstm = None if first.lstm is None else (cat([s.lstm[0] for s in states], 1), cat([s.lstm[1] for s in states], 1))
    return StreamState(cat([s.conditioning for s in states]), cat([s.gain for s in states]),
                       cat([s.instrument_weights for s in states]), cat([s.pitch for s in states]), lstm,
                       first.step, cat([s.embeddings for s in states]), first.decoded,
                       cat([s.tail for s in states]), first.emitted, first.bfloat16,
                       None if first.rise is None else cat([s.rise for s in states]),
                       None if first.warp is None else WarpStream.stack([s.warp for s in states]))


class Autoencoder(nn.Module):
    """Encoder + decoder: the first training stage. The harmonic decoder also needs each note's instrument
    weights [B, I] and pitch [B]; the paper's ignores them."""

    def __init__(self, encoder: Encoder, decoder: nn.Module):
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder

    def forward(self, wav: torch.Tensor, instrument_weights: torch.Tensor | None = None,
                pitch: torch.Tensor | None = None) -> torch.Tensor:
        return self.decoder(self.encoder(wav), instrument_weights, pitch)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
