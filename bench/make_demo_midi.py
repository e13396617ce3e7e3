"""Write examples/demo.mid: eight bars of melody, piano chords with the sustain pedal, bass and drums.

Run from the repository root: python bench/make_demo_midi.py [OUT.mid]
"""
from __future__ import annotations

import sys
from pathlib import Path

import mido

TPB = 480  # ticks per beat
BAR = 4 * TPB
OUT = Path(__file__).resolve().parent.parent / "examples" / "demo.mid"

# (root, chord tones) per bar: I - vi - IV - V - I - vi - ii - V, then the final I
CHORDS = [(48, (60, 64, 67)), (45, (60, 64, 69)), (41, (60, 65, 69)), (43, (59, 62, 67)),
          (48, (60, 64, 67)), (45, (60, 64, 69)), (50, (62, 65, 69)), (43, (59, 62, 65, 67)), (48, (60, 64, 67, 72))]
# (pitch, beats) per bar: a flute tune over the chords
MELODY = [[(72, 1), (74, 0.5), (76, 0.5), (79, 2)], [(76, 1), (72, 1), (69, 2)],
          [(77, 1.5), (76, 0.5), (74, 1), (72, 1)], [(71, 1), (74, 1), (79, 2)],
          [(79, 0.5), (77, 0.5), (76, 1), (74, 1), (72, 1)], [(69, 1), (72, 1), (76, 2)],
          [(74, 1), (77, 1), (76, 1), (74, 1)], [(71, 2), (74, 1), (71, 1)], [(72, 4)]]
KICK, SNARE, HAT, CRASH = 36, 38, 42, 49


def _track(name: str, events: list[tuple[int, mido.Message]]) -> mido.MidiTrack:
    """Absolute-tick events -> a track with delta times (note-offs before note-ons at the same tick)."""
    track = mido.MidiTrack([mido.MetaMessage("track_name", name=name, time=0)])
    events.sort(key=lambda e: (e[0], e[1].type == "note_on" and e[1].velocity > 0))
    now = 0
    for tick, msg in events:
        track.append(msg.copy(time=tick - now))
        now = tick
    track.append(mido.MetaMessage("end_of_track", time=0))
    return track


def _note(events, channel: int, pitch: int, start: int, length: int, velocity: int) -> None:
    events.append((start, mido.Message("note_on", channel=channel, note=pitch, velocity=velocity)))
    events.append((start + length, mido.Message("note_off", channel=channel, note=pitch, velocity=0)))


def build() -> mido.MidiFile:
    song = mido.MidiFile(type=1, ticks_per_beat=TPB)
    # tempo map: 100 bpm, a ritardando into the last bar
    song.tracks.append(_track("demo", [
        (0, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(100))),
        (0, mido.MetaMessage("time_signature", numerator=4, denominator=4)),
        (7 * BAR + 2 * TPB, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(88))),
        (8 * BAR, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(76)))]))

    melody = [(0, mido.Message("program_change", channel=0, program=73)),
              (0, mido.Message("control_change", channel=0, control=10, value=80))]
    for bar, notes in enumerate(MELODY):
        tick = bar * BAR
        for pitch, beats in notes:
            length = int(beats * TPB)
            _note(melody, 0, pitch, tick, length - 30, 96 if tick % BAR == 0 else 84)
            tick += length
    song.tracks.append(_track("flute", melody))

    # piano: chords on beats 1 and 3 with the pedal held through each bar, changed on the bar line
    piano = [(0, mido.Message("program_change", channel=1, program=0)),
             (0, mido.Message("control_change", channel=1, control=10, value=48))]
    for bar, (_, chord) in enumerate(CHORDS):
        start = bar * BAR
        piano.append((start + 10, mido.Message("control_change", channel=1, control=64, value=127)))
        piano.append((start + BAR - 10, mido.Message("control_change", channel=1, control=64, value=0)))
        for beat in ((0, 2) if bar < 8 else (0,)):
            for pitch in chord:
                _note(piano, 1, pitch, start + beat * TPB, TPB // 2, 70 if beat else 78)
    song.tracks.append(_track("piano", piano))

    # bass: roots, a fingered bass that switches to a synth bass for the second half
    bass = [(0, mido.Message("program_change", channel=2, program=33)),
            (4 * BAR, mido.Message("program_change", channel=2, program=38))]
    for bar, (root, _) in enumerate(CHORDS):
        for beat, pitch in ((0, root), (2, root), (3, root + 7)) if bar < 8 else ((0, root),):
            _note(bass, 2, pitch, bar * BAR + beat * TPB, TPB - 40 if bar < 8 else 2 * BAR, 100)
    song.tracks.append(_track("bass", bass))

    drums = []
    for bar in range(8):
        start = bar * BAR
        for eighth in range(8):
            _note(drums, 9, HAT, start + eighth * TPB // 2, 60, 70 if eighth % 2 else 90)
        for beat, pitch in ((0, KICK), (1, SNARE), (2, KICK), (3, SNARE)):
            _note(drums, 9, pitch, start + beat * TPB, 60, 110 if pitch == KICK else 100)
    _note(drums, 9, CRASH, 8 * BAR, 60, 110)
    _note(drums, 9, KICK, 8 * BAR, 60, 115)
    song.tracks.append(_track("drums", drums))
    return song


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else OUT
    out.parent.mkdir(parents=True, exist_ok=True)
    build().save(str(out))
    print(f"wrote {out} ({build().length:.1f} s)")
