"""genrekit classify on the command line (genrekit.classify_batch under it): folders, formats,
exit codes, Ctrl-C."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from genrekit.cli import app
from genrekit.predict import classify
from tests.stores import SR


def run_classify(*args: str) -> subprocess.CompletedProcess[str]:
    """The installed command, as a user runs it (exit code 2 comes from its entry point)."""
    return subprocess.run(
        [sys.executable, "-m", "genrekit", "classify", *args],
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.fixture(scope="module")
def music(songs: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two files of the same name in two genre folders, a broken one and a silent one."""
    folder = tmp_path_factory.mktemp("music")
    for genre, sub, name in (("clicks", "a", "clicks.wav"), ("tones", "b", "tones.wav")):
        (folder / genre / sub).mkdir(parents=True)
        (folder / genre / sub / "song.wav").write_bytes((songs / name).read_bytes())
    (folder / "broken.mp3").write_bytes(b"this is not audio at all" * 40)
    sf.write(folder / "silence.wav", np.zeros(SR * 2, np.float32), SR)
    (folder / "notes.txt").write_text("ignored: not an audio file ending")
    return folder


def test_folder_streams_json_lines_and_names_files_relative(onnx_model: Path, music: Path) -> None:
    result = CliRunner().invoke(
        app,
        [
            "classify",
            str(music),
            "--model",
            str(onnx_model),
            "--format",
            "json",
            "--no-music-check",
        ],
    )
    assert result.exit_code == 1
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["file"] for r in lines] == [
        "broken.mp3",
        "clicks/a/song.wav",
        "silence.wav",
        "tones/b/song.wav",
    ]
    good = {r["file"]: r for r in lines if r["status"] == "classified"}
    assert good["clicks/a/song.wav"]["genre"] == "clicks"
    assert good["tones/b/song.wav"]["genre"] == "tones"
    assert set(good["tones/b/song.wav"]["probabilities"]) == {"clicks", "noise", "tones"}
    errors = {r["file"]: r["reason"] for r in lines if r["status"] == "failed"}
    assert "silent" in errors["silence.wav"]
    # Each failure on stderr too, naming the file once.
    failed = [line for line in result.stderr.splitlines() if line.startswith("x ")]
    assert len(failed) == 2 and all(line.count("broken.mp3") <= 1 for line in failed)
    assert any(line.startswith("x broken.mp3: cannot be decoded") for line in failed)
    assert "classified 2 of 4 tracks" in result.stderr and "2 failed" in result.stderr


def test_table_names_tracks_relative_to_the_folder(onnx_model: Path, music: Path) -> None:
    result = CliRunner().invoke(
        app,
        [
            "classify",
            str(music / "clicks"),
            str(music / "tones"),
            "--model",
            str(onnx_model),
            "--segments",
            "--no-music-check",
        ],
    )
    assert result.exit_code == 0, result.output
    rows = result.stdout.splitlines()
    assert rows[0].split() == ["track", "genre", "top", "3"]
    assert rows[1].split()[:2] == [str(music / "clicks" / "a" / "song.wav"), "clicks"]
    assert "timeline, 3 segments of 2.7 s (at most 32): 0:00 clicks" in rows[2]
    assert rows[3].split()[:2] == [str(music / "tones" / "b" / "song.wav"), "tones"]


def test_csv_is_rectangular_whatever_k_and_genres(onnx_model: Path, music: Path) -> None:
    runner = CliRunner()
    for extra, genres in (
        (["-k", "1"], ["clicks", "noise", "tones"]),
        (["-k", "5", "--genres", "TONES,clicks"], ["tones", "clicks"]),
    ):
        args = ["classify", str(music), "--model", str(onnx_model), "--format", "csv", *extra]
        result = runner.invoke(app, [*args, "--no-music-check"])
        assert result.exit_code == 1
        rows = list(csv.reader(io.StringIO(result.stdout)))
        head = ["file", "status", "genre", "reason", "damage", "seconds"]
        assert rows[0] == [*head, *(f"p_{g}" for g in genres)]
        assert [r[0] for r in rows[1:]] == [  # every input, failed ones too
            "broken.mp3",
            "clicks/a/song.wav",
            "silence.wav",
            "tones/b/song.wav",
        ]
        assert all(len(r) == len(rows[0]) for r in rows)
        classified = [r for r in rows[1:] if r[1] == "classified"]
        assert [r[0] for r in classified] == ["clicks/a/song.wav", "tones/b/song.wav"]
        assert all(sum(float(p) for p in r[6:]) == pytest.approx(1.0, abs=1e-3) for r in classified)
    result = runner.invoke(
        app, ["classify", str(music), "--model", str(onnx_model), "--format", "csv", "--segments"]
    )
    assert result.exit_code == 2 and "use --format json or table" in result.output


def test_ctrl_c_keeps_what_was_done_and_exits_130(
    onnx_model: Path, music: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted_at_the_third(path: Path, **kwargs: object) -> object:
        if path.name == "silence.wav":
            raise KeyboardInterrupt
        return classify(path, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr("genrekit.classify_batch.classify", interrupted_at_the_third)
    args = ["classify", str(music), "--model", str(onnx_model), "--format", "csv", "-j", "1"]
    result = CliRunner().invoke(app, [*args, "--no-music-check"])
    assert result.exit_code == 130
    assert [r[0] for r in csv.reader(io.StringIO(result.stdout))] == [
        "file",
        "broken.mp3",
        "clicks/a/song.wav",
    ]
    assert "x broken.mp3" in result.stderr
    assert "interrupted: 1 of 4 tracks classified; 1 failed (printed above); 2 not done" in (
        result.stderr
    )


def test_usage_errors_exit_2_before_any_work(onnx_model: Path, music: Path, tmp_path: Path) -> None:
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    (tmp_path / "empty" / "notes.txt").write_text("no audio here")
    result = run_classify(str(tmp_path / "empty"))
    assert result.returncode == 2 and not result.stdout
    said = " ".join(result.stderr.split())  # the console may wrap a long line
    assert said.startswith(f"error: {tmp_path / 'empty'}: no audio files in this folder")
    result = run_classify(str(tmp_path / "nowhere.mp3"))
    assert result.returncode == 2
    assert "nowhere.mp3: no such file or folder" in " ".join(result.stderr.split())
    result = run_classify(str(music), "--model", str(onnx_model), "--genres", "Tones,polka")
    assert result.returncode == 2 and not result.stdout
    assert " ".join(result.stderr.split()) == (
        f"error: genre 'polka' is not known to model {onnx_model.name}; "
        "its genres: clicks, noise, tones"
    )


def test_truncated_mp3_on_the_command_line_warns_and_succeeds(
    example_clip: Path, tmp_path: Path
) -> None:
    (tmp_path / "cut.mp3").write_bytes(example_clip.read_bytes()[:200_000])
    result = CliRunner().invoke(app, ["classify", str(tmp_path), "--format", "json"])
    assert result.exit_code == 0, result.output
    line = json.loads(result.stdout)
    assert line["genre"] == "metal" and "could not be decoded" in line["damage"]
    assert "warning: cut.mp3: damaged" in result.stderr
    assert "only 0.000 s" not in result.output


def test_csv_table_and_segments_output(onnx_model: Path, songs: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(
        app,
        [
            "classify",
            str(songs / "noise.wav"),
            "--model",
            str(onnx_model),
            "--format",
            "csv",
            "-k",
            "2",
            "--no-music-check",
        ],
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert lines[0] == "file,status,genre,reason,damage,seconds,p_clicks,p_noise,p_tones"
    assert lines[1].split(",")[1:6] == ["classified", "noise", "", "", "8.00"]
    args = ["classify", str(songs / "noise.wav"), "--model", str(onnx_model), "--segments"]
    result = runner.invoke(app, [*args, "--no-music-check"])
    assert result.exit_code == 0 and "0:00 noise" in result.output
