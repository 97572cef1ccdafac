"""Reading audio files: any format in, float32 samples at the analysis rate out.

Two real decoders stand behind :func:`load`: libsndfile (through ``soundfile``) for wav, flac,
ogg/vorbis and mp3, the same path ``librosa.load`` takes, so the samples match librosa's; and
FFmpeg (through PyAV) for everything else FFmpeg reads: m4a/AAC previews, opus, wma, video
containers. Channels are averaged and the signal is resampled with soxr's high-quality mode, as
librosa does by default.
"""

from __future__ import annotations

import io
import logging
import math
import os
import re
import stat
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import numpy.typing as npt
import soundfile as sf
import soxr

from genrekit.constants import MIN_SECONDS, SAMPLE_RATE
from genrekit.errors import (
    AudioLoadError,
    AudioTooShortError,
    GenrekitError,
    ParameterError,
    PartialDecodeWarning,
    reason_about,
)
from genrekit.native_stderr import filtered as native_stderr_filtered

# PyAV up to 12 passes FFmpeg's log lines ("Header missing" for every damaged mp3 frame) to the
# logger "libav.<codec>", which Python prints on stderr unless someone handles them: we do, by
# discarding them, as a library should. An application that configures logging still gets them.
logging.getLogger("libav").addHandler(logging.NullHandler())

# libsndfile reads these natively (mp3 since libsndfile 1.1); everything else goes to FFmpeg first.
_SNDFILE_EXTENSIONS = frozenset({".wav", ".flac", ".ogg", ".oga", ".mp3", ".aif", ".aiff", ".au"})

Samples = npt.NDArray[np.float32]

# Header frame counts of mp3s without a Xing/LAME header are estimates: allow two MPEG frames.
_FRAME_COUNT_SLACK = 2 * 1152
# Seconds decoded and dropped before an FFmpeg seek target.
_SEEK_PREROLL = 0.5
SEARCH_BYTES = 64 * 2**20
"""FFmpeg may read this much of a file before it must have found audio in it. Its mp3 reader
otherwise searches a whole file of junk for a first frame, holding what it read: 2 GB of memory
and 14 s for a 1 GB file of zeros named .mp3, unbounded for larger ones."""


@dataclass(frozen=True)
class Audio:
    """Decoded samples and what happened while decoding them."""

    y: Samples
    """float32, shape (n,) if mono else (n_channels, n)"""
    sr: int
    source_sr: int
    """The file's own sample rate."""
    damage: str | None = None
    """Why only part of a damaged file was decoded, or ``None`` for an intact file."""


@dataclass(frozen=True)
class _Decoded:
    """Samples as (n_frames, n_channels) float32 at the file's own rate."""

    samples: Samples
    sr: int
    partial_reason: str | None = None


class _DecoderError(Exception):
    """Internal: one decoder could not read the file; the reason goes into the final message."""


def load(
    path: str | os.PathLike[str],
    *,
    sr: int | None = SAMPLE_RATE,
    mono: bool = True,
    offset: float = 0.0,
    duration: float | None = None,
    min_duration: float = MIN_SECONDS,
) -> tuple[Samples, int]:
    """Load an audio file as floating-point samples, like ``librosa.load``.

    Parameters
    ----------
    path : path to an audio file of any format libsndfile or FFmpeg can read.
    sr : target sample rate in Hz; ``None`` keeps the file's own rate.
    mono : average the channels into one.
    offset : start reading this many seconds into the file.
    duration : read at most this many seconds; ``None`` reads to the end. Only the requested part
        is decoded, so a short excerpt of a long file is cheap.
    min_duration : decoded audio shorter than this many seconds (or than ``duration``, if that is
        smaller) raises :class:`AudioTooShortError`.

    Returns
    -------
    y : ndarray, float32, shape (n,) if ``mono`` else (n_channels, n)
    sr : the sample rate of ``y``

    Raises
    ------
    AudioLoadError
        The file is missing, not a regular file, empty, not audio, or every decoder failed; the
        message names each decoder tried and its reason.
    AudioTooShortError
        The audio decoded but is too short.

    Warns
    -----
    PartialDecodeWarning
        A damaged file was decoded up to the damage and the decodable part was long enough.
    """
    audio = read(
        path, sr=sr, mono=mono, offset=offset, duration=duration, min_duration=min_duration
    )
    if audio.damage is not None:
        seconds = audio.y.shape[-1] / audio.sr
        warnings.warn(
            f"{path}: file is damaged ({audio.damage}); "
            f"using the first {seconds:.2f} s that decoded",
            PartialDecodeWarning,
            stacklevel=2,
        )
    return audio.y, audio.sr


def read(
    path: str | os.PathLike[str],
    *,
    sr: int | None = SAMPLE_RATE,
    mono: bool = True,
    offset: float = 0.0,
    duration: float | None = None,
    min_duration: float = MIN_SECONDS,
) -> Audio:
    """:func:`load`, returning an :class:`Audio` that reports damage instead of warning.

    Batch code calls this from threads, where ``warnings.catch_warnings`` is not safe. A bad file
    only ever raises a :class:`GenrekitError`: an unexpected exception inside a decoder or the
    resampler becomes an :class:`AudioLoadError` naming the file, so one file never ends a batch.
    """
    if offset < 0 or not math.isfinite(offset):
        raise ParameterError(f"offset={offset!r} must be a finite number >= 0")
    if duration is not None and not (duration > 0 and math.isfinite(duration)):
        raise ParameterError(f"duration={duration!r} must be a finite number > 0, or None")
    if sr is not None and sr <= 0:
        raise ParameterError(f"sr={sr!r} must be a positive sample rate, or None")

    file = Path(path)
    try:
        return _read(file, sr, mono, offset, duration, min_duration)
    except GenrekitError:
        raise
    except Exception as exc:
        raise AudioLoadError(
            f"{file}: cannot be read ({type(exc).__name__}: {_one_line(exc)})"
        ) from exc


def _read(
    file: Path,
    sr: int | None,
    mono: bool,
    offset: float,
    duration: float | None,
    min_duration: float,
) -> Audio:
    _check_is_readable_file(file)
    decoded = _decode_with_fallback(file, offset, duration)

    samples = decoded.samples
    if not np.isfinite(samples).all():
        raise AudioLoadError(f"{file}: the decoded audio contains NaN or infinite samples")

    wanted = min_duration if duration is None else min(min_duration, duration)
    got = samples.shape[0] / decoded.sr
    if got < wanted:
        where = f" after offset {offset:g} s" if offset else ""
        raise AudioTooShortError(
            f"{file}: only {got:.3f} s of audio{where}; at least {wanted:g} s is needed"
        )
    y = downmix(samples) if mono else np.ascontiguousarray(samples.T)
    if sr is not None and sr != decoded.sr:
        y = resample(y, orig_sr=decoded.sr, target_sr=sr)
    return Audio(y, decoded.sr if sr is None else sr, decoded.sr, decoded.partial_reason)


def undecodable(path: str | os.PathLike[str]) -> str | None:
    """None if the first second of ``path`` decodes as audio; else why not (without the path)."""
    try:
        read(path, sr=None, duration=1.0)
    except GenrekitError as exc:
        return reason_about(Path(path), exc)
    return None


def duration(path: str | os.PathLike[str]) -> float | None:
    """A file's length in seconds from its header, without decoding; None if it does not say."""
    import av

    file = Path(path)
    if not_a_file(file) is not None:  # opening a pipe or device would block or never end
        return None
    if file.suffix.lower() in _SNDFILE_EXTENSIONS:
        try:
            with native_stderr_filtered(), sf.SoundFile(_sndfile_name(file)) as handle:
                if handle.frames > 0:
                    return float(handle.frames / handle.samplerate)
        except Exception:  # any failure here: FFmpeg may know better
            pass
    try:
        with file.open("rb") as raw, _open_container(_UntilAudio(raw)) as container:
            if container.duration is not None:
                return float(container.duration) / av.time_base
    except Exception:  # the header says nothing usable; the caller decodes to find out
        return None
    return None


def downmix(samples: Samples) -> Samples:
    """Average channels: (n, n_channels) -> (n,), float32, the same sums ``np.mean`` makes."""
    n_channels = samples.shape[1]
    if n_channels == 1:
        return np.ascontiguousarray(samples[:, 0])
    # A running sum over columns is several times faster than np.mean(axis=1) on a tall,
    # narrow array, and adds in the same order.
    total = samples[:, 0].copy()
    for channel in range(1, n_channels):
        total += samples[:, channel]
    total /= np.float32(n_channels)
    return total


def resample(y: Samples, *, orig_sr: int, target_sr: int) -> Samples:
    """Resample along the last axis with soxr HQ, to librosa's length ``ceil(n * ratio)``."""
    n_out = math.ceil(y.shape[-1] * float(target_sr) / orig_sr)
    if y.ndim == 1:
        out = soxr.resample(y, orig_sr, target_sr, quality="HQ")
    else:  # (channels, n): soxr wants (n, channels)
        out = soxr.resample(np.ascontiguousarray(y.T), orig_sr, target_sr, quality="HQ").T
    if out.shape[-1] > n_out:
        out = out[..., :n_out]
    elif out.shape[-1] < n_out:
        pad = [(0, 0)] * (out.ndim - 1) + [(0, n_out - out.shape[-1])]
        out = np.pad(out, pad)
    return np.ascontiguousarray(out, dtype=np.float32)


def _check_is_readable_file(file: Path) -> None:
    problem = not_a_file(file)
    if problem is not None:
        raise AudioLoadError(f"{file}: {problem}")
    if file.stat().st_size == 0:
        raise AudioLoadError(f"{file}: file is empty (0 bytes)")


def not_a_file(path: Path, *, wanted: str = "an audio file") -> str | None:
    """None if ``path`` is a regular file (after following links); else what it is instead.

    Checked with ``os.stat`` before anything opens the file: reading a named pipe waits forever
    for a writer, and ``/dev/zero`` (or a link to it) never ends.
    """
    try:
        mode = path.stat().st_mode  # follows links: what a reader would get
    except FileNotFoundError:
        return "no such file" + (" (a broken symbolic link)" if path.is_symlink() else "")
    except OSError as exc:
        return f"cannot read file ({exc.strerror or exc})"
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "is a directory, not an audio file"
    if stat.S_ISFIFO(mode):
        kind = "a named pipe (FIFO)"
    elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        kind = "a device"
    elif stat.S_ISSOCK(mode):
        kind = "a socket"
    else:
        kind = "a special file"
    via = f", through a link to {os.path.realpath(path)}" if path.is_symlink() else ""
    return f"not a regular file: {kind}{via}; give {wanted}"


def _decode_with_fallback(file: Path, offset: float, duration: float | None) -> _Decoded:
    decoders: list[tuple[str, Callable[[Path, float, float | None], _Decoded]]] = [
        ("libsndfile", _decode_soundfile),
        ("ffmpeg", _decode_pyav),
    ]
    if file.suffix.lower() not in _SNDFILE_EXTENSIONS:
        decoders.reverse()
    reasons: list[str] = []
    for name, decoder in decoders:
        try:
            return decoder(file, offset, duration)
        except _DecoderError as exc:
            reasons.append(f"{name}: {exc}")
        except Exception as exc:
            # A decoder bug, or a library version that behaves in a way not foreseen here: this
            # file fails with the reason, the next decoder still gets its chance.
            reasons.append(f"{name}: unexpected {type(exc).__name__}: {_one_line(exc)}")
    raise AudioLoadError(f"{file}: cannot be decoded as audio (tried {'; '.join(reasons)})")


def _sndfile_name(file: Path) -> str | bytes:
    """The name to give libsndfile: as bytes when it holds bytes that are not UTF-8 (Python
    keeps them as surrogates, which soundfile cannot encode)."""
    name = str(file)
    try:
        name.encode()
    except UnicodeEncodeError:
        return os.fsencode(name)
    return name


def _decode_soundfile(file: Path, offset: float, duration: float | None) -> _Decoded:
    try:
        # libmpg123 (libsndfile's mp3 decoder) prints to stderr about every damaged frame.
        with native_stderr_filtered(), sf.SoundFile(_sndfile_name(file)) as handle:
            sr_native = handle.samplerate
            # Same frame arithmetic as librosa.load, so the excerpt starts on the same sample.
            if offset:
                start = int(offset * sr_native)
                if handle.frames >= 0 and start >= handle.frames:
                    return _Decoded(np.zeros((0, handle.channels), np.float32), sr_native)
                handle.seek(start)
            else:
                start = 0
            frames = -1 if duration is None else int(duration * sr_native)
            samples = handle.read(frames=frames, dtype="float32", always_2d=True)
            declared = handle.frames
    except (sf.LibsndfileError, sf.SoundFileRuntimeError, RuntimeError) as exc:
        raise _DecoderError(_sndfile_reason(exc)) from exc
    if samples.shape[0] == 0 and not offset:
        raise _DecoderError("no audio frames in the file")
    # A truncated or damaged file reads short of what its header declares.
    expected = declared - start if frames < 0 else min(frames, declared - start)
    missing = expected - samples.shape[0]
    partial = None
    if missing > _FRAME_COUNT_SLACK + expected // 1000:
        partial = f"{missing / sr_native:.2f} s of the declared audio could not be decoded"
    return _Decoded(samples, sr_native, partial)


def _sndfile_reason(exc: BaseException) -> str:
    text = _one_line(exc)
    # libsndfile says this for any file it cannot identify, even one that exists.
    if "does not exist or is not a regular file" in text:
        return "format not recognised"
    return re.sub(r"^Error opening '.*?': ", "", text)


def _decode_pyav(file: Path, offset: float, duration: float | None) -> _Decoded:

    try:
        with file.open("rb") as raw:
            return _decode_stream(_UntilAudio(raw), offset, duration)
    except OSError as exc:
        raise _DecoderError(_one_line(exc)) from exc


def _decode_stream(reader: _UntilAudio, offset: float, duration: float | None) -> _Decoded:
    import av

    chunks: list[Samples] = []
    have = 0
    partial: str | None = None
    nothing_found = f"no audio found in the first {SEARCH_BYTES // 2**20} MiB of the file"
    try:
        container = _open_container(reader)
    except (av.FFmpegError, OSError, UnicodeDecodeError, ValueError) as exc:
        raise _DecoderError(nothing_found if reader.spent else _one_line(exc)) from exc
    with container:
        if not container.streams.audio:
            raise _DecoderError("the file has no audio stream")
        stream = container.streams.audio[0]
        sr_native = int(stream.codec_context.sample_rate or stream.rate or 0)
        if sr_native <= 0:
            raise _DecoderError(
                nothing_found if reader.spent else "the audio stream has no sample rate"
            )
        want = None if duration is None else int(duration * sr_native)
        start = int(offset * sr_native)
        # FFmpeg converts every frame to planar float32 in the file's own layout and rate.
        converter = av.AudioResampler(format="fltp")
        position: int | None = None
        try:
            if offset > _SEEK_PREROLL and stream.time_base is not None:
                # Seek early: lapped-transform codecs (AAC, Vorbis, Opus) decode the first frames
                # after a seek wrongly; those fall before `start` and are dropped below.
                target = (offset - _SEEK_PREROLL) / stream.time_base
                container.seek(int(target), stream=stream, backward=True)
            for frame in container.decode(stream):
                reader.found()
                if position is None:
                    position = _frame_start(frame, sr_native)
                for out in converter.resample(frame):
                    block = out.to_ndarray().T  # (n, channels)
                    block_start, position = position, position + block.shape[0]
                    if position <= start:
                        continue
                    block = block[max(0, start - block_start) :]
                    chunks.append(np.asarray(block, dtype=np.float32))
                    have += block.shape[0]
                if want is not None and have >= want:
                    break
        except (av.FFmpegError, UnicodeDecodeError, ValueError) as exc:
            if have == 0:
                raise _DecoderError(nothing_found if reader.spent else _one_line(exc)) from exc
            partial = _one_line(exc)
    if have == 0:
        if reader.spent:
            raise _DecoderError(nothing_found)
        if offset:
            return _Decoded(np.zeros((0, 1), np.float32), sr_native)
        raise _DecoderError("no audio frames could be decoded")
    samples = np.concatenate(chunks)
    if want is not None:
        samples = samples[:want]
    return _Decoded(samples, sr_native, partial)


# PyAV 12-18 decode a container's metadata strictly (UnicodeDecodeError on a latin-1 tag) unless
# told `metadata_errors`; PyAV 19 dropped the argument and decodes leniently itself. Tried once,
# then remembered.
_av_takes_metadata_errors = True


def _open_container(reader: _UntilAudio) -> Any:
    """``av.open`` for reading, on every PyAV version from 12 on."""
    import av

    global _av_takes_metadata_errors
    av_open: Any = av.open  # its signature depends on the PyAV version
    if _av_takes_metadata_errors:
        try:
            return av_open(reader, "r", metadata_errors="ignore")
        except TypeError as exc:
            if "metadata_errors" not in str(exc):
                raise
            _av_takes_metadata_errors = False
            reader.seek(0)
    return av_open(reader, "r")


class _UntilAudio(io.RawIOBase):
    """A file as FFmpeg reads it: at most :data:`SEARCH_BYTES` until :meth:`found` is called
    (the first audio frame decoded), then without bound. Past the budget it reads as the end of
    the file, and ``spent`` says so."""

    def __init__(self, raw: BinaryIO, budget: int | None = None):
        super().__init__()
        self._raw = raw
        self._left: int | None = SEARCH_BYTES if budget is None else budget
        self.spent = False

    @property
    def name(self) -> str:  # FFmpeg's format probe weighs the file name's extension too
        return str(self._raw.name)

    def found(self) -> None:
        self._left = None

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self._left is not None:
            if self._left <= 0:
                self.spent = True
                return b""
            size = self._left if size < 0 else min(size, self._left)
        data = self._raw.read(size)
        if self._left is not None:
            self._left -= len(data)
        return data

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        try:
            return self._raw.seek(offset, whence)
        except (OSError, ValueError):  # e.g. before the start of an empty file
            return -1  # FFmpeg's failed seek; raised here, PyAV would print a traceback

    def tell(self) -> int:
        return self._raw.tell()


def _frame_start(frame: object, sr_native: int) -> int:
    """Sample index at which a decoded frame starts (0 when the container gives no time)."""
    pts = getattr(frame, "pts", None)
    time_base = getattr(frame, "time_base", None)
    if pts is None or time_base is None:
        return 0
    return round(float(pts * time_base) * sr_native)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    # PyAV prefixes errno and suffixes the file name; the message already names the file.
    text = re.sub(r"^\[Errno -?\d+\] ", "", text)
    text = re.sub(r": '[^']*'$", "", text)
    return text[:300]
