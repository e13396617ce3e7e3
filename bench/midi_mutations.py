"""Damaged and absurd MIDI files for bench/fuzz_midi.py: mutation classes over real seed files, and generators.

Each class is a function (rng, seed) -> bytes. Structural mutations decode the seed into tracks of raw events
(delta ticks, bytes with their status byte), change them, and encode again with correct or deliberately wrong
chunk lengths; byte-level mutations change the file as it is. Nothing here uses singsynth's own reader, so the
fuzzer does not share its bugs.
"""
from __future__ import annotations

import dataclasses
import random
import struct
from pathlib import Path
from typing import Callable

MAX_EVENTS = 1_000_000  # singsynth.io.midi's caps, repeated so that files can sit on either side of them
MAX_SECONDS = 2 * 3600.0
EOT = b"\xff\x2f\x00"

Event = tuple[int, bytes]  # (delta ticks, the event's bytes including its status byte)


@dataclasses.dataclass
class Song:
    fmt: int
    division: int
    tracks: list[list[Event]]


@dataclasses.dataclass
class Seed:
    name: str
    data: bytes
    song: Song


def varlen(n: int) -> bytes:
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.append(0x80 | (n & 0x7F))
        n >>= 7
    return bytes(reversed(out))


def meta(kind: int, body: bytes) -> bytes:
    return bytes((0xFF, kind)) + varlen(len(body)) + body


def tempo(us_per_beat: int) -> bytes:
    return meta(0x51, us_per_beat.to_bytes(3, "big"))


def header(fmt: int, ntracks: int, division: int, length: int = 6) -> bytes:
    return b"MThd" + struct.pack(">IHHH", length, fmt, ntracks, division)


def track_bytes(events: list[Event], running_status: bool = True) -> bytes:
    body, running = bytearray(), None
    for delta, raw in events:
        body += varlen(delta)
        if running_status and raw and raw[0] < 0xF0 and raw[0] == running:
            body += raw[1:]
        else:
            body += raw
        if raw and raw[0] < 0xF0:
            running = raw[0]
    return bytes(body)


def chunk(tag: bytes, body: bytes, length: int | None = None) -> bytes:
    return tag + struct.pack(">I", len(body) if length is None else length) + body


def encode(song: Song, running_status: bool = True, ntracks: int | None = None) -> bytes:
    out = header(song.fmt, len(song.tracks) if ntracks is None else ntracks, song.division)
    return out + b"".join(chunk(b"MTrk", track_bytes(t, running_status)) for t in song.tracks)


def decode(data: bytes) -> Song:
    """A valid seed file -> Song (raises on anything odd: seeds are real, well-formed files)."""
    length, fmt, ntracks, division = struct.unpack_from(">IHHH", data, 4)
    pos, tracks = 8 + length, []
    for _ in range(ntracks):
        tag, size = struct.unpack_from(">4sI", data, pos)
        assert tag == b"MTrk"
        tracks.append(_decode_track(data[pos + 8:pos + 8 + size]))
        pos += 8 + size
    return Song(fmt, division, tracks)


def _read_varlen(data: bytes, pos: int) -> tuple[int, int]:
    value = 0
    while True:
        byte = data[pos]
        pos += 1
        value = (value << 7) | (byte & 0x7F)
        if byte < 0x80:
            return value, pos


def _decode_track(body: bytes) -> list[Event]:
    events, pos, running = [], 0, 0
    while pos < len(body):
        delta, pos = _read_varlen(body, pos)
        status = body[pos]
        if status < 0x80:
            status, start = running, pos
        else:
            start = pos = pos + 1
        if status == 0xFF:
            length, data_at = _read_varlen(body, pos + 1)
            end = data_at + length
            raw = body[start - 1:end]
        elif status in (0xF0, 0xF7):
            length, data_at = _read_varlen(body, pos)
            end = data_at + length
            raw = body[start - 1:end]
        else:
            running = status
            end = start + (1 if status & 0xF0 in (0xC0, 0xD0) else 2)
            raw = bytes((status,)) + body[start:end]
        events.append((delta, raw))
        pos = end
    return events


def load_seed(path: Path) -> Seed:
    data = path.read_bytes()
    return Seed(path.name, data, decode(data))


def to_absolute(events: list[Event]) -> list[list]:
    now, out = 0, []
    for delta, raw in events:
        now += delta
        out.append([now, raw])
    return out


def to_delta(events: list[list]) -> list[Event]:
    events = sorted(events, key=lambda e: e[0])  # stable: equal ticks keep their order
    out, last = [], 0
    for tick, raw in events:
        out.append((tick - last, raw))
        last = tick
    return out


def copy_song(song: Song) -> Song:
    return Song(song.fmt, song.division, [list(t) for t in song.tracks])


def chunk_offsets(data: bytes) -> list[int]:
    """Offsets of every chunk header (MThd first) in a well-formed file."""
    pos, out = 0, []
    while pos + 8 <= len(data):
        out.append(pos)
        pos += 8 + struct.unpack_from(">I", data, pos + 4)[0]
    return out


def is_note_on(raw: bytes) -> bool:
    return raw[0] & 0xF0 == 0x90 and raw[2] > 0


def is_note_off(raw: bytes) -> bool:
    return raw[0] & 0xF0 == 0x80 or (raw[0] & 0xF0 == 0x90 and raw[2] == 0)


def random_event(rng: random.Random, song: Song) -> tuple[list[Event], int]:
    track = rng.choice([t for t in song.tracks if t] or [song.tracks[0]])
    return track, rng.randrange(max(len(track), 1))


# -- mutation classes: (rng, seed) -> file bytes --

def byte_flips(rng: random.Random, seed: Seed) -> bytes:
    data = bytearray(seed.data)
    for _ in range(rng.choice([1, 1, 2, 3, 8, 32])):
        pos = rng.randrange(len(data))
        data[pos] = data[pos] ^ (1 << rng.randrange(8)) if rng.random() < 0.5 else rng.randrange(256)
    return bytes(data)


def truncation(rng: random.Random, seed: Seed) -> bytes:
    data = seed.data
    edges = [o + d for o in chunk_offsets(data) for d in (0, 4, 8, 9)]
    cut = rng.choice([rng.randrange(len(data)), rng.randrange(14), rng.choice(edges), len(data) - 1])
    return data[:min(cut, len(data) - 1)]


def chunk_lengths(rng: random.Random, seed: Seed) -> bytes:
    data = bytearray(seed.data)
    for at in rng.sample(chunk_offsets(data), k=rng.choice([1, 1, 2])):
        true = struct.unpack_from(">I", data, at + 4)[0]
        wrong = rng.choice([0, 1, 5, true - 1, true + 1, true * 2, true // 2, 0x7FFFFFFF, 0xFFFFFFFF,
                            rng.randrange(2**32)])
        struct.pack_into(">I", data, at + 4, max(wrong, 0))
    return bytes(data)


def status_bytes(rng: random.Random, seed: Seed) -> bytes:
    """Running status and status bytes corrupted: dropped, replaced, stray data, system and undefined bytes."""
    song = copy_song(seed.song)
    for _ in range(rng.choice([1, 1, 2, 5])):
        track, i = random_event(rng, song)
        if not track:
            continue
        delta, raw = track[i]
        how = rng.randrange(6)
        if how == 0 and len(raw) > 1:  # status dropped: the data are read under whatever status came before
            track[i] = (delta, raw[1:])
        elif how == 1:
            track[i] = (delta, bytes((rng.randrange(0x80, 0x100),)) + raw[1:])
        elif how == 2:  # data with no status at all, at the start of the track
            track.insert(0, (0, bytes((rng.randrange(128), rng.randrange(128)))))
        elif how == 3:
            track.insert(i, (0, bytes((rng.choice([0xF1, 0xF2, 0xF3, 0xF6, 0xF8, 0xFA, 0xFC, 0xFE]),))
                             + bytes(rng.randrange(128) for _ in range(rng.randrange(3)))))
        elif how == 4:
            track.insert(i, (0, bytes((rng.choice([0xF4, 0xF5, 0xF9, 0xFD]),))))
        else:  # a data byte with its top bit set
            if len(raw) > 1:
                track[i] = (delta, raw[:1] + bytes((raw[1] | 0x80,)) + raw[2:])
    return encode(song, running_status=rng.random() < 0.5)


def absurd_tempos(rng: random.Random, seed: Seed) -> bytes:
    song = copy_song(seed.song)
    track = song.tracks[0]
    how = rng.randrange(4)
    if how == 0:  # tiny and huge tempos at random places
        for _ in range(rng.choice([1, 3, 10])):
            value = rng.choice([0, 1, 2, 3, 100, 0xFFFFFE, 0xFFFFFF, rng.randrange(2**24)])
            track.insert(rng.randrange(len(track) + 1), (0, tempo(value)))
    elif how == 1:  # a tempo change every tick, flipping between the fastest and slowest
        n = rng.choice([1000, 20_000, 200_000])
        track[:0] = [(1, tempo(1 if k % 2 else 0xFFFFFF)) for k in range(n)]
    elif how == 2:  # tempo events of the wrong size
        body = bytes(rng.randrange(256) for _ in range(rng.choice([0, 1, 2, 4, 5, 127])))
        track.insert(rng.randrange(len(track) + 1), (0, meta(0x51, body)))
    else:  # the slowest tempo everywhere: the music stretches by 33x and may pass the two-hour cap
        track.insert(0, (0, tempo(0xFFFFFF)))
        song.tracks = [[(d, tempo(0xFFFFFF) if r[:2] == b"\xff\x51" else r) for d, r in t] for t in song.tracks]
    return encode(song)


def zero_length_notes(rng: random.Random, seed: Seed) -> bytes:
    """Every note-off at its note-on's tick: after it, before it, or as a velocity-0 note-on."""
    song = copy_song(seed.song)
    order = rng.randrange(3)
    for t, track in enumerate(song.tracks):
        events, out = to_absolute(track), []
        for tick, raw in events:
            if is_note_on(raw):
                off = bytes((0x80 | raw[0] & 0x0F, raw[1], 64)) if order < 2 else bytes((raw[0], raw[1], 0))
                out += [[tick, off], [tick, raw]] if order == 1 else [[tick, raw], [tick, off]]
            elif not is_note_off(raw):
                out.append([tick, raw])
        song.tracks[t] = to_delta(out)
    return encode(song)


def endless_notes(rng: random.Random, seed: Seed) -> bytes:
    """No note ever ends: note-offs removed, perhaps the pedal held, perhaps one more event minutes later."""
    song = copy_song(seed.song)
    song.tracks = [[(d, r) if not is_note_off(r) else (d, meta(0x01, b"")) for d, r in t] for t in song.tracks]
    how = rng.randrange(3)
    if how >= 1:
        song.tracks[-1].insert(0, (0, bytes((0xB0 | rng.randrange(16), 64, 127))))
    if how == 2:  # a last controller 5 minutes on: every held note loops until then
        ticks = 300 * 2 * (song.division if song.division < 0x8000 else 480)
        song.tracks[-1].insert(len(song.tracks[-1]) - 1, (ticks, b"\xb0\x07\x64"))
    return encode(song)


def huge_deltas(rng: random.Random, seed: Seed) -> bytes:
    song = copy_song(seed.song)
    track, i = random_event(rng, song)
    how = rng.randrange(4)
    tpb = song.division if song.division < 0x8000 else 480
    if how == 0:
        track[i] = (0x0FFFFFFF, track[i][1])  # the largest delta the format allows
        return encode(song)
    if how == 1:  # the first delta time lengthened to 5 to 1001 bytes by continuation bytes before it
        data, extra = bytearray(encode(song)), rng.choice([4, 5, 40, 150, 1000])
        at = chunk_offsets(data)[1]
        struct.pack_into(">I", data, at + 4, struct.unpack_from(">I", data, at + 4)[0] + extra)
        return bytes(data[:at + 8] + b"\xff" * extra + data[at + 8:])
    # an event 30 s before or after the two-hour cap, at 120 bpm from the end of the first track on
    seconds = MAX_SECONDS - 30 if how == 2 else MAX_SECONDS + 30
    first = song.tracks[0]
    first[len(first) - 1:len(first) - 1] = [(0, tempo(500_000)), (int(seconds * 2 * tpb), b"\xb0\x07\x64")]
    return encode(song)


def header_fields(rng: random.Random, seed: Seed) -> bytes:
    song = copy_song(seed.song)
    n = len(song.tracks)
    how = rng.randrange(5)
    if how == 0:
        return encode(song, ntracks=rng.choice([0, max(n - 1, 0), n + 1, 0xFFFF]))
    if how == 1:
        song.fmt = rng.choice([0, 2, 3, 0x7FFF, 0xFFFF])
    elif how == 2:  # SMPTE divisions, valid (24, 25, 29.97, 30 fps) and not
        song.division = rng.choice([0xE828, 0xE728, 0xE350, 0xE250, 0xE701, 0x8000, 0xFF01, 0xE700, 0x9C10])
    elif how == 3:
        song.division = rng.choice([0, 1, 2, 0x7FFF])
    else:  # header length other than 6: longer ones carry padding the reader must skip
        length = rng.choice([0, 5, 7, 16, 0xFFFFFFFF])
        body = encode(song)[14:]
        return header(song.fmt, n, song.division, length) + bytes(max(0, min(length, 16) - 6)) + body
    return encode(song)


def sysex_and_meta(rng: random.Random, seed: Seed) -> bytes:
    song = copy_song(seed.song)
    for _ in range(rng.choice([1, 2, 4])):
        track, i = random_event(rng, song)
        how = rng.randrange(6)
        if how == 0:  # sysex whose length runs anywhere
            length = rng.choice([0, 1, 0x7F, 1000, 0x0FFFFFFF])
            body = bytes(rng.randrange(128) for _ in range(min(length, rng.choice([0, 5, 1000]))))
            track.insert(i, (0, bytes((rng.choice([0xF0, 0xF7]),)) + varlen(length) + body))
        elif how == 1:  # metas whose content makes no sense (key signature with 64 sharps, short time signature)
            kind = rng.choice([0x00, 0x01, 0x03, 0x20, 0x21, 0x54, 0x58, 0x59, 0x7F, rng.randrange(256)])
            body = bytes(rng.randrange(256) for _ in range(rng.choice([0, 1, 2, 5, 64])))
            track.insert(i, (0, meta(kind, body)))
        elif how == 2:  # a meta length of 5 variable-length bytes
            track.insert(i, (0, b"\xff\x01\xff\xff\xff\xff\x7f"))
        elif how == 3:  # end of track in the middle: the rest must be ignored
            track.insert(i, (0, EOT))
        elif how == 4:  # no end of track at all
            song.tracks = [[e for e in t if e[1] != EOT] for t in song.tracks]
        else:  # sysex between running-status messages
            track.insert(i, (0, b"\xf0\x03\x7e\x7f\xf7"))
    return encode(song, running_status=True)


def chunk_structure(rng: random.Random, seed: Seed) -> bytes:
    data, song = seed.data, seed.song
    offsets = chunk_offsets(data)
    how = rng.randrange(8)
    if how == 0:  # an unknown chunk between chunks (the standard says: skip it)
        at = rng.choice(offsets[1:] + [len(data)])
        unknown = chunk(rng.choice([b"XFIH", b"XFKM", b"\0\0\0\0", b"MTrX"]), bytes(rng.randrange(64)))
        return data[:at] + unknown + data[at:]
    if how == 1:  # a chunk tag corrupted
        at = rng.choice(offsets)
        return data[:at] + bytes(rng.randrange(65, 91) for _ in range(4)) + data[at + 4:]
    if how == 2:  # RIFF RMID wrapper, whole or cut
        body = b"data" + struct.pack("<I", len(data)) + data + bytes(len(data) & 1)  # RIFF is little-endian
        riff = b"RIFF" + struct.pack("<I", 4 + len(body)) + b"RMID" + body
        return riff if rng.random() < 0.7 else riff[:rng.randrange(12, len(riff))]
    if how == 3:
        return data + bytes(rng.randrange(256) for _ in range(rng.choice([1, 7, 8, 100])))
    if how == 4:
        return rng.choice([b"", b"MThd", data[:14], b"RIFF", b"MThd" + bytes(10), b"MTrk" + data[4:]])
    if how == 5:  # more empty tracks than a file can hold
        return header(1, 0xFFFF, song.division) + chunk(b"MTrk", b"\x00" + EOT) * rng.choice([1000, 70_000])
    if how == 6:  # a second header inside
        at = rng.choice(offsets[1:])
        return data[:at] + data[:14] + data[at:]
    tracks = [list(t) for t in song.tracks]  # type 0 with several tracks
    return encode(Song(0, song.division, tracks + tracks))


def splices(rng: random.Random, seed: Seed, others: list[Seed]) -> bytes:
    other = rng.choice(others).data
    a, b = rng.randrange(len(seed.data)), rng.randrange(len(other))
    if rng.random() < 0.5:
        return seed.data[:a] + other[b:]
    piece = seed.data[a:a + rng.randint(1, 64)]
    return seed.data[:a] + piece * rng.choice([2, 10, 1000]) + seed.data[a:]


# -- huge event counts: generated, never stored --

def _notes(count: int, delta: int, channel: int = 0) -> list[Event]:
    """count/2 short notes, a new one every `delta` ticks; pitches and velocities cycle."""
    events = []
    for k in range(count // 2):
        pitch, velocity = 36 + k % 60, 1 + (k * 7) % 127
        events += [(delta, bytes((0x90 | channel, pitch, velocity))), (delta, bytes((0x80 | channel, pitch, 0)))]
    return events


def huge_counts() -> dict[str, Callable[[], bytes]]:
    """~10^6-event files by name; each function writes its file's bytes when called."""
    n = MAX_EVENTS
    fast = [(0, tempo(48_000))]  # 10,000 ticks a second: a million one-tick events last 100 s

    def single(events: list[Event], fmt: int = 0) -> bytes:
        return encode(Song(fmt, 480, [events + [(0, EOT)]]))

    return {
        # exactly at the cap (tempo + notes + end of track), a note every tick
        "notes-at-cap": lambda: single(fast + _notes(n - 2, 1)),
        "notes-over-cap": lambda: single(fast + _notes(n, 1)),
        "notes-2x-cap": lambda: single(fast + _notes(2 * n, 1)),
        # a million note-ons in one instant
        "note-ons-at-once": lambda: single([(0, bytes((0x90, 36 + k % 60, 100))) for k in range(n - 1)]),
        "pitch-bends": lambda: single(fast + [(1, bytes((0xE0 | k % 16, k % 128, k // 128 % 128)))
                                              for k in range(n - 2)]),
        "controllers-at-once": lambda: single([(0, bytes((0xB0 | k % 16, k % 120, k % 128))) for k in range(n - 1)]),
        "text-metas": lambda: single([(1, meta(0x01, b"x")) for _ in range(n - 1)]),
        "1000-tracks": lambda: encode(Song(1, 480, [fast + _notes(n // 1000 - 2, 1, t % 16) + [(0, EOT)]
                                                    for t in range(1000)])),
        # a file just under the 64 MiB cap, nearly all of it one system exclusive message
        "64-MiB-sysex": lambda: single([(0, b"\xf0" + varlen(64 * 2**20 - 100) + bytes(64 * 2**20 - 100))]
                                       + _notes(8, 480)),
        "65-MiB-file": lambda: single([(0, b"\xf0" + varlen(65 * 2**20) + bytes(65 * 2**20))]),
    }


MUTATIONS: dict[str, Callable[[random.Random, Seed], bytes]] = {
    "byte flips": byte_flips,
    "truncation": truncation,
    "chunk lengths": chunk_lengths,
    "status bytes": status_bytes,
    "absurd tempos": absurd_tempos,
    "zero-length notes": zero_length_notes,
    "endless notes": endless_notes,
    "huge delta times": huge_deltas,
    "header fields": header_fields,
    "sysex and meta": sysex_and_meta,
    "chunk structure": chunk_structure,
}
CLASSES = [*MUTATIONS, "splices", "huge event counts"]


def make_input(name: str, index: int, seeds: list[Seed], run_seed: int) -> tuple[str, bytes]:
    """Input number `index` of class `name` -> (what it was made from, file bytes); the same for the same run_seed."""
    if name == "huge event counts":
        generators = huge_counts()
        key = sorted(generators)[index % len(generators)]
        return key, generators[key]()
    rng = random.Random(f"{run_seed}/{name}/{index}")
    seed = rng.choice(seeds)
    if name == "splices":
        return seed.name, splices(rng, seed, seeds)
    return seed.name, MUTATIONS[name](rng, seed)
