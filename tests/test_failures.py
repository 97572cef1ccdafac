"""Bad input: every way a file can be wrong gets a clear GenrekitError naming it."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from genrekit.audio import load, read
from genrekit.errors import (
    AudioLoadError,
    AudioTooShortError,
    GenrekitError,
    ParameterError,
    PartialDecodeWarning,
)
from tests.conftest import music_like


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(AudioLoadError, match=r"nope\.mp3: no such file"):
        load(tmp_path / "nope.mp3")


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(AudioLoadError, match="is a directory"):
        load(tmp_path)


def test_empty_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.wav"
    empty.touch()
    with pytest.raises(AudioLoadError, match=r"empty\.wav: file is empty"):
        load(empty)


@pytest.mark.parametrize("name", ["notes.mp3", "notes.wav", "notes.m4a", "notes.flac"])
def test_text_with_audio_extension_names_each_decoder(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text("these are not the droids you are looking for\n" * 40)
    with pytest.raises(AudioLoadError) as info:
        load(path)
    message = str(info.value)
    assert message.startswith(str(path))
    assert "libsndfile:" in message and "ffmpeg:" in message


def test_random_bytes(tmp_path: Path) -> None:
    path = tmp_path / "noise.ogg"
    path.write_bytes(np.random.default_rng(1).bytes(50_000))
    with pytest.raises(AudioLoadError, match="cannot be decoded as audio"):
        load(path)


@pytest.fixture(scope="module")
def mp3_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("mp3") / "whole.mp3"
    sf.write(path, music_like(8.0, 44100, channels=2), 44100, format="MP3")
    return path.read_bytes()


def test_truncated_mp3_decodes_what_it_can_and_says_so(tmp_path: Path, mp3_bytes: bytes) -> None:
    path = tmp_path / "cut.mp3"
    path.write_bytes(mp3_bytes[: len(mp3_bytes) // 2])
    with pytest.warns(PartialDecodeWarning, match=r"cut\.mp3: file is damaged"):
        y, sr = load(path)
    assert 3.0 < y.size / sr < 5.0
    assert read(path).damage is not None


def test_corrupted_middle_of_mp3(tmp_path: Path, mp3_bytes: bytes) -> None:
    damaged = bytearray(mp3_bytes)
    middle = len(damaged) // 2
    damaged[middle : middle + 4000] = os.urandom(4000)
    path = tmp_path / "corrupt.mp3"
    path.write_bytes(bytes(damaged))
    with pytest.warns(PartialDecodeWarning):
        y, sr = load(path)
    assert y.size / sr > 2.0


def test_truncated_too_early_is_too_short(tmp_path: Path, mp3_bytes: bytes) -> None:
    path = tmp_path / "stub.mp3"
    path.write_bytes(mp3_bytes[:1500])
    with pytest.raises(AudioLoadError, match=r"stub\.mp3"):
        load(path)


def test_too_short_audio(tmp_path: Path) -> None:
    path = tmp_path / "blip.wav"
    sf.write(path, music_like(0.2, 22050), 22050)
    with pytest.raises(AudioTooShortError, match=r"blip\.wav: only 0\.200 s of audio"):
        load(path)
    y, _ = load(path, min_duration=0.1)
    assert y.size == int(0.2 * 22050)


def test_short_duration_request_is_not_an_error(tmp_path: Path) -> None:
    path = tmp_path / "long.wav"
    sf.write(path, music_like(2.0, 22050), 22050)
    y, _ = load(path, duration=0.1)
    assert y.size == 2205


def test_nan_samples(tmp_path: Path) -> None:
    y = music_like(1.0, 22050)
    y[100] = np.nan
    path = tmp_path / "nan.wav"
    sf.write(path, y, 22050, subtype="FLOAT")
    with pytest.raises(AudioLoadError, match="NaN or infinite"):
        load(path)


def test_silence_loads_fine(tmp_path: Path) -> None:
    path = tmp_path / "silence.wav"
    sf.write(path, np.zeros(22050, dtype=np.float32), 22050)
    y, _ = load(path)
    assert y.size == 22050 and not y.any()


@pytest.mark.parametrize(
    "kwargs", [{"offset": -1.0}, {"duration": 0.0}, {"duration": float("nan")}, {"sr": 0}]
)
def test_bad_arguments(tmp_path: Path, kwargs: dict[str, float]) -> None:
    with pytest.raises(ParameterError):
        load(tmp_path / "x.wav", **kwargs)  # type: ignore[arg-type]


def test_one_family() -> None:
    for cls in (AudioLoadError, AudioTooShortError, ParameterError):
        assert issubclass(cls, GenrekitError)
