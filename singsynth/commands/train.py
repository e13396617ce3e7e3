"""singsynth train: the three SING stages on an NSynth-format folder, ending in a preset."""
from __future__ import annotations

import argparse
import hashlib
import logging
import os
import time
from pathlib import Path

from ..model.config import DECODERS
from ..train.config import DECODER_RECIPES, LOSSES, TrainConfig
from . import UsageError
from ._engine import check_device

HARMONIC, CONV = DECODER_RECIPES["harmonic"], DECODER_RECIPES["conv"]

logger = logging.getLogger(__name__)


def default_checkpoint_dir(out: Path) -> Path:
    """Under the user's cache folder, one per output preset, outside the repository."""
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    key = hashlib.sha256(str(out.resolve()).encode()).hexdigest()[:12]
    return cache / "singsynth" / "train" / f"{out.name}-{key}"


def parse_epochs(text: str) -> tuple[int, int, int]:
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 3 or min(values) < 0:
        raise UsageError(f"--epochs {text!r}: give three counts AE,SEQ,E2E such as 50,50,20")
    return values  # type: ignore[return-value]


def register(sub) -> None:
    p = sub.add_parser("train", help="train a SING model on an NSynth-format folder; writes a preset")
    p.add_argument("--data", required=True, help="NSynth-format folder (examples.json + audio/)")
    p.add_argument("--out", required=True, help="preset folder to write")
    p.add_argument("--config", default=TrainConfig.config,
                   help=f"model size (see `singsynth info`); default {TrainConfig.config}")
    epochs = ",".join(map(str, TrainConfig.epochs))
    p.add_argument("--epochs", default=epochs,
                   help=f"epochs of the three stages AE,SEQ,E2E (default {epochs}: end to end from the start; "
                        "the paper's: 50,50,20)")
    p.add_argument("--batch-size", type=int, default=TrainConfig.batch_size,
                   help=f"default {TrainConfig.batch_size}; the paper's code: 64")
    p.add_argument("--lr", type=float, help=f"Adam's learning rate (default {HARMONIC['lr']:g} with the harmonic "
                                            f"decoder, {CONV['lr']:g}, the paper's, with conv)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (cuda:N)")
    p.add_argument("--bf16", action="store_true", help="bf16 autocast on CUDA")
    p.add_argument("--checkpoint", help="checkpoint folder (default under ~/.cache/singsynth/train); "
                                        "training resumes from it by itself")
    p.add_argument("--init", metavar="PRESET",
                   help="start from this preset's weights (same --config, decoder options and data): its held-out "
                        "pairs stay held out and its training time is carried on; a checkpoint, where one "
                        "exists, still resumes first")
    p.add_argument("--checkpoint-every", type=float, default=TrainConfig.checkpoint_every,
                   help=f"seconds between checkpoints (default {TrainConfig.checkpoint_every:g})")
    p.add_argument("--decoder", choices=DECODERS, default="harmonic",
                   help="output stage: harmonic (default: harmonics of the note's pitch plus band noise) or conv "
                        "(the paper's transposed convolution)")
    p.add_argument("--harmonics", type=int, help=f"harmonic decoder: partials at the most (default "
                                                  f"{HARMONIC['harmonics']}: more tell instruments apart sooner, "
                                                  "fewer generate faster)")
    p.add_argument("--inharmonicity", action="store_true",
                   help="harmonic decoder: learn a stretch of the partials per instrument (pianos, bells)")
    p.add_argument("--residual", action="store_true",
                   help="harmonic decoder: add the paper's transposed convolution (attacks, drums)")
    p.add_argument("--key-tuning", action=argparse.BooleanOptionalAction,
                   help="harmonic decoder: measure the tuning per instrument and key (the default: sample zones a "
                        "few cents or an octave off, sound effects that follow their keys at another rate), or "
                        "with --no-key-tuning one offset per instrument")
    p.add_argument("--autoencoder-loss", choices=LOSSES,
                   help="stage 1 loss (default: multiscale, DDSP's, with the harmonic decoder; spectral, the paper's "
                        "code, with conv; the paper's text: waveform)")
    p.add_argument("--end-to-end-loss", choices=LOSSES,
                   help="stage 3 loss (default: multiscale with the harmonic decoder, spectral with conv; "
                        "waveform is the paper's ablation)")
    p.add_argument("--eps", type=float, default=TrainConfig.eps,
                   help=f"epsilon inside the log of the spectral loss (default {TrainConfig.eps:g}, the paper's)")
    p.add_argument("--no-time-embedding", action="store_true", help="the paper's ablation without time embedding")
    p.add_argument("--target-rms", type=float, default=None,
                   help="scale the data to this mean RMS for training (the preset restores the loudness); "
                        "default: train at the data's own level, as published")
    p.add_argument("--max-steps", type=int, default=TrainConfig.max_steps,
                   help="cap on steps per epoch (0: whole epochs)")
    p.add_argument("--drum-repeats", type=int, default=TrainConfig.drum_repeats, metavar="N",
                   help="end to end: visit each drum-kit note N times a pass (each kit key is a sound of its own, "
                        "with a handful of notes; default 1)")
    p.add_argument("--seed", type=int, default=TrainConfig.seed)
    p.add_argument("--instruments", help="comma-separated instrument ids or names to keep")
    p.add_argument("--pitches", help="pitch range to keep, such as 36-84")
    p.add_argument("--license", default="", help="licence of the source data, stored in the preset")
    p.add_argument("--name", help="preset name (default: the folder name)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def _pitch_range(text: str | None) -> tuple[int, int] | None:
    if not text:
        return None
    try:
        lo, hi = (int(v) for v in text.split("-"))
    except ValueError:
        raise UsageError(f"--pitches {text!r}: give a range such as 36-84") from None
    if not 0 <= lo <= hi <= 127:
        raise UsageError(f"--pitches {text!r}: MIDI pitches run 0..127")
    return lo, hi


def _start_preset(name: str, data):
    """The preset to train on from, with its held-out pairs taken as the data's split."""
    from ..preset import load_preset
    from ..train.eval_notes import held_out_pairs
    preset = load_preset(name)
    held = held_out_pairs(preset)
    if held is None:
        logger.warning("%s: lists no held-out pairs; using the data's own split", preset.path)
    else:
        data.hold_out(held)
    return preset


def run(args) -> int:
    from ..model.config import CONFIGS
    from ..train.config import recipe
    from ..train.data import NSynthData
    from ..train.distributed import training_process
    from ..train.export import write_preset
    from ..train.solver import build_trainer

    if args.config not in CONFIGS:
        raise UsageError(f"unknown config {args.config!r}; known: {', '.join(CONFIGS)}")
    check_device(args)
    if args.batch_size < 1:
        raise UsageError("--batch-size must be at least 1")
    if args.drum_repeats < 1:
        raise UsageError("--drum-repeats must be at least 1 (1: each drum note once a pass, as every other note)")
    harmonic = args.decoder == "harmonic"
    if not harmonic and (args.harmonics is not None or args.inharmonicity or args.residual
                         or args.key_tuning is not None):
        raise UsageError("--harmonics, --inharmonicity, --residual and --key-tuning shape the harmonic decoder; "
                         "drop them or use --decoder harmonic")
    if args.lr is not None and not args.lr > 0:
        raise UsageError(f"--lr {args.lr:g}: give a learning rate above 0, such as 1e-3")
    if args.harmonics is not None and args.harmonics < 1:
        raise UsageError(f"--harmonics {args.harmonics}: give a count of at least 1")
    if args.target_rms is not None and not args.target_rms > 0:
        raise UsageError(f"--target-rms {args.target_rms:g}: give a level above 0, such as 3")
    data = NSynthData(args.data, instruments=args.instruments.split(",") if args.instruments else None,
                      pitches=_pitch_range(args.pitches))
    init = _start_preset(args.init, data) if args.init else None
    out = Path(args.out)
    # what the command line leaves unsaid comes from the decoder's recipe (train/config.py)
    named = CONFIGS[args.config]
    if named.decoder == "harmonic":  # a harmonic size keeps its own partials and tuning unless told otherwise
        args.harmonics = named.harmonics if args.harmonics is None else args.harmonics
        args.key_tuning = named.key_tuning if args.key_tuning is None else args.key_tuning
    given = dict(lr=args.lr, autoencoder_loss=args.autoencoder_loss, end_to_end_loss=args.end_to_end_loss,
                 harmonics=args.harmonics, key_tuning=args.key_tuning)
    train_args = recipe(
        args.decoder, config=args.config, epochs=parse_epochs(args.epochs), batch_size=args.batch_size, eps=args.eps,
        inharmonicity=args.inharmonicity, residual=args.residual, time_embedding=not args.no_time_embedding,
        normalize=args.target_rms is not None, target_rms=args.target_rms or 0.0, max_steps=args.max_steps,
        checkpoint_every=args.checkpoint_every, seed=args.seed, drum_repeats=args.drum_repeats, device=args.device,
        bf16=args.bf16, show_progress=not args.quiet, init=str(init.path) if init else "",
        **{key: value for key, value in given.items() if value is not None})
    checkpoint = Path(args.checkpoint) if args.checkpoint else default_checkpoint_dir(out)
    started = time.time()
    with training_process(args.device) as process:
        try:
            trainer = build_trainer(data, train_args, checkpoint / "checkpoint.safetensors", init, process)
            trainer.resume()
        except ValueError as exc:  # the data and the recipe disagree (train/solver.py)
            raise UsageError(str(exc)) from None
        if process.rank != 0:  # one process speaks for all under torchrun
            logging.getLogger("singsynth").setLevel(logging.WARNING)
        logger.info("checkpoint: %s", checkpoint)
        history = trainer.train()
        if process.rank == 0:
            write_preset(out, trainer, data, history, name=args.name or out.name, license=args.license)
            logger.info("preset written to %s (%.0f s)", out, time.time() - started)
    return 0
