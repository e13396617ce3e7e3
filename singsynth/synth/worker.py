"""The live generator in a process of its own, so that the model never takes the mixer's interpreter lock.

Live, the mixer and the model shared one interpreter lock and, on two cores, the CPU: when generation ran flat out
(a flood of cold notes), blocks were made late and the sound broke up (docs/live.md). Here the model runs in a
worker process (spawned: a fresh interpreter, torch's threads its own) at a lower CPU priority, and the player's
process only copies what it sends back into the notes' buffers:

    player: want(key) --requests--> worker: LiveGenerator (generator.py) streams the note
    player: reader thread <--replies-- worker: ("chunk", key, start, samples) ... ("done", key, ...)

Requests go out through a thread of their own, so that a caller (the block being made, the MIDI input) never waits
on a full pipe. Each reply is small (a chunk is a few thousand samples); the reader thread copies it into the note's
buffer, found among the pending notes (pending.py, kept as the generator in the worker keeps its own). If the worker
dies, the reader starts another (at most MAX_RESTARTS times) and asks it again for every note still pending;
voices meanwhile play on, from what has arrived or from their stand-in (live_supply.py).
"""
from __future__ import annotations

import logging
import multiprocessing
import os
import queue
import threading
from typing import Sequence

from ..preset import Preset
from .cache import Note, NoteCache, NoteKey
from .generator import MAX_PENDING, LiveGenerator, Sink
from .pending import PendingNotes

logger = logging.getLogger(__name__)

MAX_RESTARTS = 5
# The worker's niceness: when the CPU is short, the player's process (audio, mixing, MIDI input) goes first. The
# lowest priority there is: a separate process, unlike a thread, takes a core of its own whenever it can, and a
# cold note has a stand-in to play meanwhile.
WORKER_NICENESS = 19
READY_SECONDS = 60.0  # how long wait_ready() waits for a worker to load the preset


class GeneratorProcess:
    """The player's side of the worker: the same calls as a LiveGenerator (want, starting, start_ahead, pending,
    generated, close), the notes handed to `sink` as they arrive."""

    def __init__(self, preset: Preset, cache: NoteCache, sample_rate: int, note_len: int, sink: Sink,
                 starts: bool = True, threads: int = 1):
        self.spec = {"path": str(preset.path), "device": preset._device, "full_precision": preset.full_precision,
                     "threads": int(threads), "sample_rate": sample_rate, "note_len": note_len,
                     "velocity_steps": cache.velocity_steps, "starts": starts,
                     "disk_dir": str(cache.disk_dir) if cache.disk_dir is not None else None}
        self.note_len = note_len
        self.sink = sink
        self.generated = 0
        self.restarts = 0
        self._pending = PendingNotes(note_len, MAX_PENDING)  # closed once the worker cannot be kept running
        self._outbox: queue.SimpleQueue = queue.SimpleQueue()  # requests, sent by the sender thread
        self._ready = threading.Event()
        self._closing = False
        self._start()
        threading.Thread(target=self._send_all, name="singsynth-notes-out", daemon=True).start()

    @property
    def pending(self) -> int:
        return len(self._pending)

    @property
    def pid(self) -> int | None:
        return self._process.pid

    def wait_ready(self, timeout: float = READY_SECONDS) -> bool:
        """Wait until the worker has loaded the preset; False if it has not within `timeout` seconds."""
        return self._ready.wait(timeout)

    def want(self, key: NoteKey) -> Note | None:
        """The note's buffer, streaming in (asked of the worker if new); None while MAX_PENDING notes wait or
        the worker could not be kept running."""
        return self._pending.want(key, self._want)

    def starting(self, key: NoteKey) -> bool:
        return self._pending.starting(key)

    def start_ahead(self, keys: Sequence[NoteKey]) -> None:
        if keys:
            self._send(("ahead", list(keys)))

    def start_ahead_spans(self, spans: Sequence[tuple]) -> None:
        self._send(("spans", list(spans)))

    def close(self) -> None:
        """Stop the worker (the notes under way are left as they are)."""
        self._closing = True
        self._send(("stop",))
        self._outbox.put(None)  # the sender sends what is queued, then ends
        self._process.join(timeout=5)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(timeout=5)
        self._requests.close()

    # -- the worker's life --

    def _start(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        requests_in, self._requests = ctx.Pipe(duplex=False)
        replies, replies_out = ctx.Pipe(duplex=False)
        self._process = ctx.Process(target=serve, args=(requests_in, replies_out, self.spec), daemon=True,
                                    name="singsynth-generator")
        self._process.start()
        requests_in.close()
        replies_out.close()  # the worker holds the only writing end: its death reads as the end of the pipe
        threading.Thread(target=self._read, args=(replies,), name="singsynth-notes-in", daemon=True).start()
        for key in self._pending.keys():  # a restarted worker: every note still pending, asked again
            self._want(key)

    def _want(self, key: NoteKey) -> None:
        self._send(("want", key))

    def _send(self, message: tuple) -> None:
        self._outbox.put(message)

    def _send_all(self) -> None:
        """The sender thread: requests to whichever worker is running."""
        while (message := self._outbox.get()) is not None:
            try:
                self._requests.send(message)
            except (OSError, ValueError):  # the worker is gone: the reader restarts it and asks again
                pass

    def _read(self, replies) -> None:
        """Copy what the worker sends into the notes; when it ends, restart it unless closing."""
        while True:
            try:
                message = replies.recv()
            except (EOFError, OSError):
                break
            try:
                self._take(message)
            except Exception:  # a bad reply must not stop the notes that follow
                logger.exception("a note from the generator could not be taken")
        replies.close()
        if self._closing:
            return
        self._process.join(timeout=1)
        self._ready.clear()
        if self.restarts >= MAX_RESTARTS:
            logger.error("the note generator stopped %d times: cold notes now play only from stand-ins",
                         self.restarts + 1)
            for key, note in self._pending.close():
                note.ready = len(note.data)  # what has not arrived stays silent
                note.done = True
                self.sink.failed(key, note)
            return
        self.restarts += 1
        logger.warning("the note generator stopped (exit code %s): starting it again", self._process.exitcode)
        self._start()

    def _take(self, message: tuple) -> None:
        kind = message[0]
        if kind == "ready":
            self._ready.set()
            return
        key = message[1]
        note = self._pending.get(key)
        if note is None:
            return
        if kind == "chunk":
            _, _, start, samples = message
            note.data[start:start + len(samples)] = samples
            note.ready = max(note.ready, start + len(samples))  # a restarted worker writes what had arrived again
        elif kind == "done":
            _, _, samples, loop_decay, xfade, save = message
            if samples is not None:
                note.data[:] = samples
            # the decay before the crossfade: a voice starts looping (and using the decay) once xfade is set
            note.loop_decay = loop_decay
            note.xfade = xfade
            note.ready = len(note.data)
            note.done = True
            self._pending.release(key)
            self.generated += save
            self.sink.done(key, note, save)
        elif kind in ("failed", "refused"):
            note.ready = len(note.data)
            note.done = True
            self._pending.release(key)
            self.sink.failed(key, note)


class _Sender:
    """The worker's sink: chunks and complete notes sent to the player's process."""

    def __init__(self, replies, sustains):
        self.replies = replies
        self.sustains = sustains
        self.lock = threading.Lock()
        self.streamed: set[NoteKey] = set()

    def send(self, message: tuple) -> None:
        with self.lock:
            self.replies.send(message)

    def wrote(self, key: NoteKey, note: Note, start: int, end: int) -> None:
        self.streamed.add(key)
        self.send(("chunk", key, start, note.data[start:end]))

    def done(self, key: NoteKey, note: Note, save: bool) -> None:
        # the samples go again only where the player lacks them: read from disk, or the loop levelled
        whole = key not in self.streamed or (save and self.sustains(key))
        self.streamed.discard(key)
        self.send(("done", key, note.data if whole else None, note.loop_decay, note.xfade, save))

    def failed(self, key: NoteKey, note: Note) -> None:
        self.streamed.discard(key)
        self.send(("failed", key))


def serve(requests, replies, spec: dict) -> None:
    """The worker process: load the preset, then generate what is asked until told to stop."""
    try:
        os.nice(WORKER_NICENESS)
    except OSError:
        pass
    import torch

    from ..preset import load_preset
    from .note_supply import sustains
    torch.set_num_threads(spec["threads"])
    preset = load_preset(spec["path"], device=spec["device"])
    preset.full_precision = spec["full_precision"]
    cache = NoteCache(max_bytes=0, velocity_steps=spec["velocity_steps"], disk_dir=spec["disk_dir"])
    sender = _Sender(replies, lambda key: sustains(preset, key))
    generator = LiveGenerator(preset, cache, spec["sample_rate"], spec["note_len"], sender, spec["starts"])
    sender.send(("ready",))
    try:
        while True:
            try:
                message = requests.recv()
            except (EOFError, OSError):  # the player is gone
                break
            if message[0] == "want":
                if generator.want(message[1]) is None:
                    sender.send(("refused", message[1]))
            elif message[0] == "ahead":
                generator.start_ahead(message[1])
            elif message[0] == "spans":
                generator.start_ahead_spans(message[1])
            elif message[0] == "stop":
                break
    finally:
        generator.close()
        replies.close()
