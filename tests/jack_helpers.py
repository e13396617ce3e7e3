"""A private JACK dummy server and a JACK client that sends MIDI and records audio frame-exactly."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import IO

import numpy as np

JACK_RATE = 48_000
JACK_PERIOD = 256
JACK_MIDI_BACKEND = "mido.backends.rtmidi/UNIX_JACK"
# The command line in this interpreter, as the installed `singsynth` runs it. Not `-m singsynth.cli`: that imports
# cli twice, and the commands' UsageError would not be the one main() catches.
SINGSYNTH = [sys.executable, "-c", "from singsynth.cli import console; console()"]


def jackd_available() -> bool:
    return shutil.which("jackd") is not None


class JackServer:
    """`jackd -d dummy` under a name of its own, so parallel runs and a desktop server never meet.

    A client timeout of 5 s, not 0.5: on a loaded machine the server would otherwise drop a client
    that was merely late, and the test would wait on a synthesizer that no longer plays."""

    def __init__(self, rate: int = JACK_RATE, period: int = JACK_PERIOD, name: str | None = None):
        self.name = name or f"singsynth-{uuid.uuid4().hex[:8]}"
        self.rate = rate
        self.period = period
        self.process: subprocess.Popen | None = None
        self.log: IO[str] | None = None

    @property
    def env(self) -> dict[str, str]:
        """Environment for a child process that should use this server for audio and MIDI."""
        return {**os.environ, "JACK_DEFAULT_SERVER": self.name, "JACK_NO_AUDIO_RESERVATION": "1",
                "MIDO_BACKEND": JACK_MIDI_BACKEND}

    def start(self, timeout: float = 20.0) -> "JackServer":
        # jackd's messages go to a file, not a pipe: a pipe nobody reads fills up over a long run (every
        # late client is logged), and jackd then blocks on the write with the whole graph behind it
        self.log = tempfile.TemporaryFile("w+")
        self.process = subprocess.Popen(
            ["jackd", "--no-realtime", "-n", self.name, "-t", "5000",
             "-d", "dummy", "-r", str(self.rate), "-p", str(self.period)],
            env=self.env, stdout=subprocess.DEVNULL, stderr=self.log, text=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.log.seek(0)
                raise RuntimeError(f"jackd exited with {self.process.returncode}: {self.log.read()[-500:]}")
            probe = subprocess.run(["jack_lsp", "-s", self.name], env=self.env, capture_output=True, text=True)
            if "system:playback_1" in probe.stdout:
                return self
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"jackd server {self.name} did not come up in {timeout:.0f} s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        if self.log is not None:
            self.log.close()
            self.log = None


class Rig:
    """One JACK client: a MIDI output sending events at exact frames and two recorded audio inputs.

    Sending and recording share one frame counter (frames since arm()), so the recorded frame of a
    sound minus the frame its note-on was sent is the round trip through the synthesizer, in frames.
    """

    def __init__(self, server: JackServer, seconds: float, name: str = "rig"):
        import jack
        os.environ["JACK_DEFAULT_SERVER"] = server.name
        self.client = jack.Client(name, servername=server.name, no_start_server=True)
        self.rate = self.client.samplerate
        self.midi_out = self.client.midi_outports.register("midi_out")
        self.inputs = [self.client.inports.register(f"in_{i + 1}") for i in range(2)]
        self.audio = np.zeros((int(seconds * self.rate), 2), np.float32)
        self.events: list[tuple[int, bytes]] = []
        self.position = 0
        self.armed = False
        self.finished = threading.Event()
        self.xruns = 0
        self.client.set_process_callback(self._process)
        self.client.set_xrun_callback(self._xrun)
        self.client.activate()

    def _xrun(self, delay: float) -> None:
        self.xruns += 1

    def _process(self, frames: int) -> None:
        self.midi_out.clear_buffer()
        if not self.armed or self.finished.is_set():
            return
        start = self.position
        for frame, data in self.events:
            if start <= frame < start + frames:
                self.midi_out.write_midi_event(frame - start, data)
        n = min(frames, len(self.audio) - start)
        for channel, port in enumerate(self.inputs):
            self.audio[start:start + n, channel] = port.get_array()[:n]
        self.position = start + frames
        if self.position >= len(self.audio):
            self.finished.set()

    def ports(self, *, is_audio: bool = False, is_midi: bool = False, is_input: bool = False,
              is_output: bool = False, pattern: str = "") -> list[str]:
        return [p.name for p in self.client.get_ports(pattern, is_audio=is_audio, is_midi=is_midi,
                                                      is_input=is_input, is_output=is_output)]

    def wait_for_ports(self, pattern: str, timeout: float, process: subprocess.Popen | None = None,
                       **kinds) -> list[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.ports(pattern=pattern, **kinds)
            if found:
                return found
            if process is not None and process.poll() is not None:
                raise RuntimeError(f"process exited with {process.returncode} before port {pattern!r} appeared")
            time.sleep(0.1)
        raise RuntimeError(f"no JACK port matching {pattern!r} after {timeout:.0f} s")

    def connect(self, midi_to: str, audio_from: list[str]) -> None:
        self.client.connect(self.midi_out, midi_to)
        for source, port in zip(audio_from, self.inputs):
            self.client.connect(source, port)

    def play(self, events: list[tuple[int, bytes]], timeout: float) -> np.ndarray:
        """Send (frame, MIDI bytes) events, record until the buffer is full; frame 0 is now."""
        self.events = sorted(events)
        self.position = 0
        self.finished.clear()
        self.armed = True
        if not self.finished.wait(timeout):
            raise RuntimeError(f"recording did not finish in {timeout:.0f} s (JACK stalled?)")
        self.armed = False
        return self.audio.copy()

    def close(self) -> None:
        self.client.deactivate()
        self.client.close()


def stop_process(proc: subprocess.Popen) -> None:
    """Ask a singsynth or FluidSynth process to stop as a user would (SIGTERM), kill it if it hangs."""
    if proc.poll() is None:
        if proc.stdin is not None:
            proc.stdin.close()
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()


def onsets(audio: np.ndarray, rate: int, threshold: float, min_gap: float = 0.1, hop: int = 64) -> list[int]:
    """Frames where the sound rises above `threshold` after at least `min_gap` seconds below it."""
    level = np.abs(audio).max(axis=1) if audio.ndim == 2 else np.abs(audio)
    frames = len(level) // hop
    loud = level[:frames * hop].reshape(frames, hop).max(axis=1) > threshold
    found, quiet = [], int(min_gap * rate / hop)
    silent_for = quiet
    for i, is_loud in enumerate(loud):
        if is_loud:
            if silent_for >= quiet:
                first = np.flatnonzero(level[i * hop:(i + 1) * hop] > threshold)[0]
                found.append(i * hop + int(first))
            silent_for = 0
        else:
            silent_for += 1
    return found


def first_sound(audio: np.ndarray, start: int, threshold: float) -> int | None:
    """First frame at or after `start` whose level exceeds threshold, or None."""
    level = np.abs(audio[start:]).max(axis=1) if audio.ndim == 2 else np.abs(audio[start:])
    hits = np.flatnonzero(level > threshold)
    return start + int(hits[0]) if len(hits) else None


def log_spectrum(segment: np.ndarray) -> np.ndarray:
    """Mean-free log magnitude spectrum of a mono segment, unit norm: compares timbre, not level."""
    segment = segment - segment.mean()
    spectrum = np.log(1e-6 + np.abs(np.fft.rfft(segment * np.hanning(len(segment)))))
    spectrum -= spectrum.mean()
    return spectrum / (np.linalg.norm(spectrum) + 1e-12)


def read_recording(path: Path) -> tuple[np.ndarray, int]:
    """16-bit or float WAV -> float32 [frames, channels], rate."""
    import wave
    with wave.open(str(path), "rb") as f:
        rate, channels, width = f.getframerate(), f.getnchannels(), f.getsampwidth()
        data = f.readframes(f.getnframes())
    if width == 2:
        audio = np.frombuffer(data, "<i2").astype(np.float32) / 32768
    elif width == 3:
        raw = np.frombuffer(data, np.uint8).reshape(-1, 3)
        audio = ((raw[:, 0].astype(np.int32) | raw[:, 1].astype(np.int32) << 8
                  | raw[:, 2].astype(np.int8).astype(np.int32) << 16) / 8388608).astype(np.float32)
    elif width == 4:
        audio = np.frombuffer(data, "<i4").astype(np.float32) / 2147483648
    else:
        raise ValueError(f"{path}: {width}-byte samples")
    return audio.reshape(-1, channels), rate


def make_tiny_preset(folder: Path, seed: int = 0) -> Path:
    """A 'sing-unittest' preset with random weights: deterministic, audible, quick to generate."""
    import torch

    from singsynth.model.config import get_config
    from singsynth.model.sing import SING
    from singsynth.preset import Instrument, save_preset
    instruments = [Instrument(0, "Flute", "test_flute", 73), Instrument(1, "Violin", "test_violin", 40),
                   Instrument(2, "Acoustic Grand Piano", "test_piano", 0)]
    torch.manual_seed(seed)
    model = SING(get_config("sing-unittest", n_instruments=len(instruments)))
    # random weights peak near 0.03: lift them to a level a level meter can tell from silence
    return save_preset(folder, model, instruments, {"name": "jack-test", "license": "MIT"}, output_gain=10.0)
