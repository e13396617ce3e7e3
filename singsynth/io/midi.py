"""MIDI files -> timed events [(seconds, mido.Message)], the same events the live path produces.

singsynth reads Standard MIDI Files itself (mido.MidiFile is not used) so that a damaged or hostile file
costs bounded time and memory and fails as one MidiError line: every length is checked against the
bytes that are there, variable-length numbers have at most 4 bytes (the format's limit), and the caps
are enforced while reading, not after: MAX_FILE_BYTES on disk, MAX_EVENTS messages (every event of
every track), MAX_CHUNKS chunks, MAX_SECONDS of music.

Type 0 and 1 files play; type 2 (independent sequences) is refused. Tempo changes from any track apply
to all (as players do); SMPTE time division (frames per second x ticks per frame) is honoured. Only
channel messages and the system resets (GM, GM2, GS, XG: sysex.system_reset) reach the engine: meta events
other than tempo and end of track, other system exclusive and stray system messages are skipped by their
lengths, so a meta event whose content makes no sense (a key signature with 64 sharps) cannot spoil the file.
Running status survives meta and sysex events, as lenient readers do. Unknown chunk types are skipped, as the
standard asks; RIFF-wrapped files (RMID) are unwrapped.
"""
from __future__ import annotations

import logging
import os
import struct
from operator import itemgetter
from pathlib import Path

import mido

from ..errors import UsageError
from .sysex import system_reset

logger = logging.getLogger(__name__)

MAX_FILE_BYTES = 64 * 1024 * 1024
MAX_EVENTS = 1_000_000
MAX_CHUNKS = 65_536  # a header counts at most 65,535 tracks; far more chunks is no music file
MAX_SECONDS = 2 * 3600.0
DEFAULT_TEMPO = 500_000  # microseconds per beat: 120 bpm until a tempo event says otherwise
SMPTE_FPS = {24: 24.0, 25: 25.0, 29: 30000 / 1001, 30: 30.0}  # "29" is 29.97 drop-frame
# data bytes after each channel status (high nibble)
DATA_BYTES = {0x80: 2, 0x90: 2, 0xA0: 2, 0xB0: 2, 0xC0: 1, 0xD0: 1, 0xE0: 2}
# system common and real-time bytes have no place in a file, but some writers leave them: skip them
SYSTEM_DATA_BYTES = {0xF1: 1, 0xF2: 2, 0xF3: 1, 0xF6: 0, 0xF8: 0, 0xFA: 0, 0xFB: 0, 0xFC: 0, 0xFE: 0}
META_TEMPO, META_END_OF_TRACK = 0x51, 0x2F

TimedEvent = tuple[float, mido.Message]
# (absolute tick, channel message, new tempo in us/beat, or END_OF_TRACK)
TrackEvent = tuple[int, "mido.Message | int | object"]
END_OF_TRACK = object()  # a track's end, in the events of one track


class MidiEvents(list):
    """What read_midi returns: the channel messages [(seconds, message)] in order, and `end`, where the file ends
    in seconds: its tracks' latest end of track, never before the last message (a track without one ends at its
    last event). A render lasts at least this long, as FluidSynth's does, so the stems of one song line up."""

    def __init__(self, events: list[TimedEvent] = (), end: float = 0.0):
        super().__init__(events)
        self.end = max(end, self[-1][0] if self else 0.0)


class MidiError(UsageError, ValueError):
    """A MIDI file that cannot be played; the message is one line naming the file."""


class _Damaged(Exception):
    """What is wrong inside the file and where; read_midi turns it into a MidiError naming the file."""

    def __init__(self, what: str, offset: int | None = None):
        super().__init__(what if offset is None else f"at byte {offset:,}, {what}")


class _TooBig(Exception):
    """A well-formed file beyond one of the caps, or of a kind singsynth does not play."""


def read_midi(path: str | os.PathLike) -> MidiEvents:
    """Read a standard MIDI file -> channel messages with absolute times in seconds, in order, and the file's end.

    Raises MidiError (one line: file and problem) for unreadable, malformed, type 2 or oversized files.
    """
    path = Path(path)
    data = _read_bytes(path)
    try:
        events = _timed_events(data, path)
    except _Damaged as exc:
        raise MidiError(f"{path}: not a valid MIDI file: {exc}; check the file or export it again") from None
    except _TooBig as exc:
        raise MidiError(f"{path}: {exc}") from None
    if not any(msg.type == "note_on" and msg.velocity > 0 for _, msg in events):
        logger.warning("%s: no notes to play", path)
    return events


def to_frames(events: list[TimedEvent], sample_rate: int) -> list[tuple[int, mido.Message]]:
    """Timed events in seconds -> (absolute frame, message) at sample_rate."""
    return [(int(round(t * sample_rate)), msg) for t, msg in events]


def duration(events: list[TimedEvent]) -> float:
    """Seconds from the start to the file's end (MidiEvents.end), or to the last event of a plain list."""
    return max(getattr(events, "end", 0.0), events[-1][0] if events else 0.0)


def _read_bytes(path: Path) -> bytes:
    try:
        if path.is_dir():
            raise MidiError(f"{path}: is a folder; give a .mid file")
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise MidiError(f"{path}: {size:,} bytes is too large for a MIDI file "
                            f"(limit {MAX_FILE_BYTES // 2**20} MiB)")
        with open(path, "rb") as f:
            return f.read(MAX_FILE_BYTES + 1)  # a file that grew since stat() still stops here
    except OSError as exc:
        raise MidiError(f"{path}: cannot read ({exc.strerror or exc})") from None


def _timed_events(data: bytes, path: Path) -> MidiEvents:
    data = _unwrap_riff(data)
    if len(data) > MAX_FILE_BYTES:
        raise _TooBig(f"more than {MAX_FILE_BYTES // 2**20} MiB of MIDI data is too large")
    if data[:4] != b"MThd":
        raise _Damaged("it does not start with an MThd header")
    fmt, declared, seconds_per_tick, ticks_per_beat, start = _header(data)
    if fmt == 2:
        raise _TooBig("type 2 MIDI file (independent sequences) is not supported; convert it to type 0 or 1")
    tracks, budget, messages = [], [MAX_EVENTS], {}
    for number, (body, end) in enumerate(_track_chunks(data, start, path), 1):
        tracks.append(_track(data, body, end, number, budget, messages))
    if len(tracks) != declared:
        logger.warning("%s: the header declares %d tracks but the file holds %d; playing those", path, declared,
                       len(tracks))
    return _to_seconds(tracks, seconds_per_tick, ticks_per_beat)


def _unwrap_riff(data: bytes) -> bytes:
    """RIFF RMID file -> the standard MIDI file inside its 'data' chunk (other data unchanged)."""
    if data[:4] != b"RIFF" or data[8:12] != b"RMID":
        return data
    pos = 12
    while pos + 8 <= len(data):
        tag, size = data[pos:pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
        if tag == b"data":
            return data[pos + 8:pos + 8 + size]
        pos += 8 + size + (size & 1)
    raise _Damaged("a RIFF MIDI file without a 'data' chunk")


def _header(data: bytes) -> tuple[int, int, float | None, int, int]:
    """MThd -> (format, declared tracks, seconds per tick for SMPTE or None, ticks per beat, end of header)."""
    if len(data) < 14:
        raise _Damaged(f"the file ends inside its 14-byte header, after {len(data)} bytes")
    length, fmt, tracks, division = struct.unpack_from(">IHHH", data, 4)
    if length < 6 or 8 + length > len(data):
        raise _Damaged(f"the MThd header length is {length:,} (6 expected)", 4)
    if fmt > 2:
        raise _Damaged(f"the file format is {fmt} (0, 1 or 2 expected)", 8)
    if division & 0x8000:  # SMPTE: -frames per second in the high byte, ticks per frame in the low
        fps, ticks_per_frame = 256 - (division >> 8), division & 0xFF
        if fps not in SMPTE_FPS or ticks_per_frame == 0:
            raise _Damaged(f"the SMPTE time division is {fps} frames per second and {ticks_per_frame} ticks per "
                           "frame (24, 25, 29 or 30 fps and at least 1 tick expected)", 12)
        return fmt, tracks, 1.0 / (SMPTE_FPS[fps] * ticks_per_frame), 0, 8 + length
    if division == 0:
        raise _Damaged("the header gives 0 ticks per beat", 12)
    return fmt, tracks, None, division, 8 + length


def _track_chunks(data: bytes, pos: int, path: Path):
    """(start, end) of each MTrk body; unknown chunks are skipped, a cut-short track is an error."""
    chunks = 0
    while pos + 8 <= len(data):
        tag, length = data[pos:pos + 4], struct.unpack_from(">I", data, pos + 4)[0]
        chunks += 1
        if chunks > MAX_CHUNKS:
            raise _Damaged(f"more than {MAX_CHUNKS:,} chunks, more than any MIDI file can hold")
        end = pos + 8 + length
        if end > len(data):
            if tag == b"MTrk":
                raise _Damaged(f"a track of {length:,} bytes is cut short by the end of the file "
                               f"({len(data) - pos - 8:,} bytes there): the file is truncated or its track "
                               "length is wrong", pos + 4)
            logger.warning("%s: ignoring %d bytes of unknown data at the end", path, len(data) - pos)
            return
        if tag == b"MTrk":
            yield pos + 8, end
        else:
            logger.debug("%s: skipping unknown chunk %r of %d bytes", path, tag, length)
        pos = end
    if pos < len(data):
        logger.debug("%s: ignoring %d bytes after the last chunk", path, len(data) - pos)


def _varlen(data: bytes, pos: int, end: int) -> tuple[int, int]:
    """A variable-length number at pos -> (value, position after it); at most 4 bytes, as the format says."""
    value = 0
    for _ in range(4):
        if pos >= end:
            raise _Damaged("an event runs past the end of its track: the track length is wrong or the file "
                           "is damaged", pos)
        byte = data[pos]
        pos += 1
        value = (value << 7) | (byte & 0x7F)
        if byte < 0x80:
            return value, pos
    raise _Damaged("a variable-length number is longer than 4 bytes", pos - 4)


def _need(pos: int, count: int, end: int) -> None:
    if pos + count > end:
        raise _Damaged(f"an event of {count:,} bytes runs past the end of its track: the track length is wrong "
                       "or the file is damaged", pos)


def _track(data: bytes, pos: int, end: int, number: int, budget: list[int],
           messages: dict[bytes, mido.Message]) -> list[TrackEvent]:
    """One MTrk body -> its channel messages and tempo changes at absolute ticks. budget[0] counts down
    the messages the whole file may still hold; `messages` keeps one parsed message per distinct bytes,
    which are copied (a copy costs a fifth of parsing, and a million-event file repeats itself)."""
    events: list[TrackEvent] = []
    tick, running = 0, None
    while pos < end:
        budget[0] -= 1
        if budget[0] < 0:
            raise _TooBig(f"more than {MAX_EVENTS:,} MIDI messages exceed the limit; split the file")
        delta, pos = _varlen(data, pos, end)
        tick += delta
        _need(pos, 1, end)
        status = data[pos]
        if status < 0x80:  # running status: the previous channel status again, this byte is data
            if running is None:
                raise _Damaged(f"track {number} has data byte 0x{status:02x} with no status byte before it", pos)
            status = running
        else:
            pos += 1
        if status < 0xF0:
            running = status
            size = DATA_BYTES[status & 0xF0]
            _need(pos, size, end)
            raw = bytes((status,)) + data[pos:pos + size]
            message = messages.get(raw)
            if message is None:
                if max(raw[1:]) >= 0x80:
                    raise _Damaged(f"track {number} has a status byte where a data byte (0..127) belongs", pos)
                message = messages[raw] = mido.Message.from_bytes(raw)
            events.append((tick, message.copy()))
            pos += size
        elif status == 0xFF:
            _need(pos, 1, end)
            kind = data[pos]
            length, pos = _varlen(data, pos + 1, end)
            _need(pos, length, end)
            if kind == META_END_OF_TRACK:
                events.append((tick, END_OF_TRACK))
                break
            if kind == META_TEMPO:
                events.append((tick, _tempo(data[pos:pos + length], number, pos)))
            pos += length
        elif status in (0xF0, 0xF7):  # system exclusive, or its continuation / an escape
            length, pos = _varlen(data, pos, end)
            _need(pos, length, end)
            body = data[pos:pos + length].rstrip(b"\xf7")
            if status == 0xF0 and max(body, default=0) < 0x80 and system_reset(body):
                events.append((tick, mido.Message("sysex", data=body)))
            pos += length
        elif status in SYSTEM_DATA_BYTES:
            _need(pos, SYSTEM_DATA_BYTES[status], end)
            pos += SYSTEM_DATA_BYTES[status]
        else:
            raise _Damaged(f"track {number} has undefined status byte 0x{status:02x}", pos - 1)
    return events


def _tempo(body: bytes, number: int, pos: int) -> int:
    if len(body) < 3:
        raise _Damaged(f"track {number} has a tempo event of {len(body)} bytes (3 expected)", pos)
    tempo = int.from_bytes(body[:3], "big")
    if tempo == 0:
        raise _Damaged(f"track {number} has a tempo of 0 microseconds per beat", pos)
    return tempo


def _to_seconds(tracks: list[list[TrackEvent]], seconds_per_tick: float | None,
                ticks_per_beat: int) -> MidiEvents:
    """Merge the tracks by tick (a stable sort: earlier tracks first at equal ticks) and convert ticks to seconds.

    Times are measured from the last tempo change, not summed delta by delta, so rounding does not
    accumulate over long files."""
    smpte = seconds_per_tick is not None
    if not smpte:
        seconds_per_tick = DEFAULT_TEMPO / 1e6 / ticks_per_beat
    events: list[TimedEvent] = []
    end = 0.0
    mark_tick, mark_seconds = 0, 0.0
    merged = [event for track in tracks for event in track]
    merged.sort(key=itemgetter(0))
    for tick, item in merged:
        now = mark_seconds + (tick - mark_tick) * seconds_per_tick
        if now > MAX_SECONDS:
            raise _TooBig(f"lasts more than {MAX_SECONDS / 3600:g} hours, the longest file singsynth renders; "
                          "check its tempo or split it")
        if type(item) is int:
            if not smpte:  # SMPTE time does not depend on tempo
                mark_tick, mark_seconds, seconds_per_tick = tick, now, item / 1e6 / ticks_per_beat
        elif item is END_OF_TRACK:
            end = now
        else:
            events.append((now, item))
    return MidiEvents(events, end)
