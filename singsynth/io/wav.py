"""Write audio files block by block: WAV (16-bit or 24-bit PCM, or 32-bit float) built in, FLAC (16 or 24 bits)
through `soundfile`.

Files are written to a temporary name beside the target and renamed when complete, so an interrupted
render never leaves a half-written file. What cannot be written (a WAV past the 4 GiB its header can describe,
a full disk) raises AudioFileError, one line naming the file. `soundfile` is a dependency; where its library
cannot load, asking for .flac raises AudioFileError saying so.
"""
from __future__ import annotations

import os
import struct
import tempfile
from pathlib import Path

import numpy as np

from ..errors import UsageError

FORMATS = {".wav": "WAV", ".wave": "WAV", ".flac": "FLAC"}
WAVE_FORMAT_PCM = 1
WAVE_FORMAT_IEEE_FLOAT = 3
MAX_RIFF_BYTES = 0xFFFFFFFF
MAX_WAV_DATA = MAX_RIFF_BYTES - 64  # room for the RIFF, fmt, fact and data chunk headers


def too_long_for_wav(frames: int, sample_rate: int) -> str:
    """The one-line advice when `frames` of audio would pass the 4 GiB a WAV file can describe."""
    return (f"{frames / sample_rate / 60:.0f} minutes at {sample_rate} Hz pass the 4 GiB a WAV file can hold; "
            "lower --rate, write 16-bit samples, or write .flac")


def sample_bytes(float32: bool = False, pcm24: bool = False) -> int:
    """Bytes a WAV sample takes: 4 as float, 3 as 24-bit PCM, else 2."""
    return 4 if float32 else 3 if pcm24 else 2


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


class AudioFileError(UsageError, ValueError):
    """An output that cannot be written; the message is one line naming the file."""


def check_output(path: str | os.PathLike) -> str:
    """The format for this file name (by extension), or AudioFileError; call before heavy work."""
    path = Path(path)
    if path.is_dir():
        raise AudioFileError(f"{path}: is a folder; give a file name in it, such as {path / 'out.wav'}")
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise AudioFileError(f"{path}: unknown audio file type {path.suffix or '(none)'!r}; use .wav or .flac")
    if fmt == "FLAC":
        try:
            import soundfile  # noqa: F401
        except (ImportError, OSError):
            raise AudioFileError(f"{path}: writing FLAC needs the soundfile package, which does not load here "
                                 "(pip install soundfile); or write a .wav file") from None
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise AudioFileError(f"{path}: folder {parent} does not exist")
    return fmt


class AudioWriter:
    """with AudioWriter("out.wav", 48000) as w: w.write(block)  # float32 [frames, channels] in -1..1

    Samples: 16-bit PCM by default, 24-bit PCM (`pcm24`) or 32-bit float (`float32`, WAV only; a FLAC asked for
    float is written in 24 bits, the most FLAC holds)."""

    def __init__(self, path: str | os.PathLike, sample_rate: int, channels: int = 2, float32: bool = False,
                 pcm24: bool = False):
        if float32 and pcm24:
            raise ValueError("float32 or pcm24, not both")
        self.path = Path(path)
        self.format = check_output(self.path)
        self.sample_rate, self.channels, self.float32, self.pcm24 = int(sample_rate), channels, float32, pcm24
        try:
            fd, tmp = tempfile.mkstemp(dir=self.path.parent if str(self.path.parent) else ".",
                                       prefix=f".{self.path.name}.", suffix=".part")
        except OSError as exc:
            raise self._cannot_write(exc) from None
        os.close(fd)
        self._tmp = Path(tmp)
        self.frames = 0
        self._sf = self._file = None
        try:
            if self.format == "FLAC":
                import soundfile
                self._sf = soundfile.SoundFile(str(self._tmp), "w", self.sample_rate, channels,
                                               "PCM_24" if float32 or pcm24 else "PCM_16", format="FLAC")
            else:
                self._file = open(self._tmp, "wb")
                self._file.write(self._header(0))
        except BaseException:
            self._tmp.unlink(missing_ok=True)
            raise

    @property
    def frame_bytes(self) -> int:
        return self.channels * sample_bytes(self.float32, self.pcm24)

    def _header(self, frames: int) -> bytes:
        width = sample_bytes(self.float32, self.pcm24)
        data = frames * self.channels * width
        tag = WAVE_FORMAT_IEEE_FLOAT if self.float32 else WAVE_FORMAT_PCM
        fmt = struct.pack("<HHIIHH", tag, self.channels, self.sample_rate, self.sample_rate * self.channels * width,
                          self.channels * width, 8 * width)
        # float WAV carries a 'fact' chunk (frame count), as the format requires for non-PCM data
        fact = b"fact" + struct.pack("<II", 4, frames) if self.float32 else b""
        riff = 4 + (8 + len(fmt)) + len(fact) + 8 + data
        return (b"RIFF" + struct.pack("<I", min(riff, MAX_RIFF_BYTES)) + b"WAVE" + b"fmt " + struct.pack("<I", len(fmt))
                + fmt + fact + b"data" + struct.pack("<I", min(data, MAX_RIFF_BYTES)))

    def write(self, block: np.ndarray) -> None:
        block = np.asarray(block, dtype=np.float32).reshape(-1, self.channels)
        if self._file is not None and (self.frames + len(block)) * self.frame_bytes > MAX_WAV_DATA:
            # the header's 32-bit sizes cannot describe more: stop rather than write a file that lies
            raise AudioFileError(f"{self.path}: {too_long_for_wav(self.frames + len(block), self.sample_rate)}")
        self.frames += len(block)
        try:
            if self._sf is not None:
                self._sf.write(block)
            elif self.float32:
                self._file.write(block.astype("<f4").tobytes())
            elif self.pcm24:  # the low three bytes of each little-endian int32
                pcm = np.clip(np.round(block.astype(np.float64) * 8388607.0), -8388608, 8388607).astype("<i4")
                self._file.write(pcm.view(np.uint8).reshape(-1, 4)[:, :3].tobytes())
            else:
                pcm = np.clip(np.round(block * 32767.0), -32768, 32767).astype("<i2")
                self._file.write(pcm.tobytes())
        except OSError as exc:  # a full disk: one line, and the caller's abort() removes the partial file
            raise self._cannot_write(exc) from None

    def close(self) -> Path:
        """Finish the file and move it into place."""
        try:
            if self._sf is not None:
                self._sf.close()
            else:
                self._file.seek(0)
                self._file.write(self._header(self.frames))
                self._file.close()
            os.chmod(self._tmp, 0o666 & ~_umask())  # mkstemp made it private; a render is an ordinary file
            os.replace(self._tmp, self.path)
        except OSError as exc:
            self.abort()
            raise self._cannot_write(exc) from None
        return self.path

    def _cannot_write(self, exc: OSError) -> AudioFileError:
        return AudioFileError(f"{self.path}: cannot write ({exc.strerror or exc})")

    def abort(self) -> None:
        """Drop the partial file."""
        try:
            if self._sf is not None:
                self._sf.close()
            elif self._file is not None and not self._file.closed:
                self._file.close()
        finally:
            self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> "AudioWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def read_wav(path: str | os.PathLike) -> tuple[int, np.ndarray]:
    """A WAV file this module writes (16-bit PCM or 32-bit float) -> (rate, float32 [frames, channels])."""
    raw = Path(path).read_bytes()
    if raw[:4] != b"RIFF" or raw[8:12] != b"WAVE":
        raise AudioFileError(f"{path}: not a WAV file")
    pos, fmt, data = 12, None, None
    while pos + 8 <= len(raw):
        tag, size = raw[pos:pos + 4], struct.unpack("<I", raw[pos + 4:pos + 8])[0]
        body = raw[pos + 8:pos + 8 + size]
        if tag == b"fmt ":
            fmt = struct.unpack("<HHIIHH", body[:16])
        elif tag == b"data":
            data = body
        pos += 8 + size + (size & 1)
    if fmt is None or data is None:
        raise AudioFileError(f"{path}: WAV file without fmt or data chunk")
    tag, channels, rate, _, _, bits = fmt
    if tag == WAVE_FORMAT_IEEE_FLOAT and bits == 32:
        samples = np.frombuffer(data, dtype="<f4").astype(np.float32)
    elif tag == WAVE_FORMAT_PCM and bits == 16:
        samples = np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0
    elif tag == WAVE_FORMAT_PCM and bits == 24:
        raw24 = np.frombuffer(data[:len(data) - len(data) % 3], dtype=np.uint8).reshape(-1, 3)
        wide = np.zeros((len(raw24), 4), dtype=np.uint8)
        wide[:, 1:] = raw24  # into the top three bytes: the sign comes along
        samples = (wide.view("<i4")[:, 0] >> 8).astype(np.float32) / 8388608.0
    else:
        raise AudioFileError(f"{path}: {bits}-bit WAV format {tag} is not supported here")
    return rate, samples.reshape(-1, channels)
