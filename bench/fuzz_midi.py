"""Fuzz `singsynth render` with damaged and absurd MIDI files: every input must render or be refused cleanly.

    python bench/fuzz_midi.py [--count 130] [--reader-count 3000] [--seed 0] [--timeout 60] [--jobs 1]
                              [--preset unittest] [--rate 8000] [--memory 2048] [--keep DIR]

Seeds are the real MIDI files in tests/data/midi/ and examples/demo.mid; bench/midi_mutations.py damages them
class by class (bytes flipped, truncation, chunk lengths, status bytes, tempos, ~10^6-event files, ...).

Two passes, deterministic for a given --seed:
- reader: --reader-count inputs through singsynth.io.midi.read_midi in this process: each must return events in
  time order within the caps or raise MidiError (one line naming the file); anything else, or more than
  --timeout seconds, is a failure.
- cli: --count inputs through `python -m singsynth render IN -o OUT.wav --quiet` in a subprocess with a
  wall-time limit (--timeout) and an address-space limit (--memory MiB). Each is rendered (exit 0, a valid
  WAV, no other file), refused (exit 2, exactly one stderr line naming the file, no traceback, no output
  file) or a FAILURE (traceback, other exit code, timeout, memory limit, several stderr lines, a file left).

--preset unittest (the default) builds the test suite's tiny random-weight preset: the fuzz is about MIDI
handling, not sound. Prints a markdown table per pass and lists every failure; --keep saves failing inputs.
"""
from __future__ import annotations

import argparse
import collections
import dataclasses
import math
import os
import resource
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import midi_mutations as mm

ROOT = Path(__file__).resolve().parent.parent
SEEDS = sorted((ROOT / "tests" / "data" / "midi").glob("*.mid")) + [ROOT / "examples" / "demo.mid"]


@dataclasses.dataclass
class Result:
    cls: str
    name: str
    outcome: str
    why: str = ""
    seconds: float = 0.0
    rss_mib: float = 0.0


def inputs(count: int, run_seed: int, seeds: list[mm.Seed]):
    """(class, name, bytes) for `count` inputs spread evenly over the classes; huge files once per kind."""
    others = [c for c in mm.CLASSES if c != "huge event counts"]
    huge = min(len(mm.huge_counts()), count // len(mm.CLASSES))
    rest = count - huge
    per_class = {c: rest // len(others) + (i < rest % len(others)) for i, c in enumerate(others)}
    per_class["huge event counts"] = huge
    for index in range(max(per_class.values())):
        for cls in mm.CLASSES:
            if index < per_class[cls]:
                source, data = mm.make_input(cls, index, seeds, run_seed)
                yield cls, f"{cls.replace(' ', '-')}-{index:04d}-{source}", data


# -- reader pass: in this process --

class _Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise _Timeout


def check_reader(cls: str, name: str, path: Path, timeout: float) -> Result:
    from singsynth.io.midi import MAX_EVENTS, MAX_SECONDS, MidiError, read_midi
    signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    start = time.perf_counter()
    try:
        events = read_midi(path)
    except MidiError as exc:
        text = str(exc)
        ok = "\n" not in text and str(path) in text
        return Result(cls, name, "refused" if ok else "FAILURE", "" if ok else f"bad message: {text!r}",
                      time.perf_counter() - start)
    except _Timeout:
        return Result(cls, name, "FAILURE", f"timeout after {timeout:g} s", timeout)
    except MemoryError:
        return Result(cls, name, "FAILURE", "MemoryError", time.perf_counter() - start)
    except Exception as exc:  # noqa: BLE001 - any other exception is exactly what the fuzzer looks for
        return Result(cls, name, "FAILURE", f"{type(exc).__name__}: {str(exc)[:200]}", time.perf_counter() - start)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    seconds = time.perf_counter() - start
    times = [t for t, _ in events]
    bad = ("more events than MAX_EVENTS" if len(events) > MAX_EVENTS
           else "times out of order" if times != sorted(times)
           else "time outside 0..MAX_SECONDS" if times and not (0 <= times[0] and times[-1] <= MAX_SECONDS)
           else "time not finite" if not all(math.isfinite(t) for t in times) else "")
    return Result(cls, name, "FAILURE" if bad else "rendered", bad, seconds)


# -- cli pass: a subprocess per input --

def wav_problem(path: Path, rate: int) -> str:
    """'' for a complete 16-bit stereo WAV at `rate` as render writes it, else what is wrong."""
    with open(path, "rb") as f:
        head = f.read(44)
    size = path.stat().st_size
    if len(head) < 44 or head[:4] != b"RIFF" or head[8:16] != b"WAVEfmt " or head[36:40] != b"data":
        return "not a WAV file"
    tag, channels, wav_rate, _, _, bits = struct.unpack_from("<HHIIHH", head, 20)
    data = struct.unpack_from("<I", head, 40)[0]
    if (tag, channels, wav_rate, bits) != (1, 2, rate, 16):
        return f"WAV format {tag}/{channels} ch/{wav_rate} Hz/{bits} bit"
    if data != min(size - 44, 0xFFFFFFFF) or data % 4:
        return f"WAV data size {data} does not match the file ({size - 44})"
    return ""


# `python -m singsynth ARGS` under an address-space and a CPU-time limit. Set in the child by itself rather than
# by Popen's preexec_fn, which is unsafe when the parent runs threads (--jobs).
LAUNCH = ("import resource, runpy, sys\n"
          "memory, cpu = int(sys.argv[1]), int(sys.argv[2])\n"
          "resource.setrlimit(resource.RLIMIT_AS, (memory, memory))\n"
          "resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))\n"
          "resource.setrlimit(resource.RLIMIT_CORE, (0, 0))\n"
          "sys.argv = ['singsynth', *sys.argv[3:]]\n"
          "runpy.run_module('singsynth', run_name='__main__', alter_sys=True)\n")


def run_cli(cls: str, name: str, path: Path, work: Path, args) -> Result:
    out_dir = work / f"out-{name}"
    out_dir.mkdir()
    out = out_dir / "out.wav"
    cmd = [sys.executable, "-c", LAUNCH, str(args.memory * 2**20), str(int(4 * args.timeout)),
           "render", str(path), "-o", str(out), "--quiet", "--preset", args.preset_path, "--rate", str(args.rate),
           "--cache-dir", str(work / "cache")]
    with open(work / f"{name}.err", "w+b") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                                start_new_session=True)
        timed_out, rss = False, 0.0
        while proc.poll() is None:
            rss = max(rss, peak_rss_mib(proc.pid))
            if time.perf_counter() - start > args.timeout:
                os.killpg(proc.pid, signal.SIGKILL)
                timed_out = True
                proc.wait()
            time.sleep(0.05)
        seconds = time.perf_counter() - start
        err.seek(0)
        stderr = err.read().decode("utf-8", "replace")
    (work / f"{name}.err").unlink()
    left = sorted(p.name for p in out_dir.iterdir() if p != out)
    rc = proc.returncode
    lines = [line for line in stderr.splitlines() if line.strip()]
    why = ""
    if timed_out:
        why = f"timeout after {args.timeout:g} s"
    elif "MemoryError" in stderr or "bad_alloc" in stderr or "Cannot allocate memory" in stderr:
        why = f"memory limit ({args.memory} MiB)"
    elif "Traceback" in stderr:
        why = "traceback: " + lines[-1][:200]
    elif rc == 0:
        why = "no output file" if not out.exists() else wav_problem(out, args.rate)
    elif rc == 2:
        if len(lines) != 1:
            why = f"{len(lines)} stderr lines: " + " | ".join(lines[-3:])[:300]
        elif not lines[0].startswith("singsynth render: error: ") or path.name not in lines[0]:
            why = "error line does not name the file: " + lines[0][:200]
        elif out.exists():
            why = "refused but left the output file"
    else:
        why = f"exit code {rc}: " + (lines[-1][:200] if lines else "(no stderr)")
    if left and not why:
        why = f"left files behind: {left}"
    outcome = "FAILURE" if why else "rendered" if rc == 0 else "refused"
    shutil.rmtree(out_dir)
    return Result(cls, name, outcome, why, seconds, rss)


def peak_rss_mib(pid: int) -> float:
    """The process's peak resident memory so far (VmHWM). Not getrusage's ru_maxrss: that also counts the
    parent's pages the child held between fork and exec."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0.0


# -- driver --

def unittest_preset(folder: Path) -> Path:
    """The test suite's tiny preset: sing-unittest with random weights, flute, violin and a drum kit."""
    import torch

    from singsynth.model.config import get_config
    from singsynth.model.sing import SING
    from singsynth.preset import Instrument, save_preset
    torch.manual_seed(0)
    instruments = [Instrument(0, "Flute", "sf_flute", 73, pitch_range=(60, 96)),
                   Instrument(1, "Violin", "sf_violin", 40, pitch_range=(55, 103)),
                   Instrument(2, "Standard Drum Kit", "sf_drums", None, drums=True, pitch_range=(35, 81))]
    model = SING(get_config("sing-unittest", n_instruments=len(instruments)))
    return save_preset(folder, model, instruments, {"name": "unittest", "license": "MIT"})


def table(title: str, results: list[Result], first: str) -> None:
    by_class = collections.defaultdict(list)
    for r in results:
        by_class[r.cls].append(r)
    with_rss = any(r.rss_mib for r in results)  # measured for subprocesses only
    print(f"\n{title}\n")
    print(f"| class | tried | {first} | refused | failures | slowest (s) |" + (" peak RSS (MiB) |" if with_rss else ""))
    print("| --- | ---: | ---: | ---: | ---: | ---: |" + (" ---: |" if with_rss else ""))
    rows = [(cls, by_class[cls]) for cls in mm.CLASSES if by_class[cls]] + [("all", results)]
    for cls, rs in rows:
        counts = collections.Counter(r.outcome for r in rs)
        rss = f" {max(r.rss_mib for r in rs):.0f} |" if with_rss else ""
        print(f"| {cls} | {len(rs)} | {counts['rendered']} | {counts['refused']} | {counts['FAILURE']} | "
              f"{max(r.seconds for r in rs):.1f} |{rss}")
    failures = [r for r in results if r.outcome == "FAILURE"]
    print(f"\n{len(failures)} failures" + (":" if failures else ""))
    for r in failures:
        print(f"- {r.name}: {r.why}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=130, help="inputs through the CLI (default 130)")
    parser.add_argument("--reader-count", type=int, default=3000, help="inputs through read_midi (default 3000)")
    parser.add_argument("--seed", type=int, default=0, help="the same seed makes the same inputs")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per input (default 60)")
    parser.add_argument("--jobs", type=int, default=1, help="CLI inputs at once (default 1)")
    parser.add_argument("--preset", default="unittest", help="preset for render (default: the tests' tiny one)")
    parser.add_argument("--rate", type=int, default=8000, help="render sample rate (default 8000: fast)")
    parser.add_argument("--memory", type=int, default=2048, metavar="MIB", help="address-space limit per render")
    parser.add_argument("--keep", type=Path, default=None, metavar="DIR", help="save failing inputs here")
    args = parser.parse_args()
    import logging
    logging.disable(logging.WARNING)  # the reader's warnings about odd files are expected by the thousand
    seeds = [mm.load_seed(p) for p in SEEDS]
    failing: list[tuple[Result, bytes]] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="fuzz-midi-") as tmp:
        work = Path(tmp)
        # the reader pass runs here, under the same address-space limit as each render
        resource.setrlimit(resource.RLIMIT_AS, (args.memory * 2**20, resource.getrlimit(resource.RLIMIT_AS)[1]))
        reader = []
        for cls, name, data in inputs(args.reader_count, args.seed, seeds):
            path = work / f"{name}.mid"
            path.write_bytes(data)
            reader.append(check_reader(cls, name, path, args.timeout))
            if reader[-1].outcome == "FAILURE":
                failing.append((reader[-1], data))
            path.unlink()
        if reader:
            table(f"reader pass: singsynth.io.midi.read_midi in process, {len(reader)} inputs", reader, "read")
        if args.count:
            args.preset_path = (str(unittest_preset(work / "unittest")) if args.preset == "unittest"
                                else args.preset)
            cli = _cli_pass(args, seeds, work, failing)
            table(f"cli pass: singsynth render in a subprocess, {len(cli)} inputs, --rate {args.rate}, "
                  f"{args.timeout:g} s and {args.memory} MiB each, --jobs {args.jobs}", cli, "rendered")
    print(f"\n{time.perf_counter() - started:.0f} s in all")
    if args.keep and failing:
        args.keep.mkdir(parents=True, exist_ok=True)
        for r, data in failing:
            (args.keep / (r.name if r.name.endswith(".mid") else f"{r.name}.mid")).write_bytes(data)
        print(f"failing inputs saved in {args.keep}")
    return 1 if failing else 0


def _cli_pass(args, seeds: list[mm.Seed], work: Path, failing: list) -> list[Result]:
    def one(item):
        cls, name, data = item
        path = work / f"{name}.mid"
        path.write_bytes(data)
        result = run_cli(cls, name, path, work, args)
        if result.outcome == "FAILURE":
            failing.append((result, data))
        path.unlink()
        print(f"{result.outcome:8s} {result.seconds:6.1f} s {result.rss_mib:5.0f} MiB  {name} {result.why}",
              file=sys.stderr, flush=True)
        return result
    results, pending = [], collections.deque()
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        for item in inputs(args.count, args.seed, seeds):  # at most --jobs inputs in memory at once
            if len(pending) >= args.jobs:
                results.append(pending.popleft().result())
            pending.append(pool.submit(one, item))
        results += [f.result() for f in pending]
    return results


if __name__ == "__main__":
    sys.exit(main())
