"""Presets for the engine tests: a real tiny SING preset, and a test double whose notes are known sines."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import mido
import numpy as np
import torch

from singsynth.model.config import get_config
from singsynth.model.sing import SING
from singsynth.preset import Instrument, Preset, load_preset, save_preset

DATA = Path(__file__).resolve().parent / "data" / "midi"
THIRD_PARTY_MIDI = sorted(DATA.glob("*.mid"))
INSTRUMENTS = [Instrument(0, "Flute", "sf_flute", 73, pitch_range=(60, 96)),
               Instrument(1, "Violin", "sf_violin", 40, pitch_range=(55, 103)),
               Instrument(2, "Standard Drum Kit", "sf_drums", None, drums=True, pitch_range=(35, 81))]


def make_preset(folder: Path, instruments=INSTRUMENTS, seed: int = 0) -> Path:
    """A real preset file pair (safetensors + JSON) with random sing-unittest weights."""
    torch.manual_seed(seed)
    model = SING(get_config("sing-unittest", n_instruments=len(instruments)))
    return save_preset(folder, model, list(instruments), {"name": folder.name, "license": "MIT"})


def on(note, velocity=100, channel=0):
    return mido.Message("note_on", channel=channel, note=note, velocity=velocity)


def off(note, channel=0):
    return mido.Message("note_off", channel=channel, note=note)


def cc(control, value, channel=0):
    return mido.Message("control_change", channel=channel, control=control, value=value)


def midi_hz(pitch: float) -> float:
    return 440.0 * 2 ** ((pitch - 69) / 12)


@dataclasses.dataclass
class SinePreset(Preset):
    """Test double of the model: a trained model's output cannot be predicted, so the voice logic is
    checked on notes whose content is known. Each note is a sine at the note's pitch, amplitude
    0.5 * velocity / 127, a 10 ms attack, steady until 3 s, then a linear 1 s release (SING's shape).
    Everything else (instruments, metadata, cache hashing) is the real preset's."""

    calls: list = dataclasses.field(default_factory=list)

    @classmethod
    def wrap(cls, preset: Preset, instruments=None) -> "SinePreset":
        return cls(preset.path, preset.config, list(instruments or preset.instruments), preset.meta,
                   preset.output_gain, preset.weights_sha256, _model=preset.model)

    def _notes(self, weights, pitch, velocity) -> np.ndarray:
        weights = np.asarray(weights, dtype=np.float32)
        pitch, velocity = np.asarray(pitch, dtype=np.float64), np.asarray(velocity, dtype=np.float64)
        self.calls.append((weights.copy(), pitch.astype(int).tolist(), velocity.tolist()))
        rate, n = self.sample_rate, self.model.config.note_samples
        t = np.arange(n) / rate
        env = np.clip(t / 0.01, 0, 1) * np.clip((4.0 - t) / 1.0, 0, 1)
        f0 = 440.0 * 2 ** ((pitch[:, None] - 69) / 12)
        return (0.5 * velocity[:, None] / 127 * env * np.sin(2 * np.pi * f0 * t)).astype(np.float32)

    def generate(self, instrument_weights, pitch, velocity) -> np.ndarray:
        return self._notes(instrument_weights, pitch, velocity)

    def stream(self, instrument_weights, pitch, velocity, first_steps: int = 8, steps: int = 64):
        notes = self._notes(instrument_weights, pitch, velocity)
        for start in range(0, notes.shape[1], 16000):
            yield notes[:, start:start + 16000]

    def open_stream(self, instrument_weights, pitch, velocity) -> "SineStream":
        return SineStream(self._notes(instrument_weights, pitch, velocity), self.config.stride)


class SineStream:
    """The test double's NoteStream: its notes handed out `stride` samples a step, after LEAD steps that hold
    none (the real stream's padding and look-ahead)."""

    LEAD = 13

    def __init__(self, notes: np.ndarray, stride: int, step: int = 0):
        self.notes, self.stride, self.step = notes, stride, step

    def __len__(self) -> int:
        return len(self.notes)

    @property
    def done(self) -> bool:
        return self._at(self.step) >= self.notes.shape[1]

    def _at(self, step: int) -> int:
        return max(step - self.LEAD, 0) * self.stride

    def first_chunk_steps(self, frames: int) -> int:
        return frames + self.LEAD

    def chunk(self, steps: int) -> np.ndarray:
        start, self.step = self._at(self.step), self.step + steps
        return self.notes[:, start:self._at(self.step)]

    def split(self) -> list["SineStream"]:
        return [SineStream(self.notes[i:i + 1], self.stride, self.step) for i in range(len(self.notes))]

    @staticmethod
    def merge(streams: list["SineStream"]) -> "SineStream":
        assert len({s.step for s in streams}) == 1
        return SineStream(np.concatenate([s.notes for s in streams]), streams[0].stride, streams[0].step)


def sine_preset(folder: Path, instruments=None) -> SinePreset:
    make_preset(folder)
    return SinePreset.wrap(load_preset(folder), instruments)


def gm_timeline() -> list:
    """Tuning RPNs, vibrato from the mod wheel and channel pressure, portamento, legato (two notes within
    one 1024-frame block), keys outside the learnt range and a GS reset, on a few channels."""
    def cc(control, value, channel=0):
        return mido.Message("control_change", channel=channel, control=control, value=value)

    def on(key, channel=0):
        return mido.Message("note_on", channel=channel, note=key, velocity=100)

    def off(key, channel=0):
        return mido.Message("note_off", channel=channel, note=key)

    gs_reset = (0x41, 0x10, 0x42, 0x12, 0x40, 0x00, 0x7F, 0x00, 0x41)
    t = [(0.0, cc(65, 127, 1)), (0.0, cc(5, 3, 1)), (0.0, on(60, 1)), (0.3, on(67, 1)), (0.31, off(60, 1)),
         (0.6, off(67, 1))]
    t += [(0.0, cc(68, 127, 2)), (0.1, on(62, 2)), (0.2, on(65, 2)), (0.2005, on(69, 2)), (0.4, off(69, 2)),
          (0.5, off(65, 2)), (0.7, off(62, 2))]
    t += [(0.05, on(72)), (0.1, cc(1, 90)), (0.25, mido.Message("aftertouch", value=40)), (0.4, cc(1, 0)),
          (0.5, off(72))]
    t += [(0.2, m) for m in (cc(101, 0), cc(100, 1), cc(6, 80), cc(38, 5))]
    t += [(0.35, m) for m in (cc(101, 0), cc(100, 2), cc(6, 62))]
    t += [(0.0, on(30, 3)), (0.2, on(110, 3)), (0.45, off(30, 3))]
    t += [(0.65, mido.Message("sysex", data=gs_reset)), (0.7, on(64, 4)), (0.75, cc(1, 127, 4)), (0.9, off(64, 4))]
    return sorted(t, key=lambda e: e[0])
