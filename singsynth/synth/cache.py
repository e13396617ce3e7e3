"""Note cache: generated notes at the output rate, LRU-bounded in bytes, optionally kept on disk.

Key: (timbre weights tuple, MIDI pitch, velocity step); velocities 1..127 are quantised to
`velocity_steps` steps (default 16) so that nearby velocities share a note. Samples are rounded
to float16 when a note enters the cache, so a note read back from disk is bit-identical to the
one generated (a warm run renders the same file as a cold one). Only the samples are stored: the
loop's crossfade and decay are made again from them when a note is read back (note_supply.py).

Disk layout: <root>/<preset hash>/<rate>/<sha1 of key>.npy, written with numpy.save
(allow_pickle=False) to a temporary file then renamed, read with allow_pickle=False; a damaged
file is ignored and rewritten. The default root is $XDG_CACHE_HOME/singsynth/notes (~/.cache/...).
Thread-safe: the live generation thread puts while the producer thread that makes the blocks gets.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np

from ..preset import WEIGHTS_FILE, Preset, file_sha256
from .half import all_finite, to_half, to_half_precision

logger = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 1 << 30
DEFAULT_VELOCITY_STEPS = 16
FORMAT_VERSION = 1

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
    if any(i.sustains for i in preset.instruments):  # their notes are stored with their loop levelled
        ident["sustains"] = [i.index for i in preset.instruments if i.sustains]
    ident = json.dumps(ident, sort_keys=True)
    return hashlib.sha256(ident.encode()).hexdigest()


def quantize_velocity(velocity: int, steps: int = DEFAULT_VELOCITY_STEPS) -> int:
    """MIDI velocity 1..127 -> step 0..steps-1."""
    return round((min(max(velocity, 1), 127) - 1) * (steps - 1) / 126)


def step_velocity(step: int, steps: int = DEFAULT_VELOCITY_STEPS) -> float:
    """The velocity a step's notes are generated at (1 for step 0, 127 for the last)."""
    return 1.0 + step * 126 / (steps - 1)


class Note:
    """A generated note (mono float32, output rate). While it streams in, only data[:ready] is final."""

    __slots__ = ("data", "ready", "done", "xfade", "loop_decay")

    def __init__(self, data: np.ndarray, ready: int | None = None):
        self.data = data
        self.ready = len(data) if ready is None else ready
        self.done = ready is None
        self.xfade: np.ndarray | None = None  # the loop's crossfade, filled in by the supply (note_supply.py)
        self.loop_decay = 1.0  # the gain one pass of the loop loses to the note's decay (sustain_loop.loop_decay)

    @property
    def nbytes(self) -> int:
        return self.data.nbytes + (0 if self.xfade is None else self.xfade.nbytes)


def to_cached_precision(wav: np.ndarray) -> np.ndarray:
    """Samples rounded to float16 (as the disk holds them), kept as float32."""
    return to_half_precision(wav)


class NoteCache:
    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES, velocity_steps: int = DEFAULT_VELOCITY_STEPS,
                 disk_dir: str | os.PathLike | None = None):
        if velocity_steps < 2:
            raise ValueError("velocity_steps must be at least 2")
        self.max_bytes = int(max_bytes)
        self.velocity_steps = velocity_steps
        self.disk_dir = Path(disk_dir) if disk_dir is not None else None
        self._notes: OrderedDict[NoteKey, Note] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = self.misses = self.disk_hits = 0

    @classmethod
    def for_preset(cls, preset: Preset, sample_rate: int, root: str | os.PathLike | None = None,
                   disk: bool = True, **kwargs) -> "NoteCache":
        """A cache whose disk part (if any) lives in <root>/<preset hash>/<rate>/."""
        disk_dir = None
        if disk:
            disk_dir = Path(root).expanduser() if root is not None else default_root()
            disk_dir = disk_dir / preset_hash(preset) / str(sample_rate)
        return cls(disk_dir=disk_dir, **kwargs)

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

    def load(self, key: NoteKey) -> np.ndarray | None:
        """The note's samples from the disk cache (float16, as stored), or None."""
        if self.disk_dir is None:
            return None
        data = self._load(key)
        if data is not None:
            self.disk_hits += 1
        return data

    def stored(self, key: NoteKey) -> bool:
        """Whether the note is in memory or has a file on disk (not read: it may yet prove damaged)."""
        disk_dir = self.disk_dir  # read once: a failed write may switch the disk part off meanwhile
        return key in self._notes or (disk_dir is not None and self._path(key, disk_dir).is_file())

    def put(self, key: NoteKey, note: Note, disk: bool = True) -> None:
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
        if disk and self.disk_dir is not None:
            self._save(key, note.data)

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

    # -- disk --

    def _path(self, key: NoteKey, disk_dir: Path | None = None) -> Path:
        timbre, pitch, step = key
        text = json.dumps([[round(w, 6) for w in timbre], pitch, step, self.velocity_steps])
        return (disk_dir or self.disk_dir) / f"{hashlib.sha1(text.encode()).hexdigest()}.npy"

    def _load(self, key: NoteKey) -> np.ndarray | None:
        path = self._path(key)
        try:
            data = np.load(path, allow_pickle=False)
        except FileNotFoundError:
            return None
        except (OSError, ValueError, EOFError) as exc:
            logger.debug("ignoring damaged cache file %s (%s)", path, exc)
            return None
        if data.ndim != 1 or data.dtype != np.float16 or not all_finite(data):
            logger.debug("ignoring cache file %s with unexpected contents", path)
            return None
        return data

    def _save(self, key: NoteKey, data: np.ndarray) -> None:
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as f:
                    np.save(f, to_half(data), allow_pickle=False)
                os.replace(tmp, path)
            except BaseException:
                os.unlink(tmp)
                raise
        except OSError as exc:
            # a full or read-only disk must not stop the music: keep playing from memory
            logger.warning("note cache: cannot write %s (%s); disk cache disabled", path.parent, exc)
            self.disk_dir = None
