"""Training that goes on from a preset: the same model and instruments, its held-out pairs still held out, its
training time carried on. So a preset in the repository is enough to keep training on a fresh machine."""
from __future__ import annotations

from ..model.config import ModelConfig


class WarmStartError(ValueError):
    """A preset that training cannot start from; the message is one line naming the preset."""


def check_same_model(preset, config: ModelConfig, instrument_ids: list[str]) -> None:
    """Refuse a preset whose model or instruments differ from what this training builds."""
    ids = [i.id for i in preset.instruments]
    if ids != instrument_ids:
        missing = sorted(set(ids) - set(instrument_ids))
        extra = sorted(set(instrument_ids) - set(ids))
        what = (f"the data lacks {', '.join(missing[:3])}" if missing else
                f"the data adds {', '.join(extra[:3])}" if extra else "the order differs")
        raise WarmStartError(f"--init {preset.path}: its {len(ids)} instruments are not the data's "
                             f"{len(instrument_ids)} ({what}); train on the data it was trained on")
    own = preset.model.config.to_dict()
    wanted = config.to_dict()
    differ = [f"{k} {own[k]} (asked: {wanted[k]})" for k in wanted if own.get(k) != wanted[k]]
    if differ:
        raise WarmStartError(f"--init {preset.path}: its model differs in {', '.join(differ)}; "
                             "give the --config and decoder options it was trained with")


def check_same_level(preset, gain: float) -> None:
    """The data must be scaled as the preset's training scaled it, or its weights play at another level."""
    own = 1.0 / preset.output_gain
    if abs(own / gain - 1) > 0.01:
        raise WarmStartError(f"--init {preset.path}: it learnt notes scaled by {own:.4g}, this training scales "
                             f"them by {gain:.4g}; give the --target-rms it was trained with (none for the data's "
                             "own level)")


def training_record(preset) -> tuple[float, list[dict]]:
    """The seconds of training the preset records and its history, to be carried on."""
    training = preset.meta.get("training") or {}
    try:
        seconds = 3600.0 * float(training.get("hours") or 0.0)
    except (TypeError, ValueError):
        seconds = 0.0
    history = training.get("history")
    return seconds, [r for r in history if isinstance(r, dict)] if isinstance(history, list) else []
