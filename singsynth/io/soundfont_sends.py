"""The effect sends a SoundFont (SF2, or SF3 with compressed samples) gives its presets: generators 15
(chorusEffectsSend) and 16 (reverbEffectsSend), read from the file's preset data (pdta) alone."""
from __future__ import annotations

import os
import struct
from typing import BinaryIO

CHORUS_SEND, REVERB_SEND = 15, 16  # generator numbers (SoundFont 2.04, 8.1.2), in 0.1 % units
INSTRUMENT, SAMPLE_ID = 41, 53  # the generators that end a preset zone and an instrument zone
RECORDS = {"phdr": 38, "pbag": 4, "pgen": 4, "inst": 22, "ibag": 4, "igen": 4}
MAX_PDTA = 64 * 2**20  # the preset data of the largest General MIDI SoundFonts is a few MiB


class SoundFontError(ValueError):
    """Not a SoundFont, or one whose preset data is malformed: the message names the file."""


def _chunks(f: BinaryIO, end: int):
    """(id, offset of the data, size) of each chunk from here to `end`."""
    while f.tell() + 8 <= end:
        cid, size = struct.unpack("<4sI", f.read(8))
        start = f.tell()
        yield cid.decode("latin-1"), start, size
        following = start + size
        if size & 1:  # RIFF pads odd chunks with a byte; some SF3 writers do not: the next id tells
            f.seek(following)
            if not f.read(4).isalpha():
                following += 1
        f.seek(following)


def _pdta(path: str | os.PathLike) -> dict[str, bytes]:
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:] != b"sfbk":
            raise SoundFontError(f"{path}: not a SoundFont (no RIFF sfbk header)")
        end = min(8 + struct.unpack_from("<I", head, 4)[0], os.fstat(f.fileno()).st_size)
        for cid, start, length in list(_chunks(f, end)):
            f.seek(start)
            if cid == "LIST" and f.read(4) == b"pdta":
                if length > MAX_PDTA:
                    raise SoundFontError(f"{path}: preset data of {length} bytes is implausibly large")
                records = {}
                for sub, offset, n in list(_chunks(f, start + length)):
                    if sub in RECORDS:
                        f.seek(offset)
                        records[sub] = f.read(n)
                return records
    raise SoundFontError(f"{path}: no preset data (pdta) chunk")


def _records(pdta: dict[str, bytes], name: str, path) -> list[tuple]:
    data, size = pdta.get(name, b""), RECORDS[name]
    if len(data) < 2 * size or len(data) % size:
        raise SoundFontError(f"{path}: {name} chunk of {len(data)} bytes is not whole {size}-byte records")
    fmt = {"phdr": "<20sHHHIII", "inst": "<20sH"}.get(name, "<Hh" if name.endswith("gen") else "<HH")
    return [struct.unpack_from(fmt, data, i) for i in range(0, len(data), size)]


def _zones(bags: list[tuple], gens: list[tuple], first: int, last: int, ends: int) -> tuple[dict, list[dict]]:
    """The global zone's generators and each other zone's ({generator: amount}) of the bags [first, last)."""
    zones = []
    for b in range(first, min(last, len(bags) - 1)):
        zones.append({op: amount for op, amount in gens[bags[b][0]:bags[b + 1][0]]})
    global_zone = zones.pop(0) if zones and ends not in zones[0] else {}
    return global_zone, [z for z in zones if ends in z]


def effect_sends(path: str | os.PathLike) -> dict[tuple[int, int], tuple[float, float]]:
    """{(bank, program): (reverb send, chorus send)}, each 0..1: what FluidSynth adds to a voice's CC91/CC93
    sends, averaged over the zones (key and velocity ranges) the preset plays. A zone's value is its
    instrument zone's (or the instrument's global zone's) plus its preset zone's (or the preset's global
    zone's), capped to 0..1000 as FluidSynth caps it. Malformed preset data -> SoundFontError."""
    pdta = _pdta(path)
    phdr, pbag, pgen = (_records(pdta, n, path) for n in ("phdr", "pbag", "pgen"))
    inst, ibag, igen = (_records(pdta, n, path) for n in ("inst", "ibag", "igen"))
    instruments = []
    for i in range(len(inst) - 1):  # the last record of each list is its terminal "EOI"/"EOP"
        instruments.append(_zones(ibag, igen, inst[i][1], inst[i + 1][1], SAMPLE_ID))
    sends = {}
    for p in range(len(phdr) - 1):
        _, program, bank, first = phdr[p][:4]
        p_global, p_zones = _zones(pbag, pgen, first, phdr[p + 1][3], INSTRUMENT)
        values = []
        for pz in p_zones:
            index = pz[INSTRUMENT]
            if not 0 <= index < len(instruments):
                raise SoundFontError(f"{path}: preset {bank}:{program} names instrument {index} of {len(instruments)}")
            i_global, i_zones = instruments[index]
            for iz in i_zones:
                values.append([min(max(iz.get(g, i_global.get(g, 0)) + pz.get(g, p_global.get(g, 0)), 0), 1000)
                               for g in (REVERB_SEND, CHORUS_SEND)])
        if values:
            sends[(bank, program)] = tuple(sum(v[k] for v in values) / len(values) / 1000 for k in (0, 1))
    return sends
