"""Model configurations: the paper's size and smaller ones that run well on a CPU."""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

# NSynth's five velocity classes; MIDI velocities in between are interpolated.
VELOCITY_CLASSES = (25, 50, 75, 100, 127)
SAMPLE_RATE = 16_000
# The hidden width of the small head that gives each note its rise time (model/onset.py)
RISE_HIDDEN = 64
# model/vibrato.py's VibratoHead: each instrument's vibrato embedding, and the hidden layer over it and the key
VIBRATO_WIDTH = 8
VIBRATO_HIDDEN = 32
# The note's own vibrato (vibrato.py), here so that numpy_harmonic.py shares them without torch. The oscillator's
# range: a sample's recorded vibrato played far from its key moves slower or faster with it
# (FluidR3's flute: 0.9 Hz two octaves down, 9 Hz two up), and the deepest source vibrato is a choir's 25-30 cents.
LOWEST_RATE_HZ = 0.8
HIGHEST_RATE_HZ = 10.0
DEEPEST_CENTS = 30.0
# the largest displacement the range allows: 2 a / (2 pi f) at the deepest and slowest
MAX_DISPLACEMENT_SECONDS = 2 * (2 ** (DEEPEST_CENTS / 1200) - 1) / (2 * math.pi * LOWEST_RATE_HZ)
LANCZOS_A = 8
FARROW_DEGREE = 8
# When playing, displacements within this many samples of 0 are 0 (a soft threshold, so g stays continuous): a
# note whose instrument learnt no vibrato is then not resampled at all. 0.01 samples moves a 20 kHz partial by
# 0.03 rad.
PLAY_DEAD_ZONE = 0.01
# A fresh head starts without vibrato: DEEPEST_CENTS * sigmoid(-10) is 0.0014 cents, a displacement under
# PLAY_DEAD_ZONE at 48 kHz. The depth's logit is the layer's output times DEPTH_GAIN, so training moves it as fast
# as a logit near 0 moves from a far start.
DEPTH_GAIN = 4.0
# ModelConfig.instrument_controls: the key its slope turns about (middle C, inside most instruments' ranges), and the
# slope's unit (an octave), so that offset and slope are of one size for Adam
CONTROLS_PIVOT_KEY = 60
CONTROLS_SLOPE_KEYS = 12


@dataclass(frozen=True)
class ModelConfig:
    # look-up tables (paper: 16, 8, 2, 4; time_dim 0 is the no-time-embedding ablation)
    n_instruments: int = 1
    instrument_dim: int = 16
    pitch_dim: int = 8
    velocity_dim: int = 2
    time_dim: int = 4
    # sequence generator: an LSTM producing one embedding per frame
    lstm_hidden: int = 1024
    lstm_layers: int = 3
    embedding_dim: int = 128
    # decoder (and the encoder used to pretrain it)
    hidden: int = 4096
    decoder_kernel: int = 9
    pointwise_layers: int = 2
    # output stage: "conv" is the paper's transposed convolution; "harmonic" synthesises the note's
    # harmonics and band noise from per-frame amplitudes (singsynth/model/harmonic.py)
    decoder: str = "conv"
    harmonics: int = 64  # harmonic decoder: partials of f0 at the most
    noise_bands: int = 65  # harmonic decoder: noise band gains, spread over 0..8 kHz
    inharmonicity: bool = False  # harmonic decoder: a learnt stretch f_k = k f0 sqrt(1 + B k^2) per instrument
    residual: bool = False  # harmonic decoder: the paper's transposed convolution added (attacks, drums)
    key_tuning: bool = False  # harmonic decoder: a tuning per instrument and key, not per instrument
    attack: bool = False  # harmonic decoder: a learnt rise from silence at the note's first sample (model/onset.py)
    vibrato: bool = False  # harmonic decoder: a learnt per-frame time displacement, the note's own vibrato (model/vibrato.py)
    # harmonic decoder: a learnt offset per instrument on the control logits (loudness, the partials' shares, the
    # noise bands) and its slope per octave of key, constant over a note: room for a new instrument's sound that its
    # 16-number embedding cannot hold (what `singsynth learn` fits; a base's rows are zeros)
    instrument_controls: bool = False
    # framing: 4 s at 16 kHz, padded so that 1024-sample frames at stride 256 give 265 steps
    sample_rate: int = SAMPLE_RATE
    frame: int = 1024
    stride: int = 256
    note_samples: int = 64_000
    padding: int = 2304

    @property
    def steps(self) -> int:
        return (self.note_samples + 2 * self.padding - self.frame) // self.stride + 1

    @property
    def note_frames(self) -> tuple[int, int]:
        """The first and last frame that reach the note's samples: the others lie wholly in its padding."""
        first = max((self.padding - self.frame) // self.stride + 1, 0)
        last = min((self.padding + self.note_samples - 1) // self.stride, self.steps - 1)
        return first, last

    @property
    def padded_samples(self) -> int:
        return (self.steps - 1) * self.stride + self.frame

    def to_dict(self) -> dict:
        """The fields, less instrument_controls where it is off: a preset without it is written as before, and a
        singsynth from before reads it."""
        values = dataclasses.asdict(self)
        if not self.instrument_controls:
            del values["instrument_controls"]
        return values

    @classmethod
    def from_dict(cls, values: dict) -> "ModelConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown model config keys: {', '.join(sorted(unknown))}")
        return cls(**values)


CONFIGS: dict[str, ModelConfig] = {
    # The published model: about 63.7 M parameters without the encoder.
    "sing-paper": ModelConfig(),
    # Sizes for a CPU; sing-cpu is the one presets use (see docs/benchmarks.md).
    "sing-medium": ModelConfig(lstm_hidden=512, lstm_layers=3, hidden=1024),
    # The largest harmonic size for a General MIDI preset on a CPU: with 129 instruments and 128 harmonics,
    # 15.6 MiB of fp16 weights and 214 s of audio per second at batch 64 on 2 cores (docs/benchmarks.md).
    "sing-gm": ModelConfig(lstm_hidden=512, lstm_layers=3, hidden=896, decoder="harmonic", harmonics=128,
                           key_tuning=True),
    # sing-gm at 48 kHz: the same 265 steps of 64 ms frames, three times the samples; partials and noise up to
    # 24 kHz, and a rise from silence learnt per note (docs/presets.md)
    # (193 noise bands: 125 Hz apart as sing-gm's 65 are, so that a warm start from it keeps their shape), and
    # each note's own vibrato (model/vibrato.py)
    "sing-gm48": ModelConfig(lstm_hidden=512, lstm_layers=3, hidden=896, decoder="harmonic", harmonics=256,
                             noise_bands=193, key_tuning=True, attack=True, vibrato=True, sample_rate=48_000,
                             frame=3072, stride=768, note_samples=192_000, padding=6912),
    "sing-cpu": ModelConfig(lstm_hidden=256, lstm_layers=2, hidden=512),
    "sing-tiny": ModelConfig(lstm_hidden=128, lstm_layers=2, hidden=256, embedding_dim=64),
    # For tests only: trains in seconds, sounds like nothing.
    "sing-unittest": ModelConfig(lstm_hidden=16, lstm_layers=1, hidden=32, embedding_dim=16),
    # The 48 kHz harmonic stage at test size.
    "sing-unittest48": ModelConfig(lstm_hidden=16, lstm_layers=1, hidden=32, embedding_dim=16, decoder="harmonic",
                                   harmonics=32, noise_bands=33, attack=True, vibrato=True, sample_rate=48_000,
                                   frame=3072, stride=768, note_samples=192_000, padding=6912),
}


DECODERS = ("conv", "harmonic")


def get_config(name: str, n_instruments: int = 1, **overrides) -> ModelConfig:
    """Look a named size up and fit it to the number of instruments."""
    if name not in CONFIGS:
        raise KeyError(f"unknown config {name!r}; known: {', '.join(CONFIGS)}")
    return dataclasses.replace(CONFIGS[name], n_instruments=n_instruments, **overrides)
