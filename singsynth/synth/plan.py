"""A note's plan: what a note-on plays, worked out once when its message is read, then handed on unchanged.

The plan travels with the note: the planner makes it (planner.py), the supply looks its sound up once by its
key (note_supply.py, live_supply.py), the voice plays it (engine.py). A new fact about a note (how long it
sounds, say) is a new field here, filled in by the planner, so that every later step reads the same answer.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import mido

from ..io.sysex import system_reset
from ..gm import CC
from .cache import NoteKey


def instrument_of(note_key: NoteKey) -> int:
    """The instrument a note's timbre is most of (a morph blend's heaviest)."""
    weights = note_key[0]
    return max(range(len(weights)), key=weights.__getitem__)


@dataclass(frozen=True, slots=True)
class NotePlan:
    key: NoteKey  # (timbre, pitch, velocity step): the note cache's key for its sound
    one_shot: bool  # plays to its end whatever the note-off (drums)

    @property
    def timbre(self) -> tuple[float, ...]:
        return self.key[0]

    @property
    def pitch(self) -> int:
        return self.key[1]

    @property
    def step(self) -> int:
        return self.key[2]


Planned = tuple[int, mido.Message, NotePlan | None]  # (frame offset, message, its plan: note-ons only)


def plan_events(planner, events: Sequence[tuple[int, mido.Message]], programs: list[int], morphs: list[int],
                morph_cc: int) -> list[Planned]:
    """Each event with its note's plan (None for other messages and silent notes), planned from the channels'
    programs and morph values as they stand when it is handled: `programs` and `morphs` (the channels' now)
    follow the events' program changes, morph controller, controller resets and system resets, as the engine
    will. The lists are left as the events leave them."""
    planned: list[Planned] = []
    for offset, msg in events:
        kind = msg.type
        plan = None
        if kind == "note_on" and msg.velocity > 0:
            plan = planner.plan(msg.channel, programs[msg.channel], morphs[msg.channel], msg.note, msg.velocity)
        elif kind == "program_change":
            programs[msg.channel] = msg.program
        elif kind == "control_change":
            if msg.control == morph_cc:
                morphs[msg.channel] = msg.value
            elif msg.control == CC.RESET_CONTROLLERS:
                morphs[msg.channel] = 0
        elif kind == "sysex" and system_reset(msg.data):
            programs[:] = [0] * len(programs)
            morphs[:] = [0] * len(morphs)
        planned.append((offset, msg, plan))
    return planned


def planned_keys(planned: Iterable[Planned]) -> list[NoteKey]:
    """The notes these events start, each once, in order of their first note-on."""
    return list(dict.fromkeys(p.key for _, _, p in planned if p is not None))
