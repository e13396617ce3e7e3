"""How close an exported SoundFont plays to singsynth itself, in the real FluidSynth (dry: reverb and chorus off).

    python bench/export_fidelity.py zones [--preset default] [--programs 0,24,33,40,56,73,19,81]
                                          [--spacings 1,2,3,4,6,8,12,16,24] [--keys 36-84]
        the loss of playing a key from the zone root a few keys away, as FluidSynth resamples it: each key held
        2.5 s, from a bank with a zone every N keys, against singsynth's own note at that key; and the loss of
        playing a velocity step from its layer's note (velocity layers 1..16)
    python bench/export_fidelity.py configs [--preset default] [--configs 3x4,8x1,8x2,12x1,12x2,16x2,24x2]
        settings side by side (keys per zone x velocity layers): every key of 36..84 at velocities 30, 60, 90 and
        120, against singsynth's notes, and the size of the whole preset's bank with each
    python bench/export_fidelity.py midi BANK.sf2 [--preset default] [FILE.mid ...]
        a whole MIDI file, FluidSynth + the exported bank (at the synth gain the bank names) against singsynth's
        render, both 48 kHz (default files: bench/data/k525_mvt1.mid, examples/demo.mid); and FluidR3 Mono, the
        SoundFont the default preset learnt from, against singsynth's render as a yardstick
    python bench/export_fidelity.py pitch BANK.sf2 [--preset default] [--instrument NAME ...]
                                          [--keys-per-zone N] [--velocity-layers N]   (the export's own options)
        every melodic sample's root key at its note's velocity, played by FluidSynth, against singsynth's note as
        the engine plays it (both 48 kHz; train/pitch.py's estimator): the cents apart; the target is every pitched
        zone within 5 cents

The distance is the mean absolute difference of log-mel spectrograms (128 bands from 20 Hz to the preset's Nyquist
frequency, 8 kHz for a 16 kHz preset, at most 16 kHz; 2048-sample frames every 10 ms at 48 kHz), in dB, over the
time-frequency cells where either is within 80 dB of the reference's loudest. Above the preset's Nyquist frequency
singsynth's notes hold nothing and FluidSynth's interpolation leaves images of them: `midi` states their level. Notes come from the note cache (~/.cache/singsynth/notes), generated where missing.
"""
from __future__ import annotations

import argparse
import ctypes
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from singsynth import gm  # noqa: E402
from singsynth.export import programs  # noqa: E402
from singsynth.export.build import Settings, build, describe  # noqa: E402
from singsynth.export.layout import root_keys  # noqa: E402
from singsynth.io.sf2 import save_sf2  # noqa: E402
from singsynth.io.wav import read_wav  # noqa: E402
from singsynth.preset import load_preset  # noqa: E402
from singsynth.synth.cache import DEFAULT_VELOCITY_STEPS, NoteCache, quantize_velocity, step_velocity  # noqa: E402
from singsynth.synth.note_supply import NoteSupply  # noqa: E402
from singsynth.synth.resample import resample  # noqa: E402
from singsynth.train.pitch import cents, estimate_f0  # noqa: E402

RATE = 48_000
FLUIDR3 = Path("/usr/share/sounds/sf3/FluidR3Mono_GM.sf3")
HOLD = 2.5  # seconds a key is held: before the loop end (2.9 s), so the loop plays no part


def mel_filters(rate: int, n_fft: int, bands: int = 128, low: float = 20.0, high: float = 16000.0) -> np.ndarray:
    mel = lambda f: 2595 * np.log10(1 + f / 700)  # noqa: E731
    edges = 700 * (10 ** (np.linspace(mel(low), mel(high), bands + 2) / 2595) - 1)
    freqs = np.fft.rfftfreq(n_fft, 1 / rate)
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    return np.maximum(0, np.minimum((freqs - lower) / (centre - lower), (upper - freqs) / (upper - centre)))


def log_mel(audio: np.ndarray, rate: int = RATE, n_fft: int = 2048, high: float = 16000.0) -> np.ndarray:
    hop = rate // 100
    audio = np.pad(np.asarray(audio, dtype=np.float64), (0, max(0, n_fft - len(audio))))
    count = 1 + (len(audio) - n_fft) // hop
    frames = audio[np.arange(n_fft)[None, :] + hop * np.arange(count)[:, None]] * np.hanning(n_fft)
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2
    return 10 * np.log10(power @ mel_filters(rate, n_fft, high=high).T + 1e-20)


def log_mel_distance(reference: np.ndarray, other: np.ndarray, high: float, rate: int = RATE,
                     floor_db: float = 80.0) -> float:
    """Up to `high` Hz: the preset's Nyquist frequency, above which singsynth's notes hold nothing."""
    n = min(len(reference), len(other))
    a, b = log_mel(reference[:n], rate, high=high), log_mel(other[:n], rate, high=high)
    floor = a.max() - floor_db
    cells = np.maximum(a, b) > floor
    return float(np.mean(np.abs(np.maximum(a, floor) - np.maximum(b, floor))[cells])) if cells.any() else 0.0


class Fluid:
    """One FluidSynth synth with a bank, dry, rendering float samples."""

    def __init__(self, bank: Path, gain: float):
        import fluidsynth
        self.synth = fluidsynth.Synth(gain=gain, samplerate=RATE, **{"synth.reverb.active": 0,
                                                                      "synth.chorus.active": 0})
        self.sfid = self.synth.sfload(str(bank))
        self._write = fluidsynth._fl.fluid_synth_write_float
        self._write.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p, ctypes.c_int, ctypes.c_int,
                                ctypes.c_void_p, ctypes.c_int, ctypes.c_int]

    def render(self, seconds: float) -> np.ndarray:
        buf = np.zeros((int(seconds * RATE), 2), dtype=np.float32)
        self._write(self.synth.synth, len(buf), buf.ctypes.data, 0, 2, buf.ctypes.data, 1, 2)
        return buf[:, 0]

    def note(self, bank: int, program: int, key: int, velocity: int, hold: float = HOLD) -> np.ndarray:
        self.synth.program_select(0, self.sfid, bank, program)
        self.synth.noteon(0, key, velocity)
        out = self.render(hold)
        self.synth.noteoff(0, key)
        self.render(1.5)  # the release, so the next note starts alone
        return out

    def close(self) -> None:
        self.synth.delete()


def singsynth_gain(preset) -> float:
    """What the engine plays a note at on a channel at its defaults (left channel)."""
    return gm.channel_gains()[0] * preset.playback_gain


def note_of(supply: NoteSupply, key):
    """singsynth's note (at the preset's rate) from the cache, generated where missing."""
    note = supply.cached(key)
    return note if note is not None else supply.generate([key])[key]


def reference(supply: NoteSupply, timbre, key: int, step: int, gain: float, hold: float = HOLD) -> np.ndarray:
    """What the engine plays of singsynth's note for its first `hold` seconds at 48 kHz."""
    data = note_of(supply, (timbre, key, step)).data[:int(hold * supply.sample_rate)]
    return resample(data[None, :], supply.sample_rate, RATE)[0] * gain


def zones(args) -> None:
    preset = load_preset(args.preset, lazy=True)
    supply = NoteSupply(preset, NoteCache.for_preset(preset, preset.sample_rate), preset.sample_rate)
    plan = programs.whole_preset(preset)
    by_program = {e.program: e for e in plan.entries if not e.drums}
    chosen = [int(p) for p in args.programs.split(",")]
    spacings = [int(s) for s in args.spacings.split(",") if s]
    if spacings:
        spacing_table(preset, supply, by_program, chosen, spacings, args.keys)
    if not args.no_layers:
        layers(preset, supply, by_program, chosen)


def spacing_table(preset, supply: NoteSupply, by_program: dict, chosen: list[int], spacings: list[int],
                  key_range: str) -> None:
    """Each key held 2.5 s, in FluidSynth from a bank with a zone every N keys (one velocity layer), against
    singsynth's note at that key."""
    low, high = (int(k) for k in key_range.split("-"))
    gain = singsynth_gain(preset)
    nyquist = min(16000, preset.sample_rate / 2)
    step = DEFAULT_VELOCITY_STEPS // 2  # what one layer plays: its middle step (velocity 68)
    velocity = round(step_velocity(step))
    between = {s: [] for s in spacings}
    at_roots = {s: [] for s in spacings}
    with tempfile.TemporaryDirectory() as tmp:
        for program in chosen:
            entry = by_program[program]
            keys = [k for k in range(low, high + 1) if entry.pitch_range[0] <= k <= entry.pitch_range[1]]
            refs = {k: reference(supply, entry.timbre, k, step, gain) for k in keys}
            for spacing in spacings:
                bank = build(programs.Plan([entry], {}), supply, Settings(spacing, 1))
                path = Path(tmp) / f"{program}-{spacing}.sf2"
                save_sf2(path, "bench", bank.presets, bank.instruments, bank.samples)
                fluid = Fluid(path, bank.fluid_gain)
                roots = set(root_keys(*entry.pitch_range, spacing))
                for k in keys:
                    d = log_mel_distance(refs[k], fluid.note(0, program, k, velocity), nyquist)
                    (at_roots if k in roots else between)[spacing].append(d)
                fluid.close()
            print(f"  {entry.name}: done", file=sys.stderr)
    print("| keys per zone | log-mel distance, keys between roots (dB) | at the roots (dB) | all keys (dB) |")
    print("| --- | --- | --- | --- |")
    for s in spacings:
        off, on = between[s], at_roots[s]
        between_cell = f"{np.mean(off):.2f}" if off else "(none)"
        print(f"| {s} | {between_cell} | {np.mean(on):.2f} | {np.mean(off + on):.2f} |")


def configs(args) -> None:
    """Settings side by side: every key of --keys at four velocities (30, 60, 90, 120), in FluidSynth from a
    bank with those settings, against singsynth's note there; and the size of the whole preset's bank with them."""
    from singsynth.export.build import estimate_bytes
    preset = load_preset(args.preset, lazy=True)
    supply = NoteSupply(preset, NoteCache.for_preset(preset, preset.sample_rate), preset.sample_rate)
    plan = programs.whole_preset(preset)
    by_program = {e.program: e for e in plan.entries if not e.drums}
    low, high = (int(k) for k in args.keys.split("-"))
    gain = singsynth_gain(preset)
    nyquist = min(16000, preset.sample_rate / 2)
    velocities = (30, 60, 90, 120)
    chosen = [(int(a), int(b)) for a, b in (c.split("x") for c in args.configs.split(","))]
    losses = {c: [] for c in chosen}
    errors = {c: [] for c in chosen}
    with tempfile.TemporaryDirectory() as tmp:
        for program in (int(p) for p in args.programs.split(",")):
            entry = by_program[program]
            keys = [k for k in range(low, high + 1) if entry.pitch_range[0] <= k <= entry.pitch_range[1]]
            refs = {(k, v): reference(supply, entry.timbre, k, quantize_velocity(v), gain)
                    for k in keys for v in velocities}
            for spacing, count in chosen:
                bank = build(programs.Plan([entry], {}), supply, Settings(spacing, count))
                path = Path(tmp) / f"{program}-{spacing}-{count}.sf2"
                save_sf2(path, "bench", bank.presets, bank.instruments, bank.samples)
                fluid = Fluid(path, bank.fluid_gain)
                for (k, v), ref in refs.items():
                    out = fluid.note(0, program, k, v)
                    losses[(spacing, count)].append(log_mel_distance(ref, out, nyquist))
                    errors[(spacing, count)].append(abs(20 * np.log10(np.sqrt(np.mean(out ** 2) + 1e-30)
                                                                      / np.sqrt(np.mean(ref ** 2) + 1e-30))))
                fluid.close()
            print(f"  {entry.name}: done", file=sys.stderr)
    print("| keys per zone | velocity layers | whole preset (MiB, 16-bit) | log-mel distance (dB) | "
          "level error, mean (dB) |")
    print("| --- | --- | --- | --- | --- |")
    for spacing, count in chosen:
        size = estimate_bytes(plan, supply, Settings(spacing, count)) / 2**20
        print(f"| {spacing} | {count} | {size:.0f} | {np.mean(losses[(spacing, count)]):.2f} | "
              f"{np.mean(errors[(spacing, count)]):.2f} |")


def layers(preset, supply: NoteSupply, by_program: dict, chosen: list[int]) -> None:
    """The loss of playing each velocity step from its layer's note, in FluidSynth (the layer's velocity modulator
    included), against singsynth's note at that step: at the roots near keys 48, 60 and 72 of a bank with a
    zone every 12 keys."""
    steps = DEFAULT_VELOCITY_STEPS
    counts = (1, 2, 3, 4, 8, 16)
    gain = singsynth_gain(preset)
    nyquist = min(16000, preset.sample_rate / 2)
    losses = {c: [] for c in counts}
    levels = {c: [] for c in counts}
    with tempfile.TemporaryDirectory() as tmp:
        for program in chosen:
            entry = by_program[program]
            roots = root_keys(*entry.pitch_range, 12)
            keys = sorted({min(roots, key=lambda r: abs(r - k)) for k in (48, 60, 72)})
            for c in counts:
                bank = build(programs.Plan([entry], {}), supply, Settings(12, c))
                path = Path(tmp) / f"{program}-{c}.sf2"
                save_sf2(path, "bench", bank.presets, bank.instruments, bank.samples)
                fluid = Fluid(path, bank.fluid_gain)
                for key in keys:
                    for s in range(steps):
                        velocity = round(step_velocity(s))
                        ref = reference(supply, entry.timbre, key, s, gain)
                        out = fluid.note(0, program, key, velocity)
                        losses[c].append(log_mel_distance(ref, out, nyquist))
                        levels[c].append(abs(20 * np.log10(np.sqrt(np.mean(out ** 2)) / np.sqrt(np.mean(ref ** 2)))))
                fluid.close()
    print()
    print("| velocity layers | log-mel distance over the 16 velocity steps (dB) | level error, mean (dB) |")
    print("| --- | --- | --- |")
    for c in counts:
        print(f"| {c} | {np.mean(losses[c]):.2f} | {np.mean(levels[c]):.2f} |")


def above_db(audio: np.ndarray, cutoff: float, rate: int = RATE) -> float:
    """How far under the whole the sound above `cutoff` Hz is, in dB: in FluidSynth's render of a bank at the
    preset's rate, the images its interpolation leaves above the samples' Nyquist frequency."""
    spectrum = np.abs(np.fft.rfft(audio)) ** 2
    freqs = np.fft.rfftfreq(len(audio), 1 / rate)
    return float(10 * np.log10(spectrum[freqs > cutoff].sum() / spectrum.sum() + 1e-30))


def fluid_gain_of(bank: Path) -> float:
    found = re.search(rb"synth\.gain ([0-9]+\.[0-9]+)", bank.read_bytes()[:4096])
    return float(found.group(1)) if found else 0.2


def fluidsynth_render(bank: Path, midi: Path, out: Path, gain: float) -> np.ndarray:
    subprocess.run(["fluidsynth", "-ni", "-R", "0", "-C", "0", "-g", str(gain), "-r", str(RATE), "-O", "float",
                    "-F", str(out), str(bank), str(midi)], check=True, capture_output=True, timeout=1200)
    return read_wav(out)[1].mean(axis=1)


def midi(args) -> None:
    from singsynth.cli import main as singsynth
    files = [Path(f) for f in args.files] or [REPO / "bench/data/k525_mvt1.mid", REPO / "examples/demo.mid"]
    gain = fluid_gain_of(args.bank)
    nyquist = min(16000, load_preset(args.preset, lazy=True).sample_rate / 2)
    print(f"log-mel up to {nyquist:.0f} Hz")
    print("| file | exported bank vs singsynth (dB) | FluidR3 Mono vs singsynth (dB) | RMS, bank vs singsynth (dB) "
          "| bank's sound above the preset's Nyquist (dB under the whole) | seconds |")
    print("| --- | --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as tmp:
        for f in files:
            ours = Path(tmp) / "s.wav"
            args_ = ["render", str(f), "-o", str(ours), "--rate", str(RATE), "--float", "--quiet"]
            if singsynth(args_ + (["--preset", args.preset] if args.preset else [])) != 0:
                raise SystemExit(f"singsynth render {f} failed")
            s = read_wav(ours)[1].mean(axis=1)
            e = fluidsynth_render(args.bank, f, Path(tmp) / "e.wav", gain)
            r3 = fluidsynth_render(FLUIDR3, f, Path(tmp) / "r.wav", 0.2) if FLUIDR3.is_file() else None
            yard = f"{log_mel_distance(s, r3, nyquist):.2f}" if r3 is not None else "n/a"
            n = min(len(s), len(e))
            rms = 20 * np.log10(np.sqrt(np.mean(e[:n] ** 2)) / np.sqrt(np.mean(s[:n] ** 2)))
            print(f"| {f.name} | {log_mel_distance(s, e, nyquist):.2f} | {yard} | {rms:+.2f} | "
                  f"{above_db(e, nyquist):.1f} | {len(s) / RATE:.0f} |")


def pitch(args) -> None:
    """The bank is laid out again from the cached notes with the export's settings (and checked to be the same
    bytes as BANK.sf2), so that each sample's key and velocity are known; FluidSynth plays BANK.sf2 itself."""
    preset = load_preset(args.preset, lazy=True)
    supply = NoteSupply(preset, NoteCache.for_preset(preset, preset.sample_rate), preset.sample_rate)
    whole = not args.instrument
    plan = programs.whole_preset(preset) if whole else programs.named(preset, args.instrument)
    settings = Settings(args.keys_per_zone or (16 if whole else 3), args.velocity_layers or (2 if whole else 4))
    bank = build(plan, supply, settings)
    with tempfile.TemporaryDirectory() as tmp:
        again = Path(tmp) / "again.sf2"
        name, comment = describe(preset.name, preset.sample_rate, settings, bank)
        save_sf2(again, name, bank.presets, bank.instruments, bank.samples, comment=comment)
        same = again.read_bytes() == args.bank.read_bytes()
    if not same:
        raise SystemExit(f"{args.bank} is not the bank these settings make from the cached notes: give the "
                         "export's --instrument, --keys-per-zone and --velocity-layers")
    fluid = Fluid(args.bank, fluid_gain_of(args.bank))
    apart, unpitched, worst, off = [], 0, (0.0, ""), []
    for entry, key, layer in bank.sources:
        if entry.drums:
            continue
        _, pitch_, step = key
        # singsynth's note as the engine plays it at 48 kHz: the estimator's octave and fine pitch can differ on the
        # same note at 16 and 48 kHz, and FluidSynth plays at 48 kHz
        ours = estimate_f0(resample(note_of(supply, key).data[None, :], preset.sample_rate, RATE)[0], RATE)
        theirs = estimate_f0(fluid.note(entry.bank, entry.program, pitch_, round(step_velocity(step))), RATE)
        if ours is None or theirs is None:
            unpitched += 1
            continue
        c = cents(theirs, ours)
        where = f"{entry.name} key {pitch_} velocities {layer.low}-{layer.high}"
        if abs(c) > 5:
            off.append((c, where))
        octaves = round(c / 1200)
        if octaves and abs(c - 1200 * octaves) <= 5:
            continue  # the estimator took another octave in one of the two: counted apart
        apart.append(abs(c))
        if abs(c) > abs(worst[0]):
            worst = (c, where)
    fluid.close()
    a = np.array(apart)
    octave = sum(1 for c, _ in off if round(c / 1200) and abs(c - 1200 * round(c / 1200)) <= 5)
    print("| melodic zones' samples | unpitched (skipped) | an octave apart (estimator) | within 5 cents, of the "
          "rest | median (cents) | largest (cents) |")
    print("| --- | --- | --- | --- | --- | --- |")
    print(f"| {len(a) + unpitched + octave} | {unpitched} | {octave} | {np.mean(a <= 5) * 100:.1f} % "
          f"({np.sum(a <= 5)} of {len(a)}) | {np.median(a):.2f} | {worst[0]:+.2f} ({worst[1]}) |")
    for c, where in off:
        print(f"  {c:+.1f} cents: {where}", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    z = sub.add_parser("zones")
    z.add_argument("--preset", default=None)
    z.add_argument("--programs", default="0,24,33,40,56,73,19,81")
    z.add_argument("--spacings", default="1,2,3,4,6,8,12,16,24")
    z.add_argument("--keys", default="36-84")
    z.add_argument("--spacings-only", dest="no_layers", action="store_true", help="leave out the layers table")
    c = sub.add_parser("configs")
    c.add_argument("--preset", default=None)
    c.add_argument("--programs", default="0,24,33,40,56,73,19,81")
    c.add_argument("--configs", default="3x4,8x1,8x2,12x1,12x2,16x2,24x2")
    c.add_argument("--keys", default="36-84")
    m = sub.add_parser("midi")
    m.add_argument("bank", type=Path)
    m.add_argument("files", nargs="*")
    m.add_argument("--preset", default=None)
    p = sub.add_parser("pitch")
    p.add_argument("bank", type=Path)
    p.add_argument("--preset", default=None)
    p.add_argument("--instrument", action="append")
    p.add_argument("--keys-per-zone", type=int)
    p.add_argument("--velocity-layers", type=int)
    args = parser.parse_args()
    {"zones": zones, "configs": configs, "midi": midi, "pitch": pitch}[args.what](args)


if __name__ == "__main__":
    main()
