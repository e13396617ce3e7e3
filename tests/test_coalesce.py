"""Live: controller storms, bends and pressures made one value per block (synth/coalesce.py)."""
from __future__ import annotations

import threading

import mido
import numpy as np
from engine_fixtures import cc, off, on

from singsynth.io.audio import RingBuffer
from singsynth.io.midi_ports import EventQueue
from singsynth.synth.coalesce import coalesce
from singsynth.synth.live import Producer


def bend(value, channel=0):
    return mido.Message("pitchwheel", channel=channel, pitch=value)


def test_only_the_last_value_of_each_controller_and_channel_is_kept_at_its_place():
    events = [(0, cc(7, 10)), (1, cc(7, 20, channel=1)), (2, on(60)), (3, cc(7, 30)), (4, bend(100)),
              (5, bend(-100, channel=2)), (6, bend(200)), (7, cc(10, 5)), (8, off(60))]
    kept = coalesce(events)
    assert [t for t, _ in kept] == [1, 2, 3, 5, 6, 7, 8]
    assert kept[2][1].value == 30 and kept[4][1].pitch == 200


def test_note_offs_pedals_parameter_entry_and_mode_messages_are_never_merged():
    events = [(i, m) for i, m in enumerate([
        on(60), off(60), on(60), off(60),  # a key struck twice
        cc(64, 127), cc(64, 0), cc(64, 127),  # the pedal's every move
        cc(101, 0), cc(100, 0), cc(6, 12), cc(101, 0), cc(100, 1), cc(6, 64),  # bend range, then fine tuning
        cc(123, 0), cc(120, 0), cc(121, 0), cc(123, 0),  # mode messages
        mido.Message("program_change", program=5), mido.Message("program_change", program=6),
        mido.Message("sysex", data=[0x7E, 0x7F, 0x09, 0x01]),
    ])]
    assert coalesce(events) == events


class OneBlock:
    """An engine that records the events of the first block, then asks the producer to stop."""
    idle, stats = True, {}

    def __init__(self, stop: threading.Event):
        self.stop, self.blocks = stop, []

    def process(self, events, frames):
        self.blocks.append(list(events))
        self.stop.set()
        return np.zeros((frames, 2), dtype=np.float32)

    def all_notes_off(self):
        pass

    def all_sound_off(self):
        pass


def test_a_storm_in_the_live_queue_reaches_the_engine_as_one_value_per_block():
    stop = threading.Event()
    engine = OneBlock(stop)
    producer = Producer(engine, RingBuffer(4096, channels=2), 48000, block=256, target_blocks=1.5)
    queue = EventQueue()
    for message in [cc(1, v) for v in range(128)] + [on(60), off(60)] + [bend(v * 10) for v in range(100)]:
        queue.put_nowait((0.0, message))
    summary = producer.run_live(queue, stop, clock=lambda: 0.0)
    first = [m for _, m in engine.blocks[0]]
    assert [m.type for m in first] == ["control_change", "note_on", "note_off", "pitchwheel"]
    assert first[0].value == 127 and first[3].pitch == 990
    assert summary.coalesced == 127 + 99
