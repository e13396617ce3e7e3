"""Training: the three stages run, a killed run resumes where it stopped, checkpoints stay readable."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from safetensors import safe_open

from singsynth.cli import main
from singsynth.preset import load_preset
from singsynth.train.checkpoint import PROGRESS_KEY


def train_args(data, out, checkpoint, *extra):
    return ["train", "--data", str(data), "--out", str(out), "--config", "sing-unittest", "--epochs", "2,2,2",
            "--batch-size", "4", "--target-rms", "3", "--checkpoint", str(checkpoint), "--quiet", *extra]


def progress_of(path):
    with safe_open(str(path), framework="pt") as f:
        return json.loads(f.metadata()[PROGRESS_KEY])["progress"]


@pytest.fixture(scope="module")
def unbroken(synthetic_data, tmp_path_factory):
    root = tmp_path_factory.mktemp("unbroken")
    torch.set_num_threads(1)  # the same arithmetic as the subprocesses below
    assert main(train_args(synthetic_data, root / "preset", root / "ck")) == 0
    return root


def test_training_writes_a_complete_preset(unbroken):
    preset = load_preset(unbroken / "preset")
    meta = preset.meta
    assert [i.id for i in preset.instruments] == ["synth_bright_001", "synth_sine_000"]
    assert [h["stage"] for h in meta["training"]["history"]] == ["autoencoder"] * 2 + ["sequence"] * 2 + ["end_to_end"] * 2
    assert set(meta["held_out"]) == {"valid", "test"}
    assert meta["training"]["recipe"]["epochs"] == [2, 2, 2]
    # training normalised loudness; the preset stores the gain that restores it
    assert meta["training"]["loudness_gain"] > 10
    assert preset.output_gain == pytest.approx(1 / meta["training"]["loudness_gain"])


def test_sigkill_then_resume_ends_where_an_unbroken_run_ends(synthetic_data, unbroken, tmp_path):
    checkpoint = tmp_path / "ck" / "checkpoint.safetensors"
    cmd = [sys.executable, "-m", "singsynth.cli", *train_args(synthetic_data, tmp_path / "preset", tmp_path / "ck",
                                                              "--checkpoint-every", "0")]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # kill it in the middle of stage 2
        if checkpoint.exists():
            try:
                if progress_of(checkpoint)["stage"] >= 1 and progress_of(checkpoint)["step"] >= 1:
                    break
            except Exception:
                pass  # the rename is atomic, but the file may be replaced while we read it
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (tmp_path / "preset").exists()
    killed_at = progress_of(checkpoint)  # readable after the kill
    assert killed_at["stage"] >= 1
    resumed = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming from" in resumed.stderr
    assert "autoencoder epoch" not in resumed.stderr  # finished stages are not redone
    a, b = load_preset(unbroken / "preset"), load_preset(tmp_path / "preset")
    assert len(b.meta["training"]["history"]) == 6
    for key, value in a.model.state_dict().items():
        assert torch.allclose(value, b.model.state_dict()[key], atol=1e-3), key
    # the epoch cut by the kill reports the mean over all its steps, not only over those after the resume
    assert [h["train_loss"] for h in b.meta["training"]["history"]] == \
        pytest.approx([h["train_loss"] for h in a.meta["training"]["history"]], rel=1e-3)


def test_a_resumed_run_trains_at_the_rate_it_is_given(synthetic_data, unbroken, tmp_path):
    import shutil
    shutil.copytree(unbroken / "ck", tmp_path / "ck")
    args = train_args(synthetic_data, tmp_path / "p", tmp_path / "ck", "--lr", "1e-5")
    args[args.index("2,2,2")] = "2,2,3"  # one more end-to-end epoch
    assert main(args) == 0
    with safe_open(str(tmp_path / "ck" / "checkpoint.safetensors"), framework="pt") as f:
        saved = json.loads(f.metadata()[PROGRESS_KEY])["optimizers"]
    assert {g["lr"] for o in saved.values() for g in o["param_groups"]} == {1e-5}
    assert load_preset(tmp_path / "p").meta["training"]["recipe"]["lr"] == 1e-5

def test_checkpoint_from_another_model_size_is_refused(synthetic_data, unbroken, tmp_path, capsys):
    args = train_args(synthetic_data, tmp_path / "p", unbroken / "ck")
    args[args.index("sing-unittest")] = "sing-tiny"
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "does not fit this run" in err and len(err.strip().splitlines()) == 1


def test_bad_arguments_exit_2(synthetic_data, tmp_path, capsys):
    assert main(train_args(synthetic_data, tmp_path / "p", tmp_path / "ck", "--epochs", "1,2")) == 2
    assert main(train_args(tmp_path / "missing", tmp_path / "p", tmp_path / "ck")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "--epochs" in err[0] and "missing" in err[1]


@pytest.fixture(scope="module")
def fluid_notes(soundfont, tmp_path_factory):
    """Piano and violin, pitches 48..67, velocity 100, rendered by the real FluidSynth: 40 notes, 6 held out."""
    from singsynth.train.soundfont import render_dataset
    out = tmp_path_factory.mktemp("fluid")
    render_dataset([soundfont], out, programs=[0, 40], drums=False, pitches=(48, 67), velocities=(100,),
                   jobs=1, progress=False)
    return out


def test_a_few_steps_on_fluidsynth_notes_lower_the_validation_loss(fluid_notes, tmp_path):
    from singsynth.train.config import TrainConfig
    from singsynth.train.data import NSynthData
    from singsynth.train.solver import build_trainer
    torch.manual_seed(0)
    data = NSynthData(fluid_notes)
    assert data.split("valid")
    args = TrainConfig(config="sing-tiny", batch_size=8, show_progress=False, checkpoint_every=1e9)  # the paper's recipe
    trainer = build_trainer(data, args, tmp_path / "ck.safetensors")
    before = trainer.validation_loss("autoencoder")
    for step in range(25):
        trainer.train_step("autoencoder", torch.randint(0, len(trainer.train_index), (8,)))
    after = trainer.validation_loss("autoencoder")
    print(f"validation spectral loss {before:.3f} -> {after:.3f}")
    assert after < 0.95 * before


def test_two_processes_under_torchrun_train_one_preset(synthetic_data, tmp_path):
    # DistributedDataParallel on the CPU (gloo): the same code path as several GPUs or machines
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "-m", "singsynth.cli",
           *train_args(synthetic_data, tmp_path / "preset", tmp_path / "ck", "--epochs", "1,1,1", "--max-steps", "2")]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stderr.count("end_to_end epoch 1/1") == 1  # only rank 0 logs
    assert len(load_preset(tmp_path / "preset").meta["training"]["history"]) == 3
    assert "2 process(es)" in load_preset(tmp_path / "preset").meta["training"]["hardware"]
