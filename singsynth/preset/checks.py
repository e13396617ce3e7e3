"""A preset's files checked before anything in them is trusted: regular files of bounded size, safetensors
headers that fit their file, and model configs that fit their weights. Each refusal is one line naming the file."""
from __future__ import annotations

import dataclasses
import json
import math
import os
import stat
import struct
from pathlib import Path
from typing import BinaryIO

from ..errors import UsageError
from ..model.config import (DECODERS, RISE_HIDDEN, VELOCITY_CLASSES, VIBRATO_HIDDEN, VIBRATO_WIDTH,
                            ModelConfig)

# A real header of a model this size is a few kB; refuse to parse anything absurd.
MAX_HEADER_BYTES = 16 * 1024 * 1024
# preset.json holds names, a training history and the held-out pairs: tens of kB.
MAX_METADATA_BYTES = 16 * 1024 * 1024
SAFETENSORS_DTYPES = {"F16": 2, "BF16": 2, "F32": 4}  # bytes an element
# A SING note lasts 4 s; a config asking for minutes would only have every voice allocate absurd buffers.
MAX_NOTE_SECONDS = 30
# Sizes that may be 0: no time embedding (the paper's ablation), no padding, no pointwise layers.
MAY_BE_ZERO = {"time_dim", "padding", "pointwise_layers"}
# Fields that are no sizes: checked on their own.
CHOICES = {"decoder": DECODERS}
SWITCHES = {"inharmonicity", "residual", "key_tuning", "attack", "vibrato", "instrument_controls"}
FILE_KINDS = {stat.S_IFDIR: "a folder", stat.S_IFIFO: "a FIFO", stat.S_IFCHR: "a character device",
              stat.S_IFBLK: "a block device", stat.S_IFSOCK: "a socket"}


class PresetError(UsageError):
    """A preset that cannot be used; the message is one line naming the file."""


def open_regular(path: Path) -> BinaryIO:
    """Open a regular file for reading; anything else raises PresetError before a byte is read.

    A FIFO would block for ever and a device such as /dev/zero never ends, symlinked or not. OSError (a
    missing or unreadable file) passes through to the caller, who knows what the file is for."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # O_NONBLOCK: opening a FIFO must not wait for a writer
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        kind = FILE_KINDS.get(stat.S_IFMT(mode), "not a file")
        raise PresetError(f"{path}: unreadable ({kind}, not a regular file)")
    return os.fdopen(fd, "rb")


def read_regular(path: Path, limit: int) -> bytes:
    """The whole of a regular file of at most `limit` bytes."""
    with open_regular(path) as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise PresetError(f"{path}: too large (over {limit >> 20} MiB); this is not a preset's file")
    return data


def read_safetensors_header(path: Path) -> tuple[dict, int]:
    """(header, bytes of tensor data after it), checked against the file without trusting it."""
    try:
        with open_regular(path) as f:
            size = os.fstat(f.fileno()).st_size
            head = f.read(8)
            if len(head) < 8:
                raise PresetError(f"{path}: truncated safetensors file (no header); re-download or retrain the preset")
            (length,) = struct.unpack("<Q", head)
            if length > MAX_HEADER_BYTES or length > size - 8:  # checked before anything is read or parsed
                raise PresetError(f"{path}: not a valid safetensors file (header claims {length} bytes of {size})")
            text = f.read(length)
    except OSError as exc:
        raise PresetError(f"{path}: unreadable ({exc.strerror or exc})") from None
    try:
        header = json.loads(text)
    except (ValueError, RecursionError) as exc:  # RecursionError: JSON nested thousands deep
        why = "nested too deep" if isinstance(exc, RecursionError) else str(exc)
        raise PresetError(f"{path}: not a valid safetensors file (header is not JSON: {why})") from None
    data_size = size - 8 - length
    _check_header(path, header, data_size)
    return header, data_size


def _is_size(value, low: int = 0) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= low


def _check_header(path: Path, header, data_size: int) -> None:
    if not isinstance(header, dict):
        raise PresetError(f"{path}: not a valid safetensors file (header is not an object)")
    for key, info in header.items():
        if key == "__metadata__":
            continue
        try:
            dtype, shape, (begin, end) = info["dtype"], info["shape"], info["data_offsets"]
        except (TypeError, KeyError, ValueError):
            raise PresetError(f"{path}: not a valid safetensors file (bad entry for {key!r})") from None
        if not (isinstance(shape, list) and all(_is_size(n) for n in shape)):
            raise PresetError(f"{path}: not a valid safetensors file (tensor {key!r} has shape {shape!r})")
        if dtype not in SAFETENSORS_DTYPES:
            raise PresetError(f"{path}: tensor {key!r} has dtype {dtype}; a preset holds F16, BF16 or F32 weights")
        if not (_is_size(begin) and _is_size(end) and begin <= end <= data_size):
            raise PresetError(f"{path}: truncated or corrupted (tensor {key!r} lies outside the file)")
        # exact integers: a product that wraps around in 64 bits must not pass for an empty tensor
        if end - begin != math.prod(shape) * SAFETENSORS_DTYPES[dtype]:
            raise PresetError(f"{path}: not a valid safetensors file (tensor {key!r} has {end - begin} bytes "
                              f"for shape {shape})")


def check_model_config(config: ModelConfig, where: Path, sample_rate: int) -> None:
    """Every size a whole number in range, before anything of that size is built."""
    for f in dataclasses.fields(config):
        value, low = getattr(config, f.name), 0 if f.name in MAY_BE_ZERO else 1
        if f.name in CHOICES:
            if value not in CHOICES[f.name]:
                raise PresetError(f"{where}: bad \"model\" config ({f.name} is {value!r}; "
                                  f"known: {', '.join(CHOICES[f.name])}); a newer singsynth may read it")
            continue
        if f.name in SWITCHES:
            if not isinstance(value, bool):
                raise PresetError(f"{where}: bad \"model\" config ({f.name} is {value!r}; give true or false)")
            continue
        if not _is_size(value, low):
            raise PresetError(f"{where}: bad \"model\" config ({f.name} is {value!r}; "
                              f"a size is a whole number of at least {low})")
    if config.steps < 1:
        raise PresetError(f"{where}: bad \"model\" config (frame {config.frame} is longer than the padded note)")
    if config.sample_rate != sample_rate:
        raise PresetError(f"{where}: the model generates at {config.sample_rate} Hz but \"sample_rate\" says "
                          f"{sample_rate}; they must agree")
    if config.note_samples > MAX_NOTE_SECONDS * sample_rate:
        raise PresetError(f"{where}: bad \"model\" config ({config.note_samples} samples a note is over "
                          f"{MAX_NOTE_SECONDS} s at {sample_rate} Hz)")


def encoder_parameter_count(config: ModelConfig) -> int:
    """How many parameters the pretraining Encoder(config) has, counted without building it (torch stays
    unimported for `singsynth info`); held equal to the module's own count by tests/test_hostile_presets.py."""
    c = config
    return (c.frame + 1) * c.hidden + c.pointwise_layers * (c.hidden + 1) * c.hidden + (c.hidden + 1) * c.embedding_dim


def parameter_count(config: ModelConfig) -> int:
    """How many parameters SING(config) would allocate, counted without building it, so that a config
    that lies about its sizes is caught by the weights file's size first. Held equal to the model's own
    count by tests/test_hostile_presets.py."""
    c = config
    embeddings = (c.n_instruments * c.instrument_dim + 128 * c.pitch_dim + len(VELOCITY_CLASSES) * c.velocity_dim
                  + c.steps * c.time_dim)
    inputs, h = c.instrument_dim + c.pitch_dim + c.velocity_dim + c.time_dim, c.lstm_hidden
    # per layer: four gates over [input, hidden] plus two biases; the first layer reads the conditioning
    lstm = 4 * h * (inputs + h + 2) + (c.lstm_layers - 1) * 4 * h * (2 * h + 2)
    output = (h + 1) * c.embedding_dim
    body = (c.embedding_dim * c.decoder_kernel + 1) * c.hidden + c.pointwise_layers * (c.hidden + 1) * c.hidden
    transposed = c.hidden * c.frame + 1  # the paper's synthesis, or the harmonic decoder's residual path
    if c.decoder == "conv":
        return embeddings + lstm + output + body + transposed
    controls = (c.hidden + 1) * (1 + c.harmonics + c.noise_bands)
    stretch = c.n_instruments if c.inharmonicity else 0
    offsets = c.n_instruments * 2 * (1 + c.harmonics + c.noise_bands) if c.instrument_controls else 0
    conditioning = c.instrument_dim + c.pitch_dim + c.velocity_dim
    rise = (conditioning + 1) * RISE_HIDDEN + RISE_HIDDEN + 1 if c.attack else 0  # model/onset.py's RiseHead
    # model/vibrato.py's VibratoHead: an embedding per instrument and two layers over it and the key
    warp = (c.n_instruments * VIBRATO_WIDTH + (VIBRATO_WIDTH + 3) * VIBRATO_HIDDEN + (VIBRATO_HIDDEN + 1) * 4
            if c.vibrato else 0)
    return (embeddings + lstm + output + body + controls + stretch + offsets + rise + warp
            + (transposed if c.residual else 0))


def send_levels(d: dict, keep_zero: bool = True) -> dict[str, float]:
    """An instrument's optional "reverb_send" and "chorus_send" (0..1; absent: 0) from its preset.json entry;
    keep_zero=False leaves out those at 0 (as a preset writes them). Anything else -> ValueError."""
    levels = {}
    for key in ("reverb_send", "chorus_send"):
        value = d.get(key, 0.0)
        # `not 0 <= value <= 1` also refuses NaN
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
            raise ValueError(f"{key} {value!r} is not a send level 0..1")
        if value or keep_zero:
            levels[key] = float(value)
    return levels


def flag(value, what: str) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{what} {value!r} is not true or false")
    return value
