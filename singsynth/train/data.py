"""NSynth-format data sets: examples.json + audio/<note>.wav, read with the stdlib, split by (instrument, pitch)."""
from __future__ import annotations

import hashlib
import json
import logging
import os
import wave
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..errors import UsageError
from ..gm import slug
from ..model.config import SAMPLE_RATE
from ..preset import Instrument

logger = logging.getLogger(__name__)

NOTE_SECONDS = 4
NOTE_SAMPLES = NOTE_SECONDS * SAMPLE_RATE  # at SING's 16 kHz
SPLITS = ("train", "valid", "test")
EXAMPLES_FILE = "examples.json"
AUDIO_DIR = "audio"
DATA_RATES = (16_000, 48_000)
# Audio loaded whole up to this size; past it, read from the files when used (NSynthData.load_audio).
MEMORY_LIMIT = 8 << 30
REQUIRED_KEYS = ("note_str", "instrument_str", "pitch", "velocity", "sample_rate")


class DataError(UsageError):
    """A data set that cannot be used; the message is one line naming the file."""


@dataclass(frozen=True)
class Note:
    name: str
    instrument_id: str
    instrument: int  # index into NSynthData.instruments
    pitch: int
    velocity: int


def split_of(instrument_id: str, pitch: int, valid: float = 0.1, test: float = 0.1) -> str:
    """'train', 'valid' or 'test' for an (instrument, pitch) pair, as in the SING paper.

    A hash rather than a seeded shuffle, so a pair's split never moves when notes are dropped, filtered
    or rendered again elsewhere; all velocities of a pair share it.
    """
    digest = hashlib.sha256(f"{instrument_id}-{pitch}".encode("utf-8")).digest()
    u = int.from_bytes(digest[:8], "big") / 2.0**64
    if u < valid:
        return "valid"
    if u < valid + test:
        return "test"
    return "train"


def note_samples(rate: int) -> int:
    """Samples of one 4 s note at `rate`."""
    return NOTE_SECONDS * rate


def read_note_wav(path: Path, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """One note: int16 [4 s]; anything but 16-bit mono at `sample_rate` of that length raises DataError."""
    samples = note_samples(sample_rate)
    try:
        with wave.open(str(path), "rb") as f:
            channels, width, rate, frames = f.getnchannels(), f.getsampwidth(), f.getframerate(), f.getnframes()
            if (channels, width, rate) != (1, 2, sample_rate):
                raise DataError(f"{path}: {channels} channel(s), {8 * width}-bit, {rate} Hz; "
                                f"this data set's notes are mono 16-bit {sample_rate} Hz (convert the file)")
            if frames != samples:
                raise DataError(f"{path}: {frames} samples; this data set's notes are {samples} "
                                f"(4 s at {sample_rate // 1000} kHz)")
            raw = f.readframes(samples)
    except FileNotFoundError:
        raise DataError(f"{path}: missing audio file listed in {EXAMPLES_FILE}") from None
    except (wave.Error, EOFError) as exc:
        raise DataError(f"{path}: not a PCM wav file ({exc})") from None
    except OSError as exc:
        raise DataError(f"{path}: unreadable ({exc.strerror or exc})") from None
    if len(raw) != 2 * samples:
        raise DataError(f"{path}: truncated ({len(raw) // 2} of {samples} samples present)")
    return np.frombuffer(raw, dtype="<i2").astype(np.int16, copy=False)


def write_wav(path: Path, audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> None:
    """Write int16 mono samples as a 16-bit PCM wav (not atomic: callers rename a temporary file)."""
    with wave.open(str(path), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(sample_rate)
        f.writeframes(np.ascontiguousarray(audio, dtype="<i2").tobytes())


def load_examples(root: Path) -> dict:
    """Parse examples.json of a data set folder, raising DataError with one line on any problem."""
    if not root.is_dir():
        raise DataError(f"{root}: no such data set folder (expected {EXAMPLES_FILE} and {AUDIO_DIR}/ inside)")
    path = root / EXAMPLES_FILE
    try:
        examples = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{path}: missing; an NSynth-format folder holds {EXAMPLES_FILE} and {AUDIO_DIR}/") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not valid JSON ({exc})") from None
    except OSError as exc:
        raise DataError(f"{path}: unreadable ({exc.strerror or exc})") from None
    if not isinstance(examples, dict):
        raise DataError(f"{path}: expected an object keyed by note name, found {type(examples).__name__}")
    return examples


def _matches(value: str, wanted: set[str]) -> bool:
    return value in wanted or slug(value) in wanted


class NSynthData:
    """The notes of an NSynth-format folder, filtered, with instruments indexed from 0 in id order."""

    def __init__(self, root: str | os.PathLike, instruments: list[str] | None = None,
                 families: list[str] | None = None, pitches: tuple[int, int] | None = None,
                 velocities: list[int] | None = None):
        self.root = Path(root).expanduser()
        examples = load_examples(self.root)
        path = self.root / EXAMPLES_FILE
        wanted_instruments = None if instruments is None else {str(i) for i in instruments} | {
            slug(str(i)) for i in instruments}
        wanted_families = None if families is None else {slug(str(f)) for f in families}
        wanted_velocities = None if velocities is None else {int(v) for v in velocities}

        kept: list[tuple[str, str, int, int]] = []
        info: dict[str, Instrument] = {}
        rates: set[int] = set()
        for key, ex in examples.items():
            try:
                name, inst_id = str(ex["note_str"]), str(ex["instrument_str"])
                pitch, velocity, rate = int(ex["pitch"]), int(ex["velocity"]), int(ex["sample_rate"])
            except (KeyError, TypeError, ValueError) as exc:
                missing = [k for k in REQUIRED_KEYS if not isinstance(ex, dict) or k not in ex]
                why = f"missing {', '.join(missing)}" if missing else f"bad value ({exc})"
                raise DataError(f"{path}: note {key!r}: {why}") from None
            if rate not in DATA_RATES:
                raise DataError(f"{path}: note {name!r} has sample_rate {rate}; singsynth trains on "
                                f"{' or '.join(map(str, DATA_RATES))} Hz")
            rates.add(rate)
            if len(rates) > 1:
                raise DataError(f"{path}: notes at {' and '.join(map(str, sorted(rates)))} Hz; a data set has one rate")
            if inst_id not in info:
                info[inst_id] = self._instrument_info(inst_id, ex)
            meta = info[inst_id]
            if wanted_instruments is not None and not (
                    inst_id in wanted_instruments or _matches(meta.name, wanted_instruments)):
                continue
            if wanted_families is not None and slug(meta.family) not in wanted_families:
                continue
            if pitches is not None and not pitches[0] <= pitch <= pitches[1]:
                continue
            if wanted_velocities is not None and velocity not in wanted_velocities:
                continue
            kept.append((name, inst_id, pitch, velocity))
        if not kept:
            raise DataError(f"{path}: no notes match the filters ({self._describe(instruments, families, pitches, velocities)})")

        self.sample_rate = rates.pop()
        self.note_samples = note_samples(self.sample_rate)
        ids = sorted({k[1] for k in kept})
        index = {inst_id: i for i, inst_id in enumerate(ids)}
        kept.sort()
        self.notes: list[Note] = [Note(n, i, index[i], p, v) for n, i, p, v in kept]
        ranges: dict[str, list[int]] = {}
        for note in self.notes:
            r = ranges.setdefault(note.instrument_id, [note.pitch, note.pitch])
            r[0], r[1] = min(r[0], note.pitch), max(r[1], note.pitch)
        self.instruments: list[Instrument] = [replace(info[i], index=k, pitch_range=tuple(ranges[i]))
                                              for k, i in enumerate(ids)]
        self._check_audio()
        # every key of a drum kit is its own sound: a held-out key would be one never heard, so all train
        drums = {d.id for d in self.instruments if d.drums}
        self._splits = ["train" if n.instrument_id in drums else split_of(n.instrument_id, n.pitch)
                        for n in self.notes]
        logger.debug("%s: %d notes, %d instruments", self.root, len(self.notes), len(self.instruments))

    @staticmethod
    def _instrument_info(inst_id: str, ex: dict) -> Instrument:
        """The instrument a note names (its index and range are set once every note is read). Real NSynth has
        no GM metadata; data rendered here carries it, and its SoundFont is the source."""
        program = ex.get("gm_program")
        return Instrument(index=-1, name=str(ex.get("instrument_name") or inst_id), id=inst_id,
                          gm_program=None if program is None else int(program), drums=bool(ex.get("drums", False)),
                          source=str(ex.get("soundfont") or ex.get("instrument_source_str", "")),
                          family=str(ex.get("instrument_family_str", "")))

    @staticmethod
    def _describe(instruments, families, pitches, velocities) -> str:
        parts = [f"instruments={list(instruments)}" if instruments is not None else "",
                 f"families={list(families)}" if families is not None else "",
                 f"pitches={pitches[0]}-{pitches[1]}" if pitches is not None else "",
                 f"velocities={list(velocities)}" if velocities is not None else ""]
        return ", ".join(p for p in parts if p) or "no filters; the file lists no notes"

    def _check_audio(self) -> None:
        # One directory listing instead of a stat per note: NSynth has 300k of them.
        audio = self.root / AUDIO_DIR
        try:
            present = set(os.listdir(audio))
        except OSError:
            raise DataError(f"{audio}: missing audio folder next to {EXAMPLES_FILE}") from None
        for note in self.notes:
            if f"{note.name}.wav" not in present:
                raise DataError(f"{self.wav_path(note)}: missing audio file listed in {EXAMPLES_FILE}")

    def __len__(self) -> int:
        return len(self.notes)

    def wav_path(self, note: Note | int) -> Path:
        if isinstance(note, int):
            note = self.notes[note]
        return self.root / AUDIO_DIR / f"{note.name}.wav"

    def split(self, name: str) -> list[int]:
        """Indices into notes of one split: train, valid, test, or all."""
        if name == "all":
            return list(range(len(self.notes)))
        if name not in SPLITS:
            raise ValueError(f"unknown split {name!r}; use train, valid, test or all")
        return [i for i, s in enumerate(self._splits) if s == name]

    def hold_out(self, held: dict[str, set[tuple[str, int]]]) -> None:
        """Take another split: the (instrument id, pitch) pairs listed under valid and test, the rest trains.
        So a model trained on from a preset never learns the pairs that preset held out."""
        def split(note: Note) -> str:
            pair = (note.instrument_id, note.pitch)
            return "test" if pair in held.get("test", ()) else "valid" if pair in held.get("valid", ()) else "train"
        self._splits = [split(n) for n in self.notes]

    def pairs(self, name: str) -> list[tuple[str, int]]:
        """Sorted distinct (instrument_id, pitch) pairs of a split."""
        return sorted({(self.notes[i].instrument_id, self.notes[i].pitch) for i in self.split(name)})

    def read_note(self, index: int) -> np.ndarray:
        """One note as float32 [4 s] in [-1, 1]."""
        return read_note_wav(self.wav_path(index), self.sample_rate).astype(np.float32) / 32768.0

    def load_audio(self, indices: list[int] | None = None, progress: bool = False) -> "np.ndarray | NoteFiles":
        """Notes as int16 [N, 4 s] (half the memory of float32; scale by 1/32768 when used).

        Past MEMORY_LIMIT bytes (48 kHz notes of a whole General MIDI set are 21 GB) the notes stay in their files,
        read when indexed (NoteFiles), so that the page cache holds what fits and nothing is copied on disk."""
        indices = list(range(len(self.notes))) if indices is None else list(indices)
        if 2 * len(indices) * self.note_samples > MEMORY_LIMIT:
            return NoteFiles(self, indices)
        out = np.empty((len(indices), self.note_samples), dtype=np.int16)
        iterator = enumerate(indices)
        if progress:
            from tqdm import tqdm
            iterator = tqdm(iterator, total=len(indices), desc="loading notes", unit="note", leave=False)
        for row, index in iterator:
            out[row] = read_note_wav(self.wav_path(index), self.sample_rate)
        return out


class NoteFiles:
    """Notes of a data set read from their files when indexed, as int16 [N, samples] would be: an integer gives one
    note [samples], a sequence of integers (a list, an array, a tensor) the notes [k, samples]."""

    def __init__(self, data: NSynthData, indices: list[int]):
        self.data = data
        self.indices = list(indices)
        self.shape = (len(self.indices), data.note_samples)

    def __len__(self) -> int:
        return len(self.indices)

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        notes = self[range(len(self))]
        return notes if dtype is None else notes.astype(dtype)

    def __getitem__(self, index) -> np.ndarray:
        if isinstance(index, (int, np.integer)):
            return read_note_wav(self.data.wav_path(self.indices[int(index)]), self.data.sample_rate)
        rows = [int(i) for i in (index.tolist() if hasattr(index, "tolist") else list(index))]
        out = np.empty((len(rows), self.shape[1]), dtype=np.int16)
        for n, row in enumerate(rows):
            out[n] = self[row]
        return out
