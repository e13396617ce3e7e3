"""Live: the first chunk of notes not generated yet, made ahead for the instruments the channels play.

A cold note must wait for its first streamed chunk: the LSTM's steps through the padding before the note, the
decoder's look-ahead and the note's first frames (about 7 ms on one core, 10 in float32), and then for the next
block. A started note skips that wait: its first chunk and the model's state after it are made ahead, a few notes
at a time whenever the generation thread has nothing else to do, so it sounds in the block its note-on lands in
and the stream goes on from that state. Every velocity step of every key of an instrument takes about 1,400
starts, about 35 KB each with sing-gm: MAX_STARTS bounds them, the least recently wanted dropped first.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Sequence

import numpy as np

from .cache import NoteKey

MAX_STARTS = 3072  # about 105 MB with sing-gm: an instrument's whole range and a drum kit, and more


class NoteStarts:
    """Notes' first chunks (at the model's rate, at the preset's loudness) and their streams past them (a
    NoteStream of one note each, model/streaming.py), and the keys still wanted. Thread-safe: the engine wants
    keys from the producer, the generation thread makes and takes them."""

    def __init__(self, max_starts: int = MAX_STARTS):
        self.max_starts = max_starts
        self._made: OrderedDict[NoteKey, tuple[np.ndarray, object]] = OrderedDict()
        self._wanted: OrderedDict[NoteKey, None] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._made)

    @property
    def waiting(self) -> int:
        """Keys wanted and not made yet."""
        return len(self._wanted)

    def want(self, keys: Sequence[NoteKey]) -> None:
        """Make these keys' starts (those not made yet) before any wanted earlier; the most recently wanted
        are the last dropped when MAX_STARTS is reached."""
        with self._lock:
            for key in reversed(keys):
                if key in self._made:
                    self._made.move_to_end(key)
                else:
                    self._wanted[key] = None
                    self._wanted.move_to_end(key, last=False)
            while len(self._wanted) > self.max_starts:
                self._wanted.popitem()

    def next_keys(self, count: int) -> list[NoteKey]:
        """Up to `count` wanted keys to make now (they stay wanted until put())."""
        with self._lock:
            return list(self._wanted)[:count]

    def put(self, keys: Sequence[NoteKey], first: np.ndarray, streams: Sequence[object]) -> None:
        """The starts just made: each key's first chunk (a row of `first`) and stream."""
        with self._lock:
            for key, row, stream in zip(keys, first, streams):
                if key not in self._wanted:  # no longer wanted: a note-on took it meanwhile
                    continue
                del self._wanted[key]
                self._made[key] = (row.copy(), stream)
            while len(self._made) > self.max_starts:
                self._made.popitem(last=False)

    def forget(self, keys: Sequence[NoteKey]) -> None:
        """These keys are no longer wanted: their notes are being generated (or are cached)."""
        with self._lock:
            for key in keys:
                self._wanted.pop(key, None)

    def take(self, key: NoteKey) -> tuple[np.ndarray, object] | None:
        """The key's start, removed (its note is about to be generated), or None if not made."""
        with self._lock:
            self._wanted.pop(key, None)
            return self._made.pop(key, None)
