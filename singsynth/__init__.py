"""singsynth: a MIDI-driven neural synthesizer built on SING (Défossez et al., NeurIPS 2018)."""
__version__ = "0.1.0"
