"""genrekit extract: a data set in, a resumable, readable feature store out."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import librosa
import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from genrekit.cli import app
from genrekit.dataset import FeatureStore
from genrekit.errors import FeatureStoreError
from genrekit.extract import ExtractOptions, clip_features, extract_dataset, peak_rms_db
from genrekit.features import FeatureParams, log_mel_and_mfcc
from tests.conftest import music_like

CLIP = 3.0


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    root = tmp_path / "in"
    for g, genre in enumerate(["jazz", "metal"]):
        for i in range(3):
            y = music_like(4.0 if i else 1.5, 44100, channels=2, seed=10 * g + i)
            path = root / genre / f"{genre} {i}.{'mp3' if i == 1 else 'flac'}"
            path.parent.mkdir(parents=True, exist_ok=True)
            sf.write(path, y, 44100)
    return root


def options(**kw: object) -> ExtractOptions:
    return ExtractOptions(clip_seconds=CLIP, workers=2, **kw)  # type: ignore[arg-type]


def test_store_holds_librosa_features(dataset: Path, tmp_path: Path) -> None:
    summary = extract_dataset(dataset, tmp_path / "out", options())
    assert summary.ok and summary.counts["done"] == 6
    store = FeatureStore(tmp_path / "out", expect=FeatureParams())
    assert len(store) == 6 and store.genres == ["jazz", "metal"]
    assert list(store.labels) == [0, 0, 0, 1, 1, 1]
    n_frames = 1 + int(CLIP * 22050) // 512
    logmel = store.stack("logmel")
    assert logmel.shape == (6, 128, n_frames)
    assert store.stack("mfcc").shape == (6, 20, n_frames)
    assert isinstance(store.array("logmel", 0), np.memmap)
    # Clip 1 of jazz is 4 s long: its first 3 s must be librosa's numbers.
    index = [t.path for t in store].index("jazz/jazz 1.mp3")
    y, _ = librosa.load(dataset / "jazz" / "jazz 1.mp3", sr=22050, duration=CLIP)
    ref = librosa.power_to_db(librosa.feature.melspectrogram(y=y, sr=22050))
    np.testing.assert_allclose(logmel[index], ref, atol=1e-2)
    np.testing.assert_allclose(
        store.array("mfcc", index), librosa.feature.mfcc(y=y, sr=22050), atol=1e-2
    )


def test_short_tracks_are_zero_padded_and_their_length_kept(dataset: Path, tmp_path: Path) -> None:
    extract_dataset(dataset, tmp_path / "out", options())
    store = FeatureStore(tmp_path / "out")
    short = next(t for t in store if t.path == "jazz/jazz 0.flac")
    assert short.duration == pytest.approx(1.5, abs=1e-3)
    assert short.n_valid == 1 + int(1.5 * 22050) // 512 < short.n_frames


def test_rerun_skips_done_work_even_after_rename(dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    extract_dataset(dataset, out, options())
    (dataset / "jazz" / "jazz 2.flac").rename(dataset / "jazz" / "renamed.flac")
    summary = extract_dataset(dataset, out, options())
    assert summary.counts["cached"] == 6 and summary.counts["done"] == 0
    paths = [t.path for t in FeatureStore(out)]
    assert "jazz/renamed.flac" in paths and "jazz/jazz 2.flac" not in paths


def test_bad_files_are_recorded_and_the_batch_goes_on(dataset: Path, tmp_path: Path) -> None:
    (dataset / "jazz" / "broken.mp3").write_text("not audio")
    (dataset / "metal" / "empty.wav").touch()
    sf.write(dataset / "metal" / "quiet.wav", np.zeros(44100 * 2, np.float32), 44100)
    shutil.copy(dataset / "jazz" / "jazz 1.mp3", dataset / "metal" / "same.mp3")
    (dataset / "metal" / "cover.jpg").write_bytes(b"\xff\xd8")
    summary = extract_dataset(dataset, tmp_path / "out", options())
    assert not summary.ok
    assert summary.counts == {"done": 6, "failed": 2, "silent": 1, "duplicate": 1}
    assert summary.ignored == 1
    assert {f.rel for f in summary.failures} == {"jazz/broken.mp3", "metal/empty.wav"}
    with sqlite3.connect(tmp_path / "out" / "index.sqlite") as db:
        rows = dict(db.execute("SELECT path, reason FROM tracks WHERE status != 'ok'").fetchall())
    assert "cannot be decoded" in rows["jazz/broken.mp3"]
    assert "silent" in rows["metal/quiet.wav"]
    assert "same audio as jazz/jazz 1.mp3" in rows["metal/same.mp3"]
    assert len(FeatureStore(tmp_path / "out")) == 6


def test_images_are_written_and_resumed(dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    extract_dataset(dataset, out, options(images=True))
    pngs = sorted(p.relative_to(out).as_posix() for p in (out / "images").rglob("*.png"))
    assert len(pngs) == 12 and "images/jazz/jazz 0.flac.mel.png" in pngs
    (out / "images" / "jazz" / "jazz 0.flac.mel.png").unlink()
    extract_dataset(dataset, out, options(images=True))
    assert (out / "images" / "jazz" / "jazz 0.flac.mel.png").exists()
    assert not list(out.rglob("*.part"))


def test_other_parameters_are_an_error_not_a_mix(dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    extract_dataset(dataset, out, options())
    with pytest.raises(FeatureStoreError, match=r"clip_seconds=3 \(wanted 5\)"):
        extract_dataset(dataset, out, ExtractOptions(clip_seconds=5.0, workers=1))
    with pytest.raises(FeatureStoreError, match=r"n_mels=128 \(wanted 64\)"):
        FeatureStore(out, expect=FeatureParams(n_mels=64))


def test_empty_or_missing_input(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(FeatureStoreError, match="the folder is empty"):
        extract_dataset(tmp_path / "empty", tmp_path / "out", options())
    with pytest.raises(FeatureStoreError, match="does not exist"):
        extract_dataset(tmp_path / "nowhere", tmp_path / "out", options())
    with pytest.raises(FeatureStoreError, match="not a feature store"):
        FeatureStore(tmp_path / "empty")


def test_cli_exit_codes(dataset: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    ok = runner.invoke(
        app, ["extract", str(dataset), "-o", str(tmp_path / "a"), "--clip-seconds", "3", "-j", "2"]
    )
    assert ok.exit_code == 0, ok.output
    assert "extracted now" in ok.output
    (dataset / "metal" / "bad.wav").write_bytes(b"RIFF0000WAVEjunk")
    bad = runner.invoke(
        app, ["extract", str(dataset), "-o", str(tmp_path / "a"), "--clip-seconds", "3"]
    )
    assert bad.exit_code == 1
    assert "metal/bad.wav" in bad.output


def test_console_script_reports_fatal_errors_in_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "genrekit",
            "extract",
            str(tmp_path / "nowhere"),
            "-o",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "error:" in result.stderr and "does not exist" in result.stderr
    assert "Traceback" not in result.stderr


def test_peak_rms_db_of_known_signals() -> None:
    t = np.arange(22050) / 22050
    quiet_then_loud = np.concatenate(
        [0.01 * np.sin(2 * np.pi * 441 * t), 0.5 * np.sin(2 * np.pi * 441 * t)]
    )
    expected = 20 * np.log10(0.5 / np.sqrt(2))
    assert peak_rms_db(quiet_then_loud.astype(np.float32), 512) == pytest.approx(expected, abs=0.2)
    assert peak_rms_db(np.zeros(4096, np.float32), 512) == float("-inf")


@pytest.mark.parametrize("seconds", [0.6, 2.3, 29.99, 31.0])
def test_short_clips_skip_the_padding_but_not_its_numbers(seconds: float) -> None:
    y = music_like(seconds, 22050)[:, 0]
    options = ExtractOptions(clip_seconds=30.0)
    got = clip_features(y, options)
    n = round(30.0 * 22050)
    padded = np.pad(y[:n], (0, max(0, n - y.size)))
    _, log_mel, mfcc = log_mel_and_mfcc(padded, options.params)
    np.testing.assert_array_equal(got.log_mel, log_mel)
    # The padding's MFCC column is computed once: float32 rounding of another matmul shape.
    np.testing.assert_allclose(got.mfcc, mfcc, rtol=1e-6, atol=1e-3)


def test_written_files_get_the_usual_permissions(tmp_path: Path) -> None:
    from genrekit.storage import write_bytes_atomic

    target = tmp_path / "x.bin"
    write_bytes_atomic(target, b"abc")
    old = os.umask(0o022)
    os.umask(old)
    assert target.stat().st_mode & 0o777 == 0o666 & ~old
