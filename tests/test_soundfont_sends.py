"""Generators 15 and 16 read from a SoundFont: a file built here with known zones, the SoundFonts on the machine,
and malformed files refused with one line."""
from __future__ import annotations

import struct
from pathlib import Path

import pytest

from singsynth.preset.sf2 import CHORUS_SEND, INSTRUMENT, REVERB_SEND, SAMPLE_ID, SoundFontError, effect_sends



def chunk(cid: bytes, data: bytes) -> bytes:
    return cid + struct.pack("<I", len(data)) + data + (b"\0" if len(data) & 1 else b"")


def bags_and_gens(zones: list[list[tuple[int, int]]]) -> tuple[bytes, bytes, list[int]]:
    """Bag and generator records of these zones (each a list of (generator, amount)), with the terminal bag;
    returns the index of each zone's first bag too."""
    bags, gens = b"", b""
    count = 0
    for zone in zones:
        bags += struct.pack("<HH", count, 0)
        for op, amount in zone:
            gens += struct.pack("<Hh", op, amount)
            count += 1
    bags += struct.pack("<HH", count, 0)
    gens += struct.pack("<Hh", 0, 0)
    return bags, gens


def soundfont(path: Path, odd_sdta_unpadded: bool = False) -> Path:
    """Instrument 0: a global zone with reverb 300, zones with reverb 100 and none (-> 300), chorus 50 and 0.
    Instrument 1: one zone, reverb 900. Preset 0:0 plays instrument 0 with a preset zone adding 200 to reverb;
    preset 0:1 plays instrument 1 with a global preset zone adding 400 (capped at 1000); preset 128:0 plays both."""
    izones = [[(REVERB_SEND, 300)], [(REVERB_SEND, 100), (CHORUS_SEND, 50), (SAMPLE_ID, 0)], [(SAMPLE_ID, 0)],
              [(REVERB_SEND, 900), (SAMPLE_ID, 0)]]
    ibag, igen = bags_and_gens(izones)
    inst = struct.pack("<20sH", b"zero", 0) + struct.pack("<20sH", b"one", 3) + struct.pack("<20sH", b"EOI", 4)
    pzones = [[(REVERB_SEND, 200), (INSTRUMENT, 0)], [(REVERB_SEND, 400)], [(INSTRUMENT, 1)],
              [(INSTRUMENT, 0)], [(INSTRUMENT, 1)]]
    pbag, pgen = bags_and_gens(pzones)
    phdr = b"".join(struct.pack("<20sHHHIII", name, program, bank, bag, 0, 0, 0) for name, program, bank, bag in
                    [(b"a", 0, 0, 0), (b"b", 1, 0, 1), (b"kit", 0, 128, 3), (b"EOP", 0, 0, 5)])
    pdta = b"pdta" + b"".join(chunk(c, d) for c, d in [(b"phdr", phdr), (b"pbag", pbag), (b"pmod", b"\0" * 10),
                                                       (b"pgen", pgen), (b"inst", inst), (b"ibag", ibag),
                                                       (b"imod", b"\0" * 10), (b"igen", igen)])
    sdta = b"sdta" + chunk(b"smpl", b"\0" * 7)  # odd: padded, unless this SF3 writer's habit is copied
    sdta_chunk = (b"LIST" + struct.pack("<I", len(sdta)) + sdta) if odd_sdta_unpadded else chunk(b"LIST", sdta)
    body = b"sfbk" + chunk(b"LIST", b"INFO" + chunk(b"ifil", struct.pack("<HH", 2, 1))) + sdta_chunk + \
        chunk(b"LIST", pdta)
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    return path


@pytest.mark.parametrize("unpadded", [False, True])
def test_sends_add_preset_to_instrument_zones_and_average_over_zones(tmp_path, unpadded):
    sends = effect_sends(soundfont(tmp_path / "t.sf2", unpadded))
    assert sends[(0, 0)] == pytest.approx(((100 + 200 + 300 + 200) / 2 / 1000, 50 / 2 / 1000))
    assert sends[(0, 1)] == pytest.approx((1.0, 0.0))  # 900 + 400, capped
    assert sends[(128, 0)] == pytest.approx(((100 + 300 + 900) / 3 / 1000, 50 / 3 / 1000))


def test_a_general_midi_soundfont_gives_every_program_its_sends(soundfont_file):
    sends = effect_sends(soundfont_file)
    assert all((0, program) in sends for program in range(128))
    assert all(0 <= r <= 1 and 0 <= c <= 1 for r, c in sends.values())
    assert sum(r > 0 for r, _ in sends.values()) > 100  # FluidR3 gives most instruments some reverb


@pytest.mark.parametrize("data", [b"", b"RIFF\0\0\0\0WAVE", b"RIFF\x04\0\0\0sfbk"])
def test_what_is_no_soundfont_is_refused_with_one_line(tmp_path, data):
    path = tmp_path / "bad.sf2"
    path.write_bytes(data)
    with pytest.raises(SoundFontError, match="bad.sf2: "):
        effect_sends(path)
