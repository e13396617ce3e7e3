"""The three training stages of SING, with checkpoints that survive a SIGKILL, on CPU, CUDA or DDP.

1. autoencoder: encoder + decoder reconstruct the note;
2. sequence: the LSTM learns the frozen encoder's embeddings (truncated back-propagation);
3. end to end: LSTM + decoder on the spectral loss.
"""
from __future__ import annotations

import logging
import math
import os
import platform
import sys
import time
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..model import losses
from ..model.config import get_config
from ..model.pitch_loss import vibrato_loss
from ..model.sing import SING, Autoencoder, Encoder, velocity_weights
from .checkpoint import load_checkpoint, save_checkpoint
from .config import TrainConfig
from .warm_start import WarmStartError, check_same_level, check_same_model, training_record, widen_state

logger = logging.getLogger(__name__)

STAGES = ("autoencoder", "sequence", "end_to_end")


@dataclass(frozen=True)
class Process:
    """Where this training process runs: its rank among `world` processes (torchrun) and its device."""
    rank: int = 0
    world: int = 1
    device: torch.device = torch.device("cpu")


@contextmanager
def training_process(device: str = "cpu"):
    """This process's place in the run: under torchrun it joins the process group (NCCL on CUDA, else gloo)
    and leaves it on the way out; alone it is rank 0 of 1. Yields a Process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    joined = False
    if world > 1 and not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if device.startswith("cuda") else "gloo")
        joined = True
    if device.startswith("cuda") and world > 1:
        where = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(where)
    else:
        where = torch.device(device)
    try:
        yield Process(rank, world, where)
    finally:
        if joined:
            torch.distributed.destroy_process_group()


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
    """Holds the data on the device, the three models, and the loop over stages."""

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
        self.progress = {"stage": 0, "epoch": 0, "step": 0, "history": [], "seconds": 0.0,
                         "loss_sum": 0.0, "loss_steps": 0}
        self._prepared: str | None = None
        if data.sample_rate != self.config.sample_rate:
            raise ValueError(f"{data.root}: notes at {data.sample_rate} Hz, but --config {args.config} generates at "
                             f"{self.config.sample_rate} Hz; render the data with --rate {self.config.sample_rate}")
        self._load_data()
        if init is not None:
            self._start_from(init)
        elif self.config.decoder == "harmonic":
            self._measure_tuning()

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

    # -- data, kept whole on the device so that loading never waits --

    def _load_data(self) -> None:
        train, valid = self.data.split("train"), self.data.split("valid")
        if not train:
            raise ValueError(f"{self.data.root}: no training notes after the split")
        audio = self.data.load_audio(train + valid, progress=self.args.show_progress and self.rank == 0)
        notes = [self.data.notes[i] for i in train + valid]
        self.labels = {
            "instrument": torch.tensor([n.instrument for n in notes], device=self.device),
            "pitch": torch.tensor([n.pitch for n in notes], device=self.device),
            "velocity": torch.tensor([n.velocity for n in notes], dtype=torch.float32, device=self.device),
        }
        # int16 [N, T]: a quarter of float32; on the device, or read from the files where the set is too large
        self.audio = torch.from_numpy(audio).to(self.device) if isinstance(audio, np.ndarray) else audio
        self.train_index = torch.arange(len(train))
        generator = torch.Generator().manual_seed(self.args.seed)
        valid_index = torch.arange(len(train), len(train) + len(valid))
        self.valid_index = valid_index[torch.randperm(len(valid), generator=generator)[:self.args.valid_notes]]
        if self.args.normalize:
            sample = self._notes(self.train_index[torch.randperm(len(train), generator=generator)[:1024]]).float() / 32768
            mean_rms = float(losses.rms(sample).mean())
            self.gain = self.args.target_rms / max(mean_rms, 1e-6)
        else:
            self.gain = 1.0
        logger.info("data: %d training notes, %d validation notes, %d instruments; loudness gain %.2f",
                    len(train), len(valid), len(self.data.instruments), self.gain)

    def _measure_tuning(self) -> None:
        """The harmonic decoder's tuning per instrument (or per instrument and key), from the training notes;
        never learnt."""
        from .tuning import measure_key_tuning, measure_tuning
        train = self.train_index.numpy()
        drums = [d.drums for d in self.data.instruments]
        count = len(self.data.instruments)

        def audio(i: int):  # one training note at a time: the whole set may not fit twice
            return self._notes(int(train[i])).cpu().numpy().astype("float32") / 32768
        instruments, pitches = self.labels["instrument"][train].tolist(), self.labels["pitch"][train].tolist()
        if self.config.key_tuning:
            tables = measure_key_tuning(audio, instruments, pitches, self.labels["velocity"][train].tolist(),
                                        drums, count, self.config.sample_rate)
            self.sing.decoder.tuning.copy_(torch.tensor(tables))
            logger.info("tuning against the keys, per key, in cents: %s", ", ".join(
                f"{1200 * min(t):+.0f}..{1200 * max(t):+.0f}" for t, d in zip(tables, drums) if not d))
            return
        offsets = measure_tuning(audio, instruments, pitches, drums, count, self.config.sample_rate)
        self.sing.decoder.tuning.copy_(torch.tensor(offsets))
        logger.info("tuning against the keys, in cents: %s",
                    ", ".join(f"{1200 * o:+.0f}" for o, d in zip(offsets, drums) if not d))

    def _batch(self, index: torch.Tensor) -> dict[str, torch.Tensor]:
        idx = index.to(self.device)
        wav = self._notes(idx).float() * (self.gain / 32768)
        return {"wav": wav, **{k: v[idx] for k, v in self.labels.items()}}

    def _notes(self, index) -> torch.Tensor:
        """int16 notes of self.audio on the device, read from their files first where they stay there."""
        notes = self.audio[index.cpu() if isinstance(index, torch.Tensor) else index]
        return notes if isinstance(notes, torch.Tensor) else torch.from_numpy(notes).to(self.device)

    def _conditioning(self, batch: dict) -> torch.Tensor:
        vel_weights, _ = velocity_weights(batch["velocity"])
        return self.sing.sequence.conditioning(self.sing.instrument_weights(batch["instrument"]), batch["pitch"], vel_weights)

    def _autocast(self):
        if self.args.bf16 and self.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return nullcontext()

    def _end_to_end_loss(self, name: str, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The named loss, plus the loss on each note's front where the model learns its rise."""
        loss = self._loss(name, output, target)
        if self.config.attack and self.args.onset_weight:
            loss = loss + self.args.onset_weight * losses.onset_loss(output, target, self.config.sample_rate)
        return loss

    def _loss(self, name: str, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if name == "spectral":
            return losses.spectral_loss(output, target, eps=self.args.eps)
        if name == "multiscale":
            return losses.multiscale_loss(output, target)
        return losses.waveform_loss(output, target)

    # -- one step of each stage; each returns the loss as a float --

    def _wrap(self, module: nn.Module) -> nn.Module:
        if self.world > 1:
            return nn.parallel.DistributedDataParallel(module, device_ids=[self.device] if self.device.type == "cuda" else None)
        return module

    def _step_autoencoder(self, batch: dict) -> float:
        with self._autocast():
            out = self.autoencoder(batch["wav"], self.sing.instrument_weights(batch["instrument"]), batch["pitch"])
        loss = self._loss(self.args.autoencoder_loss, out.float(), batch["wav"])
        self._optimize("autoencoder", loss)
        return loss.item()

    def _step_sequence(self, batch: dict) -> float:
        target = self.embeddings[batch["index"]]  # [B, D, steps]
        state, total, chunks = None, 0.0, 0
        for start in range(0, self.config.steps, self.args.tbptt):
            steps = min(self.args.tbptt, self.config.steps - start)
            with self._autocast():
                out, state = self.sequence(self._conditioning(batch), start, steps, state)
            loss = F.mse_loss(out.float(), target[:, :, start:start + steps])
            self._optimize("sequence", loss)
            state = tuple(s.detach() for s in state)  # truncate the gradient here
            total, chunks = total + loss.item(), chunks + 1
        return total / chunks

    def _step_end_to_end(self, batch: dict) -> float:
        weights = self.sing.instrument_weights(batch["instrument"])
        with self._autocast():
            out = self.generator(weights, batch["pitch"], batch["velocity"])
        loss = self._end_to_end_loss(self.args.end_to_end_loss, out.float(), batch["wav"])
        warp = getattr(self.sing.decoder, "warp", None)
        if warp is not None and self.args.vibrato_weight:  # training only: validation stays the figure it was
            f0 = self.sing.decoder.partial_frequencies(weights, batch["pitch"])[:, 0].detach()
            loss = loss + self.args.vibrato_weight * vibrato_loss(warp(weights, batch["pitch"]), batch["wav"], f0,
                                                                  self.config)
        self._optimize("end_to_end", loss)
        return loss.item()

    def train_step(self, stage: str, index: torch.Tensor) -> float:
        """Train one batch of training notes (indices into the training set) in `stage`; returns its loss."""
        self._prepare_stage(stage)
        self.sing.train()
        self.encoder.train(stage == "autoencoder")
        batch = self._batch(self.train_index[index])
        batch["index"] = index.to(self.device)
        return self._step_function(stage)(batch)

    def validation_loss(self, stage: str) -> float | None:
        """The stage's validation loss (see valid_loss_name), with the models in eval mode."""
        self._prepare_stage(stage)
        self.sing.eval()
        self.encoder.eval()
        return self._validate(stage)

    def _step_function(self, stage: str):
        """The function that trains one batch of a stage and returns its loss."""
        return {"autoencoder": self._step_autoencoder, "sequence": self._step_sequence,
                "end_to_end": self._step_end_to_end}[stage]

    def _optimize(self, stage: str, loss: torch.Tensor) -> None:
        optimizer = self.optimizers[stage]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    @torch.no_grad()
    def _validate(self, stage: str) -> float | None:
        if not len(self.valid_index):
            return None
        losses = []
        for chunk in self.valid_index.split(self.args.batch_size):
            batch = self._batch(chunk)
            with self._autocast():
                if stage == "autoencoder":
                    out = Autoencoder(self.encoder, self.sing.decoder)(
                        batch["wav"], self.sing.instrument_weights(batch["instrument"]), batch["pitch"])
                elif stage == "sequence":
                    out, _ = self.sing.sequence(self._conditioning(batch))
                    losses.append(F.mse_loss(out.float(), self.encoder(batch["wav"]).float()).item() * len(chunk))
                    continue
                else:
                    out = self.sing(self.sing.instrument_weights(batch["instrument"]), batch["pitch"], batch["velocity"])
                    losses.append(self._end_to_end_loss(self.valid_loss_name(stage), out.float(), batch["wav"]).item()
                                  * len(chunk))
                    continue
            loss = self._loss(self.valid_loss_name(stage), out.float(), batch["wav"])
            losses.append(loss.item() * len(chunk))
        return sum(losses) / len(self.valid_index)

    def valid_loss_name(self, stage: str) -> str:
        """The loss validation reports: the stage's own, except that the waveform loss is judged spectrally."""
        name = {"autoencoder": self.args.autoencoder_loss, "end_to_end": self.args.end_to_end_loss}.get(stage, "mse")
        return "spectral" if name == "waveform" else name

    # -- the loop --

    def _prepare_stage(self, stage: str) -> None:
        if stage == self._prepared:
            return
        self._prepared = stage
        if stage == "autoencoder":
            self.autoencoder = self._wrap(Autoencoder(self.encoder, self.sing.decoder))
        elif stage == "sequence":
            self.encoder.eval()
            self.embeddings = self._encode_training_notes()
            self.sequence = self._wrap(self.sing.sequence)
        else:
            self.generator = self._wrap(self.sing)

    @torch.no_grad()
    def _encode_training_notes(self) -> torch.Tensor:
        """The frozen encoder's embeddings of every training note, computed once."""
        out = [self.encoder(self._batch(chunk)["wav"]).float() for chunk in self.train_index.split(self.args.batch_size)]
        return torch.cat(out)

    @property
    def best_path(self) -> Path:
        return self.checkpoint.with_name("best.safetensors")

    def _keep_if_best(self, stage: str, epoch: int, valid: float | None) -> None:
        """End to end, the weights of the epoch with the lowest validation loss are what the preset gets."""
        best = self.progress.get("best")
        if stage != "end_to_end" or valid is None or (best and best["valid_loss"] <= valid):
            return
        self.progress["best"] = {"epoch": epoch, "valid_loss": valid}
        if self.rank == 0:
            from safetensors.torch import save_file
            tmp = self.best_path.with_suffix(".tmp")
            tmp.parent.mkdir(parents=True, exist_ok=True)
            save_file({k: v.detach().cpu().contiguous() for k, v in self.sing.state_dict().items()}, str(tmp))
            os.replace(tmp, self.best_path)

    def load_best(self) -> dict | None:
        """Put the best end-to-end epoch's weights in the model; returns its record, or None."""
        best = self.progress.get("best")
        if not best or not self.best_path.is_file():
            return None
        from safetensors.torch import load_file
        self.sing.load_state_dict(load_file(str(self.best_path)))
        return best

    def _save(self) -> None:
        if self.rank == 0:
            modules = {"sing": self.sing, "encoder": self.encoder}
            save_checkpoint(self.checkpoint, modules, self.optimizers, {**self.progress, "gain": self.gain})

    def resume(self) -> bool:
        if not self.checkpoint.is_file():
            return False
        progress = load_checkpoint(self.checkpoint, {"sing": self.sing, "encoder": self.encoder}, self.optimizers)
        progress.pop("gain", None)
        # the rate this run asks for, not the one saved: lowering it for the rest of a run is how one goes on
        # once the validation loss stalls, and the recipe the preset records says this run's rate
        for optimizer in self.optimizers.values():
            for group in optimizer.param_groups:
                group["lr"] = self.args.lr
        self.progress = {"loss_sum": 0.0, "loss_steps": 0, **progress}  # older checkpoints lack the sums
        logger.info("resuming from %s: stage %d (%s), epoch %d, step %d", self.checkpoint,
                    progress["stage"] + 1, STAGES[min(progress["stage"], 2)], progress["epoch"] + 1, progress["step"])
        return True

    def _epoch_order(self, stage: int, epoch: int) -> torch.Tensor:
        generator = torch.Generator().manual_seed(self.args.seed * 1000 + stage * 100 + epoch)
        order = self.train_index[torch.randperm(len(self.train_index), generator=generator)]
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
                if self.progress["step"] and stage == "end_to_end":
                    self._judge_unfinished_epoch(per_rank_batch)
                self.progress.update(stage=stage_index + 1, epoch=0, step=0)
                continue
            self._prepare_stage(stage)
            self.sing.train()
            self.encoder.train(stage == "autoencoder")
            epoch = self.progress["epoch"]
            order = self._epoch_order(stage_index, epoch)
            batches = self._batches(len(order), per_rank_batch)
            bar = tqdm(total=batches, initial=self.progress["step"], desc=f"{stage} {epoch + 1}/{args.epochs[stage_index]}",
                       disable=not args.show_progress or self.rank != 0, leave=False, file=sys.stderr)
            for step in range(self.progress["step"], batches):
                index = order[step * per_rank_batch:(step + 1) * per_rank_batch]
                batch = self._batch(index)
                batch["index"] = index.to(self.device)  # training notes come first in self.audio
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

    def _judge_unfinished_epoch(self, per_rank_batch: int) -> None:
        """A run stopped midway through an epoch and resumed with no more epochs to go: the weights it reached
        compete for the preset like a finished epoch's (else the part epoch, up to an epoch's hours, is lost)."""
        self.sing.eval()
        valid = self._validate("end_to_end")
        batches = self._batches(len(self.train_index[self.rank::self.world]), per_rank_batch)
        epoch = round(self.progress["epoch"] + self.progress["step"] / batches, 2)
        logger.info("end_to_end: the unfinished epoch %.2f scores valid %s", epoch,
                    "n/a" if valid is None else f"{valid:.4f}")
        self._keep_if_best("end_to_end", epoch, valid)
        self._save()

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
