"""How a model is trained: TrainConfig, whose defaults are also the command line's, and each decoder's recipe."""
from __future__ import annotations

from dataclasses import dataclass, replace

LOSSES = ("spectral", "waveform", "multiscale")

# What suits each decoder (docs/training.md), for what the command line leaves unsaid: the harmonic one
# learns with DDSP's multi-scale loss at a faster rate, 128 partials (told instruments apart sooner than
# 64; 256 generate a third slower) and its tuning measured per key; the paper's conv decoder with its own.
DECODER_RECIPES = {
    "harmonic": dict(lr=1e-3, autoencoder_loss="multiscale", end_to_end_loss="multiscale", harmonics=128,
                     key_tuning=True),
    "conv": dict(lr=3e-4, autoencoder_loss="spectral", end_to_end_loss="spectral", harmonics=0, key_tuning=False),
}


@dataclass
class TrainConfig:
    config: str = "sing-cpu"  # named model size
    epochs: tuple[int, int, int] = (0, 0, 30)  # per stage: end to end from the start; the paper's code: 50, 50, 20
    batch_size: int = 16  # the paper: 256; its code: 64
    lr: float = 3e-4  # Adam, all stages
    autoencoder_loss: str = "spectral"  # the paper's code; its text says "waveform"; or "multiscale"
    end_to_end_loss: str = "spectral"  # "waveform" is the ablation; "multiscale" is DDSP's
    decoder: str = ""  # "conv" or "harmonic"; empty: the named size's own
    harmonics: int = 0  # harmonic decoder's partials; 0: the named size's own
    inharmonicity: bool = False  # harmonic decoder: learn a stretch of the partials per instrument
    residual: bool = False  # harmonic decoder: add the paper's transposed convolution
    key_tuning: bool = False  # harmonic decoder: measure the tuning per instrument and key
    init: str = ""  # the preset training started from, if any
    eps: float = 1.0  # inside log(eps + |STFT|^2)
    onset_weight: float = 1.0  # models that learn a rise (config.attack): weight of the loss on each note's first 50 ms
    vibrato_weight: float = 1.0  # models that learn a vibrato (config.vibrato): weight of its depth and rate loss (model/pitch_loss.py)
    tbptt: int = 32  # truncated back-propagation steps in stage 2
    time_embedding: bool = True  # False is the paper's ablation
    normalize: bool = False  # scale the data to target_rms; the preset restores it (docs/training.md)
    target_rms: float = 3.0
    drum_repeats: int = 1  # end to end: a drum kit's notes visited this many times a pass (data_order.pass_notes)
    max_steps: int = 0  # cap on steps per epoch (0: whole epochs); for quick runs
    valid_notes: int = 256  # validation subset size, for a quick figure each epoch
    checkpoint_every: float = 180.0  # seconds
    seed: int = 0
    device: str = "cpu"
    bf16: bool = False  # CUDA autocast
    show_progress: bool = True  # progress bars on the terminal


def recipe(decoder: str, **given) -> TrainConfig:
    """A TrainConfig for `decoder` ("harmonic" or "conv"): what is given, else the decoder's recipe, else
    TrainConfig's defaults."""
    return replace(TrainConfig(decoder=decoder), **{**DECODER_RECIPES[decoder], **given})
