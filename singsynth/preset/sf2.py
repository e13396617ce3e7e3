"""SoundFont 2 (.sf2, and .sf3, whose preset data is the same) generators per preset zone, read with the stdlib.

Only the preset data (the pdta list: phdr, pbag, pgen, inst, ibag, igen) is read; sample data is skipped by its
length. A voice's generator value is SoundFont 2.01's (section 9.4): the instrument zone's own value, else the
instrument's global zone's, else the default; plus the preset zone's offset, else the preset's global zone's.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from ..errors import UsageError

KEY_RANGE, VEL_RANGE, INSTRUMENT, SAMPLE_ID = 43, 44, 41, 53
CHORUS_SEND, REVERB_SEND = 15, 16  # in 0.1 % units
DELAY_VIB_LFO, FREQ_VIB_LFO, RELEASE_VOL_ENV = 23, 24, 38
# SoundFont 2.01 section 8.1.3
DEFAULTS = {CHORUS_SEND: 0, REVERB_SEND: 0, DELAY_VIB_LFO: -12000, FREQ_VIB_LFO: 0, RELEASE_VOL_ENV: -12000}
RECORDS = {"phdr": 38, "pbag": 4, "pgen": 4, "inst": 22, "ibag": 4, "igen": 4}


class SoundFontError(UsageError, ValueError):
    """A file that is not a readable SoundFont; the message is one line naming the file."""


@dataclass(frozen=True)
class Zone:
    """Where one instrument zone of a preset sounds, and its generator values there (DEFAULTS' generators)."""
    keys: tuple[int, int]
    velocities: tuple[int, int]
    values: dict


def _chunks(data: bytes, start: int, end: int):
    """(id, body start, body end) of the RIFF chunks in data[start:end]."""
    pos = start
    while pos + 8 <= end:
        cid, size = data[pos:pos + 4].decode("latin-1"), struct.unpack_from("<I", data, pos + 4)[0]
        body = pos + 8
        if body + size > end:
            raise ValueError(f"chunk {cid!r} runs past the end of the file")
        yield cid, body, body + size
        pos = body + size + (size & 1)


def _pdta(path: Path) -> dict[str, list[bytes]]:
    """The preset data's records by chunk id; the file is walked by its chunk lengths, samples unread."""
    with path.open("rb") as f:
        head = f.read(12)
        if head[:4] != b"RIFF" or head[8:12] != b"sfbk":
            raise ValueError("no RIFF sfbk header")
        end = min(8 + struct.unpack("<I", head[4:8])[0], path.stat().st_size)
        pos = 12
        while pos + 12 <= end:
            f.seek(pos)
            cid, size, kind = struct.unpack("<4sI4s", f.read(12))
            if cid == b"LIST" and kind == b"pdta":
                body = f.read(size - 4)
                found = {}
                for sub, s0, s1 in _chunks(body, 0, len(body)):
                    if sub in RECORDS:
                        width = RECORDS[sub]
                        found[sub] = [body[i:i + width] for i in range(s0, s1 - width + 1, width)]
                missing = set(RECORDS) - set(found)
                if missing:
                    raise ValueError(f"the preset data lacks {', '.join(sorted(missing))}")
                return found
            pos += 8 + size
            if size & 1:  # RIFF pads odd chunks to even, but some .sf3 writers do not
                f.seek(pos)
                pos += not f.read(4).isalnum()
    raise ValueError("no preset data (pdta)")


def _gens(records: list[bytes], first: int, last: int) -> dict[int, int]:
    """Generator number -> amount; ranges as (low << 8 | high) read back by _range."""
    gens = {}
    for rec in records[first:last]:
        oper, amount = struct.unpack("<Hh", rec)
        gens[oper] = amount if oper not in (KEY_RANGE, VEL_RANGE) else struct.unpack("<BB", rec[2:4])
    return gens


def _zones(bags: list[bytes], gens: list[bytes], first: int, last: int, terminal: int) -> tuple[dict, list[dict]]:
    """(global zone, other zones) of one preset or instrument: its bags first..last; a zone without the
    terminal generator (instrument or sample) is the global one if it comes first, else ignored."""
    glob, zones = {}, []
    for b in range(first, last):
        g0, g1 = struct.unpack("<H", bags[b][:2])[0], struct.unpack("<H", bags[b + 1][:2])[0]
        zone = _gens(gens, g0, g1)
        if terminal in zone:
            zones.append(zone)
        elif b == first:
            glob = zone
    return glob, zones


def _overlap(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int] | None:
    low, high = max(a[0], b[0]), min(a[1], b[1])
    return (low, high) if low <= high else None


def read_zones(path: str | Path) -> dict[tuple[int, int], list[Zone]]:
    """(bank, program) -> the preset's instrument zones with their generator values, for every preset."""
    path = Path(path)
    try:
        pdta = _pdta(path)
        insts = []
        for i in range(len(pdta["inst"]) - 1):
            first, last = (struct.unpack("<H", pdta["inst"][j][20:22])[0] for j in (i, i + 1))
            insts.append(_zones(pdta["ibag"], pdta["igen"], first, last, SAMPLE_ID))
        presets = {}
        for p in range(len(pdta["phdr"]) - 1):
            program, bank, first = struct.unpack("<HHH", pdta["phdr"][p][20:26])
            last = struct.unpack("<H", pdta["phdr"][p + 1][24:26])[0]
            pglob, pzones = _zones(pdta["pbag"], pdta["pgen"], first, last, INSTRUMENT)
            zones = []
            for pz in pzones:
                iglob, izones = insts[pz[INSTRUMENT]]
                for iz in izones:
                    keys = _overlap(pz.get(KEY_RANGE, (0, 127)), iz.get(KEY_RANGE, iglob.get(KEY_RANGE, (0, 127))))
                    vels = _overlap(pz.get(VEL_RANGE, (0, 127)), iz.get(VEL_RANGE, iglob.get(VEL_RANGE, (0, 127))))
                    if keys is None or vels is None:
                        continue
                    values = {g: iz.get(g, iglob.get(g, d)) + pz.get(g, pglob.get(g, 0)) for g, d in DEFAULTS.items()}
                    zones.append(Zone(keys, vels, values))
            presets[(bank, program)] = zones
        return presets
    except (OSError, ValueError, struct.error, IndexError) as exc:
        raise SoundFontError(f"{path}: not a readable SoundFont ({exc}); give a .sf2 or .sf3 file") from None


def effect_sends(path: str | Path) -> dict[tuple[int, int], tuple[float, float]]:
    """{(bank, program): (reverb send, chorus send)}, each 0..1: what FluidSynth adds to a voice's CC91/CC93 sends
    (generators 16 and 15), averaged over the zones the preset plays, each capped to 0..1000 as FluidSynth caps it."""
    return {where: zone_sends(zones) for where, zones in read_zones(path).items() if zones}


def zone_sends(zones: list[Zone]) -> tuple[float, float]:
    """(reverb send, chorus send) 0..1 of a preset's zones: each zone's capped to 0..1000, averaged."""
    values = [[min(max(z.values[g], 0), 1000) for g in (REVERB_SEND, CHORUS_SEND)] for z in zones]
    return tuple(sum(v[k] for v in values) / len(values) / 1000 for k in (0, 1))
