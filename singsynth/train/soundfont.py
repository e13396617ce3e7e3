"""Render an NSynth-format data set from General MIDI SoundFonts with FluidSynth, resumably and in parallel.

FluidSynth's side: fluid_render.py; the folder's state: render_state.py; the rendering processes: render_workers.py.
"""
from __future__ import annotations

import logging
import multiprocessing
import os
import re
import sys
import time
from pathlib import Path

import numpy as np

from .. import gm
from ..model.config import SAMPLE_RATE, VELOCITY_CLASSES
from ..preset import Instrument
from .data import AUDIO_DIR, DATA_RATES, EXAMPLES_FILE, DataError
from .fluid_render import FluidRenderer, check_soundfont, fluidsynth_preset
from .render_state import (SILENT_DIR, TMP_SUFFIX, build_examples, load_state, note_name, save_state, well_formed,
                           write_json)
from .render_workers import close_worker, init_worker, render_task

logger = logging.getLogger(__name__)

FULL_PITCHES = (21, 108)


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
    state = load_state(out, rate)
    for _, inst in plan:
        state["instruments"][inst.id] = inst
    save_state(out, state)
    # What a killed run left half-written; never renamed into place, so never read.
    for entry in os.scandir(out / AUDIO_DIR):
        if entry.name.endswith(TMP_SUFFIX):
            os.unlink(entry.path)

    done = set(os.listdir(out / SILENT_DIR))
    done |= {e.name[:-4] for e in os.scandir(out / AUDIO_DIR) if well_formed(Path(e.path), rate)}
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
            init_worker(names)
            results = map(render_task, tasks)
            pool = None
        else:
            # spawn: the parent has touched libfluidsynth, whose state must not be forked
            pool = multiprocessing.get_context("spawn").Pool(
                jobs, init_worker, (names, logging.getLogger().getEffectiveLevel(), os.getpid()))
            results = pool.imap_unordered(render_task, tasks, chunksize=4)
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
                close_worker()

    examples = build_examples(out)
    write_json(out / EXAMPLES_FILE, examples)
    if counts["clipped"]:
        logger.warning("%d notes clipped (this SoundFont is louder than SYNTH_GAIN allows)", counts["clipped"])
    summary = {"out": str(out), "notes": len(examples), **counts, "skipped": skipped,
               "silent_total": len(os.listdir(out / SILENT_DIR)),
               "instruments": len({e["instrument_str"] for e in examples.values()}),
               "seconds": round(time.monotonic() - start, 2)}
    logger.debug("render summary: %s", summary)
    return summary
