"""What a user got wrong: the one exception type the command line turns into one line and exit code 2."""
from __future__ import annotations


class UsageError(Exception):
    """Bad input from the user (an option, a file, a name, a device): the message is one line saying which, what
    is wrong and what to do. Every module's own error of this kind (MidiError, PresetError, ...) derives from it,
    so cli.main() alone turns them into `singsynth COMMAND: error: ...` and exit code 2."""


class SettingError(UsageError, ValueError):
    """A setting out of its range (a sample rate, a polyphony, a reverb room)."""
