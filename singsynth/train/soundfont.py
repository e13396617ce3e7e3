"""Render an NSynth-format data set from General MIDI SoundFonts with FluidSynth, resumably and in parallel."""
from __future__ import annotations

import ctypes
import json
import logging
import multiprocessing
import os
import re
import signal
import sys
import time
from pathlib import Path

import numpy as np

from .. import gm
from ..model.config import SAMPLE_RATE, VELOCITY_CLASSES
from ..preset import Instrument
from .data import AUDIO_DIR, DATA_RATES, EXAMPLES_FILE, DataError, note_samples, write_wav

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
FULL_PITCHES = (21, 108)

STATE_FILE = "render.json"  # instruments and settings, so examples.json can be rebuilt from the files
SILENT_DIR = ".silent"  # one empty marker per note found silent, so it is not rendered again
TMP_SUFFIX = ".tmp"
NOTE_FILE = re.compile(r"^(?P<id>[a-z0-9_]+)-(?P<pitch>\d{3})-(?P<velocity>\d{3})\.wav$")


def render_settings(rate: int) -> dict:
    """What a data set folder was rendered with; a folder is resumed only with the same settings."""
    return {"render_rate": RENDER_RATE, "hold_seconds": HOLD_SECONDS, "release_seconds": RELEASE_SECONDS,
            "synth_gain": SYNTH_GAIN, "silence_dbfs": SILENCE_DBFS, "sample_rate": rate,
            "reverb": False, "chorus": False, "isolation": "fresh synth per note"}


def fluidsynth_preset(inst: Instrument) -> tuple[int, int, int]:
    """(bank, preset, MIDI channel) that play this instrument in a General MIDI SoundFont."""
    if inst.drums:
        return DRUM_BANK, DRUM_PRESET, gm.DRUM_CHANNEL
    return 0, int(inst.gm_program), MELODIC_CHANNEL


# render.json keeps each instrument as these fields
STATE_FIELDS = ("id", "name", "gm_program", "drums", "soundfont", "family")


def _state_entry(inst: Instrument) -> dict:
    return {"id": inst.id, "name": inst.name, "gm_program": inst.gm_program, "drums": inst.drums,
            "soundfont": inst.source, "family": inst.family}


def _from_state(index: int, entry: dict) -> Instrument:
    if set(entry) != set(STATE_FIELDS):
        raise KeyError(f"instrument fields {sorted(entry)}")
    return Instrument(index, entry["name"], entry["id"], entry["gm_program"], bool(entry["drums"]),
                      source=entry["soundfont"], family=entry["family"])


def soundfont_slug(path: Path) -> str:
    """'FluidR3Mono_GM.sf3' -> 'fluidr3mono': the prefix of its instrument ids (a trailing GM/GS tag says nothing)."""
    name = gm.slug(path.stem)
    short = re.sub(r"(_(gm|gs|xg))+$", "", name)
    return short or name or "soundfont"


def soundfont_instruments(soundfont: Path, programs: list[int], drums: bool) -> list[Instrument]:
    """The General MIDI programs (and the drum kit) of one SoundFont, as the instruments of a data set."""
    prefix = soundfont_slug(soundfont)
    out = [Instrument(k, gm.PROGRAMS[p], f"{prefix}_{gm.slug(gm.PROGRAMS[p])}", p, source=soundfont.name,
                      family=gm.FAMILIES[gm.family(p)]) for k, p in enumerate(programs)]
    if drums:
        out.append(Instrument(len(out), gm.DRUM_KIT_NAME, f"{prefix}_{gm.slug(gm.DRUM_KIT_NAME)}", None, drums=True,
                              pitch_range=gm.DRUM_KEYS, source=soundfont.name, family="drums"))
    return out


# --- FluidSynth ---------------------------------------------------------------------------------------------

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


def to_int16(audio: np.ndarray) -> tuple[np.ndarray, bool]:
    """Clip-safe conversion; also says whether anything clipped."""
    scaled = np.round(audio * 32768.0)
    clipped = bool((scaled > 32767).any() or (scaled < -32768).any())
    return np.clip(scaled, -32768, 32767).astype(np.int16), clipped


def peak_dbfs(audio: np.ndarray) -> float:
    peak = float(np.abs(audio.astype(np.float32)).max()) / 32768.0
    return 20 * np.log10(peak) if peak > 0 else -np.inf


# --- workers ------------------------------------------------------------------------------------------------

_worker: FluidRenderer | None = None


def _init_worker(soundfonts: list[str], level: int | None = None, parent: int | None = None) -> None:
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


def _close_worker() -> None:
    global _worker
    if _worker is not None:
        _worker.close()
        _worker = None


def _render_task(task: tuple) -> tuple[str, str, bool]:
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


# --- data set -----------------------------------------------------------------------------------------------

def note_name(instrument_id: str, pitch: int, velocity: int) -> str:
    return f"{instrument_id}-{pitch:03d}-{velocity:03d}"


def _write_json(path: Path, value) -> None:
    tmp = path.with_name(path.name + TMP_SUFFIX)
    tmp.write_text(json.dumps(value, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _load_state(out: Path, rate: int | None = None) -> dict:
    """render.json of a folder; `rate`: the rate asked for now (None: whatever the folder holds)."""
    path = out / STATE_FILE
    if not path.exists():
        return {"settings": render_settings(rate or SAMPLE_RATE), "instruments": {}}
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
        state["instruments"] = {k: _from_state(n, v) for n, (k, v) in enumerate(state["instruments"].items())}
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
        raise DataError(f"{path}: damaged render state ({exc}); render into a new folder") from None
    settings = state.get("settings")
    if not isinstance(settings, dict) or settings != render_settings(rate or settings.get("sample_rate", 0)):
        raise DataError(f"{path}: this folder was rendered with other settings ({state.get('settings')}); "
                        "render into a new folder")
    return state


def _save_state(out: Path, state: dict) -> None:
    _write_json(out / STATE_FILE, {"settings": state["settings"],
                                   "instruments": {k: _state_entry(v) for k, v in sorted(state["instruments"].items())}})


def _well_formed(wav: Path, rate: int) -> bool:
    # Renamed into place only when complete, so the size alone tells a finished note.
    try:
        return wav.stat().st_size == 44 + 2 * note_samples(rate)
    except OSError:
        return False


def build_examples(out: Path) -> dict:
    """examples.json from the wavs on disk and the instruments in render.json (after a crash too)."""
    state = _load_state(out)
    instruments: dict[str, Instrument] = state["instruments"]
    rate = int(state["settings"]["sample_rate"])
    found = []
    for entry in os.scandir(out / AUDIO_DIR):
        match = NOTE_FILE.match(entry.name)
        if match and match["id"] in instruments and _well_formed(Path(entry.path), rate):
            found.append((match["id"], int(match["pitch"]), int(match["velocity"])))
    found.sort()
    index = {i: n for n, i in enumerate(sorted({f[0] for f in found}))}
    examples = {}
    for n, (inst_id, pitch, velocity) in enumerate(found):
        inst = instruments[inst_id]
        name = note_name(inst_id, pitch, velocity)
        examples[name] = {
            "note": n, "note_str": name, "instrument": index[inst_id], "instrument_str": inst_id,
            "pitch": pitch, "velocity": velocity, "sample_rate": rate,
            # GM family index 0..15, 16 for drums (NSynth's own family codes do not apply)
            "instrument_family": 16 if inst.drums else gm.family(inst.gm_program),
            "instrument_family_str": inst.family, "instrument_source": 2, "instrument_source_str": "synthetic",
            "qualities": [0] * 10, "qualities_str": [],
            "instrument_name": inst.name, "gm_program": inst.gm_program, "drums": inst.drums,
            "soundfont": inst.source}
    return examples


def _check_arguments(programs: list[int], pitches: tuple[int, int], velocities) -> None:
    bad = [p for p in programs if not (isinstance(p, (int, np.integer)) and 0 <= p <= 127)]
    if bad:
        raise DataError(f"programs must be GM program numbers 0..127, got {bad[:5]}")
    lo, hi = pitches
    if not 0 <= lo <= hi <= 127:
        raise DataError(f"pitches must be a range within 0..127, got {lo}-{hi}")
    bad = [v for v in velocities if not 1 <= int(v) <= 127]
    if bad or not velocities:
        raise DataError(f"velocities must be 1..127, got {list(velocities)}")


def render_dataset(soundfonts: list[Path], out: Path, programs: list[int] | None = None, drums: bool = True,
                   pitches: tuple[int, int] = FULL_PITCHES, velocities=VELOCITY_CLASSES,
                   jobs: int | None = None, progress: bool = True, rate: int = SAMPLE_RATE) -> dict:
    """Render every (program, pitch, velocity) of each SoundFont into an NSynth-format folder of 4 s notes at
    `rate` (16 or 48 kHz).

    Resumable: finished notes (a wav, or a silence marker) are skipped, so a killed run simply restarts.
    Returns a summary: notes in the data set, rendered now, skipped as done, dropped silent, clipped, seconds.
    """
    start = time.monotonic()
    soundfonts = [Path(p).expanduser() for p in soundfonts]
    out = Path(out).expanduser()
    programs = list(range(128)) if programs is None else list(programs)
    velocities = sorted({int(v) for v in velocities})
    _check_arguments(programs, pitches, velocities)
    if rate not in DATA_RATES:  # FluidSynth's own rate, or brought down to SING's 16 kHz
        raise DataError(f"sample rate {rate} Hz: data sets are rendered at {' or '.join(map(str, DATA_RATES))} Hz")
    if not soundfonts:
        raise DataError("no SoundFont given")
    for path in soundfonts:
        check_soundfont(path)
    slugs = [soundfont_slug(p) for p in soundfonts]
    if len(set(slugs)) != len(slugs):
        raise DataError(f"two SoundFonts share the instrument prefix {slugs}; rename one of the files")
    if out.exists() and not out.is_dir():
        raise DataError(f"{out}: exists and is not a folder")

    probe = FluidRenderer(soundfonts)  # also rejects files FluidSynth cannot read, before any work
    try:
        plan: list[tuple[int, Instrument]] = []
        for index, path in enumerate(soundfonts):
            for inst in soundfont_instruments(path, sorted(set(programs)), drums):
                bank, preset, _ = fluidsynth_preset(inst)
                if probe.has_preset(index, bank, preset):
                    plan.append((index, inst))
                else:
                    logger.warning("%s: no preset %d:%d (%s), skipped", path, bank, preset, inst.name)
    finally:
        probe.close()

    (out / AUDIO_DIR).mkdir(parents=True, exist_ok=True)
    (out / SILENT_DIR).mkdir(exist_ok=True)
    state = _load_state(out, rate)
    for _, inst in plan:
        state["instruments"][inst.id] = inst
    _save_state(out, state)
    # What a killed run left half-written; never renamed into place, so never read.
    for entry in os.scandir(out / AUDIO_DIR):
        if entry.name.endswith(TMP_SUFFIX):
            os.unlink(entry.path)

    done = set(os.listdir(out / SILENT_DIR))
    done |= {e.name[:-4] for e in os.scandir(out / AUDIO_DIR) if _well_formed(Path(e.path), rate)}
    tasks, skipped = [], 0
    for index, inst in plan:
        keys = range(max(pitches[0], gm.DRUM_KEYS[0]), min(pitches[1], gm.DRUM_KEYS[1]) + 1) if inst.drums \
            else range(pitches[0], pitches[1] + 1)
        for pitch in keys:
            for velocity in velocities:
                name = note_name(inst.id, pitch, velocity)
                if name in done:
                    skipped += 1
                else:
                    tasks.append((name, index, *fluidsynth_preset(inst), pitch, velocity, str(out), rate))

    counts = {"rendered": 0, "silent": 0, "clipped": 0}
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(tasks)))
    logger.info("%d notes to render, %d already done, %d processes", len(tasks), skipped, jobs)
    if tasks:
        from tqdm import tqdm
        bar = tqdm(total=len(tasks), unit="note", desc="rendering", disable=not progress or not sys.stderr.isatty())
        names = [str(p) for p in soundfonts]
        if jobs == 1:
            _init_worker(names)
            results = map(_render_task, tasks)
            pool = None
        else:
            # spawn: the parent has touched libfluidsynth, whose state must not be forked
            pool = multiprocessing.get_context("spawn").Pool(
                jobs, _init_worker, (names, logging.getLogger().getEffectiveLevel(), os.getpid()))
            results = pool.imap_unordered(_render_task, tasks, chunksize=4)
        try:
            for _, status, clipped in results:
                counts[status] += 1
                counts["clipped"] += clipped
                bar.update()
        finally:
            bar.close()
            if pool is not None:
                pool.terminate()
                pool.join()
            else:
                _close_worker()

    examples = build_examples(out)
    _write_json(out / EXAMPLES_FILE, examples)
    if counts["clipped"]:
        logger.warning("%d notes clipped (this SoundFont is louder than SYNTH_GAIN allows)", counts["clipped"])
    summary = {"out": str(out), "notes": len(examples), **counts, "skipped": skipped,
               "silent_total": len(os.listdir(out / SILENT_DIR)),
               "instruments": len({e["instrument_str"] for e in examples.values()}),
               "seconds": round(time.monotonic() - start, 2)}
    logger.debug("render summary: %s", summary)
    return summary
