"""What the reverb and chorus cost: CPU seconds per second of 48 kHz stereo, in live (256-frame) and offline
(16384-frame) blocks, fed a stereo send of noise throughout (the worst case: their tails never rest). The
numba-compiled kernels against the same loops run as plain Python (numba's py_func), over a shorter stretch.
Also: the first call's compile (or cache load) time and numba's import time, in a fresh process; and the
reverb's decay time (T30: Schroeder's backward-integrated impulse response, -5 to -35 dB, times 2) per room size
and damping, against the undamped combs' own (delay x 60 dB / -20 log10(feedback), their mean delay and longest).

    python bench/effects.py [--seconds 20] [--rate 48000]

Prints markdown tables.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time

import numpy as np

from processes import ROOT

sys.path.insert(0, str(ROOT))
from singsynth.synth.effects import ChorusSettings, ReverbSettings  # noqa: E402
from singsynth.synth.effects.chorus import Chorus  # noqa: E402
from singsynth.synth.effects.reverb import Reverb  # noqa: E402

FIRST_CALL = ("import time; t = time.perf_counter(); import numba; imported = time.perf_counter() - t\n"
              "import numpy as np\n"
              "from singsynth.synth.effects import Effects, EffectsConfig\n"
              "t = time.perf_counter(); Effects(EffectsConfig(), 48000).prepare()\n"
              "print(imported, time.perf_counter() - t)")


def cost(make, seconds: float, rate: int, block: int, python: bool = False) -> float:
    """CPU seconds per second of audio for reverb, chorus or both (make() -> their processors)."""
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((int(seconds * rate), 2)) * 0.1).astype(np.float32)
    out = np.zeros_like(x)
    reverb, chorus = make()
    if python:  # the same loops, uncompiled
        from singsynth.synth.effects import kernels
        saved = kernels.freeverb, kernels.chorus
        kernels.freeverb, kernels.chorus = kernels.freeverb.py_func, kernels.chorus.py_func
    try:
        for fx in (reverb, chorus):  # compiled (or loaded from numba's cache) before timing
            if fx is not None:
                fx.process(x[:1].sum(axis=1) if fx is reverb else x[:1], out[:1])
        start = time.process_time()
        for s in range(0, len(x), block):
            if reverb is not None:
                reverb.process(x[s:s + block].sum(axis=1), out[s:s + block])
            if chorus is not None:
                chorus.process(x[s:s + block], out[s:s + block])
        return (time.process_time() - start) / seconds
    finally:
        if python:
            kernels.freeverb, kernels.chorus = saved


def decay_time(room: float, damp: float, rate: int) -> float:
    reverb = Reverb(ReverbSettings(room, damp, 1.0, 1.0), rate, threshold=0.0)
    x = np.zeros(30 * rate, np.float32)
    x[0] = 1.0
    out = np.zeros((len(x), 2), np.float32)
    reverb.process(x, out)
    energy = (out.astype(np.float64) ** 2).sum(axis=1)
    edc = 10 * np.log10(np.cumsum(energy[::-1])[::-1] / energy.sum() + 1e-300)
    return (np.argmax(edc < -35) - np.argmax(edc < -5)) / rate * 2


def rt60_table(rate: int) -> None:
    from singsynth.synth.effects.reverb import COMBS, OFFSET_ROOM, SCALE_ROOM, STEREO_SPREAD
    damps = (0.0, 0.2, 0.5, 1.0)
    print(f"\n| room size | combs' feedback | RT60, combs alone (mean .. longest delay) | "
          + " | ".join(f"RT60 measured, damp {d:g}" for d in damps) + " |")
    print("| --- | --- | --- | " + " | ".join("---" for _ in damps) + " |")
    delays = np.array(COMBS) * rate / 44100
    for room in (0.0, 0.2, 0.4, 0.6, 0.8, 0.9, 1.0):
        g = room * SCALE_ROOM + OFFSET_ROOM
        per = 60 / (-20 * np.log10(g)) / rate
        cells = " | ".join(f"{decay_time(room, d, rate):.2f} s" for d in damps)
        print(f"| {room:g} | {g:.3f} | {delays.mean() * per:.2f} .. {(delays.max() + STEREO_SPREAD) * per:.2f} s | "
              f"{cells} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rate", type=int, default=48000)
    args = parser.parse_args()
    if not args.seconds > 0 or args.rate <= 0:
        print("bench/effects.py: --seconds and --rate must be positive", file=sys.stderr)
        return 2
    rate = args.rate
    makers = {"reverb": lambda: (Reverb(ReverbSettings(), rate), None),
              "chorus": lambda: (None, Chorus(ChorusSettings(), rate)),
              "reverb + chorus": lambda: (Reverb(ReverbSettings(), rate), Chorus(ChorusSettings(), rate))}
    print(f"| effect ({rate} Hz stereo, FluidSynth's default settings) | numba, 256-frame blocks | numba, 16384 | "
          "plain Python loops, 16384 |")
    print("| --- | --- | --- | --- |")
    for name, make in makers.items():
        live = cost(make, args.seconds, rate, 256)
        offline = cost(make, args.seconds, rate, 16384)
        python = cost(make, min(args.seconds, 1.0), rate, 16384, python=True)
        print(f"| {name} | {100 * live:.2f} % of a core | {100 * offline:.2f} % | {100 * python:.0f} % |")
    done = subprocess.run([sys.executable, "-c", FIRST_CALL], capture_output=True, text=True, cwd=ROOT,
                          check=True).stdout.split()
    print(f"\nfresh process: `import numba` {float(done[0]):.2f} s; kernels compiled or loaded from numba's cache "
          f"{float(done[1]):.2f} s")
    rt60_table(rate)
    return 0


if __name__ == "__main__":
    sys.exit(main())
