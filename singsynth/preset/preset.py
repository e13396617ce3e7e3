"""A preset in memory: its instruments, and the model that generates their notes at the preset's loudness."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..model.config import SAMPLE_RATE, ModelConfig
from .checks import PresetError, send_levels
from .files import METADATA_FILE, file_sha256, read_model
from .levels import Levels, note_gains

if TYPE_CHECKING:  # torch is imported only where a model runs: listing or playing cached notes needs none
    import torch

    from ..model.numpy_forward import ArraySING
    from ..model.numpy_stream import ArrayNoteStream
    from ..model.sing import SING
    from ..model.streaming import NoteStream


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
    # The same model as float32 arrays (model/numpy_forward.py) where use_arrays() chose it: streams then run in
    # numpy, and a process that only plays never imports torch.
    _arrays: ArraySING | None = field(default=None, repr=False)

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
            if self.weights_sha256 and file_sha256(self.weights_path) != self.weights_sha256:  # replaced since loading
                raise PresetError(f"{self.weights_path}: checksum does not match {METADATA_FILE}; the file is "
                                  "corrupted or replaced")
            self._model = read_model(self.config, self.weights_path, self._device)
        return self._model

    def use_arrays(self) -> bool:
        """Run streams in numpy from now on, where the weights file is one the numpy forward pass reads (checked as
        load_model checks it); False: it is not (a part it does not know, a damaged file), and torch plays."""
        if self._arrays is None:
            if self.weights_path is None or self._device != "cpu" or self._model is not None:
                return False
            if self.weights_sha256 and file_sha256(self.weights_path) != self.weights_sha256:
                return False  # load_model tells what is wrong
            from ..model.numpy_forward import ArraySING
            self._arrays = ArraySING.from_file(self.config, self.weights_path)
        return self._arrays is not None

    def release_arrays(self) -> None:
        """Streams run in torch again (the arrays' memory freed)."""
        self._arrays = None

    @property
    def model_loaded(self) -> bool:
        """Whether torch's model is built (load_model)."""
        return self._model is not None

    @property
    def runs_arrays(self) -> bool:
        """Whether streams run in numpy (use_arrays)."""
        return self._arrays is not None

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
        levels = [i.levels for i in self.instruments]
        if not any(levels):
            return self.output_gain
        import torch
        gains = note_gains(levels, instrument_weights.float().cpu().numpy(),
                           torch.as_tensor(pitch).reshape(-1).cpu().numpy(),
                           torch.as_tensor(velocity).reshape(-1).cpu().numpy())
        return torch.as_tensor(gains * self.output_gain, dtype=torch.float32, device=self.device).view(-1, 1)

    def array_gains(self, instrument_weights: np.ndarray, pitch, velocity) -> np.ndarray | float:
        """gains() as float32 [B, 1] (or a number), without torch."""
        levels = [i.levels for i in self.instruments]
        if not any(levels):
            return self.output_gain
        gains = note_gains(levels, instrument_weights, np.asarray(pitch).reshape(-1), np.asarray(velocity).reshape(-1))
        return (gains * self.output_gain).astype(np.float32).reshape(-1, 1)

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

    def open_stream(self, instrument_weights: torch.Tensor | np.ndarray, pitch, velocity) -> NoteStream | ArrayNoteStream:
        """The notes, to be generated chunk by chunk at the preset's loudness (model/streaming.py), in bfloat16 as
        whole notes are (model/precision.py); in numpy where use_arrays() chose it (model/numpy_stream.py)."""
        if self._arrays is not None:
            from ..model.numpy_stream import open_stream
            weights = np.asarray(instrument_weights, np.float32)
            return open_stream(self._arrays, weights, pitch, velocity, self.array_gains(weights, pitch, velocity))
        import torch

        from ..model.precision import low_precision
        from ..model.streaming import NoteStream
        instrument_weights = torch.as_tensor(instrument_weights, dtype=torch.float32)  # model_inputs gives arrays
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
