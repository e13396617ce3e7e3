"""Live, generating ahead: a file's notes before the playhead reaches them (PlayAhead), and the first chunks of the
notes the channels can play (StartsAhead).


A file's future is known, so its cold notes need not wait for their note-on: PlayAhead plans every note of the
file once, from the start (the channels as a fresh engine has them, following the file's program changes), and
as the playhead moves asks the live supply for those due within HORIZON seconds. The generator takes them in
that order; while MAX_PENDING notes already stream, the rest wait for the next block.
"""
from __future__ import annotations

from typing import Iterable, Sequence

import mido

from ..gm import DRUM_CHANNEL
from .plan import NotePlan, plan_events

HORIZON = 5.0  # seconds ahead of the playhead


class PlayAhead:
    def __init__(self, engine, timed: Sequence[tuple[int, mido.Message]], horizon: float = HORIZON):
        """timed: the file's events at their frames (Schedule.timed), in order."""
        planned = plan_events(engine.planner, timed, [0] * 16, [0] * 16, engine.morph_cc)
        self.plans: list[tuple[int, NotePlan]] = []
        seen: set = set()
        for frame, _, plan in planned:
            if plan is not None and plan.key not in seen:  # a note asked once: its first note-on
                seen.add(plan.key)
                self.plans.append((frame, plan))
        self.supply = engine.supply
        self.horizon = int(horizon * engine.sample_rate)
        self.next = 0  # the first plan not asked for yet

    def advance(self, frame: int) -> None:
        """The playhead is at `frame`: ask for every note due before frame + horizon not asked for yet."""
        while self.next < len(self.plans) and self.plans[self.next][0] < frame + self.horizon:
            if not self.supply.prefetch(self.plans[self.next][1]):
                return  # the generator is full: again after the next block
            self.next += 1


class StartsAhead:
    """Which notes' first chunks the generator makes ahead, while it is idle (note_starts.py): every key and
    velocity step of each channel's timbre, asked again when a channel's timbre changes (the starts already made
    are kept longest). A timbre is asked for as one span (timbre, lowest key, highest key): a flood of program
    changes costs the block a message each, not a list of its 1,400 notes."""

    def __init__(self, planner, supply):
        self.planner = planner
        self.supply = supply
        self.on = False  # listen turns it on (Engine.start_ahead)
        self._timbres: list = [None] * 16  # each channel's timbre when its notes' starts were last wanted
        self._spans: dict = {}  # (drums, program, morph value) -> what span() found

    def want(self, channels: Sequence, which: Iterable[int]) -> None:
        """Ask for the starts of these channels' notes where their timbre changed; `channels`: the engine's."""
        spans: dict = {}  # timbre -> its span, in the channels' order
        for channel in which:
            ch = channels[channel]
            span = self.span(channel, ch.program, ch.morph_value)
            timbre = span[0] if span is not None else None
            changed, self._timbres[channel] = timbre != self._timbres[channel], timbre
            if changed and timbre is not None:
                spans.setdefault(timbre, span)
        if spans:  # the generator orders them (generator.ahead_keys)
            self.supply.start_ahead_spans(list(spans.values()))

    def span(self, channel: int, program: int, morph_value: int) -> tuple | None:
        """(timbre, lowest key, highest key) a note-on on this channel can play; None where it is silent."""
        # the morph controller moves a timbre only with --morph, and the kit is the kit whatever the program: a flood
        # of CC1 and program changes must not make each span again (1,400 keys listed for two of them)
        drums = channel == DRUM_CHANNEL
        known = (drums, None if drums else program, morph_value if self.planner.morphing and not drums else None)
        if known not in self._spans:
            playable = self.planner.channel_keys(channel, program, morph_value)
            self._spans[known] = (playable[0][0], min(k[1] for k in playable), max(k[1] for k in playable)) \
                if playable else None
        return self._spans[known]
