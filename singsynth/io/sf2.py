"""Write SoundFont 2 files (RIFF sfbk: INFO, sdta with smpl and optional sm24, pdta's nine sub-chunks), after the
SoundFont 2.04 specification (sections 5-8): presets hold zones naming instruments, instruments hold zones naming
samples, each zone a list of generators and modulators.

The caller gives whole presets, instruments and samples; write_sf2() lays out the bags and indices. Generator order
follows the specification: keyRange first, velRange next, then the rest, sampleID (or instrument) last.
"""
from __future__ import annotations

import os
import struct
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np

from ..errors import UsageError

# Generator operators (specification section 8.1.2)
PAN = 17
DELAY_VOL_ENV, ATTACK_VOL_ENV, HOLD_VOL_ENV, DECAY_VOL_ENV, SUSTAIN_VOL_ENV, RELEASE_VOL_ENV = 33, 34, 35, 36, 37, 38
INSTRUMENT = 41
KEY_RANGE, VEL_RANGE = 43, 44
INITIAL_ATTENUATION = 48
COARSE_TUNE, FINE_TUNE = 51, 52
SAMPLE_ID = 53
SAMPLE_MODES = 54
OVERRIDING_ROOT_KEY = 58
RANGES = (KEY_RANGE, VEL_RANGE)
UNSIGNED = (INSTRUMENT, SAMPLE_ID, SAMPLE_MODES)

# sampleModes values
NO_LOOP, LOOP_CONTINUOUSLY, LOOP_THEN_RELEASE = 0, 1, 3
MONO_SAMPLE = 1
GUARD_SAMPLES = 46  # zero samples after each sample: "at least 46" (section 6.1)
NAME_BYTES = 20  # names are at most 19 characters and a terminating zero
MAX_TIMECENTS, MIN_TIMECENTS = 8000, -12000  # envelope times, 100 s and 1 ms
MAX_ATTENUATION = 1440  # centibels


@dataclass
class Modulator:
    """sfModSrcOper, sfModDestOper, modAmount, sfModAmtSrcOper, sfModTransOper (section 8.2)."""
    source: int
    destination: int
    amount: int
    amount_source: int = 0
    transform: int = 0


# Modulator sources (section 8.2.1): controller index | (type << 10) | polarity << 9 | direction << 8
VELOCITY = 2
NEGATIVE = 1 << 8
CONCAVE, SWITCH = 1 << 10, 3 << 10
# The defaults every player applies (section 8.4.1, 8.4.2): a zone that gives a modulator with the same sources,
# destination and transform replaces it; amount 0 switches it off.
DEFAULT_VELOCITY_TO_ATTENUATION = (VELOCITY | NEGATIVE | CONCAVE, INITIAL_ATTENUATION, 0)
DEFAULT_VELOCITY_TO_FILTER = (VELOCITY | NEGATIVE, 8, VELOCITY | SWITCH)


@dataclass
class Zone:
    """Generators (operator -> amount; a range is (low, high)) and modulators, and what the zone plays: a sample
    index in an instrument, an instrument index in a preset (None: a global zone)."""
    generators: dict[int, int | tuple[int, int]] = field(default_factory=dict)
    modulators: list[Modulator] = field(default_factory=list)
    target: int | None = None


@dataclass
class Instrument:
    name: str
    zones: list[Zone]


@dataclass
class Preset:
    name: str
    program: int  # 0..127
    bank: int  # 0..127 melodic, 128 percussion
    zones: list[Zone]


@dataclass
class Sample:
    """Mono samples as 24-bit integers (int32 holding -2^23..2^23-1); the 16-bit file keeps their upper 16 bits."""
    name: str
    data: np.ndarray
    rate: int
    original_pitch: int  # the MIDI key at which the sample plays as recorded
    pitch_correction: int = 0  # cents, -99..99
    loop: tuple[int, int] | None = None  # (start, end) in samples from the sample's start; end is the first
    # sample past the loop


class SoundFontError(UsageError, ValueError):
    """What a SoundFont cannot hold; the message is one line."""


def to_24bit(audio: np.ndarray) -> np.ndarray:
    """float -1..1 -> int32 in 24-bit range, rounded and clipped."""
    return np.clip(np.round(np.asarray(audio, dtype=np.float64) * 8388608.0), -8388608, 8388607).astype(np.int32)


def _name(text: str) -> bytes:
    raw = text.encode("ascii", "replace")[:NAME_BYTES - 1]
    return raw.ljust(NAME_BYTES, b"\0")


def _chunk(tag: bytes, body: bytes) -> bytes:
    return tag + struct.pack("<I", len(body)) + body + (b"\0" if len(body) & 1 else b"")


def _text(text: str) -> bytes:
    """An INFO string: zero-terminated, padded to an even length (section 5.1)."""
    raw = text.encode("ascii", "replace")[:255] + b"\0"
    return raw + (b"\0" if len(raw) & 1 else b"")


def _info(name: str, comment: str, bits24: bool) -> bytes:
    version = struct.pack("<HH", 2, 4 if bits24 else 1)  # sm24 is a 2.04 addition
    parts = [_chunk(b"ifil", version), _chunk(b"isng", _text("EMU8000")), _chunk(b"INAM", _text(name)),
             _chunk(b"ISFT", _text("singsynth"))]
    if comment:
        parts.append(_chunk(b"ICMT", _text(comment[:65000])))
    return b"LIST" + struct.pack("<I", 4 + sum(map(len, parts))) + b"INFO" + b"".join(parts)


def _generator(oper: int, amount) -> bytes:
    if oper in RANGES:
        low, high = amount
        return struct.pack("<HBB", oper, low, high)
    return struct.pack("<HH" if oper in UNSIGNED else "<Hh", oper, amount)


def _zone_records(zones: list[Zone], target_oper: int, bags: list, gens: list, mods: list) -> None:
    for zone in zones:
        bags.append(struct.pack("<HH", len(gens), len(mods)))
        order = [o for o in RANGES if o in zone.generators]
        order += [o for o in zone.generators if o not in RANGES and o not in (SAMPLE_ID, INSTRUMENT)]
        gens.extend(_generator(o, zone.generators[o]) for o in order)
        if zone.target is not None:
            gens.append(_generator(target_oper, zone.target))
        mods.extend(struct.pack("<HHhHH", m.source, m.destination, m.amount, m.amount_source, m.transform)
                    for m in zone.modulators)


def _pdta(presets: list[Preset], instruments: list[Instrument], headers: list[bytes]) -> bytes:
    phdr, pbag, pgen, pmod = [], [], [], []
    for p in sorted(presets, key=lambda p: (p.bank, p.program)):
        phdr.append(_name(p.name) + struct.pack("<HHHIII", p.program, p.bank, len(pbag), 0, 0, 0))
        _zone_records(p.zones, INSTRUMENT, pbag, pgen, pmod)
    phdr.append(_name("EOP") + struct.pack("<HHHIII", 0, 0, len(pbag), 0, 0, 0))
    pbag.append(struct.pack("<HH", len(pgen), len(pmod)))
    inst, ibag, igen, imod = [], [], [], []
    for i in instruments:
        inst.append(_name(i.name) + struct.pack("<H", len(ibag)))
        _zone_records(i.zones, SAMPLE_ID, ibag, igen, imod)
    inst.append(_name("EOI") + struct.pack("<H", len(ibag)))
    ibag.append(struct.pack("<HH", len(igen), len(imod)))
    for records in (pmod, imod):
        records.append(bytes(10))
    for records in (pgen, igen):
        records.append(bytes(4))
    if max(len(pbag), len(pgen), len(pmod), len(ibag), len(igen), len(imod)) > 0xFFFF:
        raise SoundFontError("more zones, generators or modulators than a SoundFont's 16-bit indices can count; "
                             "export fewer instruments or fewer zones")
    shdr = headers + [_name("EOS") + bytes(26)]
    parts = [_chunk(tag, b"".join(rec)) for tag, rec in ((b"phdr", phdr), (b"pbag", pbag), (b"pmod", pmod),
                                                        (b"pgen", pgen), (b"inst", inst), (b"ibag", ibag),
                                                        (b"imod", imod), (b"igen", igen), (b"shdr", shdr))]
    return b"LIST" + struct.pack("<I", 4 + sum(map(len, parts))) + b"pdta" + b"".join(parts)


def _check(presets: list[Preset], instruments: list[Instrument], samples: list[Sample]) -> None:
    for p in presets:
        if not (0 <= p.program <= 127 and 0 <= p.bank <= 128):
            raise SoundFontError(f"preset {p.name!r}: program {p.program}, bank {p.bank} out of range")
        if any(z.target is not None and not 0 <= z.target < len(instruments) for z in p.zones):
            raise SoundFontError(f"preset {p.name!r} names an instrument that is not there")
    for i in instruments:
        if any(z.target is not None and not 0 <= z.target < len(samples) for z in i.zones):
            raise SoundFontError(f"instrument {i.name!r} names a sample that is not there")
    for s in samples:
        if s.loop is not None and not 0 <= s.loop[0] < s.loop[1] <= len(s.data):
            raise SoundFontError(f"sample {s.name!r}: loop {s.loop} outside its {len(s.data)} samples")


def write_sf2(out: BinaryIO, name: str, presets: list[Preset], instruments: list[Instrument],
              samples: list[Sample], bits24: bool = False, comment: str = "") -> int:
    """Write the whole file to a binary stream; returns the bytes written."""
    _check(presets, instruments, samples)
    total = sum(len(s.data) + GUARD_SAMPLES for s in samples)
    smpl_bytes = 2 * total
    sm24_bytes = (total + (total & 1)) if bits24 else 0
    sdta_size = 4 + 8 + smpl_bytes + (8 + sm24_bytes if bits24 else 0)
    headers, start = [], 0
    for s in samples:
        loop_start, loop_end = s.loop if s.loop is not None else (0, len(s.data))
        headers.append(_name(s.name) + struct.pack("<IIIIIBbHH", start, start + len(s.data), start + loop_start,
                                                    start + loop_end, s.rate, s.original_pitch, s.pitch_correction,
                                                    0, MONO_SAMPLE))
        start += len(s.data) + GUARD_SAMPLES
    info = _info(name, comment, bits24)
    pdta = _pdta(presets, instruments, headers)
    riff_size = 4 + len(info) + 8 + sdta_size + len(pdta)
    if riff_size + 8 > 0xFFFFFFFF:
        raise SoundFontError(f"{riff_size / 2**30:.1f} GiB of SoundFont passes the 4 GiB a RIFF file can hold; "
                             "export fewer zones or velocity layers")
    out.write(b"RIFF" + struct.pack("<I", riff_size) + b"sfbk" + info)
    out.write(b"LIST" + struct.pack("<I", sdta_size) + b"sdta" + b"smpl" + struct.pack("<I", smpl_bytes))
    guard = np.zeros(GUARD_SAMPLES, dtype="<i2")
    for s in samples:  # one sample at a time: the whole bank need not be in memory twice
        data = np.asarray(s.data, dtype=np.int32)
        # with sm24 the low byte goes there and smpl keeps the rest; alone, smpl rounds to the nearest step
        high = data >> 8 if bits24 else np.minimum((data + 128) >> 8, 32767)
        out.write(high.astype("<i2").tobytes())
        out.write(guard.tobytes())
    if bits24:
        out.write(b"sm24" + struct.pack("<I", sm24_bytes))
        for s in samples:
            out.write((np.asarray(s.data, dtype=np.int32) & 0xFF).astype(np.uint8).tobytes())
            out.write(bytes(GUARD_SAMPLES))
        if total & 1:
            out.write(b"\0")
    out.write(pdta)
    return 8 + riff_size


def save_sf2(path: str | os.PathLike, name: str, presets: list[Preset], instruments: list[Instrument],
             samples: list[Sample], bits24: bool = False, comment: str = "") -> int:
    """Write a SoundFont to a temporary name beside `path`, then rename it: a stopped or failed write leaves no
    file behind. What cannot be held or written (a folder that cannot be written, a full disk) is a SoundFontError
    naming `path`."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent if str(path.parent) else ".", prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            size = write_sf2(f, name, presets, instruments, samples, bits24, comment)
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp, 0o666 & ~mask)  # mkstemp made it private; a SoundFont is an ordinary file
        os.replace(tmp, path)
    except SoundFontError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise SoundFontError(f"{path}: {exc}") from None
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise SoundFontError(f"{path}: cannot write ({exc.strerror or exc})") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return size
