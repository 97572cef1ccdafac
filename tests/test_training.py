"""Training, evaluation and export on generated 'genres' (tones, noise, clicks): seconds on CPU."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import onnxruntime as ort
import pytest
import torch
from typer.testing import CliRunner

from genrekit import networks, recipes, training, training_log
from genrekit.checkpoint import export_onnx, load_checkpoint, load_model_state
from genrekit.cli import app
from genrekit.clip_reader import ClipReader
from genrekit.dataset import FeatureStore, embedding_kind, feature_path
from genrekit.errors import FeatureStoreError, ModelError, ParameterError
from genrekit.evaluation import evaluate
from genrekit.extract import ExtractOptions, extract_dataset
from genrekit.features import FeatureParams
from genrekit.models import Ensemble, build
from genrekit.networks import network_probabilities, shift_bands
from genrekit.progress import Progress, Step
from genrekit.splits import groups_of, kfold
from genrekit.storage import save_npy_atomic
from genrekit.training import (
    TrainOptions,
    cross_validate,
    train,
)
from tests.stores import SECONDS
from tests.stores import SR as SR  # re-exported: other test modules import these from here
from tests.stores import genre_audio as genre_audio
from tests.stores import make_store as make_store


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_store(tmp_path_factory.mktemp("train"), ("clicks", "noise", "tones"), 12)


@pytest.fixture(scope="module")
def tiny_dir(store_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("tiny")
    train(store_dir, out, TrainOptions(model="tiny", epochs=12))
    return out


def test_tiny_model_learns_separable_genres(store_dir: Path, tiny_dir: Path) -> None:
    report = evaluate(tiny_dir, store_dir)
    assert report["tracks"] >= 4  # the held-out test clips only
    assert report["skipped_seen_in_training"] == 36 - report["tracks"]
    assert report["accuracy"] > 0.9
    assert (tiny_dir / "train_log.csv").read_text().startswith("epoch,train_loss")
    assert (tiny_dir / "learning_curve.png").is_file()
    assert (tiny_dir / "evaluation" / "confusion.png").is_file()
    saved = json.loads((tiny_dir / "evaluation" / "evaluation.json").read_text())
    assert set(saved["per_genre"]) == {"clicks", "noise", "tones"}


def test_checkpoint_describes_itself_and_round_trips(store_dir: Path, tiny_dir: Path) -> None:
    checkpoint = load_checkpoint(tiny_dir)  # torch.load(weights_only=True): no pickled classes
    assert checkpoint.info.architecture == "tiny"
    assert checkpoint.info.classes == ("clicks", "noise", "tones")
    assert checkpoint.info.params == FeatureParams()
    assert set(checkpoint.split) == {"train", "val", "test"}
    train_set, test_set = set(checkpoint.split["train"]), set(checkpoint.split["test"])
    assert not train_set & test_set
    store = FeatureStore(store_dir)
    model = load_model_state(checkpoint)
    reader = ClipReader(store, checkpoint.info.window_frames)
    first = network_probabilities(model, reader, np.arange(6), torch.device("cpu"))
    again = network_probabilities(
        load_model_state(load_checkpoint(tiny_dir / "model.pt")),
        reader,
        np.arange(6),
        torch.device("cpu"),
    )
    np.testing.assert_array_equal(first, again)
    assert np.allclose(first.sum(axis=1), 1.0)


@pytest.mark.parametrize("model", ["tiny", "baseline"])
def test_onnx_export_matches_pytorch(store_dir: Path, tmp_path: Path, model: str) -> None:
    model_dir = tmp_path / model
    train(store_dir, model_dir, TrainOptions(model=model, epochs=2 if model == "tiny" else None))
    onnx_path = export_onnx(model_dir, tmp_path / f"{model}.onnx")
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    meta = json.loads(session.get_modelmeta().custom_metadata_map["genrekit"])
    assert meta["classes"] == ["clicks", "noise", "tones"]
    assert meta["feature_params"] == FeatureParams().to_dict()
    torch_model = load_model_state(load_checkpoint(model_dir))
    store = FeatureStore(store_dir)
    frames = 60 if model == "baseline" else meta["input_frames"]  # the baseline reads any length
    x = np.stack([np.asarray(store.array("logmel", i))[:, :frames] for i in (0, 13, 30)])
    got = session.run(["probabilities"], {"logmel": x})[0]
    with torch.no_grad():
        want = torch.softmax(torch_model(torch.from_numpy(x)), dim=1).numpy()
    np.testing.assert_allclose(got, want, atol=1e-4)


def test_baseline_beats_chance(store_dir: Path, tmp_path: Path) -> None:
    train(store_dir, tmp_path / "b", TrainOptions(model="baseline"))
    assert evaluate(tmp_path / "b", store_dir)["accuracy"] > 0.9


@pytest.mark.parametrize("name", ["seed-mlp", "seed-cnn"])
def test_seed_models_train_on_whole_clips(store_dir: Path, tmp_path: Path, name: str) -> None:
    checkpoint = train(store_dir, tmp_path / name, TrainOptions(model=name, epochs=1))
    assert checkpoint.info.window_frames is None and checkpoint.info.input_frames == 87
    report = evaluate(tmp_path / name, store_dir)
    # One epoch learns little; what is checked is that evaluation counts what the model answered:
    # the accuracy is the share of tracks not among the wrong ones, per genre as per track.
    tracks = report["tracks"]
    assert tracks == sum(g["tracks"] for g in report["per_genre"].values()) > 0
    right = sum(g["recall"] * g["tracks"] for g in report["per_genre"].values())
    assert report["accuracy"] == pytest.approx(right / tracks)
    if len(report["most_confused"]) < 15:  # every wrong track is listed
        assert report["accuracy"] == pytest.approx(1 - len(report["most_confused"]) / tracks)


def test_seed_architectures_have_the_seeds_shapes() -> None:
    mlp = build("seed-mlp", n_mels=128, n_mfcc=20, n_frames=1292, n_classes=5)
    hidden = [m.out_features for m in mlp.modules() if isinstance(m, torch.nn.Linear)]
    assert hidden == [600, 600, 5]
    cnn = build("seed-cnn", n_mels=128, n_mfcc=20, n_frames=1292, n_classes=5)
    convs = [m.out_channels for m in cnn.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs == [16, 32, 32]
    assert cnn(torch.zeros(2, 128, 1292)).shape == (2, 5)
    short = build("cnn", n_mels=128, n_classes=10)
    assert short(torch.zeros(3, 128, 130)).shape == (3, 10)


def test_cross_validation_gives_one_score_per_fold(store_dir: Path) -> None:
    store = FeatureStore(store_dir)
    result = cross_validate(store, TrainOptions(model="baseline"), 3)
    assert len(result.scores) == 3 and all(s > 0.8 for s in result.scores)
    assert result.probabilities.shape == (36, 3)
    assert np.allclose(result.probabilities.sum(axis=1), 1.0)  # every clip tested exactly once
    assert min(result.per_genre_recall(store.labels)) > 0.7


def test_artist_disjoint_folds() -> None:
    labels = np.array([0, 0, 0, 0, 1, 1, 1, 1, 0, 1, 0, 1])
    groups = np.array(
        [
            "artist:a",
            "artist:a",
            "artist:b",
            "artist:b",
            "artist:c",
            "artist:c",
            "artist:d",
            "artist:d",
            "artist:e",
            "artist:f",
            "artist:g",
            "artist:h",
        ]
    )
    for train_idx, test_idx in kfold(labels, groups, 2):
        assert not set(groups[train_idx]) & set(groups[test_idx])


def test_groups_fall_back_to_clip_ids(store_dir: Path) -> None:
    store = FeatureStore(store_dir)
    groups = groups_of(store)
    assert len(set(groups)) == len(store) and groups[0].startswith("clip:")


def test_clear_errors(tmp_path: Path, store_dir: Path, tiny_dir: Path) -> None:
    single = make_store(tmp_path / "single", ("tones",), 4)
    with pytest.raises(FeatureStoreError, match="only one genre"):
        train(single, tmp_path / "m", TrainOptions(model="tiny", epochs=1))
    few = make_store(tmp_path / "few", ("tones", "noise"), 2)
    few_clips = r"too few clips in noise \(2\), tones \(2\); each genre needs at least 3"
    with pytest.raises(FeatureStoreError, match=few_clips):
        train(few, tmp_path / "m", TrainOptions(model="tiny", epochs=1))
    with pytest.raises(ParameterError, match="unknown model 'resnet'"):
        train(store_dir, tmp_path / "m", TrainOptions(model="resnet"))
    with pytest.raises(ModelError, match="no such model"):
        evaluate(tmp_path / "nothing", store_dir)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "model.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ModelError, match="not a readable genrekit model"):
        load_checkpoint(tmp_path / "bad")
    other = tmp_path / "other"
    extract_dataset(
        store_dir.parent / "in",
        other,
        ExtractOptions(clip_seconds=SECONDS, params=FeatureParams(n_mels=64)),
    )
    with pytest.raises(FeatureStoreError, match="n_mels=64"):
        evaluate(tiny_dir, other)


def test_train_evaluate_export_commands(store_dir: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    model_dir = tmp_path / "model"
    result = runner.invoke(
        app, ["train", str(store_dir), "-o", str(model_dir), "--model", "baseline", "--folds", "3"]
    )
    assert result.exit_code == 0, result.output
    assert "3-fold cross-validated accuracy" in result.output
    assert json.loads((model_dir / "cross_validation.json").read_text())["folds"] == 3
    result = runner.invoke(app, ["evaluate", str(model_dir), str(store_dir)])
    assert result.exit_code == 0, result.output
    assert "accuracy" in result.output
    result = runner.invoke(app, ["export", str(model_dir), "-o", str(tmp_path / "m.onnx")])
    assert result.exit_code == 0 and (tmp_path / "m.onnx").is_file()


def test_training_is_reproducible(store_dir: Path, tmp_path: Path) -> None:
    first = train(store_dir, tmp_path / "a", TrainOptions(model="tiny", epochs=2, seed=5))
    second = train(store_dir, tmp_path / "b", TrainOptions(model="tiny", epochs=2, seed=5))
    assert first.split == second.split
    for name, tensor in first.state.items():
        torch.testing.assert_close(tensor, second.state[name], rtol=0, atol=0)


def test_holdout_of_tiny_genres_keeps_training_clips() -> None:
    from genrekit.splits import holdout

    labels = np.repeat(np.arange(4), 2)  # two clips per genre: hold out one of each
    groups = np.array([f"clip:{i}" for i in range(labels.size)])
    rest, held = holdout(labels, groups, 0.15)
    assert sorted(np.bincount(labels[rest])) == [1, 1, 1, 1]
    assert sorted(np.bincount(labels[held])) == [1, 1, 1, 1]
    single = np.arange(4)  # one clip per genre: nothing can be held out
    rest, held = holdout(single, groups[:4], 0.15)
    assert rest.size == 4 and held.size == 0


def test_learning_curve_trains_on_few_clips_per_genre(store_dir: Path) -> None:
    store = FeatureStore(store_dir)
    cv = cross_validate(store, TrainOptions(model="baseline"), 3, per_genre=2)
    assert len(cv.scores) == 3 and np.mean(cv.scores) > 0.5


def test_shift_bands_moves_each_example_and_repeats_the_edge() -> None:
    ramp = torch.arange(6, dtype=torch.float32)[None, :, None].repeat(3, 1, 2)
    out = shift_bands(ramp, np.array([0, 2, -1]))
    assert out.shape == ramp.shape
    assert out[0, :, 0].tolist() == [0, 1, 2, 3, 4, 5]
    assert out[1, :, 1].tolist() == [0, 0, 0, 1, 2, 3]  # up by two bands
    assert out[2, :, 0].tolist() == [1, 2, 3, 4, 5, 5]  # down by one


def test_short_clips_are_looped_from_a_random_point(store_dir: Path) -> None:
    store = FeatureStore(store_dir)
    noise = store.genres.index("noise")  # every frame differs, so a start can be found
    short = next(i for i, label in enumerate(store.labels) if label == noise)
    valid = store.tracks[short].n_valid
    window = valid + 7  # longer than the clip: it must be looped
    reader = ClipReader(store, window)
    clip = np.asarray(store.array("logmel", short))[:, :valid]
    starts = set()
    rng = np.random.default_rng(0)
    for _ in range(20):
        out = reader.random_windows(np.array([short]), rng)[0]
        assert out.shape == (clip.shape[0], window)
        start = next(s for s in range(valid) if np.array_equal(out[:, 0], clip[:, s]))
        np.testing.assert_array_equal(
            out, np.roll(np.tile(clip, (1, 3)), -start, axis=1)[:, :window]
        )
        starts.add(start)
    assert len(starts) > 1


def test_cnn_pooling_options() -> None:
    x = torch.randn(2, 16, 40)
    for pooling in ("max", "avgmax"):
        model = build("cnn", n_mels=16, n_classes=3, channels=(4, 8), pooling=pooling).eval()
        assert model(x).shape == (2, 3)
    with pytest.raises(ParameterError, match="pooling"):
        build("cnn", n_mels=16, n_classes=3, pooling="mean")


def test_ensemble_trains_its_networks_apart_and_exports(store_dir: Path, tmp_path: Path) -> None:
    model_dir = tmp_path / "ensemble"
    train(store_dir, model_dir, TrainOptions(model="tiny", epochs=12, members=2))
    checkpoint = load_checkpoint(model_dir)
    assert checkpoint.arguments["members"] == 2
    model = load_model_state(checkpoint)
    assert isinstance(model, Ensemble) and len(model.members) == 2
    first, second = (next(m.parameters()) for m in model.members)
    assert not torch.equal(first, second)  # other seeds, other networks
    log = (model_dir / "train_log.csv").read_text().splitlines()
    assert log[0].endswith(",member") and {line[-1] for line in log[1:]} == {"1", "2"}
    assert evaluate(model_dir, store_dir)["accuracy"] > 0.9
    onnx_path = export_onnx(model_dir, tmp_path / "ensemble.onnx")
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    frames = json.loads(session.get_modelmeta().custom_metadata_map["genrekit"])["input_frames"]
    store = FeatureStore(store_dir)
    x = np.stack([np.asarray(store.array("logmel", i))[:, :frames] for i in (0, 13, 30)])
    with torch.no_grad():
        want = torch.softmax(model(torch.from_numpy(x)), dim=1).numpy()
    np.testing.assert_allclose(session.run(["probabilities"], {"logmel": x})[0], want, atol=1e-4)


def test_ctrl_c_keeps_the_networks_trained_so_far(
    store_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(recipes.RECIPES, "tiny", replace(recipes.RECIPES["tiny"], members=3))

    def ctrl_c_at(member: int) -> Progress:
        def progress(step: Step) -> None:
            entry: training_log.EpochLog = step.item
            if entry.member == member and entry.epoch == 2:
                raise KeyboardInterrupt

        return progress

    train(store_dir, tmp_path / "two", TrainOptions(model="tiny", epochs=4), progress=ctrl_c_at(2))
    checkpoint = load_checkpoint(tmp_path / "two")
    assert checkpoint.arguments["members"] == 2
    model = load_model_state(checkpoint)
    assert isinstance(model, Ensemble) and len(model.members) == 2
    train(store_dir, tmp_path / "one", TrainOptions(model="tiny", epochs=4), progress=ctrl_c_at(1))
    checkpoint = load_checkpoint(tmp_path / "one")
    assert "members" not in checkpoint.arguments
    assert not isinstance(load_model_state(checkpoint), Ensemble)


def test_only_networks_make_ensembles() -> None:
    assert TrainOptions(model="cnn", members=3).recipe().members == 3
    for wrong in (TrainOptions(model="baseline", members=2), TrainOptions(model="cnn", members=0)):
        with pytest.raises(ParameterError, match=r"^members=\d: need 1 or more") as raised:
            wrong.recipe()
        assert "--" not in str(raised.value)  # the library names no flag of the CLI
        assert raised.value.with_flag().startswith(f"--members {wrong.members}: need 1")


class RampStore:
    """Stands in for a FeatureStore: one 300-frame clip whose every band holds its frame number."""

    def __init__(self) -> None:
        self.tracks = [SimpleNamespace(n_valid=300)]

    def __len__(self) -> int:
        return 1

    def array(self, kind: str, i: int) -> np.ndarray:
        return np.tile(np.arange(300, dtype=np.float32), (4, 1))


def test_time_stretch_reads_more_or_fewer_frames_into_the_window() -> None:
    reader = ClipReader(RampStore(), 65)  # type: ignore[arg-type]
    rng = np.random.default_rng(0)
    plain = reader.random_windows(np.zeros(5, dtype=np.int64), rng)
    assert np.all(np.diff(plain, axis=2) == 1.0)  # no stretch: one frame a frame
    stretched = reader.random_windows(np.zeros(200, dtype=np.int64), rng, stretch=0.25)
    assert stretched.shape == (200, 4, 65)
    rates = np.diff(stretched[:, 0, 1:-1], axis=1).mean(axis=1)  # the edges are clamped
    assert rates.min() >= 1 / 1.25 - 0.02 and rates.max() <= 1.25 + 0.02
    assert rates.min() < 0.85 and rates.max() > 1.15  # both faster and slower


def with_embeddings(store_dir: Path, root: Path, backbone: str = "fake") -> Path:
    """A copy of the store whose every clip has a ``backbone`` embedding: its genre, one-hot,
    beside noise."""
    copy = root / "store"
    shutil.copytree(store_dir, copy)
    store = FeatureStore(copy)
    rng = np.random.default_rng(0)
    for i, track in enumerate(store.tracks):
        vector = rng.standard_normal(8).astype(np.float32)
        vector[store.labels[i]] += 4.0
        save_npy_atomic(feature_path(copy, embedding_kind(backbone), track.sha256), vector)
    return copy


def test_teacher_genres_come_from_a_head_fitted_on_the_training_clips(
    store_dir: Path, tmp_path: Path
) -> None:
    store = FeatureStore(with_embeddings(store_dir, tmp_path))
    train_idx = np.arange(0, 36, 2)
    targets = networks.teacher_genres(store, "fake", store.labels, train_idx, seed=0)
    assert targets.shape == (36, 3)
    np.testing.assert_allclose(targets[train_idx].sum(axis=1), 1.0, rtol=1e-5)
    assert np.all(targets[train_idx].argmax(axis=1) == store.labels[train_idx])
    assert targets[train_idx].max() < 0.99  # softened: the other genres keep some weight
    assert not targets[1::2].any()


def test_a_teacher_shapes_training_and_leaves_no_trace_in_the_model(
    store_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    taught = with_embeddings(store_dir, tmp_path)
    plain = train(taught, tmp_path / "plain", TrainOptions(model="tiny", epochs=12))
    recipe = replace(recipes.RECIPES["tiny"], teacher="fake", teacher_weight=3.0)
    monkeypatch.setitem(recipes.RECIPES, "tiny", recipe)
    checkpoint = train(taught, tmp_path / "taught", TrainOptions(model="tiny", epochs=12))
    assert checkpoint.teacher == "fake" and plain.teacher is None
    assert checkpoint.state.keys() == plain.state.keys()
    changed = [
        name
        for name, value in checkpoint.state.items()
        if value.is_floating_point() and not torch.equal(value, plain.state[name])
    ]
    assert "features.0.0.weight" in changed  # the teacher's loss reached the convolutions
    assert evaluate(tmp_path / "taught", taught)["accuracy"] > 0.9
    export_onnx(tmp_path / "taught", tmp_path / "taught.onnx")
    fallback = train(store_dir, tmp_path / "no-embeddings", TrainOptions(model="tiny", epochs=1))
    assert fallback.teacher is None  # no dead end: trained untaught, and said so
    (note,) = fallback.training["notes"]
    assert "36 of 36 clips" in note and "without its fake teacher" in note
    assert "genrekit embed" in note and "--audio" in note
    untaught = train(
        store_dir, tmp_path / "untaught", TrainOptions(model="tiny", epochs=12, teacher=False)
    )
    assert untaught.teacher is None
    for name, value in untaught.state.items():  # as if the recipe had no teacher
        assert torch.equal(value, plain.state[name])


# --- splits that stay sane, and a train command that says what it did ------------------------


def test_one_small_genre_does_not_make_every_genre_hold_out_half() -> None:
    from genrekit.splits import holdout

    labels = np.repeat(np.arange(3), [52, 52, 4])  # the store: 54/27/27 before
    groups = np.array([f"clip:{i}" for i in range(labels.size)])
    rest, test = holdout(labels, groups, 0.15)
    assert np.bincount(labels[test]).tolist() == [8, 8, 1]  # 15 % of each, at least one
    fit, val = holdout(labels[rest], groups[rest], 0.15)
    assert np.bincount(labels[rest][val]).tolist() == [7, 7, 1]
    assert np.bincount(labels[rest][fit]).tolist() == [37, 37, 2]
    assert not set(rest) & set(test) and len(rest) + len(test) == labels.size


def test_a_small_genre_split_keeps_artists_on_one_side() -> None:
    from genrekit.splits import per_genre_holdout

    labels = np.repeat(np.arange(2), [30, 4])
    groups = np.array([f"artist:{i // 3}" for i in range(30)] + ["artist:x"] * 2 + ["artist:y"] * 2)
    for seed in range(5):
        rest, held = per_genre_holdout(labels, groups, 0.15, seed)
        assert not set(groups[rest]) & set(groups[held])
        assert 0 < np.bincount(labels[held], minlength=2)[0] <= 6
        assert np.bincount(labels[held], minlength=2)[1] == 2  # a whole artist, never all four
        assert np.bincount(labels[rest], minlength=2).min() >= 2


def genrekit(*args: str) -> subprocess.CompletedProcess[str]:
    """The installed command, as a user runs it: exit codes and one-line errors included."""
    return subprocess.run(
        [sys.executable, "-m", "genrekit", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
        env={**os.environ, "COLUMNS": "200"},
    )


@pytest.fixture(scope="module")
def uneven_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("uneven")
    return make_store(root, ("clicks", "noise", "tones"), 14, sizes={"tones": 4})


def test_train_says_what_it_held_out_how_it_stopped_and_its_test_accuracy(
    uneven_dir: Path, tmp_path: Path
) -> None:
    result = genrekit("train", str(uneven_dir), "-o", str(tmp_path / "m"), "--model", "tiny")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "held out for testing: 5 of 32 clips, about 15 % of each genre" in out
    assert "disjoint by clip (the store records no artists)" in out
    assert "genre 'tones' has only 4 clips: 1 tested, 1 validated, 2 trained on" in out
    assert re.search(
        r"(ran all 15 epochs|early stopping after epoch \d+: no better validation "
        r"accuracy for 15 epochs); kept epoch \d+, the best on validation",
        out,
    )
    assert re.search(r"test accuracy: \d+\.\d % on the 5 held-out clips", out)
    checkpoint = load_checkpoint(tmp_path / "m")
    assert checkpoint.training["test_clips"] == 5
    assert len(checkpoint.split["test"]) == 5 and len(checkpoint.split["train"]) == 22


def test_ctrl_c_keeps_the_best_epoch_says_so_and_exits_130(
    store_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []
    real = networks.network_probabilities

    def interrupted_in_epoch_three(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:  # the third epoch's validation
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(networks, "network_probabilities", interrupted_in_epoch_three)
    args = ["train", str(store_dir), "-o", str(tmp_path / "m"), "--model", "tiny", "--epochs", "9"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 130
    assert "interrupted (Ctrl-C) after 2 of 9 epochs; kept epoch" in result.output
    assert "test accuracy" in result.output  # the kept network is tested and saved
    assert load_checkpoint(tmp_path / "m").training["ran"] == [2]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "baseline", "--folds", "1"], "--folds 1: cross-validation needs 2 folds"),
        (["--model", "baseline", "--folds", "-3"], "--folds -3: cross-validation needs 2 folds"),
        (["--model", "tiny", "--folds", "13"], "--folds 13: genre 'clicks' has only 12 clips"),
        (["--model", "tiny", "--epochs", "0"], "--epochs 0: need 1 or more"),
        (["--model", "cnn", "--epochs", "-2"], "--epochs -2: need 1 or more"),
        (["--model", "baseline", "--epochs", "5"], "baseline is fitted in closed form"),
        (["--model", "resnet"], "unknown model 'resnet'; choose one of: baseline,"),
    ],
)
def test_impossible_options_fail_before_any_training(
    store_dir: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    result = genrekit("train", str(store_dir), "-o", str(tmp_path / "m"), *args)
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: ") and message in line
    assert "tiny" not in line
    assert not (tmp_path / "m").exists()


def test_a_file_as_model_folder_is_refused_before_training(store_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "m").write_text("my notes")
    result = genrekit("train", str(store_dir), "-o", str(tmp_path / "m"), "--model", "baseline")
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line == f"error: -o {tmp_path / 'm'}: a file, not a folder; give a folder for the model"
    with pytest.raises(ParameterError, match="a file, not a folder"):
        train(store_dir, tmp_path / "m", TrainOptions(model="baseline"))
    assert (tmp_path / "m").read_text() == "my notes"


def test_test_only_models_are_not_offered() -> None:
    runner = CliRunner()
    for args in (["train", "--help"], ["models"]):
        result = runner.invoke(app, args, env={"COLUMNS": "200"})
        assert result.exit_code == 0
        assert "tiny" not in result.output
    assert "cnn" in runner.invoke(app, ["models"]).output
    with pytest.raises(ParameterError) as excinfo:
        build("resnet")
    assert "tiny" not in str(excinfo.value) and "baseline" in str(excinfo.value)


def test_cnn_right_after_extract_trains_taught_with_audio_or_untaught_with_a_note(
    store_dir: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "store"
    shutil.copytree(store_dir, copy)
    runner = CliRunner()
    args = ["train", str(copy), "--model", "cnn", "--epochs", "1"]
    result = runner.invoke(app, [*args, "-o", str(tmp_path / "untaught")])
    assert result.exit_code == 0, result.output
    assert (
        "note: 36 of 36 clips" in result.output
        and "without its msd-musicnn teacher" in result.output
    )
    assert "--audio IN_DIR" in result.output
    assert load_checkpoint(tmp_path / "untaught").teacher is None
    audio = store_dir.parent / "in"
    result = runner.invoke(app, [*args, "-o", str(tmp_path / "taught"), "--audio", str(audio)])
    assert result.exit_code == 0, result.output
    assert "36 clips embedded" in result.output and "note:" not in result.output
    assert load_checkpoint(tmp_path / "taught").teacher == "msd-musicnn"
    assert FeatureStore(copy).has_embeddings("msd-musicnn")


def test_training_leaves_torchs_global_generator_as_it_was(store_dir: Path, tmp_path: Path) -> None:
    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    train(store_dir, tmp_path / "m", TrainOptions(model="tiny", epochs=1))
    assert torch.equal(torch.rand(3), expected)  # the caller's stream, not one reseeded by us


def test_cross_validation_says_its_own_mean_and_spread() -> None:
    cv = training.CrossValidation([0.8, 0.9, 0.7], np.zeros((0, 2)), [])
    assert cv.mean == pytest.approx(0.8)
    assert cv.std == pytest.approx(np.std([0.8, 0.9, 0.7]))
    assert cv.text() == "80.0 +- 8.2 %"
    assert cv.summary() == {"folds": 3, "accuracy": [0.8, 0.9, 0.7], "mean": cv.mean, "std": cv.std}
