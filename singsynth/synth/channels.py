"""A MIDI channel's state (program, levels, bend, controllers) and its curves over a block: gains and reading rate."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..gm import CC, channel_gains
from .controllers import Controls
from .envelope import ramp_table
from .modulation import Stepped
from .voice import steps

CHANNEL_LEVELS = {CC.VOLUME: "volume", CC.PAN: "pan", CC.EXPRESSION: "expression"}  # the Channel field each sets
BEND_RANGE = (0, 0)  # registered parameter 0: pitch bend sensitivity


@dataclass
class Channel:
    program: int = 0
    volume: int = 100
    expression: int = 127
    pan: int = 64
    sustain: bool = False
    bend: int = 0  # -8192..8191
    bend_semitones: int = 2
    bend_cents: int = 0
    rpn: tuple[int, int] = (127, 127)  # (MSB, LSB); 127,127 is "none selected"
    morph_value: int = 0
    gains: np.ndarray | None = None  # current [left, right], ramping towards `aim`
    aim: np.ndarray | None = None  # target() as of the last event
    ramp_left: int = 0
    reading: float = 1.0  # rate() times the master tuning, as of the last event
    # changes within the block being made, as (offset, new value), and the value before the first
    gain_events: list = field(default_factory=list)
    block_aim: np.ndarray | None = None
    rate_events: list = field(default_factory=list)
    block_reading: float = 1.0
    ctl: Controls = field(default_factory=Controls)  # tuning, vibrato, portamento, mono (controllers.py)
    vibrato: Stepped = field(default_factory=Stepped)  # the vibrato depth in cents, changing within the block

    # what a system reset sets back to a new channel's
    MIDI_STATE = ("program", "volume", "expression", "pan", "sustain", "bend", "bend_semitones", "bend_cents", "rpn",
                  "morph_value")

    def target(self) -> np.ndarray:
        return np.array(channel_gains(self.volume, self.expression, self.pan), dtype=np.float32)

    def rate(self) -> float:
        semis = self.bend / 8192 * (self.bend_semitones + self.bend_cents / 100) + self.ctl.tune_cents() / 100
        return 2.0 ** (semis / 12)


def gain_changed(ch: Channel, at: int) -> None:
    """Volume, expression or pan changed at offset `at`: ramp there to the new gains."""
    if not ch.gain_events:
        ch.block_aim = ch.aim
    ch.aim = ch.target()
    ch.gain_events.append((at, ch.aim))


def rate_changed(ch: Channel, at: int, tuning_a4: float) -> None:
    """Bend or bend range changed at offset `at`: the channel's voices read at the new rate from there."""
    reading = ch.rate() * tuning_a4 / 440.0
    if reading == ch.reading:
        return
    if not ch.rate_events:
        ch.block_reading = ch.reading
    ch.reading = reading
    ch.rate_events.append((at, reading))


def phase(ch: Channel, n: int) -> np.ndarray | None:
    """The channel's reading advance at each sample of the block and one past it; None: rate 1 all along."""
    events = ch.rate_events
    if not events:
        return None if ch.reading == 1.0 else steps(ch.reading, n)
    rates = np.empty(n + 1, dtype=np.float64)
    rates[0], at, rate = 0.0, 0, ch.block_reading
    for offset, new in events:
        rates[at + 1:offset + 1] = rate
        at, rate = offset, new
    rates[at + 1:] = rate
    events.clear()
    return np.cumsum(rates, out=rates)

def gain_curve(ch: Channel, n: int, ramp: int) -> np.ndarray:
    """The channel's [left, right] gains over the block: [2] when steady, else [n, 2], ramping over
    `ramp` samples from each change at its offset."""
    events = ch.gain_events
    if not events:
        return ramp_to(ch, ch.aim, n)
    curve = np.empty((n, 2), dtype=np.float32)
    at, aim = 0, ch.block_aim
    for offset, new in events:
        if offset > at:
            curve[at:offset] = ramp_to(ch, aim, offset - at)
        at, aim = offset, new
        ch.ramp_left = ramp
    if n > at:
        curve[at:] = ramp_to(ch, aim, n - at)
    events.clear()
    return curve

def ramp_to(ch: Channel, aim: np.ndarray, n: int) -> np.ndarray:
    """The gains for the next n samples ramping towards `aim`: [2], or [n, 2] while ramping."""
    if not ch.ramp_left:
        return aim
    k = min(n, ch.ramp_left)
    curve = np.empty((n, 2), dtype=np.float32)
    curve[:k] = ch.gains + (aim - ch.gains) * (ramp_table(k)[:, None] / np.float32(ch.ramp_left))
    curve[k:] = aim
    ch.gains = curve[k - 1].copy()
    ch.ramp_left -= k
    return curve
