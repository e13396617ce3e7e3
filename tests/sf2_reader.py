"""A small SoundFont 2 reader for the tests: the RIFF tree and the pdta records, read after the specification,
independently of singsynth's writer."""
from __future__ import annotations

import struct
from dataclasses import dataclass, field

import numpy as np

RECORD_SIZES = {b"phdr": 38, b"pbag": 4, b"pmod": 10, b"pgen": 4, b"inst": 22, b"ibag": 4, b"imod": 10,
                b"igen": 4, b"shdr": 46}
RANGE_OPERS = (43, 44)
UNSIGNED_OPERS = (41, 53, 54)


@dataclass
class SoundFont:
    size: int  # the RIFF header's size + 8
    info: dict[bytes, bytes] = field(default_factory=dict)
    smpl: np.ndarray | None = None  # int16
    sm24: np.ndarray | None = None  # uint8
    records: dict[bytes, list[bytes]] = field(default_factory=dict)
    chunk_order: list[bytes] = field(default_factory=list)

    def _name(self, raw: bytes) -> str:
        return raw[:20].split(b"\0")[0].decode("ascii")

    def presets(self) -> list[dict]:
        out = []
        for raw in self.records[b"phdr"]:
            program, bank, bag = struct.unpack("<HHH", raw[20:26])
            out.append({"name": self._name(raw), "program": program, "bank": bank, "bag": bag})
        return out

    def instruments(self) -> list[dict]:
        return [{"name": self._name(raw), "bag": struct.unpack("<H", raw[20:22])[0]}
                for raw in self.records[b"inst"]]

    def samples(self) -> list[dict]:
        out = []
        for raw in self.records[b"shdr"]:
            start, end, loop_start, loop_end, rate, pitch, correction, link, kind = struct.unpack(
                "<IIIIIBbHH", raw[20:46])
            out.append({"name": self._name(raw), "start": start, "end": end, "loop": (loop_start, loop_end),
                        "rate": rate, "pitch": pitch, "correction": correction, "link": link, "type": kind})
        return out

    def _generators(self, gens: bytes, index: int) -> tuple[int, object]:
        oper = struct.unpack("<H", self.records[gens][index][:2])[0]
        body = self.records[gens][index][2:]
        if oper in RANGE_OPERS:
            return oper, (body[0], body[1])
        return oper, struct.unpack("<H" if oper in UNSIGNED_OPERS else "<h", body)[0]

    def zones(self, level: str, index: int) -> list[dict]:
        """The zones of preset (level 'p') or instrument ('i') `index`: generators in file order, modulators."""
        headers, bags, gens, mods = ((b"phdr", b"pbag", b"pgen", b"pmod") if level == "p"
                                     else (b"inst", b"ibag", b"igen", b"imod"))
        first_bag = (self.presets() if level == "p" else self.instruments())[index]["bag"]
        last_bag = (self.presets() if level == "p" else self.instruments())[index + 1]["bag"]
        zones = []
        for bag in range(first_bag, last_bag):
            gen0, mod0 = struct.unpack("<HH", self.records[bags][bag])
            gen1, mod1 = struct.unpack("<HH", self.records[bags][bag + 1])
            zones.append({"generators": [self._generators(gens, g) for g in range(gen0, gen1)],
                          "modulators": [struct.unpack("<HHhHH", self.records[mods][m]) for m in range(mod0, mod1)]})
        return zones

    def sample_data(self, sample: dict) -> np.ndarray:
        """The sample as 24-bit integers (16-bit ones shifted up when there is no sm24)."""
        high = self.smpl[sample["start"]:sample["end"]].astype(np.int32) << 8
        if self.sm24 is None:
            return high
        return high | self.sm24[sample["start"]:sample["end"]].astype(np.int32)


def _chunks(data: bytes, pos: int, end: int):
    while pos + 8 <= end:
        tag, size = data[pos:pos + 4], struct.unpack("<I", data[pos + 4:pos + 8])[0]
        yield tag, pos + 8, size
        pos += 8 + size + (size & 1)
    assert pos == end, f"chunks overrun their list: {pos} != {end}"


def read_sf2(raw: bytes) -> SoundFont:
    assert raw[:4] == b"RIFF" and raw[8:12] == b"sfbk", "not a RIFF sfbk file"
    font = SoundFont(struct.unpack("<I", raw[4:8])[0] + 8)
    for tag, pos, size in _chunks(raw, 12, font.size):
        assert tag == b"LIST", tag
        kind = raw[pos:pos + 4]
        font.chunk_order.append(kind)
        for sub, sub_pos, sub_size in _chunks(raw, pos + 4, pos + size):
            body = raw[sub_pos:sub_pos + sub_size]
            if kind == b"INFO":
                font.info[sub] = body
            elif sub == b"smpl":
                font.smpl = np.frombuffer(body, dtype="<i2")
            elif sub == b"sm24":
                font.sm24 = np.frombuffer(body, dtype=np.uint8)
            elif kind == b"pdta":
                font.chunk_order.append(sub)
                width = RECORD_SIZES[sub]
                assert sub_size % width == 0, f"{sub!r} is not a whole number of records"
                font.records[sub] = [body[i:i + width] for i in range(0, sub_size, width)]
    return font
