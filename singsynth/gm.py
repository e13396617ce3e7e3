"""General MIDI: program names and families, numbered 0..127 as everywhere in singsynth."""
from __future__ import annotations

import math
import re

PROGRAMS = (
    "Acoustic Grand Piano", "Bright Acoustic Piano", "Electric Grand Piano", "Honky-tonk Piano",
    "Electric Piano 1", "Electric Piano 2", "Harpsichord", "Clavinet",
    "Celesta", "Glockenspiel", "Music Box", "Vibraphone", "Marimba", "Xylophone", "Tubular Bells", "Dulcimer",
    "Drawbar Organ", "Percussive Organ", "Rock Organ", "Church Organ", "Reed Organ", "Accordion", "Harmonica",
    "Tango Accordion",
    "Acoustic Guitar (nylon)", "Acoustic Guitar (steel)", "Electric Guitar (jazz)", "Electric Guitar (clean)",
    "Electric Guitar (muted)", "Overdriven Guitar", "Distortion Guitar", "Guitar Harmonics",
    "Acoustic Bass", "Electric Bass (finger)", "Electric Bass (pick)", "Fretless Bass", "Slap Bass 1",
    "Slap Bass 2", "Synth Bass 1", "Synth Bass 2",
    "Violin", "Viola", "Cello", "Contrabass", "Tremolo Strings", "Pizzicato Strings", "Orchestral Harp", "Timpani",
    "String Ensemble 1", "String Ensemble 2", "Synth Strings 1", "Synth Strings 2", "Choir Aahs", "Voice Oohs",
    "Synth Voice", "Orchestra Hit",
    "Trumpet", "Trombone", "Tuba", "Muted Trumpet", "French Horn", "Brass Section", "Synth Brass 1", "Synth Brass 2",
    "Soprano Sax", "Alto Sax", "Tenor Sax", "Baritone Sax", "Oboe", "English Horn", "Bassoon", "Clarinet",
    "Piccolo", "Flute", "Recorder", "Pan Flute", "Blown Bottle", "Shakuhachi", "Whistle", "Ocarina",
    "Lead 1 (square)", "Lead 2 (sawtooth)", "Lead 3 (calliope)", "Lead 4 (chiff)", "Lead 5 (charang)",
    "Lead 6 (voice)", "Lead 7 (fifths)", "Lead 8 (bass + lead)",
    "Pad 1 (new age)", "Pad 2 (warm)", "Pad 3 (polysynth)", "Pad 4 (choir)", "Pad 5 (bowed)", "Pad 6 (metallic)",
    "Pad 7 (halo)", "Pad 8 (sweep)",
    "FX 1 (rain)", "FX 2 (soundtrack)", "FX 3 (crystal)", "FX 4 (atmosphere)", "FX 5 (brightness)",
    "FX 6 (goblins)", "FX 7 (echoes)", "FX 8 (sci-fi)",
    "Sitar", "Banjo", "Shamisen", "Koto", "Kalimba", "Bagpipe", "Fiddle", "Shanai",
    "Tinkle Bell", "Agogo", "Steel Drums", "Woodblock", "Taiko Drum", "Melodic Tom", "Synth Drum", "Reverse Cymbal",
    "Guitar Fret Noise", "Breath Noise", "Seashore", "Bird Tweet", "Telephone Ring", "Helicopter", "Applause",
    "Gunshot",
)
assert len(PROGRAMS) == 128

FAMILIES = (
    "Piano", "Chromatic Percussion", "Organ", "Guitar", "Bass", "Strings", "Ensemble", "Brass",
    "Reed", "Pipe", "Synth Lead", "Synth Pad", "Synth Effects", "Ethnic", "Percussive", "Sound Effects",
)

DRUM_KIT_NAME = "Standard Drum Kit"
DRUM_CHANNEL = 9  # mido's channel numbers, 0..15: channel 10 as users count


class CC:
    """The control change numbers singsynth answers (General MIDI level 1 and the registered parameters)."""
    MODULATION = 1  # the mod wheel: vibrato depth
    PORTAMENTO_TIME = 5  # with PORTAMENTO_TIME_FINE: the glide's length in ms, MSB * 128 + LSB
    DATA_ENTRY = 6  # sets the selected registered parameter (bend range: semitones)
    VOLUME = 7
    PAN = 10
    EXPRESSION = 11
    PORTAMENTO_TIME_FINE = 37
    DATA_ENTRY_FINE = 38  # bend range: cents
    SUSTAIN = 64  # the pedal: down at 64 and above
    PORTAMENTO = 65  # on at 64 and above: each note glides from the one before
    LEGATO = 68  # on at 64 and above: the channel plays one note at a time, legato
    PORTAMENTO_CONTROL = 84  # the key the next note glides from
    REVERB = 91  # effects 1 depth: the reverb send
    CHORUS = 93  # effects 3 depth: the chorus send
    NRPN_FINE, NRPN = 98, 99  # a non-registered parameter: data entry no longer addresses a registered one
    RPN_FINE, RPN = 100, 101  # the registered parameter data entry sets: (0, 0) is the bend range
    ALL_SOUND_OFF = 120
    RESET_CONTROLLERS = 121
    ALL_NOTES_OFF = 123
    MODE_CHANGES = (124, 125, 126, 127)  # omni off/on, mono, poly: each implies all notes off
    LAST_CONTROLLER = 119  # 120..127 are channel mode messages
DRUM_KEYS = (35, 81)  # the GM percussion key map


def family(program: int) -> int:
    """GM family index 0..15 of a program 0..127."""
    return program // 8


def slug(name: str) -> str:
    """'Acoustic Guitar (nylon)' -> 'acoustic_guitar_nylon': safe in file names and NSynth note names."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def channel_gains(volume: int = 100, expression: int = 127, pan: int = 64) -> tuple[float, float]:
    """A channel's (left, right) gain from its volume (CC7), expression (CC11) and pan (CC10): the squared
    volume and expression curves General MIDI recommends, and an equal-power pan with 64 exactly in the
    middle. The defaults are a channel's after a reset."""
    level = (volume / 127) ** 2 * (expression / 127) ** 2
    x = (pan - 64) / (63 if pan > 64 else 64)
    angle = math.pi / 4 * (1 + x)
    return level * math.cos(angle), level * math.sin(angle)

