"""Small NSynth-format folders of synthetic harmonic notes, for tests that need data but not FluidSynth."""
from __future__ import annotations

import json
import wave
from pathlib import Path

import numpy as np


def harmonic_note(pitch: int, velocity: int, harmonics: int, sample_rate: int = 16_000) -> np.ndarray:
    t = np.arange(64_000) / sample_rate
    f0 = 440.0 * 2 ** ((pitch - 69) / 12)
    tone = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, harmonics + 1) if f0 * k < sample_rate / 2)
    envelope = np.minimum(t / 0.01, 1) * np.where(t < 3, 1.0, np.exp(-(t - 3) * 8))
    return (0.3 * (velocity / 127) * tone * envelope).astype(np.float32)


def make_nsynth(root: Path, instruments=("synth_sine_000", "synth_bright_001"), pitches=range(55, 63),
                velocities=(50, 100)) -> Path:
    """Write examples.json and audio/*.wav; instrument k has 1 + 4k harmonics."""
    (root / "audio").mkdir(parents=True, exist_ok=True)
    examples = {}
    for index, instrument in enumerate(instruments):
        for pitch in pitches:
            for velocity in velocities:
                name = f"{instrument}-{pitch:03d}-{velocity:03d}"
                audio = harmonic_note(pitch, velocity, 1 + 4 * index)
                with wave.open(str(root / "audio" / f"{name}.wav"), "wb") as f:
                    f.setnchannels(1)
                    f.setsampwidth(2)
                    f.setframerate(16_000)
                    f.writeframes((audio * 32767).astype("<i2").tobytes())
                examples[name] = {"note_str": name, "instrument": index, "instrument_str": instrument,
                                  "pitch": pitch, "velocity": velocity, "sample_rate": 16_000,
                                  "instrument_family_str": "synth_lead", "instrument_source_str": "synthetic",
                                  "qualities_str": []}
    (root / "examples.json").write_text(json.dumps(examples))
    return root
