"""Is it music at all? Signal checks that keep a genre model from naming noise, tones or speech.

A genre model answers every input with one of its genres: white noise was "metal 63 %", a 220 Hz
tone "classical 87 %". :func:`not_music` looks at the windows a model heard and gives the reason
they are not music (too quiet, clicks, a steady tone, noise, speech, a pitch sweep, beeps with
silence between, one pure tone modulated), or None. Each rule reads a few numbers of
:class:`Sound`, measured by :func:`measure` with numpy alone, against thresholds chosen from
GTZAN's development set (318 clips, every one passes, with a margin), examples/ and the music
sets' development clips, against generated noise, tones, clicks, test signals and synthetic speech
(``bench/not_music.py`` measures both sides). The test-signal rules each need two or three signs
together: music has pure synth tones, lone bass lines and pauses, but not all of them at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
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

GLIDE_SHARE = 0.4
"""A pitch sweep: the frames' main peak moves the same way by about the same step (a glide)
in at least this share of the frames (:attr:`Sound.glide`) ...

Sweeps, linear or logarithmic, a wailing siren and trains of chirps: 0.49 to 1.0. Music's
loudest peak jumps between notes, bass and drums: at most 0.19 (a GTZAN pop clip whose lines
are 0.52) on GTZAN-dev, examples/ and the music sets' development clips, 0.14 where the lines
are over ``GLIDE_LINES``."""
GLIDE_LINES = 0.6
"""... and most of a frame's power is in a few lines (:attr:`Sound.lines`, median over frames):
a tone, not a swept filter over a full mix (sweeps 0.74 to 1.0)."""
BEEP_LINES = 0.99
"""Beeps with silence between: pauses in every window (``PAUSES_PER_SECOND``), a sound between
them that is a few pure lines (:attr:`Sound.lines` over this) ...

Beeps, DTMF digits, busy signals: 0.994 (hard edges) to 1.0. Music can come close (0.987: a
GTZAN reggae clip with a lone bass line) but then pauses 0.41 a second at most, over a floor of
-53 dB; one 3 s window of piano (a timeline's segment of GTZAN classical.00043) is 0.986, with
pauses and a floor of -66 dB."""
BEEP_FLOOR_DB = -60.0
"""... over a floor this far under them (:attr:`Sound.floor_db`: no room, no hiss): generated
beeps -65 dB (hard edges splatter) to -150; music that pauses at all is at -53 dB at most."""
PURE_PEAK = 0.9
"""One pure tone, modulated: nearly every frame is one sinusoid (:attr:`Sound.one_line` over
this) over no floor (``PURE_FLOOR_DB``), whatever its pitch or level does (vibrato, tremolo,
drift, a siren's two tones).

Such sines: 0.998 to 1.0. Music is never one sinusoid throughout: at most 0.45 (GTZAN jazz)."""
MELODY_NOTES = 3
"""... unless it plays a tune (and then it is not beeps either): one line (:attr:`Sound.one_line`
over ``TUNE_PEAK``) that holds this many distinct notes and steps or pauses between them
(:attr:`Sound.notes`) is a sine or triangle lead, as minimal electronic music has (a scale
played: 7, legato or staccato). A two-tone siren holds 2; vibrato, tremolo, sweeps, one beep
repeated 0; a slow random drift 0, or 2 where it rests and then moves quickly."""
TUNE_PEAK = 0.7
"""A tune is one line: a staccato sine tune's hard note edges splatter (0.89); two tones at a
time, as DTMF digits are, are at most 0.5."""
PURE_FLOOR_DB = -70.0
"""... the floor under a pure tone (:attr:`Sound.floor_db`): generated tones -88 dB (16-bit
at -35 dBFS) to -150. Music: -78 dB at the lowest (a synth track of pure tones, Arvid Picciani's
"temple", whose one_line is 0.0: its frames peak in the bass), then -65; -61 at most where
one_line is over 0.4."""
FAST_LINES = 0.97
"""A tone modulated faster than a frame (a yelping siren: one_line 0.49) is still a few lines
(:attr:`Sound.lines` over this) in steady bands (``STEADY_DB``) whose spectrum never settles
(``UNSETTLED``), over no floor (``PURE_FLOOR_DB``): yelps 0.98 to 0.99; music with bands that
steady is dense metal, lines 0.54 at most."""

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
_LOUD_DB = 20.0  # frames this far under the loud frames' power are not read for lines
_LINE_BINS = 12  # "a few lines": a tone or two and some harmonics, ~2 % of the bins
_PEAK_BINS = 2  # a sinusoid's main lobe: its peak bin and 2 either side (Hann window)
_GLIDE_CENTS = (2.0, 2400.0)  # a glide's step per frame: more than jitter, less than a jump
_GLIDE_EVEN = 0.25  # two steps of a glide differ by less than this share of the larger
_HELD_CENTS = 15.0  # a held note's peak moves less than this from frame to frame
_HELD_FRAMES = 3  # ... for at least this many frames (~0.2 s)
_NOTE_CENTS = 80.0  # held pitches this far apart are different notes (a semitone is 100)

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
    # Of the loud frames (within 20 dB of the loud level), read one by one:
    lines: float = 0.0  # median share of a frame's power in its 12 strongest bins
    one_line: float = 0.0  # 10th percentile of the share in the strongest peak's main lobe
    floor_db: float = 0.0  # median of a frame's median bin under its strongest bin, dB
    glide: float = 0.0  # share of frame triples whose main peak moves two even steps one way
    notes: int = 0  # distinct notes the main peak holds ~0.2 s and steps between (80+ cents)


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

    powers = [_power(y, sr) for y in ys]
    power = np.concatenate(powers)  # (frames, bins)
    mean = power.mean(axis=0)
    present = mean > mean.max() * 10 ** (-_FLOOR_DB / 10)
    if not present.any():
        return Sound(level_db, density, 0.0, 0.0, pauses, 1.0)
    steady = power[:, present].std(axis=0) < 0.5 * mean[present]
    tonal = float(mean[present][steady].sum() / mean[present].sum())
    ratio = power[:, present] / mean[present] + 1e-12
    settled = float(np.median(np.exp(np.log(ratio).mean(axis=1)) / ratio.mean(axis=1)))
    loud_power = float(np.percentile(power.sum(axis=1), 95)) * 10 ** (-_LOUD_DB / 10)
    return Sound(
        level_db,
        density,
        _modulation(power),
        tonal,
        pauses,
        settled,
        **_lines(powers, loud_power, sr),
    )


def not_music(sound: Sound) -> str | None:
    """Why ``sound`` is not music a genre model can judge, or None when it may be music."""
    tune = sound.one_line >= TUNE_PEAK and sound.notes >= MELODY_NOTES  # one line, 3+ notes
    # Tones between silences before clicks: a beep once a second holds its energy as briefly.
    if (
        sound.pauses >= PAUSES_PER_SECOND
        and sound.lines >= BEEP_LINES
        and sound.floor_db <= BEEP_FLOOR_DB
        and not tune
    ):
        return "not music: beeps or tones with silence between"
    if sound.density < CLICKS_DENSITY:  # before the level: sparse clicks read as quiet
        return "not music: clicks"
    if sound.level_db < TOO_QUIET_DB:
        return f"too quiet: {sound.level_db:.0f} dBFS"
    if sound.modulation < STEADY_DB and sound.tonal > TONAL_SHARE:
        return "not music: a steady tone"
    # Speech glides from syllable to syllable: told before a sweep.
    if sound.pauses >= PAUSES_PER_SECOND and sound.settled < UNSETTLED:
        return "not music: speech-like"
    if sound.glide >= GLIDE_SHARE and sound.lines >= GLIDE_LINES:
        return "not music: a pitch sweep"
    # After the steady tone (a held sine is one line too), before noise (a tremolo's steady
    # band levels read as noise-like); not under half a second (modulation inf): too short to
    # tell a held tone from a modulated one.
    if (
        sound.floor_db <= PURE_FLOOR_DB
        and np.isfinite(sound.modulation)
        and (
            (sound.one_line >= PURE_PEAK and not tune)
            # Modulated faster than a frame: steady bands, a few lines, a spectrum that never
            # settles (noise's does, and brown noise's few low bins are lines too).
            or (
                sound.lines >= FAST_LINES
                and sound.modulation < STEADY_DB
                and sound.settled < UNSETTLED
            )
        )
    ):
        return "not music: one pure tone, modulated"
    if sound.modulation < STEADY_DB and sound.settled > NOISE_SETTLED:
        return "not music: noise-like"
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


def _lines(powers: list[_Array], loud: float, sr: int) -> dict[str, Any]:
    """:class:`Sound`'s line numbers of each window's power spectrogram (frames, bins), read
    on its frames of at least ``loud`` power; glides only within a window."""
    lines, peaks, floors = [], [], []
    held: list[float] = []
    glides = triples = 0
    for power in powers:
        total = power.sum(axis=1)
        used = total >= loud
        strongest = np.partition(power, -_LINE_BINS, axis=1)[:, -_LINE_BINS:]
        lines.append((strongest.sum(axis=1) / np.maximum(total, 1e-30))[used])
        top = power.argmax(axis=1)
        edges = np.concatenate([np.zeros((power.shape[0], 1)), np.cumsum(power, axis=1)], axis=1)
        rows = np.arange(power.shape[0])
        lo = np.maximum(top - _PEAK_BINS, 0)
        hi = np.minimum(top + _PEAK_BINS + 1, power.shape[1])
        lobe = (edges[rows, hi] - edges[rows, lo]) / np.maximum(total, 1e-30)
        # A peak in the lowest bins has no lower side: the slope of brown noise, not a tone.
        peaks.append(np.where(top > _PEAK_BINS, lobe, 0.0)[used])
        peak = power[rows, top]
        ratio = np.median(power, axis=1)[used] / np.maximum(
            peak[used], 1e-30
        )  # 0/0: a silent frame
        floors.append(10 * np.log10(ratio + 1e-20))
        cents = _cents(power, top, sr)
        step = np.diff(cents)
        pair = used[1:] & used[:-1]
        a, b = step[:-1], step[1:]
        low, high = _GLIDE_CENTS
        even = np.abs(b - a) <= _GLIDE_EVEN * np.maximum(np.abs(a), np.abs(b)) + 1.0
        moving = (np.minimum(np.abs(a), np.abs(b)) >= low) & (
            np.maximum(np.abs(a), np.abs(b)) <= high
        )
        glide = moving & even & (np.sign(a) == np.sign(b)) & pair[1:] & pair[:-1]
        held.extend(_held_pitches(cents, used))
        glides += int(glide.sum())
        triples += int((pair[1:] & pair[:-1]).sum())
    line = np.concatenate(lines)
    if not line.size:
        return {}
    peak_share = np.concatenate(peaks)
    return {
        "lines": float(np.median(line)),
        "one_line": float(np.percentile(peak_share, 10)),
        "floor_db": float(np.median(np.concatenate(floors))),
        "glide": glides / max(triples, 1),
        "notes": int(np.count_nonzero(np.diff(np.sort(held)) >= _NOTE_CENTS)) + bool(held),
    }


def _held_pitches(cents: _Array, used: npt.NDArray[np.bool_]) -> list[float]:
    """The pitches (median cents) of notes: runs of at least ``_HELD_FRAMES`` loud (``used``)
    frames whose main peak holds still, next to another such run at least ``_NOTE_CENTS`` away
    and reached within a frame or two, or across quiet frames only (a tune steps or pauses; a
    drift slides)."""
    pair = used[1:] & used[:-1]
    still = pair & (np.abs(np.diff(cents)) < _HELD_CENTS)
    runs: list[tuple[int, int, float]] = []  # first frame, last frame, pitch
    start = None
    for i, on in enumerate([*still, False]):
        if on and start is None:
            start = i
        elif not on and start is not None:
            if i + 1 - start >= _HELD_FRAMES:
                runs.append((start, i, float(np.median(cents[start : i + 1]))))
            start = None
    notes: set[float] = set()
    for (_, end, before), (begin, _, after) in pairwise(runs):
        stepped = begin - end <= 2 or not used[end + 1 : begin].any()
        if stepped and abs(after - before) >= _NOTE_CENTS:
            notes.update((before, after))
    return sorted(notes)


def _cents(power: _Array, top: npt.NDArray[np.intp], sr: int) -> _Array:
    """The frequency (cents over 1 Hz) of each frame's strongest bin ``top``, refined between
    bins by a parabola through its log power and its neighbours' (a few cents for a tone)."""
    n_bins = power.shape[1]
    at = np.clip(top, 1, n_bins - 2)
    rows = np.arange(power.shape[0])
    a, b, c = (np.log(power[rows, at + d] + 1e-30) for d in (-1, 0, 1))
    curve = a - 2 * b + c
    shift = 0.5 * (a - c) / np.where(np.abs(curve) > 1e-12, curve, -1e-12)
    hz = (at + 1 + np.clip(shift, -0.5, 0.5)) * sr / (2 * n_bins)  # bin 0 (DC) was dropped
    cents: _Array = 1200 * np.log2(np.maximum(hz, 1.0))
    return cents


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
