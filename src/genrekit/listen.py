"""Where a model listens in a track: windows spread over its sound, silence skipped.

A model reads a few windows of a few seconds, never a whole long track. :class:`Track` gives
windows of a file (each decoded on its own, so the cost stays bounded whatever the length) or of
samples in memory; :func:`listen` chooses ``count`` of them spread evenly from the first sound to
the last, so silence before, between or after the music never judges the track;
:meth:`Track.timeline` tiles the whole track with at most a given number of segments.
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from genrekit.audio import duration as file_duration
from genrekit.audio import read, resample
from genrekit.constants import MIN_SECONDS, SILENCE_DB
from genrekit.errors import AudioLoadError, AudioTooShortError, ParameterError, SilentAudioError

PROBES = 12
"""Windows read across a long track, when some of the first ones were silent, to find its sound."""
LOUD_FRACTION = 0.5
"""A window counts as sound when at least this share of its 20 ms frames is above
``SILENCE_DB``; a window that is mostly lead-in or fade-out silence is skipped."""

Samples = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Window:
    """Samples of one window and where it starts in the track (seconds)."""

    start: float
    y: Samples
    loud: bool  # mostly sound (``LOUD_FRACTION``)
    sound: bool  # any sound at all


def loudness(y: Samples, sr: int) -> tuple[bool, bool]:
    """(mostly sound, any sound) of samples: their 20 ms frames against ``SILENCE_DB``."""
    frame = max(1, sr // 50)
    usable = y[: y.size // frame * frame] if y.size >= frame else np.pad(y, (0, frame - y.size))
    frames = usable.reshape(-1, frame)
    energy = np.einsum("ij,ij->i", frames, frames) / frame
    above = energy > 10.0 ** (SILENCE_DB / 10.0)
    return bool(above.mean() >= LOUD_FRACTION), bool(above.any())


class Track:
    """A file or samples, read window by window at ``sr``.

    A file is decoded whole only when it is short (or its header gives no length, or it turns
    out damaged); otherwise each window is decoded on its own.
    """

    def __init__(
        self, audio: str | os.PathLike[str] | npt.ArrayLike, *, sr: int, source_sr: int | None
    ):
        self.sr = sr
        self.damage: str | None = None  # why only part of a damaged file was decoded
        self._y: Samples | None = None
        if isinstance(audio, str | os.PathLike):
            self.path: Path | None = Path(audio)
            self.name = str(audio)
            self.length: float | None = file_duration(self.path)
            return
        self.path, self.name = None, "audio"
        if source_sr is None:
            raise ParameterError("classify(samples) needs sr=, the samples' rate")
        self._y = _samples(audio, source_sr, sr)
        self.length = self._y.size / sr

    def head(self, seconds: float) -> Samples:
        """The first ``seconds`` (what whole-clip models were trained on)."""
        if self._y is None:
            assert self.path is not None
            audio = read(self.path, sr=self.sr, duration=seconds)
            self.damage = audio.damage
            return audio.y
        return self._y[: int(seconds * self.sr)]

    def windows(self, count: int, width: float) -> list[Window]:
        """Up to ``count`` windows of ``width`` seconds from the start to the end of the track:
        consecutive when it holds no more, else spread evenly (the first at the start, the last
        at the end)."""
        if self._y is None and (self.length is None or self.length <= count * width):
            self._decode_whole()
        return self._at(lambda length: _spread(length, count, width), width)

    def timeline(self, most: int, width: float) -> list[tuple[float, float, Window]]:
        """The whole track tiled by at most ``most`` equal segments, each judged by the
        ``width``-second window at its middle: (start, end, window) per segment."""
        if self._y is None and (self.length is None or self.length <= most * width):
            self._decode_whole()
        windows = self._at(lambda length: _middles(length, most, width), width)
        assert self.length is not None
        bounds = np.linspace(0.0, self.length, len(windows) + 1)
        return [
            (float(a), float(b), w)
            for a, b, w in zip(bounds[:-1], bounds[1:], windows, strict=True)
        ]

    def _at(self, starts_of: Callable[[float], list[float]], width: float) -> list[Window]:
        """Windows at ``starts_of(length)``: cut from memory, or each decoded on its own."""
        if self._y is None:
            assert self.path is not None and self.length is not None
            found = []
            for start in starts_of(self.length):
                try:
                    audio = read(
                        self.path, sr=self.sr, offset=start, duration=width, min_duration=0.5
                    )
                except AudioLoadError:
                    if start == 0:
                        raise
                    break  # the header promised more than decodes: a damaged file
                self.damage = self.damage or audio.damage
                found.append(self._window(start, audio.y))
            else:
                return found
            self._decode_whole()  # take what decodes, as extract does
        assert self._y is not None
        w = round(width * self.sr)
        cuts = [round(s * self.sr) for s in starts_of(self._y.size / self.sr)]
        return [self._window(s / self.sr, self._y[s : s + w]) for s in cuts]

    def _window(self, start: float, y: Samples) -> Window:
        return Window(start, y, *loudness(y, self.sr))

    def _decode_whole(self) -> None:
        assert self.path is not None
        audio = read(self.path, sr=self.sr)
        self._y, self.damage = audio.y, audio.damage
        self.length = audio.y.size / self.sr


def _spread(length: float, count: int, width: float) -> list[float]:
    """Starts of up to ``count`` windows from the start to the end of ``length`` seconds."""
    if length <= width:
        return [0.0]
    if length > count * width:
        return [float(s) for s in np.linspace(0.0, length - width, count)]
    starts = [k * width for k in range(int((length - width) / width + 1e-9) + 1)]
    if length - width - starts[-1] > 1e-3:  # the end too, overlapping a little
        starts.append(length - width)
    return starts


def _middles(length: float, most: int, width: float) -> list[float]:
    """Starts of the windows at the middle of at most ``most`` equal segments of the track."""
    n = max(1, min(most, math.ceil(length / width - 1e-6)))
    bounds = np.linspace(0.0, length, n + 1)
    latest = max(length - width, 0.0)
    return [float(np.clip((a + b - width) / 2, 0.0, latest)) for a, b in itertools.pairwise(bounds)]


def listen(track: Track, count: int, width: float) -> list[Window]:
    """``count`` windows (fewer on a short track) spread evenly over the sound of the track.

    Windows that are mostly silence are skipped; when some of the first ``count`` are, a long
    track is probed with :data:`PROBES` windows and ``count`` of its loud ones are taken, spread
    from the first to the last. Raises :class:`SilentAudioError` when no window holds sound.
    """
    found = track.windows(count, width)
    if all(w.loud for w in found):
        return found
    if len(found) == count and count < PROBES:  # a long track: look closer for its sound
        found = track.windows(PROBES, width)
    chosen = [w for w in found if w.loud] or [w for w in found if w.sound]
    if not chosen:
        raise SilentAudioError(
            f"{track.name}: silent (never louder than {SILENCE_DB:g} dBFS); no genre to tell"
        )
    picks = np.unique(np.linspace(0, len(chosen) - 1, count).round().astype(int))
    return [chosen[i] for i in picks]


def _samples(audio: npt.ArrayLike, source_sr: int, sr: int) -> Samples:
    """Mono float32 samples at ``sr`` from an array (n,) or (channels, n), checked like a file."""
    raw = np.asarray(audio)
    if not np.issubdtype(raw.dtype, np.floating):
        # As librosa: integer PCM has no agreed scale here, and cast as is it reads as clipping.
        hint = (
            f"; for {raw.dtype} PCM use samples / {2 ** (8 * raw.dtype.itemsize - 1)}"
            if np.issubdtype(raw.dtype, np.signedinteger)
            else ""
        )
        raise ParameterError(f"samples must be floating point, from -1 to 1; got {raw.dtype}{hint}")
    y = raw.astype(np.float32, copy=False)
    if y.ndim == 2:
        y = y.mean(axis=0 if y.shape[0] <= 8 else 1)
    if y.ndim != 1:
        raise ParameterError(f"samples must be (n,) or (channels, n); got shape {y.shape}")
    if source_sr <= 0:
        raise ParameterError(f"sr={source_sr!r} must be a positive sample rate")
    if not np.isfinite(y).all():
        raise ParameterError("samples contain NaN or infinite values")
    seconds = y.size / source_sr
    if seconds < MIN_SECONDS:
        raise AudioTooShortError(
            f"audio: only {seconds:.3f} s of samples; at least {MIN_SECONDS:g} s is needed"
        )
    y = np.ascontiguousarray(y)
    return y if source_sr == sr else resample(y, orig_sr=source_sr, target_sr=sr)
