"""The live generation thread: batches under way at once, the most urgent advanced first, batches merged.

The streams here are made-up ones handing out known samples at a set pace, not the model's, so that when each
batch advances is under the test's control; the model's own stream is tested in test_model.py,
test_harmonic.py and test_note_starts.py."""
from __future__ import annotations

import threading
import time

import numpy as np

from singsynth.synth.cache import Note
from singsynth.synth.generation import GenerationThread, StreamingBatch

RATE = 16_000
CHUNK = 256
LEAD = 13  # steps before the first sample, as the model's padding and look-ahead


class PacedStream:
    """A NoteStream double: `steps` steps of LEAD silent ones then CHUNK samples of 0.25 each, `pace` seconds a
    chunk; every chunk logged with the notes it was made for."""

    def __init__(self, names: list[str], steps: int, pace: float, log: list, step: int = 0):
        self.names, self.steps, self.pace, self.log, self.step = names, steps, pace, log, step

    def __len__(self) -> int:
        return len(self.names)

    @property
    def done(self) -> bool:
        return self.step >= self.steps

    def first_chunk_steps(self, frames: int) -> int:
        return frames + LEAD

    def chunk(self, steps: int) -> np.ndarray:
        time.sleep(self.pace)
        before, self.step = self.step, min(self.step + steps, self.steps)
        self.log.append((tuple(self.names), self.step))
        samples = (max(self.step - LEAD, 0) - max(before - LEAD, 0)) * CHUNK
        return np.full((len(self.names), samples), 0.25, dtype=np.float32)

    @staticmethod
    def merge(streams: list["PacedStream"]) -> "PacedStream":
        first = streams[0]
        assert len({s.step for s in streams}) == 1
        return PacedStream([n for s in streams for n in s.names], first.steps, first.pace, first.log, first.step)


class Starter:
    """start_batches for the thread: batches "slow" and "later" have many steps, every other batch a few."""

    def __init__(self, pace: float = 0.002):
        self.pace = pace
        self.log: list = []
        self.notes: dict[str, Note] = {}
        self.done: dict[str, threading.Event] = {}

    def __call__(self, keys):
        name = keys[0]
        steps = 400 if name in ("slow", "later") else LEAD + 8
        note = self.notes[name] = Note(np.zeros((steps - LEAD) * CHUNK, dtype=np.float32), ready=0)
        done = self.done[name] = threading.Event()
        return [StreamingBatch([note], PacedStream([name], steps, self.pace, self.log), 1, RATE, RATE,
                               lambda ok: done.set())]


def wait_for(condition, seconds: float = 10.0) -> None:
    end = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.001)


def test_a_note_queued_while_another_streams_starts_before_that_one_ends():
    starter = Starter()
    thread = GenerationThread(starter, max_batch=1)  # batches of one: they cannot merge
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


def test_a_note_played_after_another_catches_up_with_it_and_they_go_on_as_one_batch():
    starter = Starter(pace=0.004)
    thread = GenerationThread(starter, max_batch=4)
    try:
        thread.queue.put("slow")
        wait_for(lambda: "slow" in starter.notes and starter.notes["slow"].ready > 0)
        thread.queue.put("later")
        wait_for(lambda: "later" in starter.done and starter.done["later"].is_set())
    finally:
        thread.stop()
    log = starter.log
    merged = [step for names, step in log if names == ("slow", "later")]
    assert merged, f"never merged: {log[:40]}"
    # once merged, neither was made alone again
    after = log[log.index((("slow", "later"), merged[0])):]
    assert all(names == ("slow", "later") for names, _ in after)
    assert starter.notes["later"].ready == len(starter.notes["later"].data)
    assert np.all(starter.notes["later"].data == np.float32(0.25))


def test_the_batch_with_least_audio_ahead_goes_first():
    now = time.perf_counter()
    log: list = []
    ahead = StreamingBatch([Note(np.zeros(1), ready=0)], PacedStream(["a"], 20, 0, log), 1, RATE, RATE, lambda ok: None)
    behind = StreamingBatch([Note(np.zeros(1), ready=0)], PacedStream(["b"], 20, 0, log), 1, RATE, RATE, lambda ok: None)
    ahead.made = [RATE]  # one second made
    behind.made = [RATE // 10]
    assert ahead.ahead(now) > behind.ahead(now)
    assert min([ahead, behind], key=lambda b: b.ahead(now)) is behind


def test_a_failing_stream_is_finished_as_failed():
    class Broken(PacedStream):
        def chunk(self, steps):
            if self.step:
                raise RuntimeError("model failed")
            return super().chunk(steps)

    note = Note(np.zeros(4 * CHUNK, dtype=np.float32), ready=0)
    results = []
    batch = StreamingBatch([note], Broken(["x"], LEAD + 4, 0, []), 1, RATE, RATE, results.append)
    assert batch.advance() is True
    assert not batch.advance()
    assert results == [False]


def test_a_first_chunk_of_first_output_after_samples_sounds_and_one_shorter_does_not():
    from singsynth.synth.resample import StreamResampler, first_output_after
    for out_rate in (48_000, 44_100):
        need = first_output_after(RATE, out_rate)
        note = np.random.default_rng(0).standard_normal((1, need)).astype(np.float32)
        assert StreamResampler(1, RATE, out_rate)(note).shape[1] > 0
        assert StreamResampler(1, RATE, out_rate)(note[:, :need - 16]).shape[1] == 0
    assert first_output_after(RATE, RATE) == 1
