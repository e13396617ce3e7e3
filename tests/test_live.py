"""The live path without a device: the bounded MIDI event queue, events per block, the status line, --device."""
import io
import logging
import threading
from pathlib import Path

import mido
import numpy as np
import pytest

from singsynth.commands._live import StatusLine
from singsynth.io.audio import RingBuffer
from singsynth.io.midi_ports import EventQueue, stamping
from singsynth.synth import live
from singsynth.synth.live import Producer


def on(note, channel=0):
    return mido.Message("note_on", channel=channel, note=note, velocity=100)


def off(note, channel=0):
    return mido.Message("note_off", channel=channel, note=note)


def cc(control, value, channel=0):
    return mido.Message("control_change", channel=channel, control=control, value=value)


def test_a_flood_stays_bounded_and_note_offs_and_all_notes_off_still_arrive():
    events = EventQueue(maxsize=100)
    put = stamping(events, clock=lambda: 0.0)
    for i in range(100):
        put(on(i % 128))
    for _ in range(20_000):  # the flood: far more than the queue holds
        for key in range(60, 72):
            put(on(key))
            put(off(key))
        put(mido.Message("pitchwheel", pitch=100))
    put(cc(64, 0))
    put(cc(123, 0))
    assert len(events) <= 100 + 12 + 3  # the queue, then one message per (channel, kind, key)
    assert events.dropped == 20_000 * 12
    taken = [m for _, m in events.take()]
    assert len(events) == 0
    assert taken[:100] == [on(i) for i in range(100)]  # what was queued comes first, in order
    rest = taken[100:]
    assert {m.note for m in rest if m.type == "note_off"} == set(range(60, 72))
    assert rest[-2:] == [cc(64, 0), cc(123, 0)]  # the last to arrive stay last


def test_a_system_reset_in_a_flood_still_arrives_and_other_sysex_may_be_dropped():
    events = EventQueue(maxsize=10)
    put = stamping(events, clock=lambda: 0.0)
    for i in range(10):
        put(on(i))
    put(mido.Message("sysex", data=(0x7E, 0x7F, 0x09, 0x01)))  # GM System On
    put(mido.Message("sysex", data=(0x7E, 0x7F, 0x06, 0x01)))  # an identity request: droppable
    taken = [m for _, m in events.take()]
    assert taken[10:] == [mido.Message("sysex", data=(0x7E, 0x7F, 0x09, 0x01))] and events.dropped == 1


def test_take_honours_the_limit_and_keeps_order():
    events = EventQueue(maxsize=4)
    for key in range(10):
        events.put_nowait((float(key), off(key)))
    first, second = events.take(3), events.take(3)
    rest = events.take()
    assert [m.note for _, m in first + second + rest] == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
    assert [len(first), len(second)] == [3, 3]


class CountingEngine:
    """Records the events of each block; the device takes every frame at once."""

    def __init__(self, ring: RingBuffer, stop: threading.Event, blocks: int):
        self.ring, self.stop, self.blocks, self.calls = ring, stop, blocks, []
        self.idle, self.stats = True, {}

    def process(self, events, frames):
        self.calls.append(list(events))
        self.ring.read = self.ring.written
        if len(self.calls) >= self.blocks:
            self.stop.set()
        return np.zeros((frames, 2), dtype=np.float32)

    def all_notes_off(self):
        pass

    def all_sound_off(self):
        pass


def test_run_live_places_a_bounded_number_of_events_per_block():
    ring, stop = RingBuffer(4096), threading.Event()
    engine = CountingEngine(ring, stop, blocks=4)
    events = EventQueue(maxsize=10_000)
    for i in range(3 * live.MAX_EVENTS_PER_BLOCK):
        events.put_nowait((0.0, on(i % 128)))
    Producer(engine, ring, 48000, block=256).run_live(events, stop, clock=lambda: 0.0)
    counts = [len(c) for c in engine.calls[:4]]
    assert counts == [live.MAX_EVENTS_PER_BLOCK] * 3 + [0]


def test_events_land_as_soon_as_they_can_keeping_their_spacing():
    ring, stop = RingBuffer(4096), threading.Event()
    engine = CountingEngine(ring, stop, blocks=1)
    events = EventQueue()
    now, rate = 10.0, 48000
    # arrived 2 ms and 1 ms before the block is made, and one that waited two periods (late)
    events.put_nowait((now - 0.002, on(60)))
    events.put_nowait((now - 0.001, on(64)))
    producer = Producer(engine, ring, rate, block=256)
    producer.run_live(events, stop, clock=lambda: now)
    assert [offset for offset, _ in engine.calls[0]] == [0, 48]
    ring, stop = RingBuffer(4096), threading.Event()
    engine = CountingEngine(ring, stop, blocks=1)
    events.put_nowait((now - 2 * 256 / rate, on(60)))
    events.put_nowait((now - 0.001, on(64)))
    producer = Producer(engine, ring, rate, block=256)
    producer.run_live(events, stop, clock=lambda: now)
    assert [offset for offset, _ in engine.calls[0]] == [0, 208]  # the late one first, the other a period on
    assert producer.summary.late_events == 1


def test_the_next_block_is_made_once_less_than_the_target_is_left_to_play():
    ring = RingBuffer(4096)
    ring.write(np.zeros((256, 2), dtype=np.float32))
    ring.read_into(np.zeros((256, 2), dtype=np.float32))  # the device took a block: it plays for 256 frames
    ring.write(np.zeros((256, 2), dtype=np.float32))
    taken, frame = ring.last_read[0], 1 / 48000
    assert ring.queued(48000, now=taken) == 512
    assert ring.queued(48000, now=taken + 128 * frame) == pytest.approx(384)
    assert ring.queued(48000, now=taken + 1.0) == 256  # the block taken has played
    producer = Producer(CountingEngine(ring, threading.Event(), 1), ring, 48000, block=256, target_blocks=1.5)
    assert not producer.due(now=taken)  # a block and a half still to play, and the next read is there
    assert not producer.due(now=taken + 120 * frame)
    assert producer.due(now=taken + 136 * frame)  # half a period on: under 1.5 blocks left
    ring.read_into(np.zeros((256, 2), dtype=np.float32))
    assert producer.due(now=ring.last_read[0])  # the next read would find nothing


class ColdEngine(CountingEngine):
    """A note-on's note has no sound for the first `cold_checks` questions; the device keeps one block queued."""

    def __init__(self, ring, stop, blocks, cold_checks):
        super().__init__(ring, stop, blocks)
        self.cold_checks, self.checks = cold_checks, 0

    def notes_ready(self, events):
        self.checks += 1
        return self.checks > self.cold_checks

    def process(self, events, frames):
        out = super().process(events, frames)
        self.ring.read = self.ring.written - 256  # one block stays queued: waiting is safe
        return out


@pytest.mark.parametrize("cold_checks, waits_to_the_deadline", [(3, False), (10**9, True)])
def test_a_block_with_a_cold_note_waits_for_its_first_chunk_but_never_past_the_deadline(cold_checks,
                                                                                       waits_to_the_deadline):
    ring, stop = RingBuffer(4096), threading.Event()
    engine = ColdEngine(ring, stop, blocks=2, cold_checks=cold_checks)
    ring.write(np.zeros((256, 2), dtype=np.float32))  # the block the device is about to play
    events = EventQueue()
    events.put_nowait((0.0, on(60)))
    ticks = iter(range(10**9))
    clock = lambda: next(ticks) * 1e-4  # noqa: E731 -- 0.1 ms a reading: the deadline is half a 5.3 ms block
    Producer(engine, ring, 48000, block=256, target_blocks=2).run_live(events, stop, clock=clock)
    assert engine.calls[0] and engine.calls[0][0][1].type == "note_on"
    if waits_to_the_deadline:
        assert 10 <= engine.checks <= 40  # gave up at the deadline, then mixed the block anyway
    else:
        assert engine.checks == cold_checks + 1


def test_log_messages_do_not_land_on_the_status_line():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    log = logging.getLogger("singsynth.test_status")
    log.addHandler(handler)
    log.propagate = False
    status = StatusLine(stream)
    try:
        with status.attached([handler]):
            status("voices   3 | cache 1 hits 0 misses")
            log.warning("preset has no GM program 0")
            status("voices   4 | cache 2 hits 0 misses")
    finally:
        log.removeHandler(handler)
    lines = stream.getvalue().split("\n")
    assert [line.split("\r")[-1] for line in lines] == ["preset has no GM program 0",
                                                        "voices   4 | cache 2 hits 0 misses", ""]


@pytest.mark.parametrize("command", ["play", "listen"])
def test_device_cuda_without_cuda_is_one_line_and_exit_2(command, tmp_path, capsys):
    import torch
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    from singsynth.cli import main
    argv = [command] + ([str(Path(__file__).parents[1] / "examples" / "demo.mid")] if command == "play" else []) + ["--device", "cuda",
                                                                             "--preset", str(tmp_path)]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--device cuda" in err[0]


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf", "65"])
def test_a_buffer_out_of_range_is_one_line_before_anything_loads(value, tmp_path, capsys):
    from singsynth.cli import main
    assert main(["listen", "--buffer", value, "--preset", str(tmp_path / "no-such-preset")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--buffer" in err[0]
