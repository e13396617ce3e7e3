"""The notes being streamed in, by key: a buffer claimed when a note is first wanted, refused past a limit.

The live generator (generator.py) and the player's side of its worker process (worker.py) both keep one: any
thread may want a note, the thread that fills it releases it once complete."""
from __future__ import annotations

import threading
from typing import Callable, Iterable

import numpy as np

from .cache import Note, NoteKey


class PendingNotes:
    """Up to `limit` notes of `note_len` samples streaming in; thread-safe."""

    def __init__(self, note_len: int, limit: int):
        self.note_len = note_len
        self.limit = limit
        self._notes: dict[NoteKey, Note] = {}
        self._lock = threading.Lock()
        self._closed = False

    def __len__(self) -> int:
        return len(self._notes)

    def want(self, key: NoteKey, ask: Callable[[NoteKey], None]) -> Note | None:
        """The note's buffer: the one streaming in, else a new silent one, for which ask(key) is called (under
        the lock, so that the notes are asked for in the order they were claimed); None while `limit` notes
        stream, or once closed."""
        with self._lock:
            note = self._notes.get(key)
            if note is None:
                if len(self._notes) >= self.limit or self._closed:
                    return None
                note = self._notes[key] = Note(np.zeros(self.note_len, dtype=np.float32), ready=0)
                ask(key)
        return note

    def get(self, key: NoteKey) -> Note | None:
        with self._lock:
            return self._notes.get(key)

    def of(self, keys: Iterable[NoteKey]) -> list[tuple[NoteKey, Note]]:
        """These keys with their notes; each must be pending."""
        with self._lock:
            return [(key, self._notes[key]) for key in keys]

    def among(self, keys: Iterable[NoteKey]) -> set[NoteKey]:
        """Those of these keys that are pending."""
        with self._lock:
            return {key for key in keys if key in self._notes}

    def keys(self) -> list[NoteKey]:
        with self._lock:
            return list(self._notes)

    def starting(self, key: NoteKey) -> bool:
        """The note is pending and its first samples have not arrived yet."""
        note = self.get(key)
        return note is not None and note.ready == 0

    def release(self, key: NoteKey) -> None:
        """The note is complete (or given up): no longer pending."""
        with self._lock:
            self._notes.pop(key, None)

    def close(self) -> list[tuple[NoteKey, Note]]:
        """Refuse every note wanted from now on; returns the notes that were pending, no longer so."""
        with self._lock:
            self._closed = True
            lost, self._notes = list(self._notes.items()), {}
        return lost
