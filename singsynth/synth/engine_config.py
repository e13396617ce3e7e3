"""An engine's settings (engine.py), checked once when made: SettingError for one out of range."""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import SettingError
from ..gm import CC


@dataclass(frozen=True)
class EngineConfig:
    """How the engine plays, whatever preset and parts it plays with."""
    sample_rate: int = 48000  # output rate, Hz
    polyphony: int = 256  # most voices at once
    tuning_a4: float = 440.0  # pitch of A4, Hz
    master_gain: float = 1.0  # on top of the preset's playback gain
    release: float = 1.0  # seconds from note-off to -60 dB
    morph_cc: int = 1  # the controller that sweeps a morph

    def __post_init__(self):
        if not 8000 <= int(self.sample_rate) <= 384000:
            raise SettingError(f"sample rate {self.sample_rate} is out of range (8000..384000)")
        if self.polyphony < 1:
            raise SettingError("polyphony must be at least 1")
        if not 220.0 <= self.tuning_a4 <= 880.0:
            raise SettingError(f"tuning A4={self.tuning_a4} Hz is out of range (220..880)")
        if self.release <= 0 or self.master_gain < 0:
            raise SettingError("release must be > 0 and master gain >= 0")
        if not 0 <= self.morph_cc <= CC.LAST_CONTROLLER:
            raise SettingError(f"morph controller {self.morph_cc} is not a controller number (0..119)")
