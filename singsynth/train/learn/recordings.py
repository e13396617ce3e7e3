"""A learn run's recordings: one-shots read from files, made mono at the base's rate and note length, each with
its key and velocity, and everything a user can get wrong about them refused with one line."""
from __future__ import annotations

import logging
import math
import re
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...errors import UsageError
from ..pitch import estimate_f0, hz_to_midi

logger = logging.getLogger(__name__)

AUDIO_SUFFIXES = (".wav", ".flac")
DEFAULT_VELOCITY = 100  # a recording whose name gives none: a firm note, the middle of what players use
# Quieter than this at its peak a file holds no note: the dataset's own floor for a rendered note (fluid_render.py).
SILENT_DBFS = -60.0
# A measured f0 further than this from a key is no note of the equal-tempered scale: the file's pitch is refused
# rather than guessed (a name can say it).
MEASURED_CENTS = 40.0
NOTE_NAMES = {"c": 0, "d": 2, "e": 4, "f": 5, "g": 7, "a": 9, "b": 11}
_NOTE = re.compile(r"^([a-g])(#|b|s)?(-?\d)$", re.IGNORECASE)
_VELOCITY = re.compile(r"^v(?:el)?(\d{1,3})$", re.IGNORECASE)


class LearnError(UsageError):
    """Bad input to a learn run: one line naming the file or option, what is wrong and what to do."""


@dataclass
class Recording:
    """One note to learn from: float32 samples [note_samples] at the base's rate, starting at the note's onset."""
    name: str  # the file (or region) it came from, for messages
    pitch: int
    velocity: int
    audio: np.ndarray
    measured: bool = False  # the pitch was measured from the audio, not read from the name


def pitch_from_name(stem: str) -> tuple[int | None, int | None]:
    """A file name's stem -> (MIDI key, velocity), each None where the name does not say: `60`, `C4`, `F#3_v90`,
    `Bb2-v64`, `violin_A4_vel100` (C4 is key 60; `s` stands for a sharp where `#` is awkward)."""
    pitch = velocity = None
    for token in re.split(r"[\s_.]+|-(?![0-9])", stem):  # a minus before a digit is an octave: C-1
        if not token:
            continue
        if pitch is None and token.isdigit() and int(token) <= 127:
            pitch = int(token)
            continue
        note = _NOTE.match(token)
        if pitch is None and note:
            letter, accidental, octave = note.groups()
            shift = {"#": 1, "s": 1, "b": -1}.get((accidental or "").lower(), 0)
            key = 12 * (int(octave) + 1) + NOTE_NAMES[letter.lower()] + shift
            if 0 <= key <= 127:
                pitch = key
            continue
        vel = _VELOCITY.match(token)
        if vel and velocity is None and 1 <= int(vel.group(1)) <= 127:
            velocity = int(vel.group(1))
    return pitch, velocity


def wav_truncated(path: Path) -> bool:
    """Whether a WAV file ends before the length its data chunk declares (libsndfile reads such a file quietly as
    a shorter one)."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(12)
        if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return False  # not a RIFF WAV: the reader itself says what is wrong
        pos = 12
        while pos + 8 <= size:
            f.seek(pos)
            tag, length = struct.unpack("<4sI", f.read(8))
            if tag == b"data":
                return length != 0xFFFFFFFF and pos + 8 + length > size  # 0xFFFFFFFF: a stream's unknown length
            pos += 8 + length + (length & 1)
    return False  # no data chunk at all: not truncated but broken, which the reader says


def read_audio(path: Path, rate: int) -> np.ndarray:
    """Any WAV or FLAC, any rate and channel count -> mono float32 at `rate`; LearnError for a file that cannot be
    read whole."""
    import soundfile
    try:
        if path.suffix.lower() == ".wav" and wav_truncated(path):
            raise LearnError(f"{path}: truncated WAV file (it ends before its data does); export it again")
        audio, source_rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except LearnError:
        raise
    except (RuntimeError, OSError, ValueError) as exc:  # soundfile's LibsndfileError is a RuntimeError
        why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise LearnError(f"{path}: not readable as audio ({why}); give WAV or FLAC files") from None
    if audio.shape[0] == 0:
        raise LearnError(f"{path}: holds no samples; remove it or record the note again")
    mono = audio.mean(axis=1)
    if not np.all(np.isfinite(mono)):
        raise LearnError(f"{path}: holds NaN or infinite samples; export it again")
    if source_rate != rate:
        import soxr
        mono = soxr.resample(mono, source_rate, rate, quality="VHQ").astype(np.float32)
    return mono


def fit_length(audio: np.ndarray, samples: int) -> tuple[np.ndarray, bool]:
    """Cut or zero-pad to the model's note length; True where something was cut off."""
    if len(audio) >= samples:
        return np.ascontiguousarray(audio[:samples], dtype=np.float32), len(audio) > samples
    return np.pad(audio, (0, samples - len(audio))).astype(np.float32), False


def check_sounding(name: str, audio: np.ndarray) -> None:
    peak = float(np.max(np.abs(audio))) if len(audio) else 0.0
    if peak <= 10 ** (SILENT_DBFS / 20):
        level = "-inf" if peak == 0 else f"{20 * math.log10(peak):.0f}"
        raise LearnError(f"{name}: silent (peak {level} dBFS, under {SILENT_DBFS:.0f}); remove it or record the "
                         "note again")


def measure_pitch(name: str, audio: np.ndarray, rate: int) -> int:
    """The key a recording sounds, measured; LearnError where it has no clear pitch or sits between keys."""
    f0 = estimate_f0(audio, rate, sustain=(0.05, min(2.5, len(audio) / rate)))
    if f0 is None:
        raise LearnError(f"{name}: its pitch cannot be told (no name like 60.wav or C4.wav, and no clear pitch in "
                         "the audio); name the file after its key")
    midi = hz_to_midi(f0)
    if abs(midi - round(midi)) * 100 > MEASURED_CENTS or not 0 <= round(midi) <= 127:
        raise LearnError(f"{name}: its pitch cannot be told (measured {f0:.1f} Hz, {100 * (midi - round(midi)):+.0f} "
                         "cents from the nearest key); name the file after its key")
    return int(round(midi))


def prepare(recordings: list[Recording], samples: int, source: str) -> list[Recording]:
    """Check a source's recordings as a set: some at all, no two for one key and velocity; cut long ones (said
    once). Sorted by key."""
    if not recordings:
        raise LearnError(f"{source}: no recordings to learn from; give WAV or FLAC one-shots, one note each")
    seen: dict[tuple[int, int], str] = {}
    for r in recordings:
        other = seen.setdefault((r.pitch, r.velocity), r.name)
        if other != r.name:
            raise LearnError(f"{other} and {r.name}: both claim key {r.pitch} at velocity {r.velocity}; remove one or "
                             "name their velocities (e.g. C4_v60.wav, C4_v100.wav)")
    long = 0
    for r in recordings:
        r.audio, cut = fit_length(r.audio, samples)
        long += cut
    if long:
        logger.info("%d of %d recordings are longer than the model's note; each is cut to its first %d samples",
                    long, len(recordings), samples)
    return sorted(recordings, key=lambda r: (r.pitch, r.velocity))


def read_folder(folder: Path, rate: int, samples: int) -> list[Recording]:
    """A folder of one-shots, one note per file, its key from the name or measured (the log says which)."""
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    if not files:
        raise LearnError(f"{folder}: empty folder; put WAV or FLAC one-shots in it, one note per file")
    audio_files = [p for p in files if p.suffix.lower() in AUDIO_SUFFIXES]
    if not audio_files:
        raise LearnError(f"{folder}: no WAV or FLAC files among its {len(files)} files; give one-shots as .wav or "
                         ".flac")
    recordings, measured = [], []
    for path in audio_files:
        audio = read_audio(path, rate)
        check_sounding(str(path), audio)
        pitch, velocity = pitch_from_name(path.stem)
        from_audio = pitch is None
        if from_audio:
            pitch = measure_pitch(str(path), audio, rate)
            measured.append(f"{path.name}: {pitch}")
        recordings.append(Recording(str(path), pitch, velocity or DEFAULT_VELOCITY, audio, from_audio))
    named = len(recordings) - len(measured)
    logger.info("%s: %d recordings, %d keys from their names, %d measured from the audio%s", folder,
                len(recordings), named, len(measured), f" ({', '.join(measured)})" if measured else "")
    return prepare(recordings, samples, str(folder))
