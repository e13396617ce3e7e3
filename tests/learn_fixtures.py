"""What the learn tests share: a tiny harmonic preset with a tuning per key, and folders of one-shots."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile
import torch

from singsynth.model.config import get_config
from singsynth.model.sing import SING
from singsynth.preset import Instrument, save_preset
from synthetic import harmonic_note

INSTRUMENTS = [Instrument(0, "Flute", "sf_flute", 73, pitch_range=(60, 96)),
               Instrument(1, "Violin", "sf_violin", 40, pitch_range=(55, 103)),
               Instrument(2, "Standard Drum Kit", "sf_drums", None, drums=True, pitch_range=(35, 81))]


def make_harmonic_preset(folder: Path, seed: int = 1) -> Path:
    """sing-unittest with the harmonic output stage and a tuning per key, as the default preset has."""
    torch.manual_seed(seed)
    config = get_config("sing-unittest", n_instruments=len(INSTRUMENTS), decoder="harmonic", harmonics=16,
                        noise_bands=17, key_tuning=True)
    return save_preset(folder, SING(config), INSTRUMENTS, {"name": folder.name, "license": "MIT"})


def one_shot(pitch: int, seconds: float = 2.0, rate: int = 16_000, harmonics: int = 6) -> np.ndarray:
    """A harmonic note at `pitch`, `seconds` long at `rate`, decaying: an instrument none of the base's is."""
    length = round(seconds * 16_000)
    note = harmonic_note(pitch, 100, harmonics, 16_000)[:length]
    note = np.pad(note * np.exp(-np.arange(len(note)) / 16_000 * 1.5), (0, max(0, length - len(note))))
    if rate != 16_000:
        import soxr
        note = soxr.resample(note, 16_000, rate)
    return note.astype(np.float32)


def write_folder(folder: Path, pitches=range(55, 63), name: str = "{pitch}.wav", rate: int = 44_100,
                 stereo: bool = True, seconds: float = 2.0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for pitch in pitches:
        note = one_shot(pitch, seconds, rate)
        soundfile.write(str(folder / name.format(pitch=pitch)), np.stack([note, note], 1) if stereo else note, rate)
    return folder


# A sound the base can make but none of its instruments is: its embedding beyond the violin's, away from the flute's
UNHEARD = (-0.5, 1.5, 0.0)


def write_unheard(base: Path, folder: Path, pitches=range(55, 63)) -> Path:
    """One-shots of the base model's own notes for UNHEARD, loud (the tiny model plays near -58 dBFS), as float WAV
    at the base's rate: what learning can reach exactly, so that getting closer is a clear measure."""
    from singsynth.preset import load_preset
    preset = load_preset(base)
    preset.full_precision = True
    keys = list(pitches)
    notes = preset.generate(torch.tensor([UNHEARD] * len(keys)), keys, [100] * len(keys))
    folder.mkdir(parents=True, exist_ok=True)
    for key, note in zip(keys, notes / np.abs(notes).max() * 0.5):
        soundfile.write(str(folder / f"{key}.wav"), note, preset.sample_rate, subtype="FLOAT")
    return folder
