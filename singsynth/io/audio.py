"""Audio output: a lock-free ring buffer that a producer fills and a sounddevice callback drains."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np

from ..errors import UsageError

logger = logging.getLogger(__name__)


class AudioDeviceError(UsageError):
    """No usable audio output; the message is one line saying what to do instead."""


class RingBuffer:
    """Single-producer single-consumer ring of float32 frames [capacity, channels].

    Each side only ever writes its own counter (`written` by the producer, `read` by the consumer),
    and both counters only grow, so no lock is needed: under the GIL an int store is atomic, and the
    producer copies the samples in before it publishes the new `written`.
    """

    def __init__(self, capacity: int, channels: int = 2):
        if capacity <= 0 or channels <= 0:
            raise ValueError(f"capacity and channels must be positive, got {capacity} and {channels}")
        self.capacity = capacity
        self.channels = channels
        self.buffer = np.zeros((capacity, channels), dtype=np.float32)
        self.written = 0  # frames ever written (producer)
        self.read = 0  # frames ever handed to the device, silence included (consumer)
        self.underruns = 0  # callbacks that found fewer frames than the device asked for
        self.missing = 0  # frames of silence those underruns played
        self.armed = False  # underruns count only once the producer has started
        # the device's last read, (when by time.monotonic(), how many frames), stored at once so the producer
        # never sees one without the other: it plays those frames from then on
        self.last_read = (0.0, 0)

    def available(self) -> int:
        """Frames written and not yet handed to the device."""
        return self.written - self.read

    def queued(self, sample_rate: int, now: float | None = None) -> float:
        """Frames still to be heard: those not yet handed to the device, and what remains of the last read,
        which the device plays from the moment it took it."""
        now = time.monotonic() if now is None else now
        at, frames = self.last_read
        return self.available() + max(0.0, frames - (now - at) * sample_rate)

    def free(self) -> int:
        return self.capacity - (self.written - self.read)

    def write(self, block: np.ndarray) -> int:
        """Copy as many frames of block [n, channels] as fit; returns how many were written."""
        n = min(len(block), self.free())
        if n <= 0:
            return 0
        start = self.written % self.capacity
        first = min(n, self.capacity - start)
        self.buffer[start:start + first] = block[:first]
        if first < n:
            self.buffer[:n - first] = block[first:n]
        self.written += n  # publish only after the copy
        self.armed = True
        return n

    def read_into(self, out: np.ndarray) -> int:
        """Fill out [frames, channels] from the ring, silence for what is missing; returns frames copied.

        Runs in the audio callback, so it only copies into memory that already exists.
        """
        frames = len(out)
        n = min(frames, self.written - self.read)  # one snapshot of `written`: it may grow meanwhile
        if n > 0:
            start = self.read % self.capacity
            first = min(n, self.capacity - start)
            out[:first] = self.buffer[start:start + first]
            if first < n:
                out[first:n] = self.buffer[:n - first]
            self.read += n
        else:
            n = 0
        self.last_read = (time.monotonic(), frames)
        if n < frames:
            out[n:] = 0
            if self.armed:
                self.underruns += 1
                self.missing += frames - n
        return n

    def callback(self, outdata: np.ndarray, frames: int, time, status) -> None:
        """sounddevice OutputStream callback."""
        self.read_into(outdata)


@dataclass(frozen=True)
class OutputDevice:
    index: int
    name: str
    hostapi: str
    channels: int
    default_samplerate: float


def _sounddevice():
    """Import sounddevice lazily: without PortAudio it raises OSError on import."""
    try:
        import sounddevice as sd
    except (OSError, ImportError) as exc:
        raise AudioDeviceError(f"no audio output: PortAudio is not available ({exc}); "
                               "use `singsynth render` to write a WAV file instead") from None
    return sd


def list_outputs() -> list[OutputDevice]:
    """Audio output devices as PortAudio numbers them."""
    sd = _sounddevice()
    hostapis = sd.query_hostapis()
    return [OutputDevice(i, d["name"], hostapis[d["hostapi"]]["name"], d["max_output_channels"],
                         d["default_samplerate"])
            for i, d in enumerate(sd.query_devices()) if d["max_output_channels"] > 0]


def find_output(spec: str | int | None) -> OutputDevice:
    """An output device by number, exact name or unique name substring; None: the default output."""
    sd = _sounddevice()
    outputs = list_outputs()
    if not outputs:
        raise AudioDeviceError("no audio output device found; use `singsynth render` to write a WAV file instead")
    known = "; ".join(f"{d.index}: {d.name}" for d in outputs)
    if spec is None or spec == "":
        default = sd.default.device[1]
        if default is None or default < 0:
            try:
                default = sd.query_devices(kind="output")["index"]
            except (sd.PortAudioError, ValueError):
                default = outputs[0].index
        return next((d for d in outputs if d.index == default), outputs[0])
    text = str(spec).strip()
    if text.isdigit():
        match = [d for d in outputs if d.index == int(text)]
    else:
        match = [d for d in outputs if d.name == text] or [d for d in outputs if text.lower() in d.name.lower()]
    if len(match) == 1:
        return match[0]
    what = "matches several outputs" if match else "is not an audio output"
    raise AudioDeviceError(f"audio device {text!r} {what}; outputs are {known}")


def open_output(ring: RingBuffer, device: OutputDevice, samplerate: int | None = None, blocksize: int = 256,
                latency: float | str = "low"):
    """A started-later sounddevice OutputStream that plays `ring`; the caller starts and closes it."""
    sd = _sounddevice()
    rate = int(samplerate or device.default_samplerate)
    try:
        return sd.OutputStream(samplerate=rate, blocksize=blocksize, device=device.index,
                               channels=ring.channels, dtype="float32", latency=latency, callback=ring.callback)
    except (sd.PortAudioError, ValueError) as exc:
        raise AudioDeviceError(f"cannot open audio device {device.index} ({device.name}) at {rate} Hz: {exc}; "
                               "try another --audio-device or --rate, or `singsynth render` to write a WAV file"
                               ) from None
