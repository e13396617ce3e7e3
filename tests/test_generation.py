"""The live generation thread: batches under way at once, the most urgent advanced first.

The chunks here are made-up arrays handed out at a set pace, not the model's, so that when each batch
advances is under the test's control; the model's own stream is tested in test_model.py and test_harmonic.py."""
from __future__ import annotations

import threading
import time

import numpy as np

from singsynth.synth.cache import Note
from singsynth.synth.generation import GenerationThread, StreamingBatch

RATE = 16_000
CHUNK = 256


def paced_chunks(count: int, seconds: float):
    for _ in range(count):
        time.sleep(seconds)
        yield np.full((1, CHUNK), 0.25, dtype=np.float32)


class Starter:
    """start_batch for the thread: batch "slow" has many chunks, every other batch a few."""

    def __init__(self):
        self.notes: dict[str, Note] = {}
        self.done: dict[str, threading.Event] = {}

    def __call__(self, keys):
        name = keys[0]
        count = 200 if name == "slow" else 3
        note = self.notes[name] = Note(np.zeros(count * CHUNK, dtype=np.float32), ready=0)
        done = self.done[name] = threading.Event()
        return [StreamingBatch([note], paced_chunks(count, 0.002), RATE, RATE, done.set)]


def wait_for(condition, seconds: float = 10.0) -> None:
    end = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.001)


def test_a_note_queued_while_another_streams_starts_before_that_one_ends():
    starter = Starter()
    thread = GenerationThread(starter, max_batch=4)
    try:
        thread.queue.put("slow")
        wait_for(lambda: "slow" in starter.notes and starter.notes["slow"].ready > 0)
        thread.queue.put("new")
        wait_for(lambda: starter.done.get("new") is not None and starter.done["new"].is_set())
        assert not starter.done["slow"].is_set(), "the new note waited for the slow batch to end"
        assert np.all(starter.notes["new"].data == np.float32(0.25))  # all of it written, resampled 1:1
    finally:
        thread.stop()
    assert starter.done["slow"].is_set(), "stop() finishes the batches under way"
    assert starter.notes["slow"].ready == len(starter.notes["slow"].data)


def test_the_batch_with_least_audio_ahead_goes_first():
    now = time.perf_counter()
    ahead = StreamingBatch([Note(np.zeros(1), ready=0)], iter(()), RATE, RATE, lambda: None)
    behind = StreamingBatch([Note(np.zeros(1), ready=0)], iter(()), RATE, RATE, lambda: None)
    ahead.made = RATE  # one second made
    behind.made = RATE // 10
    assert ahead.ahead(now) > behind.ahead(now)
    assert min([ahead, behind], key=lambda b: b.ahead(now)) is behind


def test_a_failing_stream_leaves_silence_and_finishes():
    def broken():
        yield np.ones((1, CHUNK), dtype=np.float32)
        raise RuntimeError("model failed")

    note = Note(np.zeros(4 * CHUNK, dtype=np.float32), ready=0)
    done = threading.Event()
    batch = StreamingBatch([note], broken(), RATE, RATE, done.set)
    assert batch.advance() is True
    assert not batch.advance()
    assert done.is_set() and not note.data.any()


def test_a_first_chunk_of_first_output_after_samples_sounds_and_one_shorter_does_not():
    from singsynth.synth.resample import StreamResampler, first_output_after
    for out_rate in (48_000, 44_100):
        need = first_output_after(RATE, out_rate)
        note = np.random.default_rng(0).standard_normal((1, need)).astype(np.float32)
        assert StreamResampler(1, RATE, out_rate)(note).shape[1] > 0
        assert StreamResampler(1, RATE, out_rate)(note[:, :need - 16]).shape[1] == 0
    assert first_output_after(RATE, RATE) == 1
