"""Live: a cold note played at once from a stand-in, then crossfaded into its own sound once that has arrived.

The stand-in is the nearest complete note of the same timbre (live_supply.stand_in), read at the key's pitch and
scaled to the velocity, as a sampler reads its nearest sample. Each block, a stand-in whose own note has
arrived far enough (its first SWAP_LEAD seconds beyond where the voice would be, or all of it) hands over: a
new voice reads the own note from that point, rising over CROSSFADE seconds while the stand-in fades out over
the same time. A stand-in already released, stolen, or on a channel playing mono plays on to its end instead.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from .cache import Note
from .modulation import Pitch
from .plan import NotePlan
from .voice import Voice

if TYPE_CHECKING:
    from .engine_view import EngineView

CROSSFADE = 0.02  # seconds
SWAP_LEAD = 0.1  # seconds of the own note beyond the voice's place before it takes over while streaming


class StandIns:
    """The voices standing in, each with its plan and its own note streaming in."""

    def __init__(self, sample_rate: int):
        self.sample_rate = sample_rate
        self.fade = max(int(CROSSFADE * sample_rate), 1)
        self.lead = int(SWAP_LEAD * sample_rate)
        self.waiting: dict[Voice, tuple[NotePlan, Note, int]] = {}  # plan, own note, the stand-in's pitch
        self.replaced = 0  # stand-ins crossfaded into their own sound

    def __len__(self) -> int:
        return len(self.waiting)

    def add(self, voice: Voice, plan: NotePlan, own: Note, pitch: int) -> None:
        """`voice` stands in for `plan`'s note `own`, reading a note of `pitch`."""
        self.waiting[voice] = (plan, own, pitch)

    def swap(self, engine: "EngineView") -> None:
        """At the start of a block: hand over every stand-in whose own note has arrived far enough."""
        if not self.waiting:
            return
        l0, l1, x = engine.supply.loop
        frame = engine._frame
        for voice, (plan, own, pitch) in list(self.waiting.items()):
            ch = engine.channels[voice.channel]
            if voice.finished or voice.killed or voice.env.released or voice.env.release_from is not None \
                    or ch.ctl.playing_mono:
                del self.waiting[voice]  # plays on as it is
                continue
            if voice.start_at or voice.pitch is None:
                continue  # starts within this block: not heard yet
            place = (frame - voice.pitch.born) * ch.reading  # where the own note would be read now
            ready = own.done or (own.ready > place + self.lead and (plan.one_shot or place + self.lead < l1 - x))
            if not ready:
                continue
            del self.waiting[voice]
            if plan.one_shot and place >= len(own.data):
                continue
            engine.pool.replace(voice, self._own_voice(engine, voice, plan, own, place, pitch), self.fade)
            self.replaced += 1

    def _own_voice(self, engine: "EngineView", stand: Voice, plan: NotePlan, own: Note, place: float,
                   stand_pitch: int) -> Voice:
        """A voice reading the own note from `place`, rising from silence, with the stand-in's pitch movement."""
        voice = Voice(own, stand.channel, stand.key, stand.one_shot, engine.pool.next_serial())
        l0, l1, _ = engine.supply.loop
        if not plan.one_shot and place >= l1:  # looped already: where, and how many passes' decay
            passes = int((place - l0) // (l1 - l0))
            place = l0 + (place - l0) % (l1 - l0)
            voice.loop_gain = own.loop_decay ** passes
        voice.pos = place
        voice.held, voice.sustained = stand.held, stand.sustained
        voice.release_len = stand.release_len
        # the stand-in is read shifted from its pitch to the key; the own note from the plan's pitch
        pitch = Pitch.__new__(Pitch)
        pitch.born, pitch.lfo_hz, pitch.lfo_delay = stand.pitch.born, stand.pitch.lfo_hz, stand.pitch.lfo_delay
        offset = 100.0 * (stand_pitch - plan.pitch)
        pitch.segments = [(s, c + offset, g, k) for s, c, g, k in stand.pitch.segments]
        voice.pitch = pitch
        voice.rise(self.fade)
        return voice
