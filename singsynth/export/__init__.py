"""Export a preset's instruments as a SoundFont 2 bank (the `singsynth export` command)."""
