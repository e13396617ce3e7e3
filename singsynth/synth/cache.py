"""Note cache: generated notes, in memory at the output rate (LRU-bounded in bytes), on disk at the preset's rate.

Key: (timbre weights tuple, MIDI pitch, velocity step); velocities 1..127 are quantised to `velocity_steps` steps
(default 16) so that nearby velocities share a note. The disk holds a note's samples at the preset's own rate as
the model made them (float32), so that every output rate reads the same file and a note goes on from them when
extended; and, for an output rate other than the preset's, the note as played there (resampled, its loop levelled,
rounded to float16 once, as notes always were), so that a warm render at that rate reads it as it is. The cold
render plays exactly what it stores: a warm run renders the same file as a cold one. The loop's crossfade and
decay are made again when a note is read back.

A note may be stored shorter than the model's length (generated as far as a file plays it): then a small state
file beside it holds where the model's stream stood (note_length.py), so that a longer use extends the note.

Disk layout: <root>/<preset name>-<hash>/<preset rate>/<sha1 of key>.npy (+ .state.npz) and
<root>/<preset name>-<hash>/played-<rate>/<sha1 of key>.npy, a note's played copies deleted when its samples
change. Written to a temporary file then renamed, read with allow_pickle=False; a damaged file is ignored and
rewritten. Reading a file marks it used (its mtime); the whole root is kept under a size cap by deleting the notes
used longest ago (prune_disk, after a process wrote notes). The default root is $XDG_CACHE_HOME/singsynth/notes.
Thread-safe: the live generation thread puts while the producer thread that makes the blocks gets.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np

from ..preset import WEIGHTS_FILE, Preset, file_sha256
from .disk_cache import PLAYED_PREFIX, prune_disk, touch
from .half import all_finite, to_half, to_half_precision

logger = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 1 << 30
DEFAULT_DISK_BYTES = 2 << 30  # the disk cache's cap (--cache-max): a laptop's spare room, 16,000 whole notes
DEFAULT_VELOCITY_STEPS = 16
FORMAT_VERSION = 2  # 2: samples at the preset's rate, notes possibly partial

NoteKey = tuple[tuple[float, ...], int, int]


def default_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "singsynth" / "notes"


def preset_hash(preset: Preset) -> str:
    """What makes a preset's notes what they are: weights, model config, loudness, level corrections, which
    instruments sustain, rate."""
    digest = preset.weights_sha256
    if not digest:
        weights = preset.path / preset.meta.get("weights", WEIGHTS_FILE)
        digest = file_sha256(weights) if weights.is_file() else hashlib.sha256().hexdigest()
    ident = {"weights": digest, "model": preset.config.to_dict(), "gain": preset.output_gain,
             "rate": preset.sample_rate, "version": FORMAT_VERSION}
    if any(i.levels for i in preset.instruments):  # else the notes cached before corrections existed stay valid
        ident["levels"] = [i.levels.to_dict() for i in preset.instruments]
    if any(i.sustains for i in preset.instruments):  # their notes are read back with their loop levelled
        ident["sustains"] = [i.index for i in preset.instruments if i.sustains]
    ident = json.dumps(ident, sort_keys=True)
    return hashlib.sha256(ident.encode()).hexdigest()


def folder_name(preset: Preset) -> str:
    """The disk folder of a preset's notes: its name (as a person reads it) and the first 12 digits of its hash."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", preset.name or "preset").strip("._") or "preset"
    return f"{name[:40]}-{preset_hash(preset)[:12]}"


def quantize_velocity(velocity: int, steps: int = DEFAULT_VELOCITY_STEPS) -> int:
    """MIDI velocity 1..127 -> step 0..steps-1."""
    return round((min(max(velocity, 1), 127) - 1) * (steps - 1) / 126)


def step_velocity(step: int, steps: int = DEFAULT_VELOCITY_STEPS) -> float:
    """The velocity a step's notes are generated at (1 for step 0, 127 for the last)."""
    return 1.0 + step * 126 / (steps - 1)


class Note:
    """A generated note (mono float32, output rate). While it streams in, only data[:ready] is final."""

    __slots__ = ("data", "ready", "done", "xfade", "loop_decay", "short_key", "made")

    def __init__(self, data: np.ndarray, ready: int | None = None):
        self.data = data
        self.ready = len(data) if ready is None else ready
        self.done = ready is None
        self.xfade: np.ndarray | None = None  # the loop's crossfade, filled in by the supply (note_supply.py)
        self.loop_decay = 1.0  # the gain one pass of the loop loses to the note's decay (sustain_loop.loop_decay)
        self.short_key: NoteKey | None = None  # generated short of the whole note (note_length.py): its key
        self.made = len(data)  # a short note: the samples generated (the rest of data is silence to read ahead into)

    @property
    def nbytes(self) -> int:
        return self.data.nbytes + (0 if self.xfade is None else self.xfade.nbytes)


def to_cached_precision(wav: np.ndarray) -> np.ndarray:
    """Samples rounded to float16 (as the disk holds them), kept as float32."""
    return to_half_precision(wav)


class NoteCache:
    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES, velocity_steps: int = DEFAULT_VELOCITY_STEPS,
                 disk_dir: str | os.PathLike | None = None, disk_max: int = DEFAULT_DISK_BYTES,
                 disk_root: str | os.PathLike | None = None, played_rate: int | None = None):
        """disk_dir: where this preset's notes live; disk_root: the folder whose whole size disk_max caps (default:
        disk_dir's grandparent when made by for_preset, else disk_dir itself); played_rate: the output rate, whose
        copies of the notes (resampled, as played) are kept beside them (None: none kept)."""
        if velocity_steps < 2:
            raise ValueError("velocity_steps must be at least 2")
        self.max_bytes = int(max_bytes)
        self.velocity_steps = velocity_steps
        self.disk_dir = Path(disk_dir) if disk_dir is not None else None
        self.disk_root = Path(disk_root) if disk_root is not None else self.disk_dir
        self.disk_max = int(disk_max)
        self.played_rate = played_rate
        self._notes: OrderedDict[NoteKey, Note] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = self.misses = self.disk_hits = 0
        self.written = 0  # bytes written to disk by this process: prune() has work only then

    @classmethod
    def for_preset(cls, preset: Preset, sample_rate: int | None = None, root: str | os.PathLike | None = None,
                   disk: bool = True, **kwargs) -> "NoteCache":
        """A cache whose disk part (if any) lives in <root>/<preset name>-<hash>/<preset rate>/: the notes are
        stored at the preset's rate, whatever the output rate (`sample_rate`, kept for the callers' sake)."""
        disk_dir = disk_root = None
        if disk:
            disk_root = Path(root).expanduser() if root is not None else default_root()
            disk_dir = disk_root / folder_name(preset) / str(preset.sample_rate)
        played = sample_rate if sample_rate is not None and sample_rate != preset.sample_rate else None
        return cls(disk_dir=disk_dir, disk_root=disk_root, played_rate=played, **kwargs)

    @property
    def nbytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._notes)

    def __contains__(self, key: NoteKey) -> bool:
        return key in self._notes

    def get(self, key: NoteKey) -> Note | None:
        """The note if it is in memory (counted as a hit or a miss)."""
        with self._lock:
            note = self._notes.get(key)
            if note is None:
                self.misses += 1
                return None
            self._notes.move_to_end(key)
            self.hits += 1
            return note

    def peek(self, key: NoteKey) -> Note | None:
        """The note if it is in memory, not counted as a hit or a miss and left where it stands in the LRU order."""
        with self._lock:
            return self._notes.get(key)

    def load(self, key: NoteKey) -> np.ndarray | None:
        """The note's samples at the preset's rate from the disk cache (float32, as made; shorter than the
        model's note where it was generated to a length: load_state), or None."""
        if self.disk_dir is None:
            return None
        data = self._load(key, np.float32)
        if data is not None:
            self.disk_hits += 1
        return data

    def load_played(self, key: NoteKey) -> np.ndarray | None:
        """The note as played at the output rate (float16: resampled, a sustaining loop levelled), or None."""
        played = self._played_dir()
        if played is None:
            return None
        data = self._load(key, np.float16, played)
        if data is not None:
            self.disk_hits += 1
        return data

    def save_played(self, key: NoteKey, data: np.ndarray) -> None:
        """Keep the note as played at the output rate (float32 holding float16 values), beside its samples."""
        played = self._played_dir()
        if played is None:
            return
        try:
            played.mkdir(parents=True, exist_ok=True)
            self._write(self._path(key, played), lambda f: np.save(f, to_half(np.ascontiguousarray(data)),
                                                                  allow_pickle=False))
        except OSError as exc:
            logger.warning("note cache: cannot write %s (%s); disk cache disabled", played, exc)
            self.disk_dir = None

    def _played_dir(self) -> Path | None:
        disk_dir = self.disk_dir
        if disk_dir is None or self.played_rate is None:
            return None
        return disk_dir.parent / f"{PLAYED_PREFIX}{self.played_rate}"

    def load_state(self, key: NoteKey) -> dict[str, np.ndarray] | None:
        """Where the model's stream stood at the end of a note stored short (note_length.py); None if none."""
        if self.disk_dir is None:
            return None
        path = self._path(key).with_suffix(".state.npz")
        try:
            with np.load(path, allow_pickle=False) as f:
                return {name: f[name] for name in f.files}
        except FileNotFoundError:
            return None
        except (OSError, ValueError, EOFError, KeyError) as exc:
            logger.debug("ignoring damaged state file %s (%s)", path, exc)
            return None

    def stored(self, key: NoteKey) -> bool:
        """Whether the note is in memory or has a file on disk (not read: it may yet prove damaged)."""
        disk_dir, played = self.disk_dir, self._played_dir()  # read once: a failed write may switch the disk off
        return key in self._notes or (disk_dir is not None and self._path(key, disk_dir).is_file()) or (
            played is not None and self._path(key, played).is_file())

    def put(self, key: NoteKey, note: Note, disk: bool = False) -> None:
        """Keep a note in memory; `disk`: a whole note streamed live, kept as played at the output rate too (its
        samples at the preset's rate are the generator's: save writes those where it has them)."""
        with self._lock:
            old = self._notes.pop(key, None)
            if old is not None:
                self._bytes -= old.nbytes
            if note.nbytes <= self.max_bytes:
                self._notes[key] = note
                self._bytes += note.nbytes
            while self._bytes > self.max_bytes and self._notes:
                _, evicted = self._notes.popitem(last=False)
                self._bytes -= evicted.nbytes
        if disk:
            self.save_played(key, note.data)

    def save(self, key: NoteKey, samples: np.ndarray, state: dict[str, np.ndarray] | None = None) -> None:
        """Write a note's samples at the preset's rate (float32, as made) to disk, with its stream's state where
        it was generated short of the model's length (None: whole; an older state file is removed)."""
        if self.disk_dir is None:
            return
        path = self._path(key)
        state_path = path.with_suffix(".state.npz")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            for other in path.parent.parent.glob(f"{PLAYED_PREFIX}*/{path.name}"):  # played from older samples
                other.unlink(missing_ok=True)
            if state is not None:
                self._write(state_path, lambda f: np.savez(f, **state))
            elif state_path.exists():
                state_path.unlink()
            self._write(path, lambda f: np.save(f, np.ascontiguousarray(samples, dtype=np.float32),
                                                allow_pickle=False))
        except OSError as exc:
            # a full or read-only disk must not stop the music: keep playing from memory
            logger.warning("note cache: cannot write %s (%s); disk cache disabled", path.parent, exc)
            self.disk_dir = None

    def holds_notes(self) -> bool:
        """Whether any note is in memory or on disk: without one, every note played must be generated."""
        if self._notes:
            return True
        try:
            return self.disk_dir is not None and any(p.suffix == ".npy" for p in self.disk_dir.iterdir())
        except OSError:  # no such folder yet
            return False

    def clear(self) -> None:
        with self._lock:
            self._notes.clear()
            self._bytes = 0

    def prune(self) -> int:
        """Keep the disk root under disk_max, deleting the notes used longest ago, when this process wrote any;
        returns the bytes deleted."""
        if self.disk_root is None or not self.written:
            return 0
        self.written = 0
        return prune_disk(self.disk_root, self.disk_max)

    # -- disk --

    def _path(self, key: NoteKey, disk_dir: Path | None = None) -> Path:
        timbre, pitch, step = key
        text = json.dumps([[round(w, 6) for w in timbre], pitch, step, self.velocity_steps])
        return (disk_dir or self.disk_dir) / f"{hashlib.sha1(text.encode()).hexdigest()}.npy"

    def _load(self, key: NoteKey, dtype, disk_dir: Path | None = None) -> np.ndarray | None:
        path = self._path(key, disk_dir)
        try:
            data = np.load(path, allow_pickle=False)
        except FileNotFoundError:
            return None
        except (OSError, ValueError, EOFError) as exc:
            logger.debug("ignoring damaged cache file %s (%s)", path, exc)
            return None
        finite = all_finite(data) if data.dtype == np.float16 else bool(np.isfinite(data).all())
        if data.ndim != 1 or data.dtype != dtype or not finite:
            logger.debug("ignoring cache file %s with unexpected contents", path)
            return None
        touch(path)
        return data

    def _write(self, path: Path, write) -> None:
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                write(f)
                self.written += f.tell()
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
