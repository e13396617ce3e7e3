"""A SoundFont program as a learn source: one-shots rendered with FluidSynth as `singsynth dataset soundfont`
renders them (held 3 s, released 1 s, reverb and chorus off)."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ..data import DataError
from ..fluid_render import SILENCE_DBFS, FluidRenderer
from .recordings import LearnError, Recording, prepare

logger = logging.getLogger(__name__)


def read_soundfont(path: Path, program: int, bank: int, pitches: list[int], velocity: int, rate: int,
                   samples: int) -> list[Recording]:
    try:
        renderer = FluidRenderer([path])
    except DataError as exc:
        raise LearnError(str(exc)) from None
    try:
        if not renderer.has_preset(0, bank, program):
            raise LearnError(f"{path}: no preset {bank}:{program}; give --program (and --bank) of a preset it holds")
        recordings, silent = [], []
        for pitch in pitches:
            audio = renderer.render(0, bank, program, pitch, velocity, rate=rate)
            peak = float(np.max(np.abs(audio)))
            if peak <= 10 ** (SILENCE_DBFS / 20):  # many programs do not sound at the ends of the keyboard
                silent.append(pitch)
                continue
            recordings.append(Recording(f"{path.name} {bank}:{program} key {pitch}", pitch, velocity, audio))
    finally:
        renderer.close()
    logger.info("%s: rendered %d notes of preset %d:%d at velocity %d%s", path, len(recordings), bank, program,
                velocity, f"; keys {silent} do not sound and are left out" if silent else "")
    return prepare(recordings, samples, f"{path} preset {bank}:{program}")
