"""The note cache's folders on disk: what they hold (`singsynth cache`), marking notes used, pruning by last use.

<root>/<preset name>-<hash>/<preset rate>/<note>.npy (+ <note>.state.npz), and played-<rate>/<note>.npy (the note
as played at an output rate): a note's files in one folder count together, and its .npy's modification time is
when it was last used (read or written).
"""
from __future__ import annotations

import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

NOTE_SUFFIXES = (".npy", ".npz", ".tmp")
PLAYED_PREFIX = "played-"  # cache.py's: a folder of notes as played at an output rate


def touch(path: Path) -> None:
    """Mark a note used now, so that pruning keeps it longest; a read-only cache is still read."""
    try:
        os.utime(path)
    except OSError:
        pass


@dataclass
class Folder:
    """One preset at one rate in the cache."""
    path: Path
    preset: str  # the folder's name: the preset's name and the start of its hash
    rate: int
    played: bool  # the notes as played at an output rate (resampled), not as generated
    notes: int
    bytes: int
    last_used: float  # seconds since the epoch


def _note_files(rate_dir: Path) -> list[os.DirEntry]:
    try:
        with os.scandir(rate_dir) as it:
            return [e for e in it if e.is_file(follow_symlinks=False) and e.name.endswith(NOTE_SUFFIXES)]
    except OSError:
        return []


def folders(root: Path) -> list[Folder]:
    """Every preset and rate under the cache root, by preset then rate."""
    found = []
    for preset_dir in sorted(p for p in _subdirs(root)):
        for rate_dir in sorted(_subdirs(preset_dir), key=lambda p: p.name):
            played = rate_dir.name.startswith(PLAYED_PREFIX)
            rate = rate_dir.name[len(PLAYED_PREFIX):] if played else rate_dir.name
            if not rate.isdigit():
                continue
            files = _note_files(rate_dir)
            stats = [e.stat(follow_symlinks=False) for e in files]
            found.append(Folder(rate_dir, preset_dir.name, int(rate), played,
                                sum(1 for e in files if e.name.endswith(".npy")), sum(s.st_size for s in stats),
                                max((s.st_mtime for s in stats), default=0.0)))
    return found


def _subdirs(path: Path) -> list[Path]:
    try:
        return [p for p in path.iterdir() if p.is_dir() and not p.is_symlink()]
    except OSError:
        return []


def remove(folder: Folder) -> None:
    """Delete one preset's notes at one rate (and the preset's folder once it is empty)."""
    shutil.rmtree(folder.path, ignore_errors=True)
    try:
        folder.path.parent.rmdir()
    except OSError:  # other rates are left
        pass


def prune_disk(root: Path, max_bytes: int) -> int:
    """Delete the notes used longest ago until everything under root takes at most max_bytes; returns the bytes
    deleted. A note's sample and state files go together."""
    notes: dict[str, list] = {}  # stem path -> [last use, bytes, files]
    total = 0
    for folder in folders(root):
        for entry in _note_files(folder.path):
            st = entry.stat(follow_symlinks=False)
            if entry.name.endswith(".tmp") and time.time() - st.st_mtime < 3600:
                continue  # another process is writing it
            stem = entry.path if entry.name.endswith(".tmp") else os.path.join(folder.path, entry.name.split(".")[0])
            item = notes.setdefault(stem, [st.st_mtime, 0, []])
            if entry.name.endswith(".npy"):
                item[0] = st.st_mtime
            item[1] += st.st_size
            item[2].append(entry.path)
            total += st.st_size
    deleted = 0
    if total <= max_bytes:
        return 0
    for _, size, paths in sorted(notes.values(), key=lambda n: n[0]):
        if total - deleted <= max_bytes:
            break
        for path in paths:
            try:
                os.unlink(path)
            except OSError:
                pass
        deleted += size
    logger.info("note cache: deleted %.0f MiB of the notes used longest ago, to stay under %.0f MiB",
                deleted / 2**20, max_bytes / 2**20)
    return deleted
