"""Is it music at all? Signal checks that keep a genre model from naming noise, tones or speech.

A genre model answers every input with one of its genres: white noise was "metal 63 %", a 220 Hz
tone "classical 87 %". :func:`not_music` looks at the windows a model heard and gives the reason
they are not music (too quiet, clicks, a steady tone, noise, speech), or None. Each rule is one
number of :class:`Sound`, measured by :func:`measure` with numpy alone, and a threshold chosen
from GTZAN's development set (318 clips, every one passes, with a margin) against generated
noise, tones, clicks and synthetic speech (``bench/not_music.py`` measures both sides).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

TOO_QUIET_DB = -50.0
"""Audio whose loud level (:attr:`Sound.level_db`) stays under this is too quiet to judge.

The quietest GTZAN clip's loud level is -43 dBFS (the 1st percentile -39); mastered music sits
around -20 to -8. Under -60 dBFS everywhere is silence (``SILENCE_DB``)."""
CLICKS_DENSITY = 0.1
"""Clicks: 90 % of the energy lies in fewer than this share of 5 ms frames.

Music spreads its energy: at least 0.24 of the frames on GTZAN (a classical fragment); of 513
game-music tracks, one is under (0.09: flare's dungeon theme, flagged) and the next at 0.15;
8 clicks a second hold it in 0.02."""
STEADY_DB = 1.5
"""Steady sound: its band levels move less than this (dB, :attr:`Sound.modulation`) over ~0.26 s.

Music moves: at least 1.3 dB on GTZAN (2 s fragments of dense metal; 1.7 dB at the 1st
percentile); noise of any colour moves up to 1.05 dB (the random level of a band's few FFT
bins), a held tone or chord 0.3 dB."""
TONAL_SHARE = 0.5
"""A steady sound is a tone when most of its power is in FFT bins whose power holds still
(:attr:`Sound.tonal`: 1.0 for tones and chords; at most 0.06 on GTZAN)."""
NOISE_SETTLED = 0.54
"""A steady sound is noise when its spectrum over its mean spectrum is as flat as noise's
(:attr:`Sound.settled`): every bin's power of noise, whatever its colour, varies as an
exponential variable around its mean, whose flatness is exp(-0.577) = 0.56 (0.56 to 0.59
measured). The steadiest GTZAN music (dense metal) is at most 0.51."""
PAUSES_PER_SECOND = 0.6
"""Speech stops between words everywhere: in every window heard, at least this many pauses a
second (:attr:`Sound.pauses`: runs of 20 ms frames 35 dB under the loud level), i.e. 2 in 3 s.

espeak-ng's speech, 11 voices in 7 languages: 0.67 to 3 a second. Music pauses at its edges (an
intro, a fade, the end), not in every window: 7 of GTZAN's 318 clips and 8 of 513 tracks of game
music pause at all, 1 and 3 of them this often. (A first version counted pause frames, not
windows: it flagged 12 % of the game music, whose first or last window fades.)"""
UNSETTLED = 0.1
"""... and its spectrum never settles: whitened flatness (:attr:`Sound.settled`) under this.

Speech: 0.03 to 0.08; held notes and reverb settle a spectrum that speech keeps changing: the
music that pauses that often is at 0.26 and 0.34, but for 2 game tracks of 513 (0.01, 0.098)."""

WINDOWS = 3
""":func:`check` reads at most this many of the windows given, spread evenly: the rules were
measured on the default model's 3 windows of ~3 s, and "pauses in every window" would ask more
of speech over a CNN's 16 (it missed 5 of 32 espeak-ng clips that way) at 5 times the cost."""

_LEVEL_FRAME = 0.05  # seconds: a loudness reading
_CLICK_FRAME = 0.005  # seconds: as short as a click
_PAUSE_FRAME = 0.02  # seconds: a gap between words
_PAUSE_DB = 35.0  # dB under the loud level that counts as a pause
_FFT_SECONDS = 0.064  # ~15 Hz bins: a tone's peak stands apart from its neighbours
_BANDS = 16  # log-spaced bands for the modulation
_BLOCK_FRAMES = 4  # FFT frames per modulation reading (~0.26 s)
_FLOOR_DB = 60.0  # bins and bands this far under the loudest are ignored (nothing there)

Samples = npt.NDArray[np.float32]
_Array = npt.NDArray[np.floating[Any]]


@dataclass(frozen=True)
class Sound:
    """What the rules read of some audio (a track's windows, or one window)."""

    level_db: float  # loud level: 95th percentile of the 50 ms frames' RMS, dBFS
    density: float  # share of 5 ms frames holding 90 % of the energy
    modulation: float  # median over bands of the std of their level over ~0.26 s blocks, dB
    tonal: float  # share of the power in FFT bins whose power varies less than half its mean
    pauses: float  # the fewest pauses a second in a window (runs of quiet 20 ms frames)
    settled: float  # median flatness of each frame's spectrum over the mean spectrum


def measure(windows: Sequence[npt.ArrayLike], sr: int) -> Sound:
    """The numbers of :class:`Sound` for mono windows (each (n,), at least a few ms) at ``sr``.

    Each window is framed on its own (no frame spans the join of two windows)."""
    ys = [np.asarray(w, dtype=np.float32) for w in windows]
    rms = np.sqrt(np.concatenate([_frames(y, round(_LEVEL_FRAME * sr)).mean(axis=1) for y in ys]))
    loud = float(np.percentile(rms, 95))
    level_db = 20 * np.log10(max(loud, 1e-10))

    clicks = np.sort(np.concatenate([_frames(y, round(_CLICK_FRAME * sr)).sum(axis=1) for y in ys]))
    share = np.cumsum(clicks[::-1]) / max(float(clicks.sum()), 1e-30)
    density = (int(np.searchsorted(share, 0.9)) + 1) / clicks.size

    quiet = loud * 10 ** (-_PAUSE_DB / 20)
    pauses = min(_pauses_per_second(y, round(_PAUSE_FRAME * sr), quiet, sr) for y in ys)

    power = np.concatenate([_power(y, sr) for y in ys])  # (frames, bins)
    mean = power.mean(axis=0)
    present = mean > mean.max() * 10 ** (-_FLOOR_DB / 10)
    if not present.any():
        return Sound(level_db, density, 0.0, 0.0, pauses, 1.0)
    steady = power[:, present].std(axis=0) < 0.5 * mean[present]
    tonal = float(mean[present][steady].sum() / mean[present].sum())
    ratio = power[:, present] / mean[present] + 1e-12
    settled = float(np.median(np.exp(np.log(ratio).mean(axis=1)) / ratio.mean(axis=1)))
    return Sound(level_db, density, _modulation(power), tonal, pauses, settled)


def not_music(sound: Sound) -> str | None:
    """Why ``sound`` is not music a genre model can judge, or None when it may be music."""
    if sound.density < CLICKS_DENSITY:  # before the level: sparse clicks read as quiet
        return "not music: clicks"
    if sound.level_db < TOO_QUIET_DB:
        return f"too quiet: {sound.level_db:.0f} dBFS"
    if sound.modulation < STEADY_DB and sound.tonal > TONAL_SHARE:
        return "not music: a steady tone"
    if sound.modulation < STEADY_DB and sound.settled > NOISE_SETTLED:
        return "not music: noise-like"
    if sound.pauses >= PAUSES_PER_SECOND and sound.settled < UNSETTLED:
        return "not music: speech-like"
    return None


def check(windows: Sequence[npt.ArrayLike], sr: int) -> str | None:
    """:func:`not_music` of :func:`measure` of at most :data:`WINDOWS` of ``windows`` (spread
    evenly from the first to the last): why they are not music, or None."""
    picks = np.unique(np.linspace(0, len(windows) - 1, WINDOWS).round().astype(int))
    return not_music(
        measure([windows[i] for i in picks] if len(windows) > WINDOWS else windows, sr)
    )


def _frames(y: Samples, size: int) -> Samples:
    """Squared samples in consecutive frames of ``size`` (a short window: one padded frame)."""
    size = max(1, size)
    if y.size < size:
        y = np.pad(y, (0, size - y.size))
    whole = y[: y.size // size * size]
    return (whole * whole).reshape(-1, size)


def _pauses_per_second(y: Samples, size: int, quiet: float, sr: int) -> float:
    """Runs of frames of ``size`` samples whose RMS is under ``quiet``, per second of ``y``."""
    paused = np.sqrt(_frames(y, size).mean(axis=1)) < quiet
    starts = int(paused[0]) + int(np.count_nonzero(paused[1:] & ~paused[:-1]))
    return starts / max(y.size / sr, _PAUSE_FRAME)


def _power(y: Samples, sr: int) -> _Array:
    """Power spectrogram (frames, bins) of consecutive ~64 ms Hann-windowed frames, without
    the DC bin (no overlap: these statistics need no more, and it halves the cost)."""
    n_fft = 1 << max(6, round(np.log2(_FFT_SECONDS * sr)))
    if y.size < n_fft:
        y = np.pad(y, (0, n_fft - y.size))
    frames = y[: y.size // n_fft * n_fft].reshape(-1, n_fft)
    spectrum = np.fft.rfft(frames * np.hanning(n_fft).astype(np.float32), axis=1)
    power: _Array = (spectrum.real**2 + spectrum.imag**2)[:, 1:]
    return power


def _modulation(power: _Array) -> float:
    """Median over log-spaced bands of the std (dB) of their level over blocks of frames."""
    edges = np.unique(np.geomspace(1, power.shape[1], _BANDS + 1).astype(int))
    bands = np.add.reduceat(power, edges[:-1], axis=1)
    blocks = max(1, bands.shape[0] // _BLOCK_FRAMES)
    if bands.shape[0] >= _BLOCK_FRAMES:
        bands = bands[: blocks * _BLOCK_FRAMES].reshape(blocks, _BLOCK_FRAMES, -1).sum(axis=1)
    if bands.shape[0] < 2:
        return float("inf")  # too short to tell steady from changing: never called steady
    mean = bands.mean(axis=0)
    top = mean.max()
    used = mean > top * 10 ** (-_FLOOR_DB / 10)
    levels = 10 * np.log10(bands[:, used] + top * 10 ** (-_FLOOR_DB / 10 - 2))
    return float(np.median(levels.std(axis=0)))
