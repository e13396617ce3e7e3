"""SIGKILL `singsynth train` and `singsynth dataset soundfont` at random moments, resume each time, and compare
the end result with an unbroken run.

    python bench/kills.py [--kills 20] [--seed 0] [--workdir DIR] [--soundfont FILE]

Every command is the real CLI in a process of its own session: a kill reaches that process and nothing else,
and whatever it started is found by its process group. After each kill the checkpoint must load through
singsynth.train.checkpoint, no note may be half-written under its final name, and the processes the killed run
started must die with it and write nothing more. Every other training kill waits for a checkpoint write to
begin, so that it lands inside one; every other data-set kill lands just after the worker processes start.
Every run uses one thread, so a killed run must end bit for bit where the unbroken one does. Prints two
markdown tables; takes 5 to 10 minutes on two cores.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from processes import SINGSYNTH

# One thread: the same arithmetic in every run, so an unbroken and a killed run can be compared bit for bit.
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
SOUNDFONT = Path("/usr/share/sounds/sf3/FluidR3Mono_GM.sf3")
DATASET = ["--programs", "0,40,73", "--no-drums", "--pitches", "48-71", "--velocities", "50,127", "--jobs", "2"]
TRAINING = ["--config", "sing-tiny", "--epochs", "3,3,3", "--max-steps", "12", "--batch-size", "8",
            "--checkpoint-every", "1", "--seed", "0"]
CHECKPOINT_FILE = "checkpoint.safetensors"
ORPHAN_GRACE = 1.0  # seconds; children that die with their parent are gone well before
STUCK_AFTER = 10.0  # seconds after which a child of a killed run counts as stuck for good


# --- processes ----------------------------------------------------------------------------------------------

def start(args: list[str], log: Path) -> subprocess.Popen:
    with open(log, "ab") as out:
        return subprocess.Popen([*SINGSYNTH, *args], env=ENV, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)


def group_members(pgid: int) -> list[int]:
    """Live processes of a process group, read from /proc (field 5 of stat is the group)."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(entry))
    return members


def kill(proc: subprocess.Popen, outputs=None) -> dict[str, int]:
    """SIGKILL the CLI process alone, as a crash or the OOM killer would, then watch what it had started:
    how many processes outlived it by a second, how many were still there after STUCK_AFTER seconds (those
    are then killed, by pid), and how many files appeared in outputs() after its death."""
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    left = outputs() if outputs else set()
    time.sleep(ORPHAN_GRACE)
    lingering = len(group_members(proc.pid))
    deadline = time.monotonic() + STUCK_AFTER
    while group_members(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    stuck = group_members(proc.pid)
    for pid in stuck:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    while group_members(proc.pid):
        time.sleep(0.02)
    written = len(outputs() - left) if outputs else 0
    return {"lingering": lingering, "stuck": len(stuck), "written_after": written}


def wait_then_kill(proc: subprocess.Popen, delay: float, aim=None, then: float = 0.0, outputs=None) -> dict | None:
    """Kill after `delay` seconds or, if `aim` is given, `then` seconds after aim() first holds past the delay.
    Returns what kill() saw, or None if the run ended first."""
    deadline = time.monotonic() + delay
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return None
        time.sleep(0.01)
    if aim is not None:
        give_up = time.monotonic() + 30
        while not aim() and time.monotonic() < give_up:
            if proc.poll() is not None:
                return None
            time.sleep(0.001)
        time.sleep(then)
    if proc.poll() is not None:
        return None
    return kill(proc, outputs)


def add_up(row: dict, seen: dict[str, int]) -> None:
    for key, value in seen.items():
        row[key] = row.get(key, 0) + value


def run_to_end(args: list[str], log: Path) -> float:
    started = time.monotonic()
    proc = start(args, log)
    if proc.wait() != 0:
        sys.exit(f"{' '.join(args[:2])} failed; see {log}")
    return time.monotonic() - started


def first_output(args: list[str], log: Path, output) -> tuple[float, float]:
    """An unbroken run: (seconds until output() first holds something, seconds in all)."""
    started = time.monotonic()
    proc = start(args, log)
    first = None
    while proc.poll() is None:
        if first is None and output():
            first = time.monotonic() - started
        time.sleep(0.01)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(args[:2])} failed; see {log}")
    total = time.monotonic() - started
    return first or total, total


def kill_delay(rng: random.Random, first: float, total: float, kills: int) -> float:
    """From halfway through start-up to a little into the work: under half of 1/kills of the work is done
    per run on average, so the kills spread over the run and the last resume still has work to do."""
    return rng.uniform(0.5 * first, first + (total - first) / kills)


def temp_files(folder: Path) -> set[tuple[str, int, int]]:
    """Temporary files under a folder, each with its inode and mtime, so a new write tells from an old one."""
    found = set()
    for path in folder.rglob("*.tmp"):
        try:
            stat = path.stat()
        except FileNotFoundError:  # renamed into place meanwhile
            continue
        found.add((str(path), stat.st_ino, stat.st_mtime_ns))
    return found


def kill_repeatedly(args: list[str], log: Path, folder: Path, kills: int, rng: random.Random, moment,
                    after_kill, outputs=None) -> dict:
    """Start the command again and again, killing each run, until `kills` kills have landed.

    moment(kills_so_far, proc, temp_files_before) -> (delay, aim, then) for wait_then_kill. Once a run ends
    by itself the work is done; later runs, which only resume and finish, are killed at random moments of
    their short lives. after_kill(row) checks what the kill left. Counts kills that caught a temporary
    file being written under `folder`."""
    row = {"kills": 0, "lives": 0, "aimed": 0, "in_write": 0, "after_done": 0}
    done_life = None  # seconds a run takes once the work is done
    while row["kills"] < kills:
        if row["lives"] > 10 * kills:
            sys.exit(f"{' '.join(args[:2])}: {row['lives']} runs for {row['kills']} kills; see {log}")
        before = temp_files(folder)
        started = time.monotonic()
        proc = start(args, log)
        row["lives"] += 1
        delay, aim, then = moment(row["kills"], proc, before) if done_life is None else \
            (rng.uniform(0.1, 0.9) * done_life, None, 0.0)
        seen = wait_then_kill(proc, delay, aim=aim, then=then, outputs=outputs)
        if seen is None:
            if proc.wait() != 0:
                sys.exit(f"{' '.join(args[:2])} failed after a kill; see {log}")
            done_life = time.monotonic() - started
            continue
        add_up(row, seen)
        row["kills"] += 1
        row["aimed"] += aim is not None
        row["after_done"] += done_life is not None
        row["in_write"] += bool(temp_files(folder) - before)
        after_kill(row)
    run_to_end(args, log)
    row["lives"] += 1
    return row


# --- training -----------------------------------------------------------------------------------------------

def train_args(data: Path, out: Path, checkpoint: Path) -> list[str]:
    return ["train", "--data", str(data), "--out", str(out), "--checkpoint", str(checkpoint), "--quiet", *TRAINING]


def checkpoint_problem(path: Path, data: Path) -> str | None:
    """None if the checkpoint loads into this run's models and optimizers through singsynth.train.checkpoint."""
    from singsynth.model.config import get_config
    from singsynth.model.sing import SING, Encoder
    from singsynth.train.checkpoint import CheckpointError, load_checkpoint
    from singsynth.train.config import TrainConfig
    from singsynth.train.data import NSynthData
    from singsynth.train.solver import build_optimizers
    config = get_config(TRAINING[TRAINING.index("--config") + 1], n_instruments=len(NSynthData(data).instruments))
    sing, encoder = SING(config), Encoder(config)
    try:
        load_checkpoint(path, {"sing": sing, "encoder": encoder}, build_optimizers(sing, encoder, TrainConfig().lr))
    except CheckpointError as exc:
        return str(exc)
    return None


def checkpoint_weights(path: Path) -> dict:
    from safetensors.torch import load_file
    return {k: v for k, v in load_file(str(path)).items() if k.startswith("model.sing.")}


def loss_difference(a: float | None, b: float | None) -> float:
    return float("inf") if a is None or b is None else abs(a - b)


def max_difference(a: dict, b: dict) -> float:
    return max(float((a[k].float() - b[k].float()).abs().max()) for k in a)


def evaluation_loss(preset: Path, data: Path, log: Path) -> float:
    """The model's spectral loss on the preset's held-out test notes, through `singsynth eval`."""
    result = subprocess.run([*SINGSYNTH, "eval", "--preset", str(preset), "--data", str(data), "--json"],
                            env=ENV, capture_output=True, text=True)
    with open(log, "a") as f:
        f.write(result.stderr)
    if result.returncode != 0:
        sys.exit(f"singsynth eval failed: {result.stderr.strip()[-500:]}")
    return json.loads(result.stdout)["model"]["spectral_loss"]


def bench_training(work: Path, data: Path, kills: int, rng: random.Random) -> dict:
    from singsynth.preset import load_preset
    log = work / "train.log"
    unbroken = work / "train-unbroken"
    first, total = first_output(train_args(data, unbroken / "preset", unbroken / "ck"), log,
                                lambda: (unbroken / "ck" / CHECKPOINT_FILE).exists())
    print(f"unbroken training: {total:.0f} s, first checkpoint after {first:.1f} s", flush=True)

    killed = work / "train-killed"
    args = train_args(data, killed / "preset", killed / "ck")
    checkpoint = killed / "ck" / CHECKPOINT_FILE

    def moment(done: int, proc, before):
        # every other kill waits for a checkpoint write to begin, to land inside it
        aim = (lambda: bool(temp_files(checkpoint.parent) - before)) if done % 2 else None
        return kill_delay(rng, first, total, kills), aim, 0.0

    def after_kill(row: dict) -> None:
        row["most_temp_files"] = max(row.get("most_temp_files", 0), len(temp_files(killed / "ck")))
        problem = checkpoint_problem(checkpoint, data) if checkpoint.exists() else None
        row["unreadable"] = row.get("unreadable", 0) + bool(problem)
        if problem:
            print(f"  kill {row['kills']}: {problem}", flush=True)

    row = kill_repeatedly(args, log, killed, kills, rng, moment, after_kill)
    row["temp_files_left"] = len(temp_files(killed))

    a, b = load_preset(unbroken / "preset"), load_preset(killed / "preset")
    row["preset_weight_diff"] = max_difference(a.model.state_dict(), b.model.state_dict())
    row["checkpoint_weight_diff"] = max_difference(checkpoint_weights(unbroken / "ck" / CHECKPOINT_FILE),
                                                   checkpoint_weights(checkpoint))
    history_a, history_b = a.meta["training"]["history"], b.meta["training"]["history"]
    row["valid_loss"] = (history_a[-1]["valid_loss"], history_b[-1]["valid_loss"])
    row["train_loss_diff"] = max(loss_difference(x["train_loss"], y["train_loss"])
                                 for x, y in zip(history_a, history_b))
    row["epochs"] = (len(history_a), len(history_b))
    row["eval_loss"] = (evaluation_loss(unbroken / "preset", data, log), evaluation_loss(killed / "preset", data, log))
    return row


# --- data set -----------------------------------------------------------------------------------------------

def dataset_args(out: Path, soundfont: Path) -> list[str]:
    return ["dataset", "soundfont", str(soundfont), "--out", str(out), "--quiet", *DATASET]


def note_files(out: Path) -> set[str]:
    """Every name in audio/ and .silent/, temporary files included."""
    return {f"{d}/{name}" for d in ("audio", ".silent") if (out / d).is_dir() for name in os.listdir(out / d)}


def damaged_notes(out: Path) -> int:
    """Notes under their final name that are not a complete 16-bit mono 4 s wav."""
    from singsynth.train.data import DataError, read_note_wav
    damaged = 0
    for wav in (out / "audio").glob("*.wav") if (out / "audio").is_dir() else ():
        try:
            read_note_wav(wav)
        except DataError:
            damaged += 1
    return damaged


def compare_datasets(reference: Path, out: Path) -> dict:
    expected = json.loads((reference / "examples.json").read_text())
    examples_file = out / "examples.json"
    found = json.loads(examples_file.read_text()) if examples_file.exists() else {}
    present = identical = 0
    for name in expected:
        wav = out / "audio" / f"{name}.wav"
        if wav.exists():
            present += 1
            identical += wav.read_bytes() == (reference / "audio" / f"{name}.wav").read_bytes()
    return {"expected": len(expected), "present": present, "identical": identical,
            "corrupt": present - identical + damaged_notes(out), "missing": len(expected) - present,
            "examples_json_equal": found == expected,
            "silent_equal": sorted(os.listdir(reference / ".silent")) == sorted(os.listdir(out / ".silent")),
            "temp_files_left": len(temp_files(out))}


def bench_dataset(work: Path, soundfont: Path, kills: int, rng: random.Random) -> tuple[dict, Path]:
    log = work / "dataset.log"
    reference = work / "data-unbroken"
    first, total = first_output(dataset_args(reference, soundfont), log,
                                lambda: (reference / "audio").exists() and any((reference / "audio").glob("*.wav")))
    print(f"unbroken render: {total:.0f} s, first note after {first:.1f} s", flush=True)

    out = work / "data-killed"
    args = dataset_args(out, soundfont)

    def moment(done: int, proc, before):
        # every other kill lands just after the worker processes start, before they can know that they
        # must die with their parent
        if done % 2:
            return 0.0, lambda: len(group_members(proc.pid)) > 1, rng.uniform(0.0, 0.6)
        return kill_delay(rng, first, total, kills), None, 0.0

    def after_kill(row: dict) -> None:
        row["damaged_after_kill"] = row.get("damaged_after_kill", 0) + damaged_notes(out)

    row = kill_repeatedly(args, log, out, kills, rng, moment, after_kill, outputs=lambda: note_files(out))
    row.update(compare_datasets(reference, out))
    return row, reference


# --- report -------------------------------------------------------------------------------------------------

def print_table(title: str, cells: dict[str, str]) -> None:
    print(f"\n{title}\n")
    print("| " + " | ".join(cells) + " |")
    print("| " + " | ".join(["---"] * len(cells)) + " |")
    print("| " + " | ".join(cells.values()) + " |", flush=True)


def print_tables(train: dict, data: dict) -> None:
    pair = "{:.6f} / {:.6f}".format
    print_table("`singsynth train` (sing-tiny, epochs 3,3,3 x 12 steps, checkpoint every 1 s):", {
        "kills": str(train["kills"]), "runs": str(train["lives"]), "aimed at a write": str(train["aimed"]),
        "kills after the work was done": str(train["after_done"]),
        "landed in a checkpoint write": str(train["in_write"]), "unreadable checkpoints": str(train["unreadable"]),
        "processes outliving a kill by 1 s": str(train["lingering"]),
        "most temp files after a kill": str(train["most_temp_files"]),
        "temp files at the end": str(train["temp_files_left"]),
        "epochs unbroken / killed": "{} / {}".format(*train["epochs"]),
        "final valid loss unbroken / killed": pair(*train["valid_loss"]),
        "eval loss (test split) unbroken / killed": pair(*train["eval_loss"]),
        "max train-loss difference": f"{train['train_loss_diff']:.3g}",
        "max weight difference, checkpoint fp32": f"{train['checkpoint_weight_diff']:.3g}",
        "max weight difference, preset fp16": f"{train['preset_weight_diff']:.3g}"})
    print_table("`singsynth dataset soundfont` (3 GM programs x 24 pitches x 2 velocities, 2 jobs):", {
        "kills": str(data["kills"]), "runs": str(data["lives"]), "aimed at worker start-up": str(data["aimed"]),
        "kills after the work was done": str(data["after_done"]),
        "caught a note mid-write": str(data["in_write"]), "damaged notes after a kill": str(data["damaged_after_kill"]),
        "processes outliving a kill by 1 s / by 10 s": f"{data['lingering']} / {data['stuck']}",
        "notes written after a kill": str(data["written_after"]),
        "notes expected": str(data["expected"]), "present": str(data["present"]),
        "identical": str(data["identical"]), "corrupt": str(data["corrupt"]), "missing": str(data["missing"]),
        "examples.json equal": "yes" if data["examples_json_equal"] and data["silent_equal"] else "NO",
        "temp files at the end": str(data["temp_files_left"])})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=20, help="kills per command (default 20)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the kill moments (default 0)")
    parser.add_argument("--workdir", help="empty or new folder for the runs (default: a new temporary folder)")
    parser.add_argument("--soundfont", default=str(SOUNDFONT), help=f"SoundFont to render (default {SOUNDFONT})")
    args = parser.parse_args()
    work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="singsynth-kills-"))
    if work.exists() and any(work.iterdir()):
        sys.exit(f"{work}: not empty; give a new or empty --workdir")
    work.mkdir(parents=True, exist_ok=True)
    print(f"work folder: {work}", flush=True)
    rng = random.Random(args.seed)
    data_row, data = bench_dataset(work, Path(args.soundfont), args.kills, rng)
    train_row = bench_training(work, data, args.kills, rng)
    print_tables(train_row, data_row)


if __name__ == "__main__":
    main()
