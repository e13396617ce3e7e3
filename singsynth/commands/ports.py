"""singsynth ports: the MIDI inputs and audio outputs that listen and play can use, numbered."""
from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("ports", help="list MIDI inputs and audio outputs")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..io.audio import AudioDeviceError, list_outputs
    from ..io.midi_ports import MidiPortError, backend_name, list_inputs
    try:
        inputs = list_inputs()
        print(f"MIDI inputs ({backend_name()}; MIDO_BACKEND chooses another):")
        for i, name in enumerate(inputs):
            print(f"  {i:3d}  {name}")
        if not inputs:
            print("  none (listen --virtual NAME makes one that other programs connect to)")
    except MidiPortError as exc:
        print(f"MIDI inputs: none ({exc})")
    try:
        outputs = list_outputs()
        print("Audio outputs:")
        for d in outputs:
            print(f"  {d.index:3d}  {d.name}  ({d.hostapi}, {d.channels} ch, {d.default_samplerate:g} Hz)")
        if not outputs:
            print("  none (`singsynth render` writes a WAV file instead)")
    except AudioDeviceError as exc:
        print(f"Audio outputs: none ({exc})")
    return 0
