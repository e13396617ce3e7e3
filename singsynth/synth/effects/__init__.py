"""General MIDI's effects: per-channel reverb (CC91) and chorus (CC93) sends into one stereo Freeverb and one
stereo chorus, returned into the mix before the limiter."""
from .bus import CC_SEND_SCALE, CHORUS, REVERB, Effects
from .settings import ChorusSettings, EffectsConfig, ReverbSettings

__all__ = ["CC_SEND_SCALE", "CHORUS", "ChorusSettings", "REVERB", "Effects", "EffectsConfig", "ReverbSettings"]
