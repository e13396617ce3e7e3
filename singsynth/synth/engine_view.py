"""What the engine's helpers see of it: its state and its hooks for voices, as one interface.

control_change.py (controllers and resets), legato.py (mono, portamento, a new voice's pitch movement and release)
and stand_in.py (a stand-in's own note taking over) work on the engine's state between its events, as its methods
would. They take the engine as this interface, passed in, rather than import engine.py, which imports them: so
the imports run one way, engine -> helpers -> this view."""
from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from ..preset.sound import InstrumentSounds
    from .ahead import StartsAhead
    from .channels import Channel
    from .controllers import BasicChannels
    from .effects import Effects
    from .note_supply import NoteSupply
    from .planner import NotePlanner
    from .voice import Voice
    from .voices import VoicePool


class EngineView(Protocol):
    # settings
    sample_rate: int
    morph_cc: int
    # state: the channels, the voices (and the keys each channel holds unreleased), where in the block an event is
    # handled (_at, frames from the block's start) and the block's first frame since playing began (_frame)
    channels: list[Channel]
    pool: VoicePool
    _unreleased: list[dict[int, list[Voice]]]
    _at: int
    _frame: int
    # parts
    planner: NotePlanner
    supply: NoteSupply
    sounds: InstrumentSounds
    effects: Effects
    basic: BasicChannels
    starts_ahead: StartsAhead

    # hooks: what a channel's or a voice's change sets going, at _at
    def _release(self, v: Voice, one_shot_too: bool = False) -> None: ...

    def _unindex(self, v: Voice) -> None: ...

    def _notes_off(self, channel: int) -> None: ...

    def _sound_off(self, channel: int) -> None: ...

    def _gain_changed(self, ch: Channel) -> None: ...

    def _rate_changed(self, channel: int) -> None: ...

    def _vibrato_changed(self, channel: int) -> None: ...
