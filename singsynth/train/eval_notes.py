"""Which notes a preset is judged on: the held-out pairs, each note's sampler source, its family, the plotted ones."""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from .. import gm
from ..preset import Preset
from .data import DataError, NSynthData, split_of

logger = logging.getLogger(__name__)

SPLITS = ("train", "valid", "test")


@dataclass(frozen=True)
class EvalNote:
    index: int  # into data.notes
    instrument: int  # into preset.instruments
    source: int  # the sampler's note, into data.notes
    drums: bool


def held_out_pairs(preset: Preset) -> dict[str, set[tuple[str, int]]] | None:
    """The (instrument id, pitch) pairs kept out of training, as stored in the preset, or None."""
    held = preset.meta.get("held_out")
    if not isinstance(held, dict):
        return None
    try:
        return {name: {(str(i), int(p)) for i, p in held.get(name, [])} for name in ("valid", "test")}
    except (TypeError, ValueError):
        logger.warning("%s: unreadable \"held_out\" pairs; using the data's own split", preset.path)
        return None



def preset_data(preset: Preset, data_root) -> NSynthData:
    """The data set at data_root as a tool that measures a preset against it needs it: at the preset's rate, of its
    instruments only, with the pairs the preset held out held out here too. DataError (one line) otherwise."""
    data = NSynthData(data_root)
    if data.sample_rate != preset.sample_rate:
        raise DataError(f"{data.root}: notes at {data.sample_rate} Hz, preset {preset.name!r} plays at "
                        f"{preset.sample_rate} Hz; give data rendered at the preset's rate")
    unknown = sorted({i.id for i in data.instruments} - {i.id for i in preset.instruments})
    if unknown:
        raise DataError(f"{data.root}: instruments the preset lacks ({', '.join(unknown[:3])}); give data of its "
                        "own instruments")
    held = held_out_pairs(preset)
    if held is not None:  # the notes it never learnt stay unheard, as in training
        data.hold_out(held)
    return data

def pair_split(instrument_id: str, pitch: int, held: dict[str, set[tuple[str, int]]] | None) -> str:
    """'train', 'valid' or 'test' of a pair: the preset's lists when it has them, else the data's hash."""
    if held is None:
        return split_of(instrument_id, pitch)
    for name in ("test", "valid"):
        if (instrument_id, pitch) in held[name]:
            return name
    return "train"


def nearest_source(pitch: int, candidates: list[tuple[int, int]]) -> int | None:
    """Index of the candidate (pitch, index) nearest in pitch, other than `pitch` itself; below wins ties."""
    best = None
    for other, index in candidates:
        if other == pitch:
            continue
        key = (abs(other - pitch), other > pitch)
        if best is None or key < best[0]:
            best = (key, index)
    return None if best is None else best[1]


def select_notes(preset: Preset, data: NSynthData, split: str = "test") -> tuple[list[EvalNote], int]:
    """The notes of `split` whose instrument the preset has and that the sampler can play.

    Returns the notes and how many of the split had to be left out for want of a sampler source."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; use {', '.join(SPLITS)}")
    held = held_out_pairs(preset)
    by_id = {inst.id: inst for inst in preset.instruments}
    splits = [pair_split(n.instrument_id, n.pitch, held) for n in data.notes]
    # the sampler plays only notes the model could have learnt from: training pairs
    sources: dict[tuple[str, int], list[tuple[int, int]]] = {}
    for i, (note, name) in enumerate(zip(data.notes, splits)):
        if name == "train" and note.instrument_id in by_id:
            sources.setdefault((note.instrument_id, note.velocity), []).append((note.pitch, i))
    notes, missing = [], 0
    for i, (note, name) in enumerate(zip(data.notes, splits)):
        inst = by_id.get(note.instrument_id)
        if name != split or inst is None:
            continue
        source = nearest_source(note.pitch, sources.get((note.instrument_id, note.velocity), []))
        if source is None:
            missing += 1
            continue
        drums = inst.drums or data.instruments[note.instrument].drums
        notes.append(EvalNote(i, inst.index, source, drums))
    return notes, missing


def only_named(notes: list[EvalNote], names: list[str], data: NSynthData, split: str) -> list[EvalNote]:
    """The notes called `names` (the data's note names), in the order given; DataError names one missing."""
    by_name = {data.notes[n.index].name: n for n in notes}
    for name in names:
        if name not in by_name:
            raise DataError(f"{data.root}: no note {name!r} among the {split} notes the preset can be judged on "
                            f"(names as in examples.json; held-out notes are in --split test)")
    return [by_name[name] for name in dict.fromkeys(names)]


def spread(items: list, count: int) -> list:
    """`count` items evenly spread over the list, first and last included, order kept."""
    if count <= 0:
        return []
    if count >= len(items):
        return list(items)
    picks = np.unique(np.linspace(0, len(items) - 1, count).round().astype(int))
    return [items[i] for i in picks]


DRUMS_FAMILY = "Drums"


def family_of(note: EvalNote, preset: Preset, data: NSynthData) -> str:
    """The GM family of the note's instrument, "Drums" for a drum kit; without a GM program (real NSynth)
    the data's own family, else the instrument's id."""
    inst = preset.instruments[note.instrument]
    if note.drums:
        return DRUMS_FAMILY
    if inst.gm_program is not None:
        return gm.FAMILIES[gm.family(inst.gm_program)]
    named = data.instruments[data.notes[note.index].instrument].family
    return str(named) if named else inst.id


def family_order(name: str) -> tuple[int, str]:
    """GM order, then the drums, then families of other data (NSynth's) by name."""
    order = gm.FAMILIES + (DRUMS_FAMILY,)
    return (order.index(name), "") if name in order else (len(order), name)


def pick_plot_notes(notes: list[EvalNote], preset: Preset, data: NSynthData, count: int) -> list[EvalNote]:
    """Up to `count` notes of different instruments, different GM families first, each the loudest
    note nearest middle C."""
    by_instrument: dict[int, list[EvalNote]] = {}
    for note in notes:
        by_instrument.setdefault(note.instrument, []).append(note)

    def best(group: list[EvalNote]) -> list[EvalNote]:
        return sorted(group, key=lambda n: (abs(data.notes[n.index].pitch - 60), -data.notes[n.index].velocity))

    families: dict[str, list[int]] = {}
    for inst in sorted(by_instrument):
        families.setdefault(family_of(by_instrument[inst][0], preset, data), []).append(inst)
    # one instrument from each of `count` families spread over the instrument list, then others
    chosen = [group[0] for group in spread(list(families.values()), count)]
    others = [inst for inst in sorted(by_instrument) if inst not in chosen]
    chosen += spread(others, count - len(chosen))
    picked = [best(by_instrument[inst])[0] for inst in chosen]
    # fewer instruments than plots: more pitches of the same ones
    rest = [n for inst in chosen for n in best(by_instrument[inst])[1:]]
    return picked + spread(rest, count - len(picked))
