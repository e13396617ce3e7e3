"""Which instruments an export holds, and the bank and program each answers to.

The whole preset is a General MIDI bank: each instrument at its GM program (bank 0), the drum kit at bank 128
program 0, where a player looks for channel 10's kit, and every program the preset lacks answering with the
instrument the engine would play for it (synth/instruments.py's fallback; on channel 10, every program plays the
kit), so that a GM file plays in a SoundFont player as it plays in singsynth. Named instruments keep their GM programs; one without a program (a learnt
instrument, a blend) or whose program is taken takes the first free one, and the log says which.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

from .. import gm
from ..errors import UsageError
from ..preset import Preset
from ..synth.instruments import ProgramMap, Timbre, drum_kit, melodic, one_hot, pitch_range, resolve, timbre_name

logger = logging.getLogger(__name__)

DRUM_BANK = 128


@dataclass(frozen=True)
class Entry:
    name: str
    timbre: Timbre  # weights over the preset's instruments, as the note cache keys notes
    bank: int
    program: int
    drums: bool
    pitch_range: tuple[int, int]


@dataclass
class Plan:
    entries: list[Entry]
    # (bank, program) -> index in entries: programs that play another program's instrument
    aliases: dict[tuple[int, int], int]


def _first_free(used: set[tuple[int, int]]) -> int:
    free = next((p for p in range(128) if (0, p) not in used), None)
    if free is None:
        raise UsageError("more than 128 melodic instruments: a SoundFont bank holds 128 programs")
    return free


def _place(name: str, timbre: Timbre, wanted: int | None, used: set, entries: list, prange) -> None:
    program = wanted
    if program is None or (0, program) in used:
        program = _first_free(used)
        why = "has no GM program" if wanted is None else f"shares GM program {wanted} with another"
        logger.info("%s %s: exported at program %d", name, why, program)
    used.add((0, program))
    entries.append(Entry(name, timbre, 0, program, False, prange))


def _kit_entry(preset: Preset, inst) -> Entry:
    return Entry(inst.name, one_hot(inst.index, len(preset.instruments)), DRUM_BANK, 0, True, inst.pitch_range)


def whole_preset(preset: Preset) -> Plan:
    """Every instrument of the preset as a General MIDI bank."""
    count, used, entries = len(preset.instruments), set(), []
    with_program = sorted((i for i in melodic(preset) if i.gm_program is not None), key=lambda i: i.gm_program)
    for inst in with_program + [i for i in melodic(preset) if i.gm_program is None]:
        _place(inst.name, one_hot(inst.index, count), inst.gm_program, used, entries, inst.pitch_range)
    kit = drum_kit(preset)
    if kit is not None:
        entries.append(_kit_entry(preset, kit))
    by_timbre = {e.timbre: n for n, e in enumerate(entries) if not e.drums}
    programs = ProgramMap(preset)
    aliases = {}
    for program in range(128):
        inst = programs.quietly(program)
        if (0, program) not in used and inst is not None:
            aliases[(0, program)] = by_timbre[one_hot(inst.index, count)]
    if aliases:
        logger.info("%d GM programs the preset lacks play the instrument singsynth plays for them", len(aliases))
    if kit is not None:  # channel 10 plays the kit whatever its program (GM2 files choose other kits there)
        aliases.update({(DRUM_BANK, program): len(entries) - 1 for program in range(1, 128)})
    return Plan(entries, aliases)


def named(preset: Preset, specs: list[str]) -> Plan:
    """The instruments (or blends) that --instrument names, each once; InstrumentError for a name the preset
    does not hold."""
    used, entries, seen = set(), [], set()
    kit = drum_kit(preset)
    for spec in specs:
        timbre = resolve(preset, spec)
        if timbre in seen:
            continue
        seen.add(timbre)
        if kit is not None and timbre == one_hot(kit.index, len(preset.instruments)):
            entries.append(_kit_entry(preset, kit))
            continue
        parts = [preset.instruments[i] for i, w in enumerate(timbre) if w > 0]
        program = parts[0].gm_program if len(parts) == 1 else None
        name = timbre_name(preset, timbre)
        _place(name, timbre, program, used, entries, pitch_range(preset, timbre))
    return Plan(entries, {})


def program_name(entry: Entry) -> str:
    """What a listing calls the entry's place: 'GM 73 Flute', 'drum kit (bank 128)'."""
    if entry.drums:
        return f"drum kit (bank {DRUM_BANK})"
    return f"program {entry.program} ({gm.PROGRAMS[entry.program]})"
