"""MIDI files -> timed events [(seconds, mido.Message)], the same events the live path produces.

Tempo changes are honoured (mido's merged iteration gives delta times in seconds). Type 0 and 1
files play; type 2 (independent sequences) is refused. Only channel messages are kept: meta
messages and system exclusive do not reach the engine. Caps that refuse absurd files before any
audio is made: MAX_FILE_BYTES on disk, MAX_EVENTS messages, MAX_SECONDS of music.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

import mido

logger = logging.getLogger(__name__)

MAX_FILE_BYTES = 64 * 1024 * 1024
MAX_EVENTS = 1_000_000
MAX_SECONDS = 2 * 3600.0
CHANNEL_MESSAGES = frozenset({"note_on", "note_off", "control_change", "program_change", "pitchwheel",
                              "aftertouch", "polytouch"})

TimedEvent = tuple[float, mido.Message]


class MidiError(ValueError):
    """A MIDI file that cannot be played; the message is one line naming the file."""


def _open(path: Path) -> mido.MidiFile:
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise MidiError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if path.is_dir():
        raise MidiError(f"{path}: is a folder; give a .mid file")
    if size > MAX_FILE_BYTES:
        raise MidiError(f"{path}: {size / 2**20:.0f} MiB is too large for a MIDI file "
                        f"(limit {MAX_FILE_BYTES // 2**20} MiB)")
    try:
        return mido.MidiFile(str(path))
    # mido reports damaged files through many exception types; all mean "not a playable file"
    except (OSError, EOFError, ValueError, KeyError, IndexError, TypeError, ZeroDivisionError) as exc:
        reason = str(exc).strip() or type(exc).__name__
        raise MidiError(f"{path}: not a valid MIDI file ({reason}); check the file or export it again") from None


def read_midi(path: str | os.PathLike) -> list[TimedEvent]:
    """Read a standard MIDI file -> channel messages with absolute times in seconds, in order.

    Raises MidiError (one line: file and problem) for unreadable, malformed, type 2 or oversized files.
    """
    path = Path(path)
    midi = _open(path)
    if midi.type == 2:
        raise MidiError(f"{path}: type 2 MIDI file (independent sequences) is not supported; "
                        "convert it to type 0 or 1")
    count = sum(len(track) for track in midi.tracks)
    if count > MAX_EVENTS:
        raise MidiError(f"{path}: {count:,} MIDI messages exceed the limit of {MAX_EVENTS:,}")
    events: list[TimedEvent] = []
    now = 0.0
    try:
        for msg in midi:
            now += msg.time
            if now > MAX_SECONDS:
                raise MidiError(f"{path}: lasts more than {MAX_SECONDS / 3600:g} hours, the longest file "
                                "singsynth renders")
            if msg.type in CHANNEL_MESSAGES:
                events.append((now, msg.copy(time=0)))
    except (EOFError, ValueError, KeyError, IndexError, TypeError, ZeroDivisionError) as exc:
        if isinstance(exc, MidiError):
            raise
        raise MidiError(f"{path}: malformed MIDI data ({str(exc).strip() or type(exc).__name__})") from None
    if not any(msg.type == "note_on" and msg.velocity > 0 for _, msg in events):
        logger.warning("%s: no notes to play", path)
    return events


def to_frames(events: list[TimedEvent], sample_rate: int) -> list[tuple[int, mido.Message]]:
    """Timed events in seconds -> (absolute frame, message) at sample_rate."""
    return [(int(round(t * sample_rate)), msg) for t, msg in events]


def duration(events: list[TimedEvent]) -> float:
    """Seconds from the start to the last event."""
    return events[-1][0] if events else 0.0
