"""The model: sizes (config.py), SING (sing.py), the harmonic decoder (harmonic.py) and the losses.
Imports nothing of singsynth."""
