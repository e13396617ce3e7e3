"""FluidSynth as a renderer of isolated notes: one General MIDI preset, one key, held then released."""
from __future__ import annotations

import ctypes
import logging
from pathlib import Path

import numpy as np

from .. import gm
from ..model.config import SAMPLE_RATE
from ..preset import Instrument
from .data import DataError, note_samples

logger = logging.getLogger(__name__)

# FluidSynth renders at 48 kHz, well above the band kept, and soxr (band-limited) brings it down to 16 kHz.
RENDER_RATE = 48_000
HOLD_SECONDS = 3
RELEASE_SECONDS = 1
# A fixed gain, never a per-note normalisation, so that velocity keeps meaning loudness. FluidSynth's default
# of 0.2 leaves FluidR3's loudest GM program near -16 dBFS; 1.0 puts it near -2.5 dBFS and quiet notes far
# above the 16-bit floor. Louder SoundFonts may clip: those samples are clipped and counted.
SYNTH_GAIN = 1.0
# Notes whose peak stays below this are dropped: many GM programs do not sound at the extreme pitches.
SILENCE_DBFS = -60.0
DRUM_BANK, DRUM_PRESET = 128, 0
MELODIC_CHANNEL = 0


def fluidsynth_preset(inst: Instrument) -> tuple[int, int, int]:
    """(bank, preset, MIDI channel) that play this instrument in a General MIDI SoundFont."""
    if inst.drums:
        return DRUM_BANK, DRUM_PRESET, gm.DRUM_CHANNEL
    return 0, int(inst.gm_program), MELODIC_CHANNEL


_LOG_FUNCTION = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)
_log_callback = None  # kept alive for as long as the library may call it


def _import_fluidsynth():
    global _log_callback
    try:
        import fluidsynth
    except (ImportError, OSError) as exc:
        raise DataError(f"FluidSynth is not available ({exc}); install libfluidsynth3 and "
                        "`pip install pyfluidsynth` (or singsynth[soundfont])") from None
    if _log_callback is None:
        # libfluidsynth prints to stderr by itself; route it through logging so errors stay one line.
        def forward(level: int, message: bytes, _data) -> None:
            logger.debug("fluidsynth: %s", message.decode("utf-8", "replace"))
        _log_callback = _LOG_FUNCTION(forward)
        set_log = fluidsynth._fl.fluid_set_log_function
        set_log.argtypes = [ctypes.c_int, _LOG_FUNCTION, ctypes.c_void_p]
        set_log.restype = ctypes.c_void_p
        for level in range(5):  # panic, error, warning, info, debug
            set_log(level, _log_callback, None)
    return fluidsynth


def check_soundfont(path: Path) -> None:
    """Raise DataError with one line if the file is missing or unreadable."""
    if not path.exists():
        raise DataError(f"{path}: no such SoundFont file")
    if not path.is_file():
        raise DataError(f"{path}: not a file; give a .sf2 or .sf3 SoundFont")
    try:
        with open(path, "rb") as f:
            head = f.read(12)
    except OSError as exc:
        raise DataError(f"{path}: SoundFont is not readable ({exc.strerror or exc})") from None
    # Checked here because other files reach loaders (libinstpatch) that print to stderr before failing.
    if head[:4] != b"RIFF" or head[8:12] != b"sfbk":
        raise DataError(f"{path}: not a SoundFont (no RIFF sfbk header); give a .sf2 or .sf3 file")
    expected, size = int.from_bytes(head[4:8], "little") + 8, path.stat().st_size
    if size < expected:
        raise DataError(f"{path}: truncated SoundFont ({size} of {expected} bytes); download it again")


class FluidRenderer:
    """Renders isolated NSynth-style notes from SoundFonts with FluidSynth, reverb and chorus off.

    Every note gets a fresh synth. all_sounds_off on a long-lived synth leaves no audible tail, but FluidSynth
    reuses voice objects whose state still shapes the next note (measured: up to -22 dB of difference on
    FluidR3's Pad 7 depending on the note played before). A fresh synth costs about 30 ms a note, mostly the
    SoundFont's structure being parsed, and makes a note's audio independent of order and job count.
    """

    def __init__(self, soundfonts: list[Path]):
        self._fluidsynth = _import_fluidsynth()
        self.soundfonts = [Path(p) for p in soundfonts]
        # reused: a fresh 1.5 MB buffer per note costs more in page faults than the synthesis
        self._stereo = np.empty(((HOLD_SECONDS + RELEASE_SECONDS) * RENDER_RATE, 2), np.float32)
        self._write = self._fluidsynth._fl.fluid_synth_write_float
        self._write.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p, ctypes.c_int, ctypes.c_int,
                                ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
        self._write.restype = ctypes.c_int
        # One synth per SoundFont that never plays: checks the file once and answers preset queries.
        self._probes = []
        for path in self.soundfonts:
            check_soundfont(path)
            self._probes.append(self._load(path))

    def _load(self, path: Path):
        # Dynamic sample loading decodes only the preset played; loading all of an .sf3 takes seconds.
        synth = self._fluidsynth.Synth(gain=SYNTH_GAIN, samplerate=RENDER_RATE,
                                       **{"synth.reverb.active": 0, "synth.chorus.active": 0,
                                          "synth.dynamic-sample-loading": 1})
        sfid = synth.sfload(str(path))
        if sfid < 0:
            synth.delete()
            raise DataError(f"{path}: FluidSynth cannot read this SoundFont (not a valid .sf2/.sf3 file?)")
        return synth, sfid

    def has_preset(self, index: int, bank: int, preset: int) -> bool:
        synth, sfid = self._probes[index]
        return synth.sfpreset_name(sfid, bank, preset) is not None

    def _render_into(self, synth, buf: np.ndarray) -> None:
        address = buf.ctypes.data  # interleaved stereo float32 [frames, 2]
        if self._write(synth.synth, len(buf), address, 0, 2, address, 1, 2) != 0:
            raise RuntimeError("fluid_synth_write_float failed")

    def render(self, index: int, bank: int, preset: int, pitch: int, velocity: int,
               channel: int = MELODIC_CHANNEL, rate: int = SAMPLE_RATE) -> np.ndarray:
        """float32 [4 s at `rate`]: held 3 s, released for 1 s, FluidSynth's own level. The note-on lands on the
        first sample, so the note's onset is the data's first sample at either rate."""
        synth, sfid = self._load(self.soundfonts[index])
        try:
            if synth.program_select(channel, sfid, bank, preset) != 0:
                raise DataError(f"{self.soundfonts[index]}: no preset {bank}:{preset}")
            hold = HOLD_SECONDS * RENDER_RATE
            stereo = self._stereo
            synth.noteon(channel, pitch, velocity)
            self._render_into(synth, stereo[:hold])
            synth.noteoff(channel, pitch)
            self._render_into(synth, stereo[hold:])
        finally:
            synth.delete()
        mono = (stereo[:, 0] + stereo[:, 1]) * 0.5
        if rate == RENDER_RATE:
            return mono.copy()
        import soxr
        audio = soxr.resample(mono, RENDER_RATE, rate, quality="VHQ").astype(np.float32)
        samples = note_samples(rate)
        if len(audio) != samples:  # soxr's output length is exact for integer ratios; guard anyway
            audio = np.pad(audio, (0, max(0, samples - len(audio))))[:samples]
        return audio

    def close(self) -> None:
        for synth, _ in self._probes:
            synth.delete()
        self._probes = []
