"""The live generation thread: cold notes streamed into their pending buffers, chunk by chunk.

Notes queued together form a batch (one model stream). Several batches may be under way at once: a note played
while earlier ones are still streaming starts at once, rather than after they end. Between chunks the thread
advances the batch with the least audio made ahead of its playing (a new batch has none), so each batch's next
chunk comes before its voices reach the end of what has arrived. One note at a time costs the LSTM nearly as
much as a batch of several, so a batch a little behind another is given the chunk that brings it level, and
batches level with each other merge: notes played one after another end up generated together.
"""
from __future__ import annotations

import logging
import os
import queue
import sys
import threading
import time
from typing import Callable, Sequence

import numpy as np

from ..model.chunks import next_chunk_steps
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


MAX_CHUNK_STEPS = 64  # a streamed batch's chunks double up to this many steps (as SING.stream's by default)


class StreamingBatch:
    """Notes streamed in together from one batch of the model's stream (a NoteStream: step, done, chunk(steps),
    first_chunk_steps(frames), merge()): each chunk is resampled to the output rate note by note and written into
    the notes' buffers, their `ready` moved on. Two batches at the same step merge into one."""

    def __init__(self, notes: Sequence[Note], stream, first_frames: int, in_rate: int, out_rate: int,
                 finished: Callable[[bool], None], made_ahead: np.ndarray | None = None,
                 wrote: Callable[[Note, int, int], None] | None = None):
        """first_frames: the frames of the note in the first chunk; made_ahead: that first chunk [B, n] when it
        was made ahead (the stream is past it); finished(ok): called once every note is complete (ok), or once
        generating them failed (not ok: their voices are to be silenced); wrote(note, start, end): called after
        each chunk is written into a note's samples [start, end)."""
        self.notes = list(notes)
        self.stream = stream
        self.resamplers = [StreamResampler(1, in_rate, out_rate) for _ in self.notes]
        self.out_rate = out_rate
        self.finished = [finished]
        self.started = [time.perf_counter()] * len(self.notes)
        self.made = [0] * len(self.notes)  # output samples each note holds
        self.size = first_frames  # steps of the last chunk: the next is twice as many
        self.made_ahead = made_ahead
        self.wrote = wrote

    def __len__(self) -> int:
        return len(self.notes)

    @property
    def step(self) -> int:
        return self.stream.step

    @property
    def mergeable(self) -> bool:
        """Whether it can merge: every chunk made so far handed out, and more to make."""
        return self.made_ahead is None and not self.stream.done

    def ahead(self, now: float) -> float:
        """Seconds of audio made beyond what the voice of its most urgent note has played by `now`."""
        return min(made / self.out_rate - (now - started) for made, started in zip(self.made, self.started))

    def next_steps(self) -> int:
        """The steps of the next chunk: the first holds `first_frames` frames of the note, then twice as many."""
        if self.step == 0:
            return self.stream.first_chunk_steps(self.size)
        return next_chunk_steps(self.size, MAX_CHUNK_STEPS)

    def advance(self, steps: int | None = None) -> bool:
        """Hand out the next chunk (the one made ahead first; `steps`: other than next_steps(), to meet another
        batch); False once the batch is complete (finished() has been called)."""
        try:
            if self.made_ahead is not None:
                chunk, self.made_ahead = self.made_ahead, None
            else:
                first = self.step == 0
                steps = steps or self.next_steps()
                chunk = self.stream.chunk(steps)
                if not first:
                    self.size = steps
            self._write(chunk, last=False)
            last, ok = self.made_ahead is None and self.stream.done, True
            if last:
                self._write(np.zeros((len(self.notes), 0), dtype=np.float32), last=True)  # the resamplers' tails
        except Exception:
            # finished(False) leaves silence rather than a voice waiting forever
            logger.exception("note generation failed; those notes stay silent")
            last, ok = True, False
        if last:
            for finished in self.finished:
                try:
                    finished(ok)
                except Exception:  # the thread goes on with the other batches
                    logger.exception("a generated note could not be finished")
        return not last

    def _write(self, chunk: np.ndarray, last: bool) -> None:
        for i, (note, resampler) in enumerate(zip(self.notes, self.resamplers)):
            row = resampler(chunk[i:i + 1], last=last)[0]
            start = note.ready
            m = min(len(row), len(note.data) - start)
            note.data[start:start + m] = to_cached_precision(row[:m])
            note.ready = start + m
            self.made[i] += len(row)
            if self.wrote is not None and m:
                self.wrote(note, start, start + m)

    def merge(self, other: StreamingBatch) -> None:
        """Take in a batch at the same step: its notes go on in this one's stream."""
        self.stream = type(self.stream).merge([self.stream, other.stream])
        self.notes += other.notes
        self.resamplers += other.resamplers
        self.finished += other.finished
        self.started += other.started
        self.made += other.made
        self.size = max(self.size, other.size)  # the doubling goes on from the longer chunks


WAKE = object()  # queued to wake the thread for idle work, not a key


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
            if not stopping:
                keys, stopping, woken = self._take(wait=not active and not busy)
                busy = busy or woken
                if keys:
                    try:
                        active += self.start_batches(keys)
                    except Exception:  # start_batches leaves the notes it could not start silent
                        logger.exception("notes could not be started")
            if active:
                now = time.perf_counter()
                batch = min(active, key=lambda b: b.ahead(now))
                if not batch.advance(self._meeting(batch, active)):
                    active.remove(batch)
                else:
                    self._merge(active)
            elif busy and not stopping:
                try:
                    busy = self.idle_work()
                except Exception:
                    logger.exception("work ahead of playing failed; notes are generated as they are played")
                    busy = False

    def _meeting(self, batch: StreamingBatch, active: list[StreamingBatch]) -> int | None:
        """Steps that bring the batch level with another a little ahead of it (within its next chunk), so that
        the two merge; None: its own next chunk. Not for a first chunk, which is as short as it can be."""
        if not batch.mergeable or batch.step == 0:
            return None
        reach = batch.step + batch.next_steps()
        ahead = [b.step for b in active if b is not batch and b.mergeable and batch.step < b.step <= reach
                 and len(b) + len(batch) <= self.max_batch]
        return min(ahead) - batch.step if ahead else None

    def _merge(self, active: list[StreamingBatch]) -> None:
        """Batches at the same step become one (up to max_batch notes): one note at a time costs the LSTM
        nearly as much as a batch of several."""
        level: dict[int, StreamingBatch] = {}
        for batch in list(active):
            if not batch.mergeable:
                continue
            other = level.get(batch.step)
            if other is not None and len(other) + len(batch) <= self.max_batch:
                other.merge(batch)
                active.remove(batch)
            else:
                level[batch.step] = batch

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
