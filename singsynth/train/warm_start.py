"""Training that goes on from a preset: the same model and instruments, its held-out pairs still held out, its
training time carried on. So a preset in the repository is enough to keep training on a fresh machine.

A harmonic preset can also start a model at another rate or with a wider output stage (more partials, noise bands
up to another Nyquist, a learnt rise): what both have is carried over as it is, the output stage's
controls are widened so that the new model starts out sounding as the old one did, and what is new starts silent
or at its neutral value (widen_state)."""
from __future__ import annotations

from ..errors import UsageError
from ..model.config import ModelConfig

# What a warm start may change: the rate and its framing, and the output stage's width and parts.
WIDENABLE = {"sample_rate", "frame", "stride", "note_samples", "padding", "harmonics", "noise_bands", "attack",
              "vibrato"}
# New partials, and noise bands above the old Nyquist, start this far down in logit (a partial at exp_sigmoid(-5):
# -94 dB; a band, with its own offset, lower still), so they enter as training asks for them rather than as a hiss.
NEW_CONTROL_LOGIT = -5.0


class WarmStartError(UsageError, ValueError):
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
    widening = own["decoder"] == wanted["decoder"] == "harmonic"
    differ = [f"{k} {own[k]} (asked: {wanted[k]})" for k in wanted
              if own.get(k) != wanted[k] and not (widening and k in WIDENABLE)]
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


def widen_state(old: dict, old_config: ModelConfig, new: dict, new_config: ModelConfig) -> dict:
    """A harmonic model's state `old` carried into a fresh state `new` of a model that differs only in WIDENABLE:
    tensors of the same shape copied, the output controls (amplitude, partials, noise bands) mapped by what they
    mean. Partials the old model had keep their rows; new ones start silent. Noise bands are spread evenly from 0 Hz
    to Nyquist, so each new band takes the old bands' rows at its frequency (interpolated), and bands above the old
    Nyquist start silent too (the old model's top band, copied up there, is a hiss the source does not have). What
    the old model lacks (a rise head, a vibrato head at zero) keeps its fresh start."""
    out = dict(new)
    for key, value in old.items():
        if key in out and out[key].shape == value.shape:
            out[key] = value.to(out[key].dtype).clone()
    for part in ("weight", "bias"):
        key = f"decoder.controls.{part}"
        src, dst = old[key].float(), new[key].float().clone()
        k_old, k_new = old_config.harmonics, new_config.harmonics
        dst[0] = src[0]
        shared = min(k_old, k_new)
        dst[1:1 + shared] = src[1:1 + shared]
        if k_new > k_old:
            dst[1 + k_old:1 + k_new] = 0.0 if part == "weight" else NEW_CONTROL_LOGIT
        bands_old, bands_new = src[1 + k_old:], dst[1 + k_new:]
        old_top, new_top = old_config.sample_rate / 2, new_config.sample_rate / 2
        for j in range(bands_new.shape[0]):
            hz = new_top * j / (bands_new.shape[0] - 1)
            if hz > old_top:
                bands_new[j] = 0.0 if part == "weight" else NEW_CONTROL_LOGIT
                continue
            at = hz / old_top * (bands_old.shape[0] - 1)
            lo = int(at)
            hi = min(lo + 1, bands_old.shape[0] - 1)
            t = at - lo
            bands_new[j] = (1 - t) * bands_old[lo] + t * bands_old[hi]
        out[key] = dst.to(new[key].dtype)
    return out

