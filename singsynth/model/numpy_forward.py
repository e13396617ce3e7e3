"""SING's forward pass for playing, in numpy: the embeddings, the LSTM, the decoder body and the paper's output stage.

A process that only plays notes on the CPU then never imports torch (1.5 s or more of a cold start, docs/benchmarks.md),
and a batch's rounding does not depend on its size (a matrix product of two rows or more rounds each row alike,
where torch's small float32 LSTM calls do not), so notes are made in batches of any size. torch stays the training
path, the GPU path and the bfloat16 path; this one mirrors model/sing.py in float32 and is held to within 1e-5 of it
(tests/test_numpy_forward.py). The harmonic output stage and the displaced reading: model/numpy_harmonic.py; the
stream: model/numpy_stream.py.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from .config import RISE_HIDDEN, VELOCITY_CLASSES, VIBRATO_HIDDEN, VIBRATO_WIDTH, ModelConfig
from .numpy_harmonic import ArrayHarmonic
from .numpy_ops import overlap_add, sigmoid, squared_hann

# Up to this many notes, the LSTM's products run a row at a time (a vector product reads 8 MB of weights in 0.15 ms
# on one core; a matrix product of 2 to 8 rows takes 1.0-1.3 ms, of 32 rows 2.4 ms)
ROWWISE_BATCH = 6
# rise head (model/onset.py)
SHORTEST_RISE_SECONDS = 1e-3
LONGEST_RISE_SECONDS = 1.0


def expected_shapes(config: ModelConfig) -> dict[str, tuple[int, ...]]:
    """The weights, and their shapes, that a preset of this config holds and this forward pass knows how to run: a
    file with any other (a model part added since) is played by torch."""
    c = config
    conditioning = c.instrument_dim + c.pitch_dim + c.velocity_dim
    h = c.lstm_hidden
    shapes: dict[str, tuple[int, ...]] = {
        "sequence.instrument.weight": (c.n_instruments, c.instrument_dim), "sequence.pitch.weight": (128, c.pitch_dim),
        "sequence.velocity.weight": (len(VELOCITY_CLASSES), c.velocity_dim),
        "sequence.output.weight": (c.embedding_dim, h), "sequence.output.bias": (c.embedding_dim,),
        "decoder.body.0.weight": (c.hidden, c.embedding_dim, c.decoder_kernel), "decoder.body.0.bias": (c.hidden,)}
    if c.time_dim:
        shapes["sequence.time.weight"] = (c.steps, c.time_dim)
    for layer in range(c.lstm_layers):
        shapes[f"sequence.lstm.weight_ih_l{layer}"] = (4 * h, conditioning + c.time_dim if layer == 0 else h)
        shapes[f"sequence.lstm.weight_hh_l{layer}"] = (4 * h, h)
        shapes[f"sequence.lstm.bias_ih_l{layer}"] = shapes[f"sequence.lstm.bias_hh_l{layer}"] = (4 * h,)
    for index in range(2, 2 * (c.pointwise_layers + 1), 2):
        shapes[f"decoder.body.{index}.weight"], shapes[f"decoder.body.{index}.bias"] = (c.hidden, c.hidden, 1), (c.hidden,)
    transposed = {"weight": (c.hidden, 1, c.frame), "bias": (1,)}
    if c.decoder == "conv":
        shapes.update({f"decoder.synthesis.{k}": v for k, v in transposed.items()})
    else:
        controls = 1 + c.harmonics + c.noise_bands
        shapes.update({"decoder.controls.weight": (controls, c.hidden, 1), "decoder.controls.bias": (controls,),
                       "decoder.tuning": (c.n_instruments, 128) if c.key_tuning else (c.n_instruments,)})
        if c.inharmonicity:
            shapes["decoder.inharmonicity"] = (c.n_instruments,)
        if c.instrument_controls:
            shapes["decoder.control_offsets"] = (c.n_instruments, 2, controls)
        if c.residual:
            shapes.update({f"decoder.residual.{k}": v for k, v in transposed.items()})
        if c.vibrato:  # model/vibrato.py's VibratoHead
            shapes.update({"decoder.warp.instrument": (c.n_instruments, VIBRATO_WIDTH),
                           "decoder.warp.layers.0.weight": (VIBRATO_HIDDEN, VIBRATO_WIDTH + 2),
                           "decoder.warp.layers.0.bias": (VIBRATO_HIDDEN,),
                           "decoder.warp.layers.2.weight": (4, VIBRATO_HIDDEN), "decoder.warp.layers.2.bias": (4,)})
    if c.attack:
        shapes.update({"rise.layers.0.weight": (RISE_HIDDEN, conditioning), "rise.layers.0.bias": (RISE_HIDDEN,),
                       "rise.layers.2.weight": (1, RISE_HIDDEN), "rise.layers.2.bias": (1,)})
    return shapes


def velocity_weights(velocity: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """MIDI velocities [B] -> weights over the velocity classes [B, 5] and gains [B] (sing.velocity_weights)."""
    classes = np.array(VELOCITY_CLASSES, dtype=np.float32)
    v = np.clip(np.asarray(velocity, dtype=np.float32).reshape(-1), 1, 127)
    gain = np.where(v < classes[0], (v / classes[0]) ** 2, np.float32(1)).astype(np.float32)
    v = np.maximum(v, classes[0])
    upper = np.clip(np.searchsorted(classes, v, side="left"), 1, len(classes) - 1)
    lower = upper - 1
    t = (v - classes[lower]) / (classes[upper] - classes[lower])
    weights = np.zeros((len(v), len(classes)), dtype=np.float32)
    rows = np.arange(len(v))
    weights[rows, lower] = 1 - t
    weights[rows, upper] += t
    return weights, gain


class ArraySING:
    """A preset's model as float32 arrays: what SING computes when playing, without torch."""

    def __init__(self, config: ModelConfig, weights: dict[str, np.ndarray]):
        self.config = config
        self.context = config.decoder_kernel // 2
        w = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in weights.items()}
        self.instrument, self.pitch = w["sequence.instrument.weight"], w["sequence.pitch.weight"]
        self.velocity = w["sequence.velocity.weight"]
        conditioning = self.instrument.shape[1] + self.pitch.shape[1] + self.velocity.shape[1]
        # the first layer's input: the note's conditioning (once a note) and the time embedding (once a preset),
        # each projected apart; every later layer's input and state in one product: [x, h] @ [W_ih, W_hh].T
        first = w["sequence.lstm.weight_ih_l0"]
        self.input_weight = np.ascontiguousarray(first[:, :conditioning].T)  # [C, 4H]
        bias0 = w["sequence.lstm.bias_ih_l0"] + w["sequence.lstm.bias_hh_l0"]
        time = w["sequence.time.weight"] if config.time_dim else np.zeros((config.steps, 0), np.float32)
        self.time_input = time @ first[:, conditioning:].T + bias0  # [steps, 4H]
        self.recurrent = [np.ascontiguousarray(w["sequence.lstm.weight_hh_l0"].T)]  # [H, 4H], then [2H, 4H]
        self.bias = [np.zeros(0, np.float32)]
        for layer in range(1, config.lstm_layers):
            both = np.concatenate([w[f"sequence.lstm.weight_ih_l{layer}"], w[f"sequence.lstm.weight_hh_l{layer}"]], 1)
            self.recurrent.append(np.ascontiguousarray(both.T))
            self.bias.append(w[f"sequence.lstm.bias_ih_l{layer}"] + w[f"sequence.lstm.bias_hh_l{layer}"])
        self.output_weight, self.output_bias = np.ascontiguousarray(w["sequence.output.weight"].T), w["sequence.output.bias"]
        # decoder body: the kernel-9 convolution as one product over the steps' windows [D * k, H], then pointwise
        conv = w["decoder.body.0.weight"]  # [H, D, k]
        self.body = [(np.ascontiguousarray(conv.reshape(conv.shape[0], -1).T), w["decoder.body.0.bias"])]
        for index in range(2, 2 * (config.pointwise_layers + 1), 2):
            self.body.append((np.ascontiguousarray(w[f"decoder.body.{index}.weight"][:, :, 0].T),
                              w[f"decoder.body.{index}.bias"]))
        self.weights = w
        self.rise = None
        if config.attack:
            self.rise = (np.ascontiguousarray(w["rise.layers.0.weight"].T), w["rise.layers.0.bias"],
                         np.ascontiguousarray(w["rise.layers.2.weight"].T), w["rise.layers.2.bias"])
        if config.decoder == "conv":
            self.synthesis = np.ascontiguousarray(w["decoder.synthesis.weight"][:, 0, :] * squared_hann(config.frame))
            self.offset = float(w["decoder.synthesis.bias"][0])
            self.harmonic = None
        else:
            self.harmonic = ArrayHarmonic(config, w)
            self.offset = self.harmonic.offset

    @classmethod
    def from_file(cls, config: ModelConfig, path: Path) -> "ArraySING | None":
        """The model from a safetensors file whose header was checked; None where the file holds weights this
        forward pass does not know, of other shapes, or not finite (then torch reads it, and tells what is wrong), and
        for a model with inharmonicity."""
        if config.inharmonicity:
            # torch's vectorised square root of the stretch is not always the correctly rounded one, and a partial's
            # frequency an ulp off is its phase 1e-4 rad off by the note's end: torch plays such a preset
            return None
        from safetensors import SafetensorError
        from safetensors.numpy import load_file
        try:
            weights = load_file(str(path))
        except (SafetensorError, OSError, ValueError):
            return None
        expected = expected_shapes(config)
        if set(weights) != set(expected) or any(tuple(v.shape) != expected[k] or v.dtype.kind != "f"
                                                or not np.isfinite(v).all() for k, v in weights.items()):
            return None
        return cls(config, weights)

    # -- conditioning --

    def conditioning(self, instrument_weights: np.ndarray, pitch: np.ndarray, velocity: np.ndarray):
        """Weights over instruments [B, I], MIDI pitches [B], velocities [B] -> the conditioning [B, C] and the gains
        velocities below the lowest class get [B]."""
        vel_weights, gain = velocity_weights(velocity)
        cond = np.concatenate([instrument_weights.astype(np.float32) @ self.instrument, self.pitch[pitch],
                               vel_weights @ self.velocity], axis=1)
        return cond, gain

    def rise_samples(self, cond: np.ndarray) -> np.ndarray | None:
        """Each note's rise time in samples [B] (model/onset.py's RiseHead); None where the model has no rise."""
        if self.rise is None:
            return None
        w0, b0, w2, b2 = self.rise
        u = sigmoid((np.maximum(cond @ w0 + b0, 0) @ w2 + b2)[:, 0])
        rate = self.config.sample_rate
        shortest, longest = math.log(SHORTEST_RISE_SECONDS * rate), math.log(LONGEST_RISE_SECONDS * rate)
        return np.exp(shortest + u * (longest - shortest)).astype(np.float32)

    # -- the sequence generator --

    def lstm(self, cond_input: np.ndarray, start: int, steps: int, state: tuple[np.ndarray, np.ndarray] | None):
        """Steps [start, start + steps) of a batch [B] whose conditioning's projection is cond_input [B, 4H] ->
        embeddings [B, D, steps] and the state (h, c) [layers, B, H]."""
        batch, hidden = cond_input.shape[0], self.recurrent[0].shape[0]
        layers = len(self.recurrent)
        if state is None:
            h = np.zeros((layers, batch, hidden), np.float32)
            c = np.zeros((layers, batch, hidden), np.float32)
        else:
            h, c = state[0].copy(), state[1].copy()
        # A matrix product of a few rows costs as much as one of dozens (BLAS lays the whole weight matrix out for
        # it), while a vector product reads the weights as they are: few notes are run a row at a time. Each row
        # rounds alike either way to within float32's last bits (within 1e-7 of a note, tests/test_numpy_forward.py).
        rowwise = batch <= ROWWISE_BATCH
        ys = np.empty((steps, batch, hidden), np.float32)
        inputs = [np.zeros((batch, hidden if layer == 0 else 2 * hidden), np.float32) for layer in range(layers)]
        for t in range(steps):
            x = None
            for layer in range(layers):
                inp = inputs[layer]
                if layer == 0:
                    inp[:batch] = h[0]
                else:
                    inp[:batch, :hidden], inp[:batch, hidden:] = x, h[layer]
                if rowwise:
                    gates = np.stack([row @ self.recurrent[layer] for row in inp])
                else:
                    gates = inp @ self.recurrent[layer]
                if layer == 0:
                    gates += cond_input
                    gates += self.time_input[start + t]
                else:
                    gates += self.bias[layer]
                h[layer], c[layer] = self._cell(gates, c[layer], hidden)
                x = h[layer]
            ys[t] = x
        out = ys.transpose(1, 0, 2) @ self.output_weight + self.output_bias  # [B, steps, D]
        return np.ascontiguousarray(out.transpose(0, 2, 1)), (h, c)

    @staticmethod
    def _cell(gates: np.ndarray, c: np.ndarray, hidden: int) -> tuple[np.ndarray, np.ndarray]:
        """torch's gate order: input, forget, cell, output."""
        s = sigmoid(gates)
        g = np.tanh(gates[:, 2 * hidden:3 * hidden])
        c = s[:, hidden:2 * hidden] * c + s[:, :hidden] * g
        return s[:, 3 * hidden:] * np.tanh(c), c

    # -- the decoder --

    def features(self, embeddings: np.ndarray) -> np.ndarray:
        """The decoder body: embeddings with their context [B, D, T + 2c] -> features [B, T, H] (time-major)."""
        batch, dim, padded = embeddings.shape
        k = self.config.decoder_kernel
        count = padded - k + 1
        windows = np.lib.stride_tricks.sliding_window_view(embeddings, k, axis=2)  # [B, D, T, k]
        cols = windows.transpose(0, 2, 1, 3).reshape(batch * count, dim * k)
        x = cols @ self.body[0][0]
        x += self.body[0][1]
        np.maximum(x, 0, out=x)
        for weight, bias in self.body[1:]:
            x = x @ weight
            x += bias
            np.maximum(x, 0, out=x)
        return x.reshape(batch, count, -1)

    def frames_and_displacement(self, embeddings: np.ndarray, instrument_weights: np.ndarray, pitch: np.ndarray,
                                first_frame: int) -> tuple[np.ndarray, np.ndarray | None]:
        """Embeddings with context [B, D, T + 2c] -> overlap-added [B, (T-1)*stride + frame] without the offset,
        and each frame's displacement [B, T] where the model learns a vibrato."""
        features = self.features(embeddings)
        if self.harmonic is not None:
            return self.harmonic.frames_and_displacement(features, instrument_weights, pitch, first_frame)
        return overlap_add(features @ self.synthesis, self.config.stride), None
