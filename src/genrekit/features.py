"""Log-mel spectrograms and MFCCs with librosa's numbers, faster.

Pure functions over numpy arrays with librosa's names and keyword-only arguments:
``melspectrogram(y=, sr=)`` or ``(S=)``, ``mfcc(y=, sr=)`` or ``(S=)`` and ``power_to_db`` take
librosa's common arguments (``n_fft``, ``hop_length``, ``n_mels``, ``fmin``, ``fmax``, ``power``,
``n_mfcc``, ``ref``, ``amin``, ``top_db``) and agree with librosa 0.11 to well under 0.01 dB. The
subset is what genrekit's features use: mono ``y``; the STFT is always librosa's default (centred,
zero-padded, periodic Hann, ``win_length = n_fft``); the mel scale is Slaney's and the MFCC DCT is
type II orthonormal, without liftering.
Speed comes from float32 FFTs on strided frames, a mel product that only touches the non-zero
part of each filter, and an MFCC that keeps only the DCT rows it needs.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.fft

from genrekit.constants import AMIN, HOP_LENGTH, N_FFT, N_MELS, N_MFCC, SAMPLE_RATE, TOP_DB
from genrekit.errors import ParameterError

Float32Array = npt.NDArray[np.float32]
FloatArray = npt.NDArray[np.floating[Any]]

# Slaney's mel scale (Auditory Toolbox): linear below 1 kHz, logarithmic above.
_F_SP = 200.0 / 3
_MIN_LOG_HZ = 1000.0
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP
_LOGSTEP = np.log(6.4) / 27.0


def hz_to_mel(frequencies: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Hz to Slaney mels (librosa's ``hz_to_mel(htk=False)``)."""
    f = np.asarray(frequencies, dtype=np.float64)
    mels = f / _F_SP
    log_region = f >= _MIN_LOG_HZ
    return np.where(
        log_region, _MIN_LOG_MEL + np.log(np.maximum(f, _MIN_LOG_HZ) / _MIN_LOG_HZ) / _LOGSTEP, mels
    )


def mel_to_hz(mels: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Slaney mels to Hz (librosa's ``mel_to_hz(htk=False)``)."""
    m = np.asarray(mels, dtype=np.float64)
    freqs = _F_SP * m
    log_region = m >= _MIN_LOG_MEL
    return np.where(log_region, _MIN_LOG_HZ * np.exp(_LOGSTEP * (m - _MIN_LOG_MEL)), freqs)


def mel_frequencies(n_mels: int, *, fmin: float, fmax: float) -> npt.NDArray[np.float64]:
    """``n_mels`` frequencies in Hz, evenly spaced on the Slaney mel scale from fmin to fmax."""
    return mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels))


@functools.lru_cache(maxsize=16)
def mel_filters(
    *, sr: int, n_fft: int, n_mels: int = N_MELS, fmin: float = 0.0, fmax: float | None = None
) -> Float32Array:
    """Slaney-normalised triangular mel filter bank, as ``librosa.filters.mel``.

    Returns
    -------
    weights : ndarray, float32, shape (n_mels, 1 + n_fft // 2), read-only (it is cached)
    """
    fmax = sr / 2.0 if fmax is None else float(fmax)
    if not 0 <= fmin < fmax <= sr / 2.0:
        raise ParameterError(
            f"need 0 <= fmin < fmax <= sr/2; got fmin={fmin}, fmax={fmax}, sr={sr}"
        )
    fft_freqs = np.fft.rfftfreq(n=n_fft, d=1.0 / sr)
    mel_f = mel_frequencies(n_mels + 2, fmin=fmin, fmax=fmax)
    fdiff = np.diff(mel_f)
    ramps = np.subtract.outer(mel_f, fft_freqs)
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0, np.minimum(lower, upper)).astype(np.float32)
    weights *= (2.0 / (mel_f[2:] - mel_f[:-2]))[:, None]
    weights.flags.writeable = False
    return weights  # type: ignore[no-any-return]


# Frames per block in the STFT -> mel pipeline: the block's frames, spectrum and power
# (~5 MB at n_fft=2048) stay in a core's L2 cache; one pass over the whole clip would not.
_BLOCK_FRAMES = 256
# Mel bands per dense tile of the filter bank; 8 keeps the tiles ~4x the bank's non-zeros.
_BANDS_PER_TILE = 8

_Tile = tuple[int, int, int, int, Float32Array]


@functools.lru_cache(maxsize=16)
def _filter_tiles(
    sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float | None
) -> tuple[_Tile, ...]:
    """The filter bank cut into dense tiles that skip its zero blocks.

    Each tile is ``(first_band, end_band, first_bin, end_bin, weights.T)`` over only the FFT bins
    its bands touch; the bank is ~98 % zeros, so the tiles hold ~8 % of its entries.
    """
    weights = mel_filters(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)
    tiles = []
    for first in range(0, n_mels, _BANDS_PER_TILE):
        rows = weights[first : first + _BANDS_PER_TILE]
        used = np.flatnonzero(rows.any(axis=0))
        if used.size == 0:  # empty filters (too many bands for the FFT size) stay zero
            continue
        lo, hi = int(used[0]), int(used[-1]) + 1
        tiles.append((first, first + rows.shape[0], lo, hi, np.ascontiguousarray(rows[:, lo:hi].T)))
    return tuple(tiles)


@functools.lru_cache(maxsize=8)
def _hann(n_fft: int) -> Float32Array:
    # The periodic Hann window of scipy.signal.get_window("hann", n_fft), written out: importing
    # scipy.signal costs ~0.7 s of start-up, more than classifying a song.
    window = (0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n_fft) / n_fft)).astype(np.float32)
    window.flags.writeable = False
    return window


def _frames(y: npt.ArrayLike, n_fft: int, hop_length: int) -> Float32Array:
    """Centred, zero-padded frames as a strided view, shape (n_frames, n_fft)."""
    signal = _as_mono_float32(y)
    if n_fft <= 0 or hop_length <= 0:
        raise ParameterError(f"n_fft={n_fft} and hop_length={hop_length} must be positive")
    if signal.size == 0:
        raise ParameterError("y is empty: there is no signal to analyse")
    padded = np.pad(signal, n_fft // 2)  # center=True, pad_mode="constant"
    if padded.size < n_fft:
        raise ParameterError(f"signal of {signal.size} samples is too short for n_fft={n_fft}")
    frames: Float32Array = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop_length]
    return frames


def _block_power(frames: Float32Array, window: Float32Array, power: float) -> Float32Array:
    spectrum = scipy.fft.rfft(frames * window, axis=-1)
    if power == 2.0:
        out: Float32Array = spectrum.real**2
        out += spectrum.imag**2
        return out
    magnitude: Float32Array = np.abs(spectrum)
    return magnitude ** np.float32(power)


def power_spectrogram(
    *, y: npt.ArrayLike, n_fft: int = N_FFT, hop_length: int = HOP_LENGTH, power: float = 2.0
) -> Float32Array:
    """``|STFT(y)|**power`` with a centred, zero-padded Hann window, as librosa's defaults.

    Returns
    -------
    S : ndarray, float32, shape (1 + n_fft // 2, n_frames)
    """
    if power <= 0:
        raise ParameterError(f"power={power} must be positive")
    frames = _frames(y, n_fft, hop_length)
    window = _hann(n_fft)
    blocks = [
        _block_power(frames[i : i + _BLOCK_FRAMES], window, power)
        for i in range(0, frames.shape[0], _BLOCK_FRAMES)
    ]
    return np.ascontiguousarray(np.concatenate(blocks).T)


def melspectrogram(
    *,
    y: npt.ArrayLike | None = None,
    sr: int = SAMPLE_RATE,
    S: npt.ArrayLike | None = None,
    n_fft: int = N_FFT,
    hop_length: int = HOP_LENGTH,
    n_mels: int = N_MELS,
    fmin: float = 0.0,
    fmax: float | None = None,
    power: float = 2.0,
) -> Float32Array:
    """Mel-scaled spectrogram, as ``librosa.feature.melspectrogram`` with the same arguments.

    Give either the audio ``y`` or a spectrogram ``S``. As in librosa, ``S`` is used as it is
    (``power`` does not apply to it: pass ``|STFT|**2`` for a power mel spectrogram, ``|STFT|``
    for a magnitude one) and ``n_fft`` is taken from its shape, ``2 * (n_bins - 1)``.

    Parameters
    ----------
    y : ndarray, shape (n,), audio samples (mono)
    S : ndarray, shape (1 + n_fft // 2, n_frames), a spectrogram

    Returns
    -------
    S : ndarray, float32, shape (n_mels, n_frames), ``n_frames = 1 + len(y) // hop_length``
    """
    if S is not None:
        if y is not None:
            raise ParameterError("give melspectrogram y or S, not both")
        return _mel_of_spectrogram(S, sr=sr, n_mels=n_mels, fmin=fmin, fmax=fmax)
    if y is None:
        raise ParameterError("melspectrogram needs audio y=... or a spectrogram S=...")
    if power <= 0:
        raise ParameterError(f"power={power} must be positive")
    frames = _frames(y, n_fft, hop_length)
    window = _hann(n_fft)
    tiles = _filter_tiles(sr, n_fft, n_mels, fmin, fmax)
    mel = np.zeros((frames.shape[0], n_mels), dtype=np.float32)
    # Block by block, so the spectrum of a block is still in cache when the mel tiles read it.
    for start in range(0, frames.shape[0], _BLOCK_FRAMES):
        stop = start + _BLOCK_FRAMES
        spec = _block_power(frames[start:stop], window, power)
        for first, end, lo, hi, weights_t in tiles:
            np.matmul(spec[:, lo:hi], weights_t, out=mel[start:stop, first:end])
    return np.ascontiguousarray(mel.T)


def _mel_of_spectrogram(
    S: npt.ArrayLike, *, sr: int, n_mels: int, fmin: float, fmax: float | None
) -> Float32Array:
    spec = np.asarray(S)
    if np.iscomplexobj(spec):
        raise ParameterError("S must be a real spectrogram such as np.abs(stft)**2; got complex")
    if spec.ndim != 2 or spec.shape[0] < 2:
        raise ParameterError(f"S must have shape (1 + n_fft // 2, n_frames); got {spec.shape}")
    weights = mel_filters(sr=sr, n_fft=2 * (spec.shape[0] - 1), n_mels=n_mels, fmin=fmin, fmax=fmax)
    return np.ascontiguousarray(weights @ spec.astype(np.float32, copy=False))


def power_to_db(
    S: npt.ArrayLike,
    *,
    ref: float | Callable[[FloatArray], Any] = 1.0,
    amin: float = AMIN,
    top_db: float | None = TOP_DB,
) -> FloatArray:
    """Power spectrogram to decibels, as ``librosa.power_to_db``.

    ``10 * log10(max(amin, S) / max(amin, ref))``, then floored at ``top_db`` below the peak.
    ``ref`` may be a number or a function of ``S`` such as ``np.max``.
    """
    if amin <= 0:
        raise ParameterError(f"amin={amin} must be strictly positive")
    if top_db is not None and top_db < 0:
        raise ParameterError(f"top_db={top_db} must be non-negative")
    magnitude = np.asarray(S)
    if np.iscomplexobj(magnitude):
        raise ParameterError("power_to_db expects a real power spectrogram; got complex values")
    ref_value = ref(magnitude) if callable(ref) else np.abs(ref)
    log_spec: FloatArray = 10.0 * np.log10(np.maximum(amin, magnitude))
    log_spec -= 10.0 * np.log10(np.maximum(amin, ref_value))
    if top_db is not None:
        log_spec = np.maximum(log_spec, log_spec.max() - top_db)
    return log_spec


@functools.lru_cache(maxsize=8)
def dct_matrix(n_mfcc: int, n_mels: int) -> npt.NDArray[np.float64]:
    """The first ``n_mfcc`` rows of the orthonormal DCT-II of size ``n_mels``.

    ``D @ x`` equals ``scipy.fft.dct(x, type=2, norm="ortho")[:n_mfcc]``; computing only the kept
    rows is cheaper than a full transform.
    """
    if not 0 < n_mfcc <= n_mels:
        raise ParameterError(f"n_mfcc={n_mfcc} must be between 1 and n_mels={n_mels}")
    k = np.arange(n_mfcc)[:, None]
    n = np.arange(n_mels)[None, :]
    basis = np.cos(np.pi * k * (2 * n + 1) / (2 * n_mels)) * np.sqrt(2.0 / n_mels)
    basis[0] /= np.sqrt(2.0)
    basis.flags.writeable = False
    return basis  # type: ignore[no-any-return]


def mfcc(
    *,
    y: npt.ArrayLike | None = None,
    sr: int = SAMPLE_RATE,
    S: npt.ArrayLike | None = None,
    n_mfcc: int = N_MFCC,
    n_fft: int = N_FFT,
    hop_length: int = HOP_LENGTH,
    n_mels: int = N_MELS,
    fmin: float = 0.0,
    fmax: float | None = None,
) -> Float32Array:
    """MFCCs, as ``librosa.feature.mfcc`` with the same arguments.

    From audio, ``mfcc(y=y, sr=sr)`` is ``mfcc(S=power_to_db(melspectrogram(y=y, sr=sr)))``, the
    spectrogram arguments going to :func:`melspectrogram`; from a log-mel spectrogram,
    ``mfcc(S=S_db)``. The DCT is librosa's default, type II orthonormal, without liftering.

    Parameters
    ----------
    y : ndarray, shape (n,), audio samples (mono)
    S : ndarray, shape (n_mels, n_frames), a log-mel spectrogram in dB

    Returns
    -------
    M : ndarray, float32, shape (n_mfcc, n_frames)
    """
    if S is None:
        if y is None:
            raise ParameterError("mfcc needs audio y=... or a log-mel spectrogram S=...")
        mel = melspectrogram(
            y=y, sr=sr, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels, fmin=fmin, fmax=fmax
        )
        S = power_to_db(mel)
    elif y is not None:
        raise ParameterError("give mfcc y or S, not both")
    log_mel = np.asarray(S)
    if log_mel.ndim != 2:
        raise ParameterError(f"S must have shape (n_mels, n_frames); got {log_mel.shape}")
    basis = dct_matrix(n_mfcc, log_mel.shape[0]).astype(log_mel.dtype, copy=False)
    return np.asarray(basis @ log_mel, dtype=np.float32)


@dataclass(frozen=True)
class FeatureParams:
    """Everything that determines the features of a clip; stored with every feature store."""

    sr: int = SAMPLE_RATE
    n_fft: int = N_FFT
    hop_length: int = HOP_LENGTH
    n_mels: int = N_MELS
    n_mfcc: int = N_MFCC
    fmin: float = 0.0
    fmax: float | None = None
    top_db: float = TOP_DB

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> FeatureParams:
        """Parameters read from outside (a store's or a model's description), checked first:
        every field present, of its type and within :data:`PARAM_LIMITS` (an absurd ``n_fft``
        would allocate gigabytes). Fields genrekit does not know are ignored.

        Raises :class:`ParameterError` naming the first field at fault."""
        if not isinstance(data, dict):
            raise ParameterError(f"feature parameters must be a JSON object, not {_kind(data)}")
        missing = [name for name in cls.__dataclass_fields__ if name not in data]
        if missing:
            raise ParameterError(f"feature parameters lack {', '.join(missing)}")
        for name in ("sr", "n_fft", "hop_length", "n_mels", "n_mfcc"):
            _check_number(name, data[name], integer=True)
        for name in ("fmin", "top_db") + (("fmax",) if data["fmax"] is not None else ()):
            _check_number(name, data[name], integer=False)
        params = cls(**{name: data[name] for name in cls.__dataclass_fields__})
        nyquist = params.sr / 2
        if params.hop_length > params.n_fft:
            raise ParameterError(
                f"hop_length={params.hop_length} is longer than n_fft={params.n_fft}"
            )
        if params.sr / params.hop_length > MAX_FRAME_RATE:
            raise ParameterError(
                f"hop_length={params.hop_length} at sr={params.sr} gives more than "
                f"{MAX_FRAME_RATE} frames a second"
            )
        if params.n_mfcc > params.n_mels:
            raise ParameterError(f"n_mfcc={params.n_mfcc} is more than n_mels={params.n_mels}")
        if params.fmin >= nyquist or (params.fmax is not None and params.fmax <= params.fmin):
            raise ParameterError(
                f"need 0 <= fmin < fmax <= sr/2; got fmin={params.fmin}, fmax={params.fmax}, "
                f"sr={params.sr}"
            )
        if params.fmax is not None and params.fmax > nyquist:
            raise ParameterError(f"fmax={params.fmax} is above sr/2 = {nyquist:g} Hz")
        return params

    def n_frames(self, n_samples: int) -> int:
        """Frames of a centred STFT over ``n_samples`` samples."""
        return 1 + n_samples // self.hop_length


MAX_FRAME_RATE = 1000
"""Most frames a second :meth:`FeatureParams.from_dict` accepts (``sr / hop_length``)."""
PARAM_LIMITS: dict[str, tuple[float, float]] = {
    "sr": (4000, 192000),
    "n_fft": (16, 32768),
    "hop_length": (1, 32768),
    "n_mels": (1, 512),
    "n_mfcc": (1, 512),
    "fmin": (0.0, 96000.0),
    "fmax": (1.0, 96000.0),
    "top_db": (1.0, 300.0),
}
"""Ranges of the feature parameters read from outside: wide around any sensible analysis
(genrekit's own: 22,050 Hz, n_fft 2,048, hop 512, 128 bands; musicnn's: 16 kHz, 512, 256, 96)."""


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _check_number(name: str, value: Any, *, integer: bool) -> None:
    """Raise :class:`ParameterError` unless ``value`` is a number (an integer if asked) within
    the limits of ``name``."""
    low, high = PARAM_LIMITS[name]
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or (integer and not isinstance(value, int))
    ):
        wanted = "an integer" if integer else "a number"
        raise ParameterError(f"{name}={value!r} must be {wanted}, not {_kind(value)}")
    if not low <= value <= high:  # NaN fails too
        raise ParameterError(f"{name}={value!r} is out of range ({low:g} to {high:g})")


def mel_power(y: npt.ArrayLike, params: FeatureParams = FeatureParams()) -> Float32Array:
    """The mel power spectrogram of ``y`` with a store's (or a model's) feature parameters."""
    return melspectrogram(
        y=y,
        sr=params.sr,
        n_fft=params.n_fft,
        hop_length=params.hop_length,
        n_mels=params.n_mels,
        fmin=params.fmin,
        fmax=params.fmax,
    )


def log_mel_and_mfcc(
    y: npt.ArrayLike, params: FeatureParams = FeatureParams(), *, pad_to: int | None = None
) -> tuple[Float32Array, Float32Array, Float32Array]:
    """The seed's two images from one pass: mel power, its log (``ref=1.0``) and the MFCCs.

    Equal to librosa's chain ``melspectrogram`` -> ``power_to_db`` -> ``mfcc(S=...)``, which is
    also what ``librosa.feature.mfcc(y=y, sr=sr)`` computes, but the mel is computed once.
    With ``pad_to``, ``y`` is treated as zero-padded at the end to that many samples; the frames
    that see only the padding have zero power, so they are filled in rather than transformed.

    Returns
    -------
    mel : (n_mels, n_frames) power;  log_mel : (n_mels, n_frames) dB;  mfcc : (n_mfcc, n_frames)
    """
    signal = _as_mono_float32(y)
    total = max(signal.size, pad_to or 0)
    extent = min(total, signal.size + params.n_fft)  # past this, frames hold only zeros
    mel = mel_power(np.pad(signal, (0, extent - signal.size)), params)
    if extent == total:
        log_mel = power_to_db(mel, ref=1.0, top_db=params.top_db).astype(np.float32, copy=False)
        return mel, log_mel, mfcc(S=log_mel, n_mfcc=params.n_mfcc)
    # The padding's frames have zero power: one constant column of log-mel and of MFCCs each.
    n_part, n_total = mel.shape[1], params.n_frames(total)
    full = np.zeros((params.n_mels, n_total), dtype=np.float32)
    full[:, :n_part] = mel
    log_part = power_to_db(mel, ref=1.0, top_db=None).astype(np.float32, copy=False)
    silence = power_to_db(np.zeros((1, 1), np.float32), ref=1.0, top_db=None)[0, 0]
    peak = max(log_part.max(), silence)
    floor = peak - np.float32(params.top_db) if params.top_db is not None else silence
    log_mel = np.empty((params.n_mels, n_total), dtype=np.float32)
    np.maximum(log_part, floor, out=log_mel[:, :n_part])
    log_mel[:, n_part:] = max(silence, floor)
    cepstra = np.empty((params.n_mfcc, n_total), dtype=np.float32)
    cepstra[:, :n_part] = mfcc(S=log_mel[:, :n_part], n_mfcc=params.n_mfcc)
    cepstra[:, n_part:] = mfcc(S=log_mel[:, -1:], n_mfcc=params.n_mfcc)
    return full, log_mel, cepstra


def loop_frames(image: npt.ArrayLike, n_frames: int) -> Float32Array:
    """The frames of ``image`` (bands, frames) repeated in order until there are ``n_frames``.

    How window models fill a window longer than a clip (a ~2 s fragment in a ~3 s window): with
    the music itself rather than silence, so every input looks like music throughout.
    """
    frames = np.asarray(image, dtype=np.float32)
    if frames.ndim != 2 or frames.shape[1] == 0:
        raise ParameterError(f"need a (bands, frames) image with frames; got {frames.shape}")
    repeats = -(-n_frames // frames.shape[1])
    return np.ascontiguousarray(np.tile(frames, (1, repeats))[:, :n_frames])


def _as_mono_float32(y: npt.ArrayLike) -> Float32Array:
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise ParameterError(f"y must be mono with shape (n,); got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.floating):
        raise ParameterError(f"y must hold floating-point samples; got dtype {arr.dtype}")
    return np.ascontiguousarray(arr, dtype=np.float32)
