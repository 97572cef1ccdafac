"""genrekit.audio.load against librosa.load, on every format and layout it must read."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import librosa
import numpy as np
import pytest

from genrekit.audio import downmix, load, read

SNDFILE_KINDS = [
    "wav16",
    "wav8",
    "wav24",
    "float",
    "flac",
    "ogg",
    "mp3",
    "six",
    "hires",
    "mono",
    "unicode",
]


@pytest.mark.parametrize("kind", SNDFILE_KINDS)
def test_samples_equal_librosa(audio_files: dict[str, Path], kind: str) -> None:
    ours, sr = load(audio_files[kind])
    ref, ref_sr = librosa.load(audio_files[kind], sr=22050, mono=True)
    assert sr == ref_sr == 22050
    assert ours.dtype == np.float32
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, atol=1e-5, rtol=0)


@pytest.mark.parametrize("kind", ["wav16", "mp3", "ogg", "flac"])
@pytest.mark.parametrize(("offset", "duration"), [(0.0, 1.0), (0.37, 1.5), (1.0, None)])
def test_offset_and_duration_equal_librosa(
    audio_files: dict[str, Path], kind: str, offset: float, duration: float | None
) -> None:
    ours, _ = load(audio_files[kind], offset=offset, duration=duration)
    ref, _ = librosa.load(audio_files[kind], sr=22050, offset=offset, duration=duration)
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, atol=1e-5, rtol=0)


def test_native_rate_and_channels(audio_files: dict[str, Path]) -> None:
    y, sr = load(audio_files["six"], sr=None, mono=False)
    ref, ref_sr = librosa.load(audio_files["six"], sr=None, mono=False)
    assert sr == ref_sr == 48000
    assert y.shape == ref.shape == (6, 3 * 48000)
    np.testing.assert_allclose(y, ref, atol=1e-5)


def test_stereo_resampled_without_downmix(audio_files: dict[str, Path]) -> None:
    y, _ = load(audio_files["wav16"], sr=16000, mono=False)
    ref, _ = librosa.load(audio_files["wav16"], sr=16000, mono=False)
    assert y.shape == ref.shape and y.shape[0] == 2
    np.testing.assert_allclose(y, ref, atol=1e-5)


def test_m4a_through_ffmpeg_matches_the_lossless_source(audio_files: dict[str, Path]) -> None:
    y, sr = load(audio_files["m4a"], sr=22050)
    ref, _ = load(audio_files["wav16"], sr=22050)
    assert sr == 22050
    # AAC is lossy, and FFmpeg's encoder primes 1024 samples (at 44.1 kHz) that this test file
    # does not declare: compare by correlation at the best lag, which must be that priming.
    assert abs(y.size - ref.size) < 0.05 * 22050
    n = ref.size - 2048
    lags = np.arange(0, 1024)
    scores = [np.dot(y[lag : lag + n], ref[:n]) for lag in lags]
    best = int(lags[int(np.argmax(scores))])
    assert abs(best - 512) <= 2
    assert np.corrcoef(y[best : best + n], ref[:n])[0, 1] > 0.99


def test_m4a_offset_is_sample_accurate(audio_files: dict[str, Path]) -> None:
    whole, _ = load(audio_files["m4a"], sr=None)
    part, _ = load(audio_files["m4a"], sr=None, offset=1.5, duration=1.0)
    start = int(1.5 * 44100)
    assert part.shape == (44100,)
    # Not bit-exact: FFmpeg's AAC decoder fills noise-substituted bands from a random generator
    # whose state depends on what was decoded before. Aligned audio correlates near 1; a seek
    # off by even a few samples would not, on this chord-and-chirp signal.
    assert np.corrcoef(part, whole[start : start + 44100])[0, 1] > 0.99
    assert np.corrcoef(part, whole[start + 40 : start + 44140])[0, 1] < 0.99


def test_downmix_is_the_channel_mean() -> None:
    x = np.random.default_rng(0).standard_normal((1000, 6)).astype(np.float32)
    np.testing.assert_allclose(downmix(x), x.mean(axis=1), atol=1e-6)
    assert downmix(x[:, :1]).shape == (1000,)


def test_excerpt_of_long_file_reads_only_what_it_needs(long_mp3: Path) -> None:
    tracemalloc.start()
    y, sr = load(long_mp3, offset=90.0, duration=5.0)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert y.shape == (5 * sr,)
    # The whole file decoded would be 120 s * 44100 * 2 ch * 4 B = 42 MB.
    assert peak < 8_000_000
    ref, _ = librosa.load(long_mp3, sr=22050, offset=90.0, duration=5.0)
    np.testing.assert_allclose(y, ref, atol=1e-5)


def test_offset_past_the_end_is_too_short(audio_files: dict[str, Path]) -> None:
    from genrekit.errors import AudioTooShortError

    with pytest.raises(AudioTooShortError, match=r"only 0\.000 s of audio after offset 10"):
        load(audio_files["wav16"], offset=10.0)


def test_read_reports_intact_file(audio_files: dict[str, Path]) -> None:
    audio = read(audio_files["flac"])
    assert audio.damage is None
    assert audio.source_sr == 44100 and audio.sr == 22050


def test_example_clips_all_load() -> None:
    from tests.conftest import EXAMPLES

    clips = sorted(p for p in EXAMPLES.glob("*/*") if p.suffix in {".mp3", ".ogg", ".m4a"})
    assert len(clips) >= 4
    for clip in clips:
        y, sr = load(clip)
        assert sr == 22050 and 29.0 < y.size / sr < 31.0
