"""Instrument choice: --instrument specs, GM program fallback, drum kit, morph blends.

A timbre is a tuple of weights over the preset's instruments (one-hot for one instrument, summing
to 1 for a blend): exactly what Preset.generate takes as a row, and hashable for the note cache.

Specs: a name (case-insensitive; an exact name or id; else the instruments whose name starts with it or
holds its words as whole words ("guitar": all nine guitars); else those with a word starting with each of its
words ("acou guit"); else those holding it anywhere; one such is the one, more are listed), a GM program
number 0..127 (that program's instrument, with the fallback below), or a
blend "flute:0.7,violin:0.3" (weights >= 0, normalised to sum 1; a part without ":w" weighs 1).

Program fallback: the preset's instrument with that GM program; else one of the same GM family
(the nearest program number); else the nearest program overall. Ties go to the lower program.
"""
from __future__ import annotations

import difflib
import functools
import logging
import math
import re
from typing import Sequence

from .. import gm
from ..errors import UsageError
from ..preset import Instrument, Preset

logger = logging.getLogger(__name__)

Timbre = tuple[float, ...]
MORPH_STEPS = 9


class InstrumentError(UsageError, ValueError):
    """A spec that names no instrument of the preset; the message is one line."""


@functools.lru_cache(maxsize=1024)
def one_hot(index: int, count: int) -> Timbre:
    """Weights for one instrument (the same tuple each time: a note-on makes one of these)."""
    return tuple(1.0 if i == index else 0.0 for i in range(count))


def melodic(preset: Preset) -> list[Instrument]:
    return [inst for inst in preset.instruments if not inst.drums]


def drum_kit(preset: Preset) -> Instrument | None:
    return next((inst for inst in preset.instruments if inst.drums), None)


# A name a user gave that is this like an instrument's name, or one of its words, is suggested (difflib's ratio:
# "fluet" is 0.8 like "flute", "kazooxyz" 0.36 like "koto").
CLOSE = 0.7


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9+]+", text.lower())


def _by_name(preset: Preset, name: str) -> Instrument:
    wanted = name.strip().lower()
    if not wanted:
        raise InstrumentError("empty instrument name")
    insts = preset.instruments
    for inst in insts:
        if wanted in (inst.name.lower(), inst.id.lower(), gm.slug(inst.name)):
            return inst
    words = _words(wanted)
    tiers = ([i for i in insts if i.name.lower().startswith(wanted) or (words and set(words) <= set(_words(i.name)))],
             [i for i in insts if words and all(any(w.startswith(q) for w in _words(i.name)) for q in words)],
             [i for i in insts if wanted in i.name.lower() or wanted in i.id.lower()])
    for matches in tiers:
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            names = ", ".join(i.name for i in matches)
            raise InstrumentError(f"instrument {name!r} is ambiguous in preset {preset.name!r}: {len(matches)} "
                                  f"instruments match ({names}); give more of the name")
    close = suggestions(insts, wanted)
    hint = f"; close: {', '.join(close)}" if close else ""
    raise InstrumentError(f"no instrument {name!r} in preset {preset.name!r}{hint} (see: singsynth instruments)")


def suggestions(instruments: Sequence[Instrument], wanted: str, count: int = 5) -> list[str]:
    """The names a person would call close to `wanted`: the whole name, or one of its words, spelt nearly alike
    (difflib's ratio at least CLOSE), the closest first."""
    scored = []
    for inst in instruments:
        lower = inst.name.lower()
        whole = difflib.SequenceMatcher(None, wanted, lower).ratio()
        score = max([whole] + [difflib.SequenceMatcher(None, wanted, w).ratio() for w in _words(lower) if len(w) > 2])
        if score >= CLOSE:
            scored.append((-score, -whole, inst.name))  # at a tie, the name that is most nearly the whole of it
    return [name for *_, name in sorted(scored)[:count]]


class ProgramMap:
    """GM program 0..127 -> the preset's instrument, warning once per program that needs a fallback."""

    def __init__(self, preset: Preset):
        self.preset = preset
        self.candidates = [i for i in melodic(preset) if i.gm_program is not None] or melodic(preset)
        self._resolved: dict[int, Instrument] = {}

    def __call__(self, program: int) -> Instrument | None:
        if program in self._resolved:
            return self._resolved[program]
        inst = self._fallback(program)
        self._resolved[program] = inst
        if inst is not None and inst.gm_program != program:
            logger.warning("preset %r has no GM program %d (%s): playing %s instead", self.preset.name, program,
                           gm.PROGRAMS[program], inst.name)
        return inst

    def quietly(self, program: int) -> Instrument | None:
        """The instrument a program plays, without a warning: for listing every program's."""
        return self._fallback(program)

    def _fallback(self, program: int) -> Instrument | None:
        if not self.candidates:
            return None
        exact = [i for i in self.candidates if i.gm_program == program]
        if exact:
            return exact[0]
        with_program = [i for i in self.candidates if i.gm_program is not None]
        if not with_program:
            return self.candidates[0]
        family = [i for i in with_program if gm.family(i.gm_program) == gm.family(program)]
        pool = family or with_program
        return min(pool, key=lambda i: (abs(i.gm_program - program), i.gm_program))


def _part(preset: Preset, text: str) -> Instrument:
    text = text.strip()
    if text.isdigit():
        program = int(text)
        if not 0 <= program <= 127:
            raise InstrumentError(f"GM program {program} is out of range; programs are 0..127")
        inst = ProgramMap(preset)(program)
        if inst is None:
            raise InstrumentError(f"preset {preset.name!r} has no melodic instrument for GM program {program}")
        return inst
    return _by_name(preset, text)


def resolve(preset: Preset, spec: str) -> Timbre:
    """An --instrument spec -> the weights over the preset's instruments (sum 1)."""
    count = len(preset.instruments)
    parts = [p for p in spec.split(",")]
    if len(parts) == 1 and ":" not in spec:
        return one_hot(_part(preset, spec).index, count)
    weighted = [":" in part for part in parts]
    if any(weighted) and not all(weighted):
        raise InstrumentError(f"{spec!r} gives some instruments a weight and not others; give each one "
                              "(flute:0.7,violin:0.3) or none (flute,violin: equal parts)")
    weights = [0.0] * count
    for part in parts:
        name, _, value = part.partition(":")
        try:
            w = float(value) if value.strip() else 1.0
        except ValueError:
            raise InstrumentError(f"bad weight {value!r} in {spec!r}; write a blend as flute:0.7,violin:0.3") from None
        if not math.isfinite(w) or w < 0:
            raise InstrumentError(f"weight {value!r} in {spec!r} must be a number >= 0")
        weights[_part(preset, name).index] += w
    total = sum(weights)
    if total <= 0:
        raise InstrumentError(f"the weights in {spec!r} sum to 0; give at least one positive weight")
    return tuple(w / total for w in weights)


def resolve_morph(preset: Preset, spec: str) -> tuple[Timbre, Timbre]:
    """'--morph flute,violin' -> the two end timbres."""
    parts = spec.split(",")
    if len(parts) != 2 or not all(p.strip() for p in parts):
        raise InstrumentError(f"--morph takes two instruments separated by a comma (e.g. flute,violin), not {spec!r}")
    return resolve(preset, parts[0]), resolve(preset, parts[1])


def morph(a: Timbre, b: Timbre, value: int, steps: int = MORPH_STEPS) -> Timbre:
    """Controller value 0..127 -> the blend of a and b, quantised to `steps` positions so notes cache."""
    t = round(min(max(value, 0), 127) / 127 * (steps - 1)) / (steps - 1)
    return tuple(round((1 - t) * x + t * y, 6) for x, y in zip(a, b))


def pitch_range(preset: Preset, timbre: Sequence[float]) -> tuple[int, int]:
    """The pitches a timbre plays: the intersection of its instruments' ranges (the heaviest's if empty)."""
    used = [(w, preset.instruments[i]) for i, w in enumerate(timbre) if w > 0]
    lo = max(inst.pitch_range[0] for _, inst in used)
    hi = min(inst.pitch_range[1] for _, inst in used)
    if lo > hi:
        return max(used, key=lambda u: u[0])[1].pitch_range
    return lo, hi


def timbre_name(preset: Preset, timbre: Sequence[float]) -> str:
    parts = [(w, preset.instruments[i].name) for i, w in enumerate(timbre) if w > 0]
    if len(parts) == 1:
        return parts[0][1]
    return ",".join(f"{name}:{w:.3g}" for w, name in parts)
