"""Presets: safetensors weights + JSON metadata, found by name in presets/ or by path. Never pickle."""
from __future__ import annotations

import hashlib
import json
import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..model.config import SAMPLE_RATE, ModelConfig
from .checks import (
    MAX_METADATA_BYTES,
    PresetError,
    check_model_config,
    flag,
    parameter_count,
    read_regular,
    read_safetensors_header,
    send_levels,
)
from .levels import Levels, note_gains

if TYPE_CHECKING:  # torch is imported only where a model runs: listing or playing cached notes needs none
    import torch

    from ..model.sing import SING
    from .streaming import NoteStream

logger = logging.getLogger(__name__)

FORMAT = "singsynth-preset"
VERSION = 1
METADATA_FILE = "preset.json"
WEIGHTS_FILE = "model.safetensors"
# An installed wheel carries the presets inside the package (setup.cfg maps presets/ to singsynth/presets);
# a checkout or an editable install keeps them at the repository's top level.
_PACKAGE = Path(__file__).resolve().parent.parent  # singsynth/
PRESETS_DIR = _PACKAGE / "presets" if (_PACKAGE / "presets").is_dir() else _PACKAGE.parent / "presets"
DEFAULT_PRESET = "default"
# Rates a model may be trained at; below or above, resampling a note to the output rate makes absurd buffers.
SAMPLE_RATES = (8_000, 192_000)


@dataclass(frozen=True)
class Instrument:
    index: int
    name: str
    id: str
    gm_program: int | None  # 0..127; None for the drum kit
    drums: bool = False
    pitch_range: tuple[int, int] = (21, 108)
    source: str = ""
    levels: Levels = Levels()  # what brings the model's notes to the loudness of the notes it learnt
    # The source holds a key's note steady (organ, strings): a held key then holds its loop steady too, even
    # where the model's note sags.
    sustains: bool = False
    family: str = ""  # the family the training data names (NSynth's or General MIDI's); presets do not store it
    reverb_send: float = 0.0  # the source's own sends 0..1 (a SoundFont's generators 16 and 15 over 1000), added
    chorus_send: float = 0.0  # to what CC91 and CC93 send

    def to_dict(self) -> dict:
        return {"name": self.name, "id": self.id, "gm_program": self.gm_program, "drums": self.drums,
                "pitch_range": list(self.pitch_range), "source": self.source, **self.levels.to_dict(),
                **({"sustains": True} if self.sustains else {}), **send_levels(vars(self), keep_zero=False)}


@dataclass
class Preset:
    path: Path
    config: ModelConfig
    instruments: list[Instrument]
    meta: dict = field(default_factory=dict)
    # restores the loudness that training normalised away
    output_gain: float = 1.0
    weights_sha256: str = ""
    # what the engine plays notes at: a synth's level, not the training data's (train/export.py)
    playback_gain: float = 1.0
    weights_path: Path | None = None
    # The model is built and its weights read when a note is first generated (or at load_preset unless it
    # is lazy): listing instruments or playing notes from the cache needs neither torch nor the weights.
    _model: SING | None = field(default=None, repr=False)
    _device: str = "cpu"
    # True: notes, whole or streamed, in float32 throughout, even where the CPU could multiply in bfloat16
    # (model/precision.py)
    full_precision: bool = False

    @property
    def name(self) -> str:
        return self.meta.get("name", self.path.name)

    @property
    def sample_rate(self) -> int:
        return int(self.meta.get("sample_rate", SAMPLE_RATE))

    @property
    def model(self) -> SING:
        return self.load_model()

    def load_model(self) -> SING:
        """The model, built and its weights read (and checked) the first time."""
        if self._model is None:
            if self.weights_path is None:
                raise PresetError(f"{self.path}: no weights file to build the model from")
            if self.weights_sha256 and _sha256(self.weights_path) != self.weights_sha256:  # replaced since loading
                raise PresetError(f"{self.weights_path}: checksum does not match {METADATA_FILE}; the file is "
                                  "corrupted or replaced")
            self._model = read_model(self.config, self.weights_path, self._device)
        return self._model

    @property
    def device(self) -> torch.device:
        return self.model.device

    def to(self, device: str | torch.device) -> "Preset":
        if self._model is None:
            self._device = str(device)
        else:
            self._model.to(device)
        return self

    def instrument_weights(self, instruments: list[int] | torch.Tensor) -> torch.Tensor:
        import torch
        index = torch.as_tensor(instruments, dtype=torch.long, device=self.device)
        return self.model.instrument_weights(index)

    def gains(self, instrument_weights: torch.Tensor, pitch, velocity) -> torch.Tensor | float:
        """What each note [B] is multiplied by: the output gain and, where the preset has them, its
        instruments' level corrections ([B, 1])."""
        import torch
        levels = [i.levels for i in self.instruments]
        if not any(levels):
            return self.output_gain
        gains = note_gains(levels, instrument_weights.float().cpu().numpy(),
                           torch.as_tensor(pitch).reshape(-1).cpu().numpy(),
                           torch.as_tensor(velocity).reshape(-1).cpu().numpy())
        return torch.as_tensor(gains * self.output_gain, dtype=torch.float32, device=self.device).view(-1, 1)

    def generate(self, instrument_weights: torch.Tensor, pitch, velocity) -> np.ndarray:
        """Weights over instruments [B, I] (one-hot or a blend), MIDI pitches and velocities [B]
        -> float32 notes [B, note_samples] at the preset's loudness."""
        import torch

        from ..model.precision import whole_note_precision
        dev = self.device
        with torch.inference_mode(), whole_note_precision(dev, self.full_precision):
            wav = self.model(instrument_weights.to(dev, torch.float32),
                             torch.as_tensor(pitch, dtype=torch.long, device=dev),
                             torch.as_tensor(velocity, dtype=torch.float32, device=dev))
            return (wav * self.gains(instrument_weights, pitch, velocity)).float().cpu().numpy()

    def open_stream(self, instrument_weights: torch.Tensor, pitch, velocity) -> NoteStream:
        """The notes, to be generated chunk by chunk at the preset's loudness (preset/streaming.py), in bfloat16 as
        whole notes are (model/precision.py)."""
        import torch

        from ..model.precision import low_precision
        from .streaming import NoteStream
        with torch.inference_mode():
            dev = self.device
            pitches = torch.as_tensor(pitch, dtype=torch.long, device=dev).reshape(-1)
            state = self.model.start_stream(instrument_weights.to(dev, torch.float32), pitches,
                                            torch.as_tensor(velocity, dtype=torch.float32, device=dev),
                                            bfloat16=low_precision(dev, self.full_precision))
            gains = torch.as_tensor(self.gains(instrument_weights, pitch, velocity), dtype=torch.float32, device=dev)
            return NoteStream(self.model, state, gains.reshape(-1, 1).expand(len(pitches), 1).clone())

    def stream(self, instrument_weights: torch.Tensor, pitch, velocity, first_steps: int = 1, steps: int = 64):
        """Yield float32 chunks [B, n] whose concatenation is generate()'s output (at full precision; in bfloat16 the
        two round differently): `first_steps` frames of the note first, then twice as many each time, up to `steps`
        at a time."""
        from ..model.sing import stream_chunks
        notes = self.open_stream(instrument_weights, pitch, velocity)
        yield from stream_chunks(notes.chunk, lambda: notes.done, notes.first_chunk_steps(first_steps), first_steps,
                                 steps)


def resolve_path(name_or_path: str | os.PathLike | None) -> Path:
    """A preset name in presets/, a preset folder, or its preset.json -> the preset folder."""
    value = str(name_or_path or DEFAULT_PRESET)
    path = Path(value).expanduser()
    if path.is_file() and path.name.endswith(".json"):
        return path.parent
    if path.is_dir():
        return path
    shipped = PRESETS_DIR / value
    if (shipped / METADATA_FILE).is_file():
        return shipped
    known = ", ".join(list_presets()) or "none"
    raise PresetError(f"{value}: no such preset (shipped presets: {known}; or give a preset folder)")


def list_presets() -> list[str]:
    if not PRESETS_DIR.is_dir():
        return []
    return sorted(p.name for p in PRESETS_DIR.iterdir() if (p / METADATA_FILE).is_file())


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _load_metadata(folder: Path) -> dict:
    meta_path = folder / METADATA_FILE
    try:
        text = read_regular(meta_path, MAX_METADATA_BYTES)
    except FileNotFoundError:
        raise PresetError(f"{meta_path}: missing; a preset folder holds {METADATA_FILE} and {WEIGHTS_FILE}") from None
    except OSError as exc:
        raise PresetError(f"{meta_path}: unreadable ({exc.strerror or exc})") from None
    try:
        meta = json.loads(text.decode("utf-8"))
    except (ValueError, RecursionError) as exc:  # RecursionError: JSON nested thousands deep
        why = "nested too deep" if isinstance(exc, RecursionError) else exc
        raise PresetError(f"{meta_path}: not valid JSON ({why}); the preset is damaged") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise PresetError(f"{meta_path}: not a singsynth preset (no \"format\": \"{FORMAT}\")")
    if meta.get("version") != VERSION:
        raise PresetError(f"{meta_path}: preset format version {meta.get('version')!r}; this singsynth reads {VERSION}")
    return meta


def _midi_number(value, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 127:
        raise ValueError(f"{what} {value!r} is not a MIDI number 0..127")
    return value


def _instrument(index: int, d: dict) -> Instrument:
    low, high = d.get("pitch_range", (21, 108))
    if _midi_number(low, "pitch") > _midi_number(high, "pitch"):
        raise ValueError(f"pitch range {low}-{high} runs backwards")
    program = d.get("gm_program")
    return Instrument(index=index, name=str(d["name"]), id=str(d.get("id", d["name"])),
                      gm_program=None if program is None else _midi_number(program, "gm_program"),
                      drums=bool(d.get("drums", False)), pitch_range=(low, high), source=str(d.get("source", "")),
                      levels=Levels.from_dict(d), sustains=flag(d.get("sustains", False), "sustains"),
                      **send_levels(d))


def _instruments(meta: dict, meta_path: Path) -> list[Instrument]:
    try:
        if not isinstance(meta["instruments"], list):
            raise TypeError("not a list")
        return [_instrument(i, d) for i, d in enumerate(meta["instruments"])]
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise PresetError(f"{meta_path}: bad \"instruments\" list ({exc})") from None


def _gain(meta: dict, meta_path: Path, key: str) -> float:
    """A finite number above 0: json reads NaN and Infinity, and either would spread to every note."""
    value = meta.get(key, 1.0)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (math.isfinite(value) and value > 0):
        raise PresetError(f"{meta_path}: \"{key}\" is {value!r}; give a finite number above 0")
    return float(value)


def _sample_rate(meta: dict, meta_path: Path) -> int:
    value = meta.get("sample_rate", SAMPLE_RATE)
    low, high = SAMPLE_RATES
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise PresetError(f"{meta_path}: \"sample_rate\" is {value!r}; give a whole number of Hz "
                          f"from {low} to {high}")
    return value


def _weights_path(folder: Path, meta: dict, meta_path: Path) -> Path:
    """The weights file that preset.json names: a plain file name in the preset's own folder, never a path
    that leads out of it."""
    name = meta.get("weights", WEIGHTS_FILE)
    if not isinstance(name, str) or name in ("", ".", "..") or Path(name).name != name:
        raise PresetError(f"{meta_path}: \"weights\" is {name!r}; give the name of a file in the preset folder")
    return folder / name


def _model_config(meta: dict, meta_path: Path, sample_rate: int) -> ModelConfig:
    try:
        if not isinstance(meta["model"], dict):
            raise TypeError("not an object")
        config = ModelConfig.from_dict(meta["model"])
    except (KeyError, TypeError, ValueError) as exc:
        raise PresetError(f"{meta_path}: bad \"model\" config ({exc})") from None
    check_model_config(config, meta_path, sample_rate)
    return config


def _check_shapes(model: SING, header: dict, weights_path: Path) -> None:
    expected = model.state_dict()
    found = {k: tuple(v["shape"]) for k, v in header.items() if k != "__metadata__"}
    if set(found) != set(expected):
        missing, extra = sorted(set(expected) - set(found)), sorted(set(found) - set(expected))
        raise PresetError(f"{weights_path}: does not fit the model in {METADATA_FILE} "
                          f"(missing {missing[:3]}, unexpected {extra[:3]})")
    for key, shape in found.items():
        if shape != tuple(expected[key].shape):
            raise PresetError(f"{weights_path}: tensor {key!r} has shape {list(shape)}, "
                              f"the config in {METADATA_FILE} needs {list(expected[key].shape)}")


def load_preset(name_or_path: str | os.PathLike | None = None, device: str | torch.device = "cpu",
                lazy: bool = False) -> Preset:
    """Load and check a preset; anything wrong raises PresetError with one line naming the file.

    Everything preset.json says is checked against the weights file's header before a model of that size is
    built, and the weights are read as safetensors only: no pickle, so nothing in a preset can run. `lazy`:
    the model is built and its weights read (and checked) only when first used."""
    folder = resolve_path(name_or_path)
    meta = _load_metadata(folder)
    meta_path = folder / METADATA_FILE
    sample_rate = _sample_rate(meta, meta_path)
    gain = _gain(meta, meta_path, "output_gain")
    playback_gain = _gain(meta, meta_path, "playback_gain")
    config = _model_config(meta, meta_path, sample_rate)
    instruments = _instruments(meta, meta_path)
    if len(instruments) != config.n_instruments:
        raise PresetError(f"{meta_path}: lists {len(instruments)} instruments but the model has {config.n_instruments}")
    weights_path = _weights_path(folder, meta, meta_path)
    if not weights_path.exists():
        raise PresetError(f"{weights_path}: missing weights file")
    _, data_size = read_safetensors_header(weights_path)
    digest = meta.get("weights_sha256")
    if digest and _sha256(weights_path) != digest:
        raise PresetError(f"{weights_path}: checksum does not match {METADATA_FILE}; the file is corrupted or replaced")
    parameters = parameter_count(config)
    if 2 * parameters > data_size:  # 2 bytes: the smallest dtype a preset may hold
        raise PresetError(f"{weights_path}: too small for the model shapes in {METADATA_FILE} "
                          f"({parameters} parameters; the file holds {data_size} bytes of tensors)")
    # eager: the model now, from the file just checked (load_model checks the digest again, for a lazy preset
    # whose file may change before its first note)
    model = None if lazy else read_model(config, weights_path, device)
    return Preset(folder, config, instruments, meta, gain, digest or "", playback_gain, weights_path,
                  _model=model, _device=str(device))


def read_model(config: ModelConfig, weights_path: Path, device: str | torch.device = "cpu") -> SING:
    """Build SING(config) and read its weights from a safetensors file whose header was checked already."""
    import torch
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from ..model.sing import SING
    header, _ = read_safetensors_header(weights_path)
    model = SING(config)
    _check_shapes(model, header, weights_path)
    try:
        state = load_file(str(weights_path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise PresetError(f"{weights_path}: unreadable safetensors file ({exc})") from None
    model.load_state_dict({k: v.float() for k, v in state.items()})
    # Refused, not repaired: a NaN or infinite weight makes every note of some instrument NaN, which a mix
    # would spread to every other voice; no weight can be chosen in its place.
    for name, tensor in model.state_dict().items():
        if not torch.isfinite(tensor).all():
            raise PresetError(f"{weights_path}: tensor {name!r} holds NaN or infinite values")
    return model.eval().to(device)


def save_preset(folder: str | os.PathLike, model: SING, instruments: list[Instrument], meta: dict,
                output_gain: float = 1.0, half: bool = True) -> Path:
    """Write weights (fp16 by default: half the size, inaudible; tuning stays float32) and metadata, each
    atomically."""
    from safetensors.torch import save_file
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    from ..model.harmonic import FULL_PRECISION
    state = {k: (v.half() if half and k not in FULL_PRECISION else v.float()).contiguous().cpu()
             for k, v in model.state_dict().items()}
    weights = folder / WEIGHTS_FILE
    tmp = weights.with_suffix(".tmp")
    save_file(state, str(tmp))
    os.replace(tmp, weights)
    full = {"format": FORMAT, "version": VERSION, **meta, "model": model.config.to_dict(),
            "sample_rate": model.config.sample_rate, "output_gain": output_gain,
            "instruments": [i.to_dict() for i in instruments],
            "weights": WEIGHTS_FILE, "weights_sha256": _sha256(weights)}
    tmp_meta = folder / (METADATA_FILE + ".tmp")
    tmp_meta.write_text(json.dumps(full, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp_meta, folder / METADATA_FILE)
    return folder


def update_metadata(folder: str | os.PathLike, **values) -> None:
    """Merge values into a preset's metadata (for example evaluation figures), atomically."""
    folder = resolve_path(folder)
    meta = _load_metadata(folder)
    meta.update(values)
    tmp = folder / (METADATA_FILE + ".tmp")
    tmp.write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, folder / METADATA_FILE)
