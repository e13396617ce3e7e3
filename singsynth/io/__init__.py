"""Reading and writing the outside world: MIDI files, MIDI ports, audio output, WAV files.
Imports nothing of singsynth."""
