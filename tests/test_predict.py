"""classify() of genrekit.predict: a model's answer for a file or an array, with tags."""

from __future__ import annotations

import itertools
import math
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from genrekit.audio import load
from genrekit.backbones import MSD_TAGS, MTT_TAGS
from genrekit.errors import AudioTooShortError, ModelError, ParameterError, SilentAudioError
from genrekit.predict import MAX_SEGMENTS, Model, classify, load_model
from tests.conftest import Cli
from tests.stores import SR, genre_audio


def test_classify_tags_come_from_both_taggers(example_clip: Path) -> None:
    prediction = classify(example_clip, tags=True)
    assert list(prediction.tags) == ["msd-musicnn", "mtt-musicnn"]
    msd, mtt = prediction.tags["msd-musicnn"], prediction.tags["mtt-musicnn"]
    assert set(msd) == set(MSD_TAGS) and set(mtt) == set(MTT_TAGS)
    assert list(msd.values()) == sorted(msd.values(), reverse=True)  # most likely first
    assert list(mtt.values()) == sorted(mtt.values(), reverse=True)
    assert set(list(msd)[:5]) & {"metal", "heavy metal", "hard rock"}
    assert {"rock", "metal"} <= set(list(mtt)[:5])
    # A log-mel model listens to the same windows for its tags: the same numbers.
    other = classify(example_clip, model="gtzan-cnn", tags=True)
    assert list(other.tags) == ["msd-musicnn", "mtt-musicnn"]
    for tagger, found in prediction.tags.items():
        assert other.tags[tagger] == pytest.approx(found, abs=1e-6), tagger


def test_the_mtt_tagger_runs_only_when_tags_are_asked_for(
    example_clip: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from genrekit import predict

    model = load_model()  # loads its own backbone, msd-musicnn

    def refuse(name: str = "msd-musicnn", **_: object) -> None:
        raise AssertionError(f"{name} loaded without tags")

    monkeypatch.setattr(predict, "load_backbone", refuse)
    prediction = classify(example_clip, model=model)
    assert list(prediction.tags) == ["msd-musicnn"]  # computed anyway: the model's own backbone
    assert classify(example_clip, model="gtzan-cnn").tags == {}


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
    undecoded = r"(\d+\.\d\d) s of the declared audio could not be decoded"
    found = re.fullmatch(undecoded, prediction.damage or "")
    assert found and 5.0 < float(found[1]) < 25.0, prediction.damage  # of the 30 s declared
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


def test_the_seeds_genre_names_are_understood() -> None:
    from genrekit.predict import check_genres

    model = load_model()
    assert check_genres(model, ["hiphop", "EDM", "classical", "metal", "Jazz"]) == [
        "hiphop",
        "electronic",
        "classical",
        "metal",
        "jazz",
    ]
    assert check_genres(model, ["Hip-Hop", "hiphop", "Techno", "metal"]) == [
        "hiphop",
        "electronic",
        "metal",
    ]  # a genre named twice is one
    with pytest.raises(ParameterError, match="'edm' is not known to model gtzan-musicnn"):
        check_genres(load_model("gtzan-musicnn"), ["edm"])  # no electronic there to alias


def test_one_genre_is_refused_in_one_line(cli: Cli, example_clip: Path) -> None:
    from genrekit.predict import check_genres

    with pytest.raises(ParameterError, match=r"^genres='EDM,dance': name two genres or more"):
        check_genres(load_model(), ["EDM", "dance"])  # one genre, named twice
    run = cli("classify", example_clip, "--genres", "EDM")
    assert run.code == 2
    assert run.error_line.startswith("error: --genres EDM: name two genres or more")


def test_music_of_a_genre_not_chosen_gets_none(model: Model, example_clip: Path) -> None:
    """The seed's five genres without metal: metal is none of them, not 'hiphop 77 %'."""
    seed = ["hiphop", "electronic", "classical", "jazz", "pop"]
    other = classify(example_clip, model=model, genres=seed)
    assert other.genre is None
    assert other.reason is not None
    assert other.reason.startswith("none of the chosen genres: its genre is metal (")
    assert other.reason.endswith(" % over all 14)")
    assert set(other.probabilities) == set(seed)  # still listed, renormalized over the five
    kept = classify(example_clip, model=model, genres=["metal", *seed])
    assert kept.genre == "metal" and kept.reason is None
