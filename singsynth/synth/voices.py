"""The sounding voices: who plays on which channel and key, which to steal, and how they end.

Stealing looks only at the first voice of two orders kept as dicts (insertion-ordered, O(1) removal): the
voices that can still be stolen, oldest first, and those of them already released, released longest ago
first. Stolen voices fade out quickly (`fast_fade` samples); a flood of note-ons within one block keeps at
most `polyphony` of them fading.
"""
from __future__ import annotations

from .voice import Voice


class VoicePool:
    def __init__(self, polyphony: int, fast_fade: int):
        self.polyphony = polyphony
        self.fast_fade = fast_fade
        # voices per channel, oldest first; events reach them at their offsets (Voice.render_block)
        self.voices: list[list[Voice]] = [[] for _ in range(16)]
        self.cut: list[list[Voice]] = [[] for _ in range(16)]  # cut within the block: sound up to the cut
        self.alive: dict[Voice, None] = {}  # can still be stolen (not fading out yet), oldest first
        self.released: dict[Voice, None] = {}  # of those, the released ones, released longest ago first
        self.fading: dict[Voice, None] = {}  # the others, faded longest first
        # per channel, each key's melodic voices not released yet: note-on and note-off look only there
        self.unreleased: list[dict[int, list[Voice]]] = [{} for _ in range(16)]
        self.serial = 0
        self.shed = 0  # voices faded out because blocks took too long to mix

    def __len__(self) -> int:
        return sum(map(len, self.voices))

    def next_serial(self) -> int:
        self.serial += 1
        return self.serial

    def add(self, voice: Voice) -> None:
        """A new voice sounds (room made for it first: make_room)."""
        self.voices[voice.channel].append(voice)
        self.alive[voice] = None
        if voice.one_shot:  # a drum hit counts as released from the start
            self.released[voice] = None
        else:
            self.unreleased[voice.channel].setdefault(voice.key, []).append(voice)

    def replace(self, old: Voice, new: Voice, fade: int) -> None:
        """`new` takes over from `old` (a stand-in: stand_in.py), which fades out over `fade` samples."""
        if old.kill(fade, 0):
            self.alive.pop(old, None)
            self.released.pop(old, None)
            self.fading[old] = None
        self.unindex(old)
        self.add(new)

    def release(self, v: Voice, at: int, one_shot_too: bool = False) -> None:
        v.release(at, one_shot_too)
        if v.releasing:
            self.unindex(v)
            if v in self.alive and v not in self.released:
                self.released[v] = None

    def unindex(self, v: Voice) -> None:
        """Take a voice out of its key's unreleased voices."""
        keyed = self.unreleased[v.channel]
        voices = keyed.get(v.key)
        if voices is not None and v in voices:
            voices.remove(v)
            if not voices:
                del keyed[v.key]

    def forget(self, v: Voice) -> None:
        """A voice leaves: out of the stealing order and its key's index."""
        self.alive.pop(v, None)
        self.released.pop(v, None)
        self.fading.pop(v, None)
        self.unindex(v)

    def kill(self, v: Voice, at: int) -> None:
        """Fade the voice out quickly from offset `at`."""
        if v.kill(self.fast_fade, at):
            del self.alive[v]
            self.released.pop(v, None)
            self.fading[v] = None

    def shed_over(self, limit: int, at: int) -> None:
        """Live, over the voice limit: fade voices out as stolen ones."""
        while len(self.alive) > limit:
            self.kill(next(iter(self.released or self.alive)), at)
            self.shed += 1
        self.cap_fading(at)

    def make_room(self, limit: int, at: int) -> None:
        """Before a new voice: at the voice limit, steal the released voice released longest ago (the
        most faded), else the oldest voice."""
        if len(self.alive) >= limit:
            self.kill(next(iter(self.released or self.alive)), at)
            if len(self.alive) + 1 < self.polyphony:  # stolen only because of the live voice limit
                self.shed += 1
        self.cap_fading(at)

    def cap_fading(self, at: int) -> None:
        """A flood of note-ons within one block steals voice after voice before any of them can fade
        out: keep at most `polyphony` fading, cutting the most faded first."""
        while len(self.fading) > self.polyphony:
            cut = next(iter(self.fading))
            self.forget(cut)
            self.voices[cut.channel].remove(cut)
            if cut.start_at < at:  # it sounded in this block: up to the cut
                cut.cut(at)
                self.cut[cut.channel].append(cut)

    def drop_finished(self, channel: int) -> None:
        """The channel's voices that have ended leave."""
        voices = self.voices[channel]
        if any(v.finished for v in voices):
            for v in voices:
                if v.finished:
                    self.forget(v)
            self.voices[channel] = [v for v in voices if not v.finished]
