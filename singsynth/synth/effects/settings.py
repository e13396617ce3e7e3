"""The reverb's and the chorus's settings, with FluidSynth's defaults beside them and their ranges checked."""
from __future__ import annotations

from dataclasses import dataclass

from ...errors import SettingError


def _check(name: str, value: float, low: float, high: float) -> None:
    # `not low <= value <= high` is also true of NaN, which fails every comparison
    if not isinstance(value, (int, float)) or not low <= value <= high:
        raise SettingError(f"{name} {value!r} is out of range ({low:g}..{high:g})")


@dataclass(frozen=True)
class ReverbSettings:
    """Freeverb's controls, in FluidSynth's units (synth.reverb.*); the defaults are FluidSynth's."""
    room: float = 0.2  # room size 0..1: comb feedback 0.7..0.98 (FluidSynth synth.reverb.room-size 0.2)
    damp: float = 0.0  # high-frequency damping 0..1 in the combs' feedback (synth.reverb.damp 0.0)
    width: float = 0.5  # stereo width 0..1: how little the two banks mix (synth.reverb.width 0.5; its 0..100 scale)
    level: float = 0.9  # wet level 0..1 (synth.reverb.level 0.9)

    def __post_init__(self):
        for name, high in (("room", 1.0), ("damp", 1.0), ("width", 1.0), ("level", 1.0)):
            _check(f"reverb {name}", getattr(self, name), 0.0, high)


@dataclass(frozen=True)
class ChorusSettings:
    """The chorus's controls, in FluidSynth's units (synth.chorus.*); the defaults are FluidSynth's."""
    voices: int = 3  # delay lines 1..99 (synth.chorus.nr 3)
    rate: float = 0.3  # LFO speed, Hz, 0.1..5 (synth.chorus.speed 0.3)
    depth: float = 8.0  # modulation depth, peak to peak, ms, 0..21 (synth.chorus.depth 8)
    level: float = 2.0  # output level 0..10 (synth.chorus.level 2)

    def __post_init__(self):
        if isinstance(self.voices, bool) or not isinstance(self.voices, int):
            raise SettingError(f"chorus voices {self.voices!r} is not a whole number")
        _check("chorus voices", self.voices, 1, 99)
        _check("chorus rate", self.rate, 0.1, 5.0)
        _check("chorus depth", self.depth, 0.0, 21.0)
        _check("chorus level", self.level, 0.0, 10.0)


@dataclass(frozen=True)
class EffectsConfig:
    """Which effects run and where every channel's sends start. None: that effect is off (its sends do nothing)."""
    reverb: ReverbSettings | None = ReverbSettings()
    chorus: ChorusSettings | None = ChorusSettings()
    reverb_send: int = 0  # CC91 of every channel at start and after a controller reset (GM 0; GS and XG 40)
    chorus_send: int = 0  # CC93 likewise (GM, GS and XG 0)

    def __post_init__(self):
        for name in ("reverb_send", "chorus_send"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 127:
                raise SettingError(f"{name.replace('_', ' ')} {value!r} is not a controller value 0..127")

    @property
    def on(self) -> bool:
        return self.reverb is not None or self.chorus is not None
