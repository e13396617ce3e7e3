"""General MIDI as files use it, singsynth against FluidSynth: small files rendered by both (48 kHz, dry), the
audio measured the same way for both.

    python bench/gm_messages.py [--preset default] [--soundfont /usr/share/sounds/sf3/FluidR3Mono_GM.sf3]
                                [--only vibrato,tuning,portamento,reset,keys,release,drums]

- vibrato: the flute (and strings) at key 72, CC1 = 127 or channel pressure 127: the pitch's peak deviation and
  its standard deviation in cents, from the instantaneous frequency of the fundamental (band-passed +-3
  semitones, analytic signal, 2 ms smoothing).
- tuning: RPN 1 (+50 cents) and RPN 2 (+2 semitones) on the flute: the median pitch in cents.
- portamento: legato (CC68) from key 67 to 72 with CC65 on and CC5 = 3 or 20: the glide's length in ms, from a
  line fitted to the pitch where it is between -250 and -50 cents (band-passed around 72), to where it meets 0.
- reset: bend, volume, pan, program set, then GM System On, then a note: its pitch, level and balance against
  the same note in a fresh file; and after RPN 2 (+2 semitones), each reset message (right or wrong device id or
  checksum): the next note's pitch in cents. FluidSynth runs with synth.device-id=16 (2.4's default).
- keys: the piano's keys 12, 21, 108, 115, 127: the pitch (subharmonic summation) in cents from the key and the
  level.
- release: the flute's level 0.5 s after its note-off and after all notes off (CC123), against its held level.
- drums: each kit key's level (RMS of its first 0.5 s) against the piano's middle C at the same velocity.
Prints markdown tables; needs the fluidsynth program and the SoundFont.
"""
from __future__ import annotations

import argparse
import math
import subprocess
import tempfile
from pathlib import Path

import mido
import numpy as np

from singsynth.preset import load_preset
from singsynth.synth.cache import NoteCache
from singsynth.synth.engine import make_engine
from singsynth.synth.schedule import Schedule, play_through

RATE = 48000
TPB = 480  # ticks per beat at 120 bpm: 960 ticks a second
# FluidSynth 2.4 and later answer system exclusive device id 0x10 by default, as singsynth does; 2.3 only 0x7F
FLUID_OPTIONS = ["-o", "synth.device-id=16"]


def db(x: float) -> float:
    return 20 * math.log10(max(x, 1e-12))


def midi_file(events: list[tuple[float, mido.Message]], path: Path) -> Path:
    track, now = mido.MidiTrack(), 0
    for t, msg in sorted(events, key=lambda e: e[0]):
        tick = int(round(t * 960))
        track.append(msg.copy(time=tick - now))
        now = tick
    mido.MidiFile(tracks=[track], ticks_per_beat=TPB).save(path)
    return path


def fluid(events, soundfont: Path, seconds: float) -> np.ndarray:
    with tempfile.TemporaryDirectory() as tmp:
        # all notes off at the end: fluidsynth -F renders until every voice has ended
        ends = [(seconds, mido.Message("control_change", channel=c, control=123, value=0)) for c in range(16)]
        mid = midi_file(events + ends, Path(tmp) / "f.mid")
        out = Path(tmp) / "f.wav"
        subprocess.run(["fluidsynth", "-ni", "-q", *FLUID_OPTIONS, "-R", "0", "-C", "0", "-r", str(RATE), "-O", "float",
                        "-F", str(out), str(soundfont), str(mid)], check=True, capture_output=True, timeout=600)
        data = out.read_bytes()
    # a float WAV: find the data chunk
    pos = 12
    while data[pos:pos + 4] != b"data":
        pos += 8 + int.from_bytes(data[pos + 4:pos + 8], "little")
    x = np.frombuffer(data[pos + 8:], dtype="<f4").reshape(-1, 2)
    return x[:int(seconds * RATE)]


def sing(events, preset, seconds: float, cache: NoteCache) -> np.ndarray:
    eng = make_engine(preset, sample_rate=RATE, cache=cache)
    out = []
    with eng:
        play_through(eng, Schedule(sorted(events, key=lambda e: e[0]), RATE, frames=int(seconds * RATE)), out.append)
    return np.concatenate(out)[:int(seconds * RATE)]


def msg(kind, **kw):
    return mido.Message(kind, **kw)


def cc(control, value, channel=0):
    return msg("control_change", control=control, value=value, channel=channel)


def note(t, key, length, velocity=100, channel=0):
    return [(t, msg("note_on", note=key, velocity=velocity, channel=channel)),
            (t + length, msg("note_off", note=key, channel=channel))]


def inst_cents(x: np.ndarray, key: float) -> np.ndarray:
    """The instantaneous pitch of the fundamental, in cents from `key`, per sample (2 ms smoothing)."""
    f0 = 440 * 2 ** ((key - 69) / 12)
    spec = np.fft.rfft(x.astype(np.float64))
    freqs = np.fft.rfftfreq(len(x), 1 / RATE)
    spec[(freqs < f0 * 2 ** (-3 / 12)) | (freqs > f0 * 2 ** (3 / 12))] = 0
    analytic = np.fft.ifft(np.concatenate([spec, np.zeros(len(x) - len(spec))]) * 2)
    freq = np.diff(np.unwrap(np.angle(analytic))) * RATE / (2 * np.pi)
    k = int(0.002 * RATE)
    freq = np.convolve(freq, np.ones(k) / k, mode="same")
    return 1200 * np.log2(np.maximum(freq, 1e-3) / f0)


def window(x, t0, t1):
    return x[int(t0 * RATE):int(t1 * RATE)]


def rms_db(x, t0, t1) -> float:
    return db(float(np.sqrt(np.mean(window(x, t0, t1).astype(np.float64) ** 2))))


def subharmonic_f0(x: np.ndarray, key: int) -> float:
    """The pitch in cents from `key`: above key 83, the strongest partial's (the fundamental, in a piano's top
    octaves); below, the one that best explains the spectrum's peaks (mean log magnitude at the first 8
    harmonics), searched over +-26 semitones."""
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x)), 4 * len(x)))
    freqs = np.fft.rfftfreq(4 * len(x), 1 / RATE)
    if key > 83:
        peak = freqs[int(np.argmax(spec * (freqs > 20)))]
        return 1200 * math.log2(peak / (440 * 2 ** ((key - 69) / 12)))
    logmag = np.log(spec + 1e-9)
    best, arg = -np.inf, 0.0
    for cents in np.arange(-2600, 2601, 10):
        f = 440 * 2 ** ((key - 69 + cents / 100) / 12)
        hs = f * np.arange(1, 9)
        hs = hs[hs < RATE / 2]
        score = np.mean(np.interp(hs, freqs, logmag)) if len(hs) else -np.inf
        if score > best:
            best, arg = score, cents
    return arg


def vibrato(sf, preset, cache):
    print("\n### vibrato (flute 73, strings 48; key 72): peak / std of the pitch deviation, cents\n")
    print("| source | FluidSynth peak | FluidSynth std | singsynth peak | singsynth std |")
    print("| --- | --- | --- | --- | --- |")
    for program in (73, 48):
        controls = [("none", None), ("CC1 = 127", cc(1, 127)), ("pressure 127", msg("aftertouch", value=127))]
        for name, control in controls:
            events = [(0.0, msg("program_change", program=program))] + note(0.0, 72, 2.0)
            if control is not None:
                events.append((0.0, control))
            row = []
            for render in (lambda e: fluid(e, sf, 2.2), lambda e: sing(e, preset, 2.2, cache)):
                c = window(inst_cents(render(events).mean(axis=1), 72), 0.5, 1.9)
                c = c - np.median(c)
                row += [f"{np.percentile(np.abs(c), 99):.1f}", f"{np.std(c):.1f}"]
            print(f"| program {program}, {name} | " + " | ".join(row) + " |")


def tuning(sf, preset, cache):
    print("\n### tuning RPNs (flute, key 72): median pitch in cents\n")
    print("| message | FluidSynth | singsynth |")
    print("| --- | --- | --- |")
    cases = {"none": [], "RPN 1 = +50 cents (96, 0)": [cc(101, 0), cc(100, 1), cc(6, 96), cc(38, 0)],
             "RPN 2 = +2 semitones (66)": [cc(101, 0), cc(100, 2), cc(6, 66)],
             "RPN 2, then RPN null, then data 70": [cc(101, 0), cc(100, 2), cc(6, 66), cc(101, 127), cc(100, 127),
                                                   cc(6, 70)],
             "NRPN 1/1 then data 70": [cc(99, 1), cc(98, 1), cc(6, 70)]}
    for name, msgs in cases.items():
        events = [(0.0, msg("program_change", program=73))] + [(0.0, m) for m in msgs] + note(0.1, 72, 1.0)
        row = []
        for render in (lambda e: fluid(e, sf, 1.3), lambda e: sing(e, preset, 1.3, cache)):
            row.append(f"{np.median(window(inst_cents(render(events).mean(axis=1), 72), 0.3, 1.0)):+.1f}")
        print(f"| {name} | " + " | ".join(row) + " |")


def portamento(sf, preset, cache):
    print("\n### portamento (flute, legato CC68 on, 67 -> 72): the glide's length, ms (fitted line)\n")
    print("| CC5 | FluidSynth | singsynth | CC5 * 128 ms |")
    print("| --- | --- | --- | --- |")
    for value in (3, 20):
        events = [(0.0, msg("program_change", program=73)), (0.0, cc(68, 127)), (0.0, cc(65, 127)),
                  (0.0, cc(5, value))] + note(0.0, 67, 4.0) + note(0.5, 72, 3.5)
        row = []
        for render in (lambda e: fluid(e, sf, 4.2), lambda e: sing(e, preset, 4.2, cache)):
            c = window(inst_cents(render(events).mean(axis=1), 72), 0.5, 4.0)
            t = np.arange(len(c)) / RATE
            fit = (c > -250) & (c < -50)  # inside the band-pass (+-300 cents)
            slope, at0 = np.polyfit(t[fit], c[fit], 1)
            row.append(f"{-at0 / slope * 1000:.0f}")
        print(f"| {value} | " + " | ".join(row) + f" | {value * 128} |")


def reset(sf, preset, cache):
    print("\n### GM System On after bend, volume 40, pan 0, program 40, RPN 2 +6: the next note against a fresh "
          "file's\n")
    print("| synth | pitch (cents) | level (dB) | right - left (dB) |")
    print("| --- | --- | --- | --- |")
    setup = [(0.0, msg("program_change", program=40)), (0.0, cc(7, 40)), (0.0, cc(10, 0)),
             (0.0, msg("pitchwheel", pitch=8191)), (0.0, cc(101, 0)), (0.0, cc(100, 2)), (0.0, cc(6, 70))]
    after = note(0.6, 72, 1.0)
    for name, render in (("FluidSynth", lambda e: fluid(e, sf, 1.8)), ("singsynth", lambda e: sing(e, preset, 1.8,
                                                                                                   cache))):
        x = render(setup + [(0.5, msg("sysex", data=(0x7E, 0x7F, 0x09, 0x01)))] + after)
        ref = render(after)
        pitch = np.median(window(inst_cents(x.mean(axis=1), 72), 0.8, 1.5)) - np.median(
            window(inst_cents(ref.mean(axis=1), 72), 0.8, 1.5))
        level = rms_db(x.mean(axis=1), 0.7, 1.5) - rms_db(ref.mean(axis=1), 0.7, 1.5)
        balance = rms_db(x[:, 1], 0.7, 1.5) - rms_db(x[:, 0], 0.7, 1.5)
        print(f"| {name} | {pitch:+.1f} | {level:+.1f} | {balance:+.1f} |")
    print("\n### each reset message after RPN 2 = +2 semitones: the next note's pitch, cents\n")
    print("| message | FluidSynth | singsynth |")
    print("| --- | --- | --- |")
    messages = {"GM System On": (0x7E, 0x7F, 0x09, 0x01), "GM System On, device 0x11": (0x7E, 0x11, 0x09, 0x01),
                "GM System Off": (0x7E, 0x7F, 0x09, 0x02), "GM2 System On": (0x7E, 0x7F, 0x09, 0x03),
                "GS Reset": (0x41, 0x10, 0x42, 0x12, 0x40, 0x00, 0x7F, 0x00, 0x41),
                "GS Reset, device 0x11": (0x41, 0x11, 0x42, 0x12, 0x40, 0x00, 0x7F, 0x00, 0x41),
                "GS Reset, wrong checksum": (0x41, 0x10, 0x42, 0x12, 0x40, 0x00, 0x7F, 0x00, 0x40),
                "XG System On": (0x43, 0x10, 0x4C, 0x00, 0x00, 0x7E, 0x00),
                "XG System On, device 0x11": (0x43, 0x11, 0x4C, 0x00, 0x00, 0x7E, 0x00)}
    for name, data in messages.items():
        events = [(0.0, msg("program_change", program=73)), (0.0, cc(101, 0)), (0.0, cc(100, 2)), (0.0, cc(6, 66)),
                  (0.5, msg("sysex", data=data))] + note(0.6, 72, 0.6)
        row = []
        for render in (lambda e: fluid(e, sf, 1.3), lambda e: sing(e, preset, 1.3, cache)):
            row.append(f"{np.median(window(inst_cents(render(events).mean(axis=1), 72), 0.8, 1.1)):+.0f}")
        print(f"| {name} | " + " | ".join(row) + " |")


def keys(sf, preset, cache):
    print("\n### every key (piano): the pitch heard, in cents from the key, and the level (dBFS)\n")
    print("| key | FluidSynth pitch | FluidSynth level | singsynth pitch | singsynth level |")
    print("| --- | --- | --- | --- | --- |")
    for key in (12, 21, 60, 108, 115, 127):
        row = []
        for render in (lambda e: fluid(e, sf, 1.2), lambda e: sing(e, preset, 1.2, cache)):
            x = render(note(0.0, key, 1.0)).mean(axis=1)
            level = rms_db(x, 0.05, 0.8)
            row += [f"{subharmonic_f0(window(x, 0.05, 0.8), key):+.0f}" if level > -80 else "silent", f"{level:.1f}"]
        print(f"| {key} | " + " | ".join(row) + " |")


def release(sf, preset, cache, label):
    print(f"\n### release ({label}): level 0.5 s after the end against the held level, dB\n")
    print("| instrument, key | ending | FluidSynth | singsynth |")
    print("| --- | --- | --- | --- |")
    for program, key in ((73, 72), (0, 60), (40, 67), (48, 60)):
        for ending in ("note-off", "CC123"):
            events = [(0.0, msg("program_change", program=program)), (0.0, msg("note_on", note=key, velocity=100))]
            events.append((1.0, msg("note_off", note=key) if ending == "note-off" else cc(123, 0)))
            row = []
            for render in (lambda e: fluid(e, sf, 1.6), lambda e: sing(e, preset, 1.6, cache)):
                x = render(events).mean(axis=1)
                row.append(f"{rms_db(x, 1.49, 1.51) - rms_db(x, 0.8, 1.0):.0f}")
            print(f"| {program}, {key} | {ending} | " + " | ".join(row) + " |")


def drums(sf, preset, cache):
    print("\n### drum keys against the piano's middle C (velocity 100): RMS of the first 0.5 s, dB\n")
    print("| key | FluidSynth | singsynth | difference |")
    print("| --- | --- | --- | --- |")
    piano = note(0.0, 60, 0.5)
    refs = [rms_db(fluid(piano, sf, 0.5).mean(axis=1), 0, 0.5), rms_db(sing(piano, preset, 0.5, cache).mean(axis=1),
                                                                       0, 0.5)]
    diffs = []
    for key in range(35, 82):
        hit = note(0.0, key, 0.1, channel=9)
        f = rms_db(fluid(hit, sf, 0.5).mean(axis=1), 0, 0.5) - refs[0]
        s = rms_db(sing(hit, preset, 0.5, cache).mean(axis=1), 0, 0.5) - refs[1]
        diffs.append(s - f)
        print(f"| {key} | {f:+.1f} | {s:+.1f} | {s - f:+.1f} |")
    d = np.abs(diffs)
    print(f"\nwithin 3 dB: {int(np.sum(d <= 3))} of {len(d)}; median |difference| {np.median(d):.1f} dB, "
          f"largest {d.max():.1f} dB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="default")
    parser.add_argument("--soundfont", type=Path, default=Path("/usr/share/sounds/sf3/FluidR3Mono_GM.sf3"))
    parser.add_argument("--only", default="vibrato,tuning,portamento,reset,keys,release,drums")
    args = parser.parse_args()
    preset = load_preset(args.preset)
    cache = NoteCache(max_bytes=2 ** 30)
    print(f"preset: {args.preset}; reference: fluidsynth -ni {' '.join(FLUID_OPTIONS)} -R 0 -C 0 -r {RATE} -O float "
          f"{args.soundfont.name}")
    for part in args.only.split(","):
        if part == "release":
            release(args.soundfont, preset, cache, f"preset {args.preset}")
        else:
            globals()[part](args.soundfont, preset, cache)


if __name__ == "__main__":
    main()
