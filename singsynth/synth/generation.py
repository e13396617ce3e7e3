"""The live generation thread: cold notes streamed into their pending buffers, chunk by chunk.

Notes queued together form a batch (one model stream). Up to MAX_STREAMS batches may be under way at once: a
note played while earlier ones are still streaming starts at once, rather than after they end. Between chunks
the thread advances the batch with the least audio made ahead of its playing (a new batch has none), so
each batch's next chunk comes before its voices reach the end of what has arrived. Beyond MAX_STREAMS, new
notes wait and start together once a batch ends: one note at a time costs the LSTM nearly as much as a batch
of several, so a flood of cold notes is made in batches rather than falling further and further behind.
"""
from __future__ import annotations

import logging
import os
import queue
import sys
import threading
import time
from typing import Callable, Iterator, Sequence

import numpy as np

from .cache import Note, to_cached_precision
from .resample import StreamResampler

logger = logging.getLogger(__name__)

# Niceness of the live generation thread: when the CPU is short, the audio, the mixing and the MIDI
# input go first, and cold notes arrive later rather than the sound breaking up.
GENERATION_NICENESS = 10


def lower_priority() -> None:
    """Lower this thread's CPU priority where the system allows it per thread (Linux)."""
    if sys.platform.startswith("linux"):
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), GENERATION_NICENESS)
        except OSError:
            pass


class StreamingBatch:
    """Notes streamed in together: each chunk of the model's stream is resampled to the output rate and
    written into the notes' buffers, their `ready` moved on."""

    def __init__(self, notes: Sequence[Note], chunks: Iterator[np.ndarray], in_rate: int, out_rate: int,
                 finished: Callable[[], None]):
        """chunks: the model's stream [B, n] at in_rate; finished: called once every note is complete (or,
        after a failure, silent)."""
        self.notes = list(notes)
        self.chunks = chunks
        self.out_rate = out_rate
        self.resampler = StreamResampler(len(self.notes), in_rate, out_rate)
        self.finished = finished
        self.started = time.perf_counter()
        self.made = 0  # output samples each note holds

    def ahead(self, now: float) -> float:
        """Seconds of audio made beyond what a voice started with the batch has played by `now`."""
        return self.made / self.out_rate - (now - self.started)

    def advance(self) -> bool:
        """Make the next chunk; False once the batch is complete (finished() has been called)."""
        try:
            chunk = next(self.chunks, None)
            last = chunk is None
            out = self.resampler(np.zeros((len(self.notes), 0), dtype=np.float32) if last else chunk, last=last)
            for row, note in zip(out, self.notes):
                start = note.ready
                m = min(len(row), len(note.data) - start)
                note.data[start:start + m] = to_cached_precision(row[:m])
                note.ready = start + m
            self.made += out.shape[1]
        except Exception:
            # leave silence rather than a voice waiting forever
            logger.exception("note generation failed; those notes stay silent")
            for note in self.notes:
                note.data[:] = 0
            last = True
        if last:
            self.finished()
        return not last


WAKE = object()  # queued to wake the thread for idle work, not a key
MAX_STREAMS = 3


class GenerationThread:
    """Takes queued keys, starts the batches for those queued together (start_batches: none when nothing is
    left to generate, such as notes found on disk), and advances the batches under way, most urgent first.
    With nothing under way and nothing queued it calls idle_work() (False: none left) before it waits."""

    def __init__(self, start_batches: Callable[[list], list[StreamingBatch]], max_batch: int,
                 idle_work: Callable[[], bool] = lambda: False):
        self.start_batches = start_batches
        self.max_batch = max_batch
        self.idle_work = idle_work
        self.queue: queue.Queue = queue.Queue()
        self.thread = threading.Thread(target=self._run, name="singsynth-generate", daemon=True)
        self.thread.start()

    def wake(self) -> None:
        """Idle work has come: do it once nothing more urgent is left."""
        self.queue.put(WAKE)

    def _run(self) -> None:
        lower_priority()
        active: list[StreamingBatch] = []
        stopping = False
        busy = False  # idle work may be left
        while not stopping or active:
            if not stopping and len(active) < MAX_STREAMS:
                keys, stopping, woken = self._take(wait=not active and not busy)
                busy = busy or woken
                if keys:
                    active += self.start_batches(keys)
            if active:
                now = time.perf_counter()
                batch = min(active, key=lambda b: b.ahead(now))
                if not batch.advance():
                    active.remove(batch)
            elif busy and not stopping:
                try:
                    busy = self.idle_work()
                except Exception:
                    logger.exception("work ahead of playing failed; notes are generated as they are played")
                    busy = False

    def _take(self, wait: bool) -> tuple[list, bool, bool]:
        """The keys queued now, at most max_batch (waiting for the first if `wait`), whether stop() was called
        (keys queued after it are left) and whether wake() was."""
        keys: list = []
        woken = False
        while len(keys) < self.max_batch:
            try:
                key = self.queue.get() if wait and not keys and not woken else self.queue.get_nowait()
            except queue.Empty:
                break
            if key is None:
                return keys, True, woken
            if key is WAKE:
                woken = True
            else:
                keys.append(key)
        return keys, False, woken

    def stop(self) -> None:
        """Finish the batches under way (and the keys queued before this), then end the thread."""
        self.queue.put(None)
        self.thread.join(timeout=10)
