"""Ring buffer: order, wrap-around, underruns, and a real producer thread against a consumer thread."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from singsynth.io.audio import RingBuffer


def ramp(start: int, n: int, channels: int = 2) -> np.ndarray:
    """Frames whose value is their global frame number (so any loss or reordering shows)."""
    return np.repeat(np.arange(start, start + n, dtype=np.float32)[:, None], channels, axis=1)


def test_write_then_read_keeps_order_across_wraparound():
    ring = RingBuffer(10)
    out = np.empty((4, 2), np.float32)
    position = 0
    received = []
    for step in range(20):  # 20 * 3 frames through a ring of 10 wraps many times
        assert ring.write(ramp(position, 3)) == 3
        position += 3
        if step % 2:
            while ring.available() >= 4:
                assert ring.read_into(out) == 4
                received.append(out[:, 0].copy())
    got = np.concatenate(received)
    np.testing.assert_array_equal(got, np.arange(len(got), dtype=np.float32))
    assert ring.underruns == 0


def test_write_stops_when_full():
    ring = RingBuffer(8)
    assert ring.write(ramp(0, 6)) == 6
    assert ring.write(ramp(6, 6)) == 2  # only the free space is taken
    assert ring.free() == 0
    out = np.empty((8, 2), np.float32)
    ring.read_into(out)
    np.testing.assert_array_equal(out[:, 1], np.arange(8))


def test_underrun_plays_silence_and_is_counted():
    ring = RingBuffer(16)
    out = np.full((4, 2), 7.0, np.float32)
    assert ring.read_into(out) == 0
    assert ring.underruns == 0, "silence before the producer starts is not an underrun"
    ring.write(ramp(1, 3))
    out[:] = 7.0
    assert ring.read_into(out) == 3
    np.testing.assert_array_equal(out[:, 0], [1, 2, 3, 0])
    assert (ring.underruns, ring.missing) == (1, 1)
    ring.read_into(out)
    assert (ring.underruns, ring.missing) == (2, 5)
    # the producer catches up: playback resumes with the next frames, none skipped or repeated
    ring.write(ramp(4, 4))
    ring.read_into(out)
    np.testing.assert_array_equal(out[:, 0], [4, 5, 6, 7])
    assert ring.underruns == 2


def test_callback_signature_fills_outdata():
    ring = RingBuffer(32, channels=1)
    ring.write(ramp(0, 5, channels=1))
    outdata = np.empty((8, 1), np.float32)
    ring.callback(outdata, 8, None, None)
    np.testing.assert_array_equal(outdata[:, 0], [0, 1, 2, 3, 4, 0, 0, 0])


@pytest.mark.parametrize("capacity", [0, -1])
def test_rejects_empty_ring(capacity):
    with pytest.raises(ValueError):
        RingBuffer(capacity)


def test_threads_lose_nothing():
    """A producer and a consumer thread at different block sizes: every frame arrives once, in order."""
    ring = RingBuffer(97)  # a prime, so blocks never line up with the wrap
    total = 50_000
    received = np.empty(total + 64, np.float32)
    done = threading.Event()

    def produce():
        position = 0
        while position < total:
            n = min(37, total - position)
            written = ring.write(ramp(position, n))
            position += written
            if written < n:
                time.sleep(0)

    def consume():
        out = np.empty((23, 2), np.float32)
        got = 0
        while got < total:
            n = ring.read_into(out)
            received[got:got + n] = out[:n, 0]
            got += n
            if n == 0:
                time.sleep(0)
        done.set()

    threads = [threading.Thread(target=produce), threading.Thread(target=consume)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert done.is_set()
    np.testing.assert_array_equal(received[:total], np.arange(total, dtype=np.float32))
