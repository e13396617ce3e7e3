"""The processes that render a data set's notes: each loads the synths once, then renders and stores notes."""
from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
from pathlib import Path

import numpy as np

from .data import AUDIO_DIR, write_wav
from .fluid_render import SILENCE_DBFS, FluidRenderer
from .render_state import SILENT_DIR, TMP_SUFFIX


def to_int16(audio: np.ndarray) -> tuple[np.ndarray, bool]:
    """Clip-safe conversion; also says whether anything clipped."""
    scaled = np.round(audio * 32768.0)
    clipped = bool((scaled > 32767).any() or (scaled < -32768).any())
    return np.clip(scaled, -32768, 32767).astype(np.int16), clipped


def peak_dbfs(audio: np.ndarray) -> float:
    peak = float(np.abs(audio.astype(np.float32)).max()) / 32768.0
    return 20 * np.log10(peak) if peak > 0 else -np.inf


_worker: FluidRenderer | None = None


def init_worker(soundfonts: list[str], level: int | None = None, parent: int | None = None) -> None:
    """Load the synths; level and parent (its pid) are given in pool processes only, whose logging and
    lifetime are ours."""
    global _worker
    if level is not None:
        logging.basicConfig(level=level)
    if parent is not None and sys.platform.startswith("linux"):
        # Die with the parent: orphans of a killed run would otherwise race the next run for the same notes.
        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        # A parent killed while this process was still starting sends no signal: the tasks already queued
        # would be rendered by an orphan, after the next run has swept up temporary files.
        if os.getppid() != parent:
            os._exit(1)
    _worker = FluidRenderer([Path(p) for p in soundfonts])


def close_worker() -> None:
    global _worker
    if _worker is not None:
        _worker.close()
        _worker = None


def render_task(task: tuple) -> tuple[str, str, bool]:
    """Render one note and store it: a wav written under a temporary name then renamed, or a silence marker."""
    name, sf_index, bank, preset, channel, pitch, velocity, out, rate = task
    audio, clipped = to_int16(_worker.render(sf_index, bank, preset, pitch, velocity, channel, rate))
    out = Path(out)
    if peak_dbfs(audio) < SILENCE_DBFS:
        (out / SILENT_DIR / name).touch()
        return name, "silent", False
    wav = out / AUDIO_DIR / f"{name}.wav"
    tmp = wav.with_name(f"{wav.name}.{os.getpid()}{TMP_SUFFIX}")
    write_wav(tmp, audio, rate)
    os.replace(tmp, wav)
    return name, "rendered", clipped
