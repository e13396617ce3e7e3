"""A channel's controllers beyond levels and bend: the tuning RPNs, vibrato sources, portamento and mono mode.

Each follows FluidSynth (fluid_synth.c, fluid_chan.c) and SoundFont 2.01's default modulators:
- RPN 1, fine tuning: data entry MSB * 128 + LSB, 8192 in the middle, over +-100 cents; RPN 2, coarse tuning:
  data entry MSB - 64 semitones. Both move sounding notes at once. RPN null (127, 127) and any NRPN make data
  entry do nothing.
- The mod wheel (CC1) and channel pressure each add 50 cents * value / 128 of vibrato depth.
- Portamento (CC65 on): a note struck while the last key struck is still held glides from that key (FluidSynth
  2.3's default portamento mode, legato only), over CC5 * 128 + CC37 ms, linearly in cents; CC84's key makes
  the next note glide from it, held or not.
- Mono (CC126) or legato (CC68 on): one note at a time; a key struck while another is held takes over that
  note's voice (legato), and letting go of it returns to the key held before. Mode messages (CC124-127) act
  as in FluidSynth, on a basic channel for its group only (BasicChannels).
- Reset all controllers (CC121) resets all of these but mono mode and the bend range, as FluidSynth does.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..gm import CC

FINE_TUNING, COARSE_TUNING = (0, 1), (0, 2)  # registered parameters, (MSB, LSB)
TUNING = (FINE_TUNING, COARSE_TUNING)
VIBRATO_CENTS = 50.0  # SoundFont 2.01's default modulators: CC1 and channel pressure -> vibrato LFO to pitch
MIDDLE = 8192


@dataclass
class Controls:
    """One channel's state for these controllers; the defaults are a channel's after a reset."""
    data_msb: int = 0  # the last data entry (CC6, CC38): a registered parameter is set from both
    data_lsb: int = 0
    fine_tune: float = 0.0  # cents (RPN 1)
    coarse_tune: int = 0  # semitones (RPN 2)
    modulation: int = 0  # CC1
    pressure: int = 0  # channel aftertouch
    portamento: bool = False  # CC65
    portamento_msb: int = 0  # CC5
    portamento_lsb: int = 0  # CC37
    portamento_from: int | None = None  # CC84: the key the next note glides from
    legato: bool = False  # CC68
    mono: bool = False  # CC126 on, CC127 off
    last: int | None = None  # the last key struck, while it is held (the head of FluidSynth's mono list)
    held: list[int] = field(default_factory=list)  # mono: the keys held down, oldest first

    def tune_cents(self) -> float:
        """The channel's tuning from RPN 1 and RPN 2, in cents."""
        return 100.0 * self.coarse_tune + self.fine_tune

    def vibrato_cents(self) -> float:
        """The vibrato LFO's depth (its peak, in cents) that the mod wheel and channel pressure ask for."""
        return VIBRATO_CENTS * (self.modulation + self.pressure) / 128

    def portamento_ms(self) -> int:
        return self.portamento_msb * 128 + self.portamento_lsb

    @property
    def playing_mono(self) -> bool:
        return self.mono or self.legato

    def enter(self, rpn: tuple[int, int], control: int, value: int) -> bool:
        """Data entry (CC6 or CC38) for the selected registered parameter; True if the tuning changed."""
        if control == CC.DATA_ENTRY:
            self.data_msb = value
        else:
            self.data_lsb = value
        before = self.tune_cents()
        if rpn == FINE_TUNING:
            self.fine_tune = ((self.data_msb << 7 | self.data_lsb) - MIDDLE) * 100.0 / MIDDLE
        elif rpn == COARSE_TUNING and control == CC.DATA_ENTRY:
            self.coarse_tune = value - 64
        return self.tune_cents() != before

    def control(self, control: int, value: int) -> bool:
        """A controller this class keeps; False if it is not one of them."""
        if control == CC.MODULATION:
            self.modulation = value
        elif control == CC.PORTAMENTO_TIME:
            self.portamento_msb = value
        elif control == CC.PORTAMENTO_TIME_FINE:
            self.portamento_lsb = value
        elif control == CC.PORTAMENTO:
            self.portamento = value >= 64
        elif control == CC.PORTAMENTO_CONTROL:
            self.portamento_from = value
        elif control == CC.LEGATO:
            self.legato = value >= 64
        else:
            return False
        return True

    def set_mono(self, mono: bool) -> None:
        self.mono = mono
        self.held.clear()

    def reset_controllers(self) -> None:
        """Reset all controllers (CC121): everything here but mono mode."""
        mono = self.mono
        self.__init__()
        self.mono = mono

    def glide_from(self, key: int) -> int | None:
        """A note-on of `key`: the key it glides from (None: no glide)."""
        before, self.last = self.last, key
        start = None
        if self.portamento_from is not None:
            start, self.portamento_from = self.portamento_from, None
        elif self.portamento:
            start = before  # None unless played legato
        return start if start != key else None

    def released(self, key: int) -> None:
        """A note-off (not one that went back legato to a key still held)."""
        if key == self.last and not self.held:
            self.last = None


class BasicChannels:
    """FluidSynth's basic channels: a mode message (CC124 omni off, CC125 omni on, CC126 mono, CC127 poly) counts
    only on a basic channel, and sets the mode of its group: CC126's value channels from it (0: up to the next
    basic channel), one channel in omni off poly mode. After a reset, channel 1 is the one basic channel, its
    group all 16, omni on, poly. (FluidSynth also makes channels left outside every group ignore all messages;
    singsynth lets them play on as they were.)"""

    def __init__(self, channels: int = 16):
        self.channels = channels
        self.groups: dict[int, tuple[int, bool, bool]] = {0: (channels, True, False)}  # start -> (size, omni, mono)

    def change(self, channel: int, control: int, value: int) -> tuple[range, bool] | None:
        """The channels a mode message sets, and whether they now play mono; None: ignored (not a basic channel,
        or a group that would run past the last channel or into another basic channel's)."""
        if channel not in self.groups:
            return None
        _, omni, mono = self.groups[channel]
        omni = {124: False, 125: True}.get(control, omni)
        mono = {126: True, 127: False}.get(control, mono)
        if not omni and not mono:
            size = 1
        elif value == 0:
            size = min([c for c in self.groups if c > channel] + [self.channels]) - channel
        else:
            size = value
            if channel + size > self.channels or any(channel < c < channel + size for c in self.groups):
                return None
        self.groups[channel] = (size, omni, mono)
        return range(channel, channel + size), mono
