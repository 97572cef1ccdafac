"""genrekit classify: an exported model on files, arrays and folders, with clear answers."""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from genrekit.audio import load
from genrekit.checkpoint import export_onnx
from genrekit.cli import app
from genrekit.errors import AudioTooShortError, ModelError, ParameterError, SilentAudioError
from genrekit.predict import MAX_SEGMENTS, classify, load_model
from genrekit.training import TrainOptions, train
from tests.stores import SR, genre_audio, make_store


@pytest.fixture(scope="module")
def onnx_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # A tiny CNN is trained here: the tests that use it need PyTorch, the others run without.
    # Its genres are clicks, noise and tones, the very sounds that are not music: it is asked
    # with check_music=False (--no-music-check); tests/test_music_check.py tests the check.
    torch = pytest.importorskip("torch", reason="training the tiny test CNN needs PyTorch")
    root = tmp_path_factory.mktemp("classify")
    store = make_store(root, ("clicks", "noise", "tones"), 10, seed=3)
    # Float sums depend on the thread count, and this tiny model's answers on a few borderline
    # inputs with them: train it on 2 threads whatever OMP_NUM_THREADS says, the same model.
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        train(store, root / "model", TrainOptions(model="tiny", epochs=12))
    finally:
        torch.set_num_threads(threads)
    export_onnx(root / "model", root / "model" / "model.onnx")
    return root / "model"


@pytest.fixture(scope="module")
def songs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("songs")
    rng = np.random.default_rng(42)
    for genre in ("clicks", "noise", "tones"):
        y = np.concatenate([genre_audio(genre, rng) for _ in range(4)])  # 8 s
        rate = SR
        if genre == "tones":  # one file at 44.1 kHz, as most music is
            y, rate = np.interp(np.arange(0, y.size, 0.5), np.arange(y.size), y), 2 * SR
        stereo = np.stack([y, 0.8 * y], axis=1)
        sf.write(root / f"{genre}.wav", stereo.astype(np.float32), rate)
    return root


def test_classifies_files_of_each_genre(onnx_model: Path, songs: Path) -> None:
    model = load_model(onnx_model)
    for genre in ("clicks", "noise", "tones"):
        prediction = classify(songs / f"{genre}.wav", model=model, check_music=False)
        assert prediction.genre == genre
        assert next(iter(prediction.probabilities)) == genre
        assert sum(prediction.probabilities.values()) == pytest.approx(1.0, abs=1e-5)
        assert prediction.duration == pytest.approx(8.0, abs=0.01)


def test_arrays_short_clips_and_segments(onnx_model: Path) -> None:
    model = load_model(onnx_model)
    rng = np.random.default_rng(7)
    y = genre_audio("tones", rng)[: SR * 2]
    stereo_44k = np.repeat(np.interp(np.arange(0, y.size, 0.5), np.arange(y.size), y)[None], 2, 0)
    assert classify(stereo_44k, sr=44100, model=model, check_music=False).genre == "tones"
    long = np.concatenate([genre_audio("noise", rng) for _ in range(5)])  # 10 s
    prediction = classify(long, sr=SR, model=model, segments=True, check_music=False)
    assert prediction.segments and all(s.genre == "noise" for s in prediction.segments)
    assert prediction.segments[0].start == 0.0
    assert prediction.segments[-1].end == pytest.approx(10.0, abs=0.05)
    with pytest.raises(ParameterError, match="needs sr="):
        classify(long, model=model)


def test_genre_subset_renormalizes(onnx_model: Path, songs: Path) -> None:
    prediction = classify(
        songs / "tones.wav", model=load_model(onnx_model), genres=["noise", "clicks"]
    )
    assert set(prediction.probabilities) == {"noise", "clicks"}
    assert sum(prediction.probabilities.values()) == pytest.approx(1.0)
    with pytest.raises(ParameterError, match=r"'polka' is not known.*: clicks, noise, tones$"):
        classify(songs / "tones.wav", model=load_model(onnx_model), genres=["polka"])
    # Any case, the model's names back.
    mixed = classify(songs / "tones.wav", model=load_model(onnx_model), genres=["NOISE", "Clicks"])
    assert set(mixed.probabilities) == {"noise", "clicks"}


def test_long_tracks_are_sampled_not_read_whole(onnx_model: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    y = np.concatenate([genre_audio("clicks", rng) for _ in range(150)])  # 5 minutes
    path = tmp_path / "long.flac"
    sf.write(path, y.astype(np.float32), SR)
    prediction = classify(path, model=load_model(onnx_model), segments=True, check_music=False)
    assert prediction.heard < 60  # only sampled windows
    assert prediction.duration == pytest.approx(300.0, abs=0.1)
    assert prediction.genre == "clicks"
    # The timeline tiles the whole track: 32 equal segments, no gaps, 0 to the end.
    timeline = prediction.segments
    assert len(timeline) == MAX_SEGMENTS
    assert timeline[0].start == 0.0 and timeline[-1].end == pytest.approx(300.0, abs=0.1)
    assert all(a.end == pytest.approx(b.start) for a, b in itertools.pairwise(timeline))
    assert {round(s.end - s.start, 3) for s in timeline} == {round(300.0 / MAX_SEGMENTS, 3)}


def test_short_timeline_has_a_segment_per_window(onnx_model: Path) -> None:
    rng = np.random.default_rng(5)
    y = np.concatenate(
        [genre_audio("noise", rng), np.zeros(SR * 4), genre_audio("tones", rng)]
    )  # 2 s of noise, 4 s of silence, 2 s of tones
    model = load_model(onnx_model)
    prediction = classify(y, sr=SR, model=model, segments=True, check_music=False)
    width = model.window_seconds
    assert width is not None
    timeline = prediction.segments
    assert len(timeline) == math.ceil(8.0 / width)
    assert timeline[0].start == 0.0 and timeline[-1].end == pytest.approx(8.0)
    assert timeline[0].genre == "noise" and timeline[-1].genre == "tones"
    middle = [s for s in timeline if 2.0 + width / 2 < (s.start + s.end) / 2 < 6.0 - width / 2]
    assert middle and all(s.silent and s.genre == "" and not s.probabilities for s in middle)


def test_silence_at_the_edges_does_not_change_the_answer(
    example_clip: Path, tmp_path: Path
) -> None:
    model = load_model()  # the default: a head on musicnn patches
    y, sr = load(example_clip, sr=44100)
    padded = np.concatenate([np.zeros(5 * sr), y, np.zeros(20 * sr)]).astype(np.float32)
    sf.write(tmp_path / "padded.wav", padded, sr)
    plain = classify(example_clip, model=model)
    assert plain.genre == "metal"
    for audio, rate in ((tmp_path / "padded.wav", None), (padded, sr)):
        found = classify(audio, sr=rate, model=model)
        assert found.genre == "metal"
        assert found.probabilities["metal"] == pytest.approx(plain.probabilities["metal"], abs=0.05)
    # Silence in the middle (a hidden track after a long gap) is skipped too.
    gap = np.concatenate([y, np.zeros(60 * sr), y]).astype(np.float32)
    assert classify(gap, sr=sr, model=model).genre == "metal"
    # The CNN listens the same way: 30 s of silence before and 60 s after change nothing.
    cnn = load_model("gtzan-cnn")
    lead = np.concatenate([np.zeros(30 * sr), y, np.zeros(60 * sr)]).astype(np.float32)
    assert classify(lead, sr=sr, model=cnn).probabilities["metal"] == pytest.approx(
        classify(y, sr=sr, model=cnn).probabilities["metal"], abs=0.05
    )


def test_arrays_are_checked_like_files(onnx_model: Path) -> None:
    model = load_model(onnx_model)
    rng = np.random.default_rng(1)
    with pytest.raises(AudioTooShortError, match=r"only 0\.200 s"):
        classify(genre_audio("noise", rng)[: SR // 5], sr=SR, model=model)
    with pytest.raises(AudioTooShortError):
        classify(np.zeros(0, np.float32), sr=SR, model=model)
    # Silence is an answer with no genre; an error (as it was) with the music check off.
    for quiet in (np.zeros(SR * 3, np.float32), 1e-4 * rng.standard_normal(SR * 3)):  # -80 dBFS
        answer = classify(quiet, sr=SR, model=model)
        assert answer.genre is None and answer.probabilities == {}
        assert answer.reason == "silent: never louder than -60 dBFS"
        with pytest.raises(SilentAudioError, match="silent"):
            classify(quiet, sr=SR, model=model, check_music=False)
    with pytest.raises(ParameterError, match="NaN"):
        classify(np.full(SR, np.nan), sr=SR, model=model)


def test_integer_samples_are_refused_not_misread(example_clip: Path) -> None:
    # Cast as they are, int16 samples read as a wall of clipping: "disco 1.00" for metal.
    y, sr = load(example_clip, duration=5.0)
    pcm = np.round(y * 32767).astype(np.int16)
    with pytest.raises(ParameterError, match=r"floating point.*int16 PCM use samples / 32768"):
        classify(pcm, sr=sr)
    assert classify(pcm / 32768, sr=sr).genre == classify(y, sr=sr).genre


def test_truncated_mp3_is_classified_from_what_decodes(example_clip: Path, tmp_path: Path) -> None:
    cut = tmp_path / "cut.mp3"
    cut.write_bytes(example_clip.read_bytes()[:200_000])  # its header still says 30 s
    prediction = classify(cut)
    assert prediction.genre == "metal"
    assert prediction.damage is not None
    assert prediction.duration is not None and 5.0 < prediction.duration < 25.0


def test_silence_and_too_short_get_clear_answers(onnx_model: Path, tmp_path: Path) -> None:
    model = load_model(onnx_model)
    sf.write(tmp_path / "silence.wav", np.zeros(SR * 3, np.float32), SR)
    assert classify(tmp_path / "silence.wav", model=model).reason == (
        "silent: never louder than -60 dBFS"
    )
    with pytest.raises(SilentAudioError, match="silent"):
        classify(tmp_path / "silence.wav", model=model, check_music=False)
    sf.write(tmp_path / "blip.wav", np.full(SR // 10, 0.3, np.float32), SR)
    with pytest.raises(AudioTooShortError):
        classify(tmp_path / "blip.wav", model=model)


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


def test_progress_is_drawn_on_a_terminal_only() -> None:
    from rich.console import Console

    from genrekit.cli.classify_output import Status

    screen = io.StringIO()
    status = Status(Console(file=screen, force_terminal=True), total=3)
    status.advance(failed=False)
    status.advance(failed=True)
    status.clear()
    assert "classify 2/3" in screen.getvalue() and "1 failed" in screen.getvalue()
    assert screen.getvalue().endswith("\r\x1b[K")
    piped = io.StringIO()
    Status(Console(file=piped), total=3).advance(failed=False)
    assert piped.getvalue() == ""


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


def test_model_errors(onnx_model: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="no such model"):
        load_model("no-such-model")
    (tmp_path / "trained").mkdir()
    (tmp_path / "trained" / "model.pt").write_bytes(b"x")
    with pytest.raises(ModelError, match="export it first"):
        load_model(tmp_path / "trained")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not onnx")
    with pytest.raises(ModelError, match="not a readable ONNX model"):
        load_model(bad)


def test_models_command_lists_local_models(onnx_model: Path) -> None:
    result = CliRunner().invoke(app, ["models", str(onnx_model.parent)])
    assert result.exit_code == 0, result.output
    assert "model.onnx: 3 genres: clicks, noise, tones\n  architecture tiny\n" in result.output


@pytest.mark.parametrize("width", [80, 120])
def test_table_on_a_terminal_keeps_each_track_to_one_line(width: int) -> None:
    from rich.console import Console

    from genrekit.classify_batch import AudioFile, Outcome
    from genrekit.cli.classify_output import Writer
    from genrekit.predict import Prediction

    genres = ["classical", "country", "hiphop", "jazz", "metal", "reggae"]
    name = "classical/Jeremy Nicoll - Nunc Dimittis [deezer-12345].mp3"
    files = [AudioFile(Path(name), name)]
    probabilities = {g: p for g, p in zip(genres, (0.7, 0.1, 0.1, 0.05, 0.03, 0.02), strict=True)}
    msd = {t: 0.5 for t in ("instrumental", "rock", "ambient", "Progressive rock", "electronic")}
    mtt = {t: 0.25 for t in ("classical", "strings", "violin", "slow", "female vocal")}
    prediction = Prediction(
        "classical", probabilities, tags={"msd-musicnn": msd, "mtt-musicnn": mtt}
    )
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=width, color_system=None)
    writer = Writer(
        console, "table", files=files, genres=genres, top_k=3, segments=False, tags=True
    )
    writer.header()
    writer.write(Outcome(files[0], prediction))
    lines = screen.getvalue().splitlines()
    assert len(lines) == 4, lines  # the header, one line for the track, one per tagger
    assert all(len(line) <= width for line in lines), lines
    assert lines[1].startswith("class")
    assert "12345].mp3" in lines[1]  # a long name is cut in its middle: its file name stays
    assert lines[2].startswith("  tags msd-musicnn: instrumental 50 %, rock 50 %")
    assert lines[3].startswith("  tags mtt-musicnn: classical 25 %, strings 25 %")
    assert lines[2].endswith("…") == (width < 100)  # cut to the terminal, never wrapped
