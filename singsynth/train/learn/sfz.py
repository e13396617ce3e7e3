"""SFZ files as a learn source: each region's sample, at its key, velocity, tune and volume.

Only what places a one-shot is read (sample, pitch_keycenter, key, lokey/hikey, lovel/hivel, tune, volume,
default_path); every other opcode is warned about once and ignored, since a region still names its sample."""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .recordings import DEFAULT_VELOCITY, LearnError, Recording, check_sounding, prepare, read_audio

logger = logging.getLogger(__name__)

KNOWN = {"sample", "pitch_keycenter", "key", "lokey", "hikey", "lovel", "hivel", "tune", "volume", "default_path"}
HEADERS = ("control", "global", "master", "group", "region")
_HEADER = re.compile(r"<(\w+)>")
# an opcode's value runs to the next opcode or header: sample names may hold spaces
_OPCODE = re.compile(r"(\w+)=(.*?)(?=\s+\w+=|\s*<|\s*$)", re.DOTALL)
NOTE_OFFSETS = {"c": 0, "d": 2, "e": 4, "f": 5, "g": 7, "a": 9, "b": 11}


@dataclass(frozen=True)
class Region:
    sample: Path
    key: int
    velocity: int
    tune_cents: float
    volume_db: float


def _key(value: str, where: str) -> int:
    """An SFZ key: a MIDI number or a note name (c4 is 60)."""
    text = value.strip().lower()
    if re.fullmatch(r"-?\d+", text):
        key = int(text)
    else:
        match = re.fullmatch(r"([a-g])(#|b)?(-?\d)", text)
        if not match:
            raise LearnError(f"{where}: {value!r} is not a key (a MIDI number or a name such as c4)")
        letter, accidental, octave = match.groups()
        key = 12 * (int(octave) + 1) + NOTE_OFFSETS[letter] + {"#": 1, "b": -1}.get(accidental or "", 0)
    if not 0 <= key <= 127:
        raise LearnError(f"{where}: key {value!r} is outside 0..127")
    return key


def _number(value: str, where: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise LearnError(f"{where}: {value!r} is not a number") from None


def _strip_comments(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.DOTALL)
    return re.sub(r"//[^\n]*", " ", text)


def parse_sfz(path: Path) -> list[Region]:
    """The regions of an SFZ file, each with what its headers above it set; LearnError on a file that cannot be
    read or a region without a sample or key."""
    try:
        text = _strip_comments(path.read_text(encoding="utf-8", errors="replace"))
    except OSError as exc:
        raise LearnError(f"{path}: unreadable ({exc.strerror or exc})") from None
    scopes: dict[str, dict[str, str]] = {h: {} for h in HEADERS}
    current: str | None = None
    regions: list[tuple[dict[str, str], dict[str, str]]] = []  # (what the headers above set, its own)
    warned: set[str] = set()
    pieces = _HEADER.split(text)
    for index, piece in enumerate(pieces):
        if index % 2 == 1:  # a header's name
            current = piece.lower()
            if current not in HEADERS:
                if current not in warned:
                    logger.warning("%s: <%s> is not read here; its opcodes are ignored", path, current)
                    warned.add(current)
                current = None
                continue
            # a header clears the scopes beneath it (a <group> starts a fresh set of regions' defaults)
            for lower in HEADERS[HEADERS.index(current):]:
                scopes[lower] = {}
            if current == "region":  # the headers above are complete by now: their opcodes precede it
                inherited = {k: v for h in HEADERS[:-1] for k, v in scopes[h].items()}
                regions.append((inherited, scopes["region"]))
            continue
        if current is None:
            continue
        for name, value in _OPCODE.findall(piece):
            name = name.lower()
            if name not in KNOWN and name not in warned:
                logger.warning("%s: opcode %s is not read by learn; ignored", path, name)
                warned.add(name)
            scopes[current][name] = value.strip()
    if not regions:
        raise LearnError(f"{path}: no <region> with a sample; give an SFZ file whose regions name their samples")
    out = []
    for number, (inherited, own) in enumerate(regions, 1):
        values = {**inherited, **own}
        where = f"{path}: region {number}"
        if "sample" not in values:
            raise LearnError(f"{where}: no sample= opcode; every region must name its sample")
        base = path.parent / values.get("default_path", "").replace("\\", "/")
        sample = base / values["sample"].replace("\\", "/")
        if "pitch_keycenter" in values:
            key = _key(values["pitch_keycenter"], where)
        elif "key" in values:
            key = _key(values["key"], where)
        elif "lokey" in values and values.get("lokey") == values.get("hikey"):
            key = _key(values["lokey"], where)
        else:
            raise LearnError(f"{where}: no pitch_keycenter (nor key=) to tell its sample's pitch; add one")
        if "hivel" in values or "lovel" in values:
            velocity = int(_number(values.get("hivel", "127"), where))
        else:
            velocity = DEFAULT_VELOCITY
        out.append(Region(sample, key, max(1, min(127, velocity)), _number(values.get("tune", "0"), where),
                          _number(values.get("volume", "0"), where)))
    return out


def read_sfz(path: Path, rate: int, samples: int) -> list[Recording]:
    regions = parse_sfz(path)
    missing = [r.sample for r in regions if not r.sample.is_file()]
    if missing:
        raise LearnError(f"{path}: {len(missing)} of {len(regions)} samples missing, first {missing[0]}; put them "
                         "where the SFZ file says (its folder, or its default_path)")
    recordings = []
    for region in regions:
        audio = read_audio(region.sample, rate)
        if region.tune_cents:  # the region plays its sample this many cents up: learn the note as it sounds
            import soxr
            ratio = 2 ** (region.tune_cents / 1200)
            audio = soxr.resample(audio, rate * ratio, rate, quality="VHQ").astype(np.float32)
        audio = (audio * 10 ** (region.volume_db / 20)).astype(np.float32)
        name = f"{path.name} ({region.sample.name}, key {region.key})"
        check_sounding(name, audio)
        recordings.append(Recording(name, region.key, region.velocity, audio))
    logger.info("%s: %d regions", path, len(recordings))
    return prepare(recordings, samples, str(path))
