"""genrekit.features against librosa 0.11, on generated signals and a real clip."""

from __future__ import annotations

from pathlib import Path

import librosa
import numpy as np
import pytest
import scipy.fft
from hypothesis import given, settings
from hypothesis import strategies as st

from genrekit import features as F
from genrekit.audio import load
from genrekit.errors import ParameterError
from tests.conftest import music_like


@pytest.fixture(scope="module")
def signal() -> np.ndarray:
    return music_like(5.0, 22050)[:, 0]


@pytest.mark.parametrize(
    ("sr", "n_fft", "n_mels", "fmin", "fmax"),
    [
        (22050, 2048, 128, 0.0, None),
        (16000, 512, 96, 0.0, 8000.0),
        (44100, 1024, 40, 30.0, 11000.0),
    ],
)
def test_mel_filters_equal_librosa(sr, n_fft, n_mels, fmin, fmax) -> None:
    ours = F.mel_filters(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)
    ref = librosa.filters.mel(  # type: ignore[attr-defined]
        sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax
    )
    np.testing.assert_allclose(ours, ref, rtol=1e-6, atol=1e-9)


def test_mel_scale_round_trip() -> None:
    hz = np.array([0.0, 100.0, 999.0, 1000.0, 4000.0, 11025.0])
    np.testing.assert_allclose(F.hz_to_mel(hz), librosa.hz_to_mel(hz), rtol=1e-12)
    np.testing.assert_allclose(F.mel_to_hz(F.hz_to_mel(hz)), hz, rtol=1e-12, atol=1e-9)


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"n_fft": 1024, "hop_length": 256, "n_mels": 64},
        {"fmin": 50.0, "fmax": 8000.0},
        {"power": 1.0},
    ],
)
def test_melspectrogram_equals_librosa(signal: np.ndarray, kwargs: dict[str, float]) -> None:
    ours = F.melspectrogram(y=signal, sr=22050, **kwargs)  # type: ignore[arg-type]
    ref = librosa.feature.melspectrogram(y=signal, sr=22050, **kwargs)
    assert ours.shape == ref.shape and ours.dtype == np.float32
    np.testing.assert_allclose(F.power_to_db(ours), librosa.power_to_db(ref), atol=1e-2, rtol=0)


def test_power_spectrogram_equals_librosa_stft(signal: np.ndarray) -> None:
    ours = F.power_spectrogram(y=signal)
    ref = np.abs(librosa.stft(signal)) ** 2
    assert ours.shape == ref.shape
    np.testing.assert_allclose(F.power_to_db(ours), librosa.power_to_db(ref), atol=1e-2)


@pytest.mark.parametrize("ref", [1.0, np.max, 0.5])
@pytest.mark.parametrize("top_db", [80.0, 40.0, None])
def test_power_to_db_equals_librosa(ref, top_db) -> None:
    S = np.random.default_rng(0).gamma(0.5, size=(64, 50)).astype(np.float32) * 1e-3
    S[0, :5] = 0.0
    np.testing.assert_allclose(
        F.power_to_db(S, ref=ref, top_db=top_db),
        librosa.power_to_db(S, ref=ref, top_db=top_db),
        atol=1e-4,
    )


def test_power_to_db_rejects_bad_arguments() -> None:
    with pytest.raises(ParameterError, match="amin"):
        F.power_to_db(np.ones((2, 2)), amin=0.0)
    with pytest.raises(ParameterError, match="top_db"):
        F.power_to_db(np.ones((2, 2)), top_db=-1.0)


def test_dct_rows_equal_scipy() -> None:
    x = np.random.default_rng(2).standard_normal((128, 7))
    np.testing.assert_allclose(
        F.dct_matrix(20, 128) @ x, scipy.fft.dct(x, axis=0, type=2, norm="ortho")[:20], atol=1e-10
    )


@pytest.mark.parametrize("n_mfcc", [13, 20, 40])
def test_mfcc_equals_librosa(signal: np.ndarray, n_mfcc: int) -> None:
    log_mel = librosa.power_to_db(librosa.feature.melspectrogram(y=signal, sr=22050))
    np.testing.assert_allclose(
        F.mfcc(S=log_mel, n_mfcc=n_mfcc), librosa.feature.mfcc(S=log_mel, n_mfcc=n_mfcc), atol=1e-3
    )


@pytest.mark.parametrize(
    "kwargs", [{}, {"n_mfcc": 13}, {"n_mfcc": 40, "n_mels": 64, "n_fft": 1024, "hop_length": 256}]
)
def test_mfcc_from_audio_equals_librosa(signal: np.ndarray, kwargs: dict[str, int]) -> None:
    # librosa's most common call: mfcc(y=y, sr=sr), the mel arguments passed through.
    ours = F.mfcc(y=signal, sr=22050, **kwargs)
    ref = librosa.feature.mfcc(y=signal, sr=22050, **kwargs)
    assert ours.shape == ref.shape and ours.dtype == np.float32
    np.testing.assert_allclose(ours, ref, atol=1e-2, rtol=0)


@pytest.mark.parametrize("power", [2.0, 1.0])
@pytest.mark.parametrize(("n_fft", "n_mels"), [(2048, 128), (1024, 64)])
def test_melspectrogram_of_a_spectrogram_equals_librosa(
    signal: np.ndarray, power: float, n_fft: int, n_mels: int
) -> None:
    # S is used as given (power or magnitude) and n_fft comes from its shape, as in librosa.
    S = np.abs(librosa.stft(signal, n_fft=n_fft, hop_length=512)) ** power
    ours = F.melspectrogram(S=S, sr=22050, n_mels=n_mels)
    ref = librosa.feature.melspectrogram(S=S, sr=22050, n_mels=n_mels)
    assert ours.shape == ref.shape == (n_mels, S.shape[1])
    np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-6 * float(ref.max()))
    from_audio = F.melspectrogram(y=signal, sr=22050, n_fft=n_fft, n_mels=n_mels, power=power)
    np.testing.assert_allclose(F.power_to_db(ours), F.power_to_db(from_audio), atol=1e-2)


def test_feature_calls_need_exactly_one_input(signal: np.ndarray) -> None:
    S = F.power_spectrogram(y=signal)
    with pytest.raises(ParameterError, match=r"y=.*S="):
        F.melspectrogram(sr=22050)
    with pytest.raises(ParameterError, match="not both"):
        F.melspectrogram(y=signal, S=S)
    with pytest.raises(ParameterError, match=r"y=.*S="):
        F.mfcc(sr=22050)
    with pytest.raises(ParameterError, match="not both"):
        F.mfcc(y=signal, S=F.power_to_db(F.melspectrogram(S=S)))
    with pytest.raises(ParameterError, match="complex"):
        F.melspectrogram(S=librosa.stft(signal))


def test_real_clip_chain_equals_librosa(example_clip: Path) -> None:
    y, sr = load(example_clip)
    ref_y, _ = librosa.load(example_clip, sr=22050)
    np.testing.assert_allclose(y, ref_y, atol=1e-5)
    mel, log_mel, mfcc = F.log_mel_and_mfcc(y)
    ref_mel = librosa.feature.melspectrogram(y=ref_y, sr=sr)
    np.testing.assert_allclose(log_mel, librosa.power_to_db(ref_mel), atol=1e-2, rtol=0)
    np.testing.assert_allclose(mfcc, librosa.feature.mfcc(y=ref_y, sr=sr), atol=1e-2, rtol=0)
    np.testing.assert_allclose(
        F.power_to_db(mel, ref=np.max), librosa.power_to_db(ref_mel, ref=np.max), atol=1e-2
    )


@settings(max_examples=25, deadline=None)
@given(n=st.integers(min_value=1025, max_value=30_000), seed=st.integers(0, 2**16))
def test_any_length_matches_librosa(n: int, seed: int) -> None:
    y = np.random.default_rng(seed).standard_normal(n).astype(np.float32) * 0.1
    ours = F.melspectrogram(y=y, sr=22050)
    ref = librosa.feature.melspectrogram(y=y, sr=22050)
    assert ours.shape == ref.shape
    np.testing.assert_allclose(F.power_to_db(ours), librosa.power_to_db(ref), atol=1e-2)


def test_bad_signals() -> None:
    with pytest.raises(ParameterError, match="mono"):
        F.melspectrogram(y=np.zeros((2, 4096), np.float32))
    with pytest.raises(ParameterError, match="floating-point"):
        F.melspectrogram(y=np.zeros(4096, np.int16))
    with pytest.raises(ParameterError, match="empty"):
        F.melspectrogram(y=np.zeros(0, np.float32))
    with pytest.raises(ParameterError, match="n_mfcc"):
        F.mfcc(S=np.zeros((10, 5)), n_mfcc=20)


def test_silence_gives_the_floor_not_nan() -> None:
    log_mel = F.power_to_db(F.melspectrogram(y=np.zeros(22050, np.float32)))
    assert np.isfinite(log_mel).all()
    np.testing.assert_allclose(log_mel, -100.0, atol=1e-4)


def test_signal_shorter_than_the_window_matches_librosa() -> None:
    y = np.random.default_rng(3).standard_normal(700).astype(np.float32)
    ours = F.melspectrogram(y=y)
    ref = librosa.feature.melspectrogram(y=y, sr=22050)
    assert ours.shape == ref.shape == (128, 2)
    np.testing.assert_allclose(F.power_to_db(ours), librosa.power_to_db(ref), atol=1e-2)


@pytest.mark.parametrize("n_fft", [512, 1000, 2048])
def test_hann_window_equals_scipys(n_fft: int) -> None:
    import scipy.signal

    from genrekit.features import _hann

    expected = scipy.signal.get_window("hann", n_fft, fftbins=True).astype(np.float32)
    np.testing.assert_array_equal(_hann(n_fft), expected)
