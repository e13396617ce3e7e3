"""The three training stages of SING, with checkpoints that survive a SIGKILL, on CPU, CUDA or DDP.

1. autoencoder: encoder + decoder reconstruct the note;
2. sequence: the LSTM learns the frozen encoder's embeddings (truncated back-propagation);
3. end to end: LSTM + decoder on the spectral loss.

The Trainer runs the loop over stages and epochs and keeps the run's progress; it is handed its parts: the notes
on the device (device_notes.py), a step of each stage (steps.py), the validation loss (validation.py) and the
files the run keeps (run_files.py).
"""
from __future__ import annotations

import logging
import math
import os
import platform
import sys
import time
from dataclasses import asdict
from pathlib import Path

import torch

from ..model.config import get_config
from ..model.sing import SING, Encoder
from .config import TrainConfig
from .data_order import POSITION_KEY, DataPosition, pass_notes, recorded_position, where_to_go_on
from .device_notes import DeviceNotes
from .distributed import Process
from .run_files import RunFiles
from .stage_losses import valid_loss_name
from .steps import StageSteps
from .validation import validate
from .warm_start import WarmStartError, check_same_level, check_same_model, training_record, widen_state

logger = logging.getLogger(__name__)

STAGES = ("autoencoder", "sequence", "end_to_end")


def model_overrides(args: TrainConfig) -> dict:
    """What the training arguments change in the named model size."""
    overrides: dict = {} if args.time_embedding else {"time_dim": 0}
    if args.decoder:
        overrides["decoder"] = args.decoder
    if args.harmonics:
        overrides["harmonics"] = args.harmonics
    if args.inharmonicity:
        overrides["inharmonicity"] = True
    if args.residual:
        overrides["residual"] = True
    if args.key_tuning:
        overrides["key_tuning"] = True
    return overrides


def build_optimizers(sing: SING, encoder: Encoder, lr: float) -> dict[str, torch.optim.Optimizer]:
    """One Adam per stage over what that stage trains; a checkpoint holds the state of all three."""
    return {
        "autoencoder": torch.optim.Adam(list(encoder.parameters()) + list(sing.decoder.parameters()), lr),
        "sequence": torch.optim.Adam(sing.sequence.parameters(), lr),
        "end_to_end": torch.optim.Adam(sing.parameters(), lr),
    }


class Trainer:
    """Holds the three models and the loop over stages; the notes, the steps and the run's files are its parts."""

    def __init__(self, data, sing: SING, encoder: Encoder, optimizers: dict[str, torch.optim.Optimizer],
                 args: TrainConfig, checkpoint: Path, init=None, process: Process | None = None):
        """`sing` and `encoder` on the process's device, `optimizers` one per stage (build_optimizers).
        `init`: a Preset to start from (its weights, training time and history) instead of the fresh model;
        hold its held-out pairs out of `data` first (NSynthData.hold_out). A checkpoint, where one exists,
        still takes precedence through resume()."""
        self.args = args
        self.data = data
        process = process or Process(device=torch.device(args.device))
        self.rank, self.world, self.device = process.rank, process.world, process.device
        self.checkpoint = checkpoint
        self.sing, self.encoder, self.optimizers = sing, encoder, optimizers
        self.config = sing.config
        if init is not None:
            check_same_model(init, self.config, [d.id for d in data.instruments])
            if any(args.epochs[:2]):
                raise WarmStartError(f"--init {init.path}: a preset holds no encoder, so training goes on end to "
                                     "end; give --epochs 0,0,N")
        # loss_sum and loss_steps: the epoch so far, so that an epoch resumed midway reports the same mean
        # pass_base: the end-to-end pass this run's first one is, counted over the runs carried on (data_order.py)
        self.progress = {"stage": 0, "epoch": 0, "step": 0, "history": [], "seconds": 0.0,
                         "loss_sum": 0.0, "loss_steps": 0, "pass_base": 0}
        if data.sample_rate != self.config.sample_rate:
            raise ValueError(f"{data.root}: notes at {data.sample_rate} Hz, but --config {args.config} generates at "
                             f"{self.config.sample_rate} Hz; render the data with --rate {self.config.sample_rate}")
        self.notes = DeviceNotes(data, args, self.device, show_progress=args.show_progress and self.rank == 0)
        self.train_index, self.valid_index, self.gain = self.notes.train_index, self.notes.valid_index, self.notes.gain
        kits = torch.tensor([inst.drums for inst in data.instruments], dtype=torch.bool)
        drums = kits[self.notes.labels["instrument"][self.train_index].cpu()]
        self.pass_index = pass_notes(self.train_index, drums, args.drum_repeats)  # an end-to-end pass's notes
        self.steps = StageSteps(sing, encoder, optimizers, args, self.notes, process)
        self.files = RunFiles(checkpoint, sing, encoder, optimizers, self.rank)
        if init is not None:
            self._start_from(init)
        elif self.config.decoder == "harmonic":
            from .tuning import tune_decoder
            tune_decoder(self.sing.decoder, self.config, self.notes, [d.drums for d in data.instruments])

    def _start_from(self, preset) -> None:
        """The preset's weights (its tuning too) and its training so far; Adam starts afresh."""
        check_same_level(preset, self.gain)
        own = preset.model.config
        if own == self.config:
            self.sing.load_state_dict(preset.model.state_dict())
        else:  # another rate or output stage (check_same_model allowed it): the weights carried over, widened
            self.sing.load_state_dict(widen_state(preset.model.state_dict(), own, self.sing.state_dict(), self.config))
            logger.info("%s: its %d Hz model widened to this one's %d Hz (%d partials, %d noise bands)", preset.path,
                        own.sample_rate, self.config.sample_rate, self.config.harmonics, self.config.noise_bands)
        seconds, history = training_record(preset)
        self.progress.update(seconds=seconds, history=history, init=str(preset.path))
        logger.info("starting from %s: %.2f hours of training so far", preset.path, seconds / 3600)
        per_rank_batch = max(1, self.args.batch_size // self.world)
        batches = self._pass_batches(per_rank_batch)
        base, step = where_to_go_on(recorded_position(preset.meta.get("training")), self.args.seed,
                                    len(self.pass_index), per_rank_batch, batches)
        self.progress.update(pass_base=base)
        if step:  # --init trains end to end only: its first stages have no epochs
            self.progress.update(stage=STAGES.index("end_to_end"), step=step)
        if base or step:
            logger.info("going on through the training notes: pass %d, from batch %d of %d", base + 1, step, batches)

    # -- one step, and the validation loss --

    def train_step(self, stage: str, index: torch.Tensor) -> float:
        """Train one batch of training notes (indices into the training set) in `stage`; returns its loss."""
        self.steps.prepare(stage)
        self.sing.train()
        self.encoder.train(stage == "autoencoder")
        batch = self.notes.batch(self.train_index[index])
        batch["index"] = index.to(self.device)
        return self._step_function(stage)(batch)

    def validation_loss(self, stage: str) -> float | None:
        """The stage's validation loss (see valid_loss_name), with the models in eval mode."""
        self.steps.prepare(stage)
        self.sing.eval()
        self.encoder.eval()
        return self._validate(stage)

    def valid_loss_name(self, stage: str) -> str:
        """The loss validation reports: the stage's own, except that the waveform loss is judged spectrally."""
        return valid_loss_name(stage, self.args)

    def _validate(self, stage: str) -> float | None:
        return validate(stage, self.sing, self.encoder, self.notes, self.args)

    def _step_function(self, stage: str):
        """The function that trains one batch of a stage and returns its loss."""
        return {"autoencoder": self._step_autoencoder, "sequence": self._step_sequence,
                "end_to_end": self._step_end_to_end}[stage]

    # the steps go through the Trainer's own methods, so that a test can stop a run at a given step
    def _step_autoencoder(self, batch: dict) -> float:
        return self.steps.autoencoder_step(batch)

    def _step_sequence(self, batch: dict) -> float:
        return self.steps.sequence_step(batch)

    def _step_end_to_end(self, batch: dict) -> float:
        return self.steps.end_to_end_step(batch)

    # -- the run's files --

    def load_best(self) -> dict | None:
        """Put the best end-to-end epoch's weights in the model; returns its record, or None."""
        return self.files.load_best(self.progress)

    def _keep_if_best(self, stage: str, epoch: float, valid: float | None) -> None:
        self.files.keep_if_best(self.progress, stage, epoch, valid)

    def _save(self) -> None:
        self.files.save(self.progress, self.gain)

    def resume(self) -> bool:
        progress = self.files.resume(self.args.lr)
        if progress is None:
            return False
        self.progress = {"loss_sum": 0.0, "loss_steps": 0, **progress}  # older checkpoints lack the sums
        logger.info("resuming from %s: stage %d (%s), epoch %d, step %d", self.checkpoint,
                    progress["stage"] + 1, STAGES[min(progress["stage"], 2)], progress["epoch"] + 1, progress["step"])
        return True

    # -- the loop --

    def _epoch_order(self, stage: int, epoch: int) -> torch.Tensor:
        notes = self.train_index
        if STAGES[stage] == "end_to_end":  # its own notes, and passes counted on over the runs carried on
            notes = self.pass_index
            epoch += self.progress.get("pass_base", 0)
        generator = torch.Generator().manual_seed(self.args.seed * 1000 + stage * 100 + epoch)
        order = notes[torch.randperm(len(notes), generator=generator)]
        return order[self.rank::self.world]  # each rank its shard

    def train(self) -> list[dict]:
        from tqdm import tqdm
        args = self.args
        last_save = time.monotonic()
        started = time.monotonic() - self.progress["seconds"]
        per_rank_batch = max(1, args.batch_size // self.world)
        if self.progress.get("init") and "best" not in self.progress:
            # the preset's own weights compete: training on may not beat them
            self._keep_if_best("end_to_end", 0, self.validation_loss("end_to_end"))
        while self.progress["stage"] < len(STAGES):
            stage_index = self.progress["stage"]
            stage = STAGES[stage_index]
            if self.progress["epoch"] >= args.epochs[stage_index]:
                if stage == "end_to_end":
                    if self.progress["step"]:
                        self._judge_unfinished_epoch(per_rank_batch)
                    self.progress[POSITION_KEY] = self._position(per_rank_batch).to_dict()
                self.progress.update(stage=stage_index + 1, epoch=0, step=0)
                continue
            self.steps.prepare(stage)
            self.sing.train()
            self.encoder.train(stage == "autoencoder")
            epoch = self.progress["epoch"]
            order = self._epoch_order(stage_index, epoch)
            batches = self._batches(len(order), per_rank_batch)
            bar = tqdm(total=batches, initial=self.progress["step"], desc=f"{stage} {epoch + 1}/{args.epochs[stage_index]}",
                       disable=not args.show_progress or self.rank != 0, leave=False, file=sys.stderr)
            for step in range(self.progress["step"], batches):
                index = order[step * per_rank_batch:(step + 1) * per_rank_batch]
                batch = self.notes.batch(index)
                batch["index"] = index.to(self.device)  # training notes come first in self.notes
                loss = self._step_function(stage)(batch)
                bar.update(1)
                bar.set_postfix(loss=f"{loss:.4f}")
                self.progress["step"] = step + 1
                self.progress["loss_sum"] += loss
                self.progress["loss_steps"] += 1
                if time.monotonic() - last_save > args.checkpoint_every:
                    self.progress["seconds"] = time.monotonic() - started
                    self._save()
                    last_save = time.monotonic()
            bar.close()
            self.sing.eval()
            self.encoder.eval()
            valid = self._validate(stage)
            steps = self.progress["loss_steps"]
            train_loss = self.progress["loss_sum"] / steps if steps else None
            record = {"stage": stage, "epoch": epoch + 1, "train_loss": train_loss,
                      "valid_loss": valid, "seconds": round(time.monotonic() - started, 1)}
            self.progress["history"].append(record)
            self._keep_if_best(stage, epoch + 1, valid)
            logger.info("%s epoch %d/%d: train %.4f, valid %s (%.0f s)", stage, epoch + 1, args.epochs[stage_index],
                        record["train_loss"] or float("nan"), "n/a" if valid is None else f"{valid:.4f}",
                        record["seconds"])
            self.progress.update(epoch=epoch + 1, step=0, loss_sum=0.0, loss_steps=0,
                                 seconds=time.monotonic() - started)
            self._save()
            last_save = time.monotonic()
        return self.progress["history"]

    def _batches(self, notes: int, per_rank_batch: int) -> int:
        """Steps in an epoch of this rank's `notes`, at most --max-steps."""
        batches = math.ceil(notes / per_rank_batch)
        return min(batches, self.args.max_steps) if self.args.max_steps else batches

    def _pass_batches(self, per_rank_batch: int) -> int:
        """Steps in an end-to-end pass of this rank's notes."""
        return self._batches(len(self.pass_index[self.rank::self.world]), per_rank_batch)

    def _judge_unfinished_epoch(self, per_rank_batch: int) -> None:
        """A run stopped midway through an epoch and resumed with no more epochs to go: the weights it reached
        compete for the preset like a finished epoch's (else the part epoch, up to an epoch's hours, is lost)."""
        self.sing.eval()
        valid = self._validate("end_to_end")
        batches = self._pass_batches(per_rank_batch)
        epoch = round(self.progress["epoch"] + self.progress["step"] / batches, 2)
        logger.info("end_to_end: the unfinished epoch %.2f scores valid %s", epoch,
                    "n/a" if valid is None else f"{valid:.4f}")
        self._keep_if_best("end_to_end", epoch, valid)
        self._save()

    def _position(self, per_rank_batch: int) -> DataPosition:
        """Where this run stopped in its passes over the training notes, for a run that goes on from its preset."""
        return DataPosition(self.args.seed, self.progress.get("pass_base", 0) + self.progress["epoch"],
                            self.progress["step"], len(self.pass_index), per_rank_batch)

    def hardware(self) -> str:
        if self.device.type == "cuda":
            return f"{self.world} x {torch.cuda.get_device_name(self.device)}"
        return f"{os.cpu_count()} CPU cores ({platform.machine()}), {self.world} process(es)"

    def recipe(self) -> dict:
        values = asdict(self.args)
        for key in ("show_progress", "device"):
            values.pop(key)
        return {**values, "stage_2": "truncated back-propagation", "optimizer": "Adam"}


def build_trainer(data, args: TrainConfig, checkpoint: Path, init=None, process: Process | None = None) -> Trainer:
    """A Trainer with fresh parts: the named model size (with the arguments' overrides) for the data's
    instruments, its encoder, one Adam per stage; seeded by args.seed."""
    process = process or Process(device=torch.device(args.device))
    torch.manual_seed(args.seed)
    config = get_config(args.config, n_instruments=len(data.instruments), **model_overrides(args))
    sing = SING(config).to(process.device)
    encoder = Encoder(config).to(process.device)
    return Trainer(data, sing, encoder, build_optimizers(sing, encoder, args.lr), args, checkpoint, init, process)
