"""Training (genrekit.training): train, cross-validate and their options, on generated genres."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from genrekit import training
from genrekit.dataset import FeatureStore
from genrekit.errors import ParameterError
from genrekit.evaluation import evaluate
from genrekit.training import TrainOptions, cross_validate, train


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


def test_baseline_beats_chance(store_dir: Path, tmp_path: Path) -> None:
    train(store_dir, tmp_path / "b", TrainOptions(model="baseline"))
    assert evaluate(tmp_path / "b", store_dir)["accuracy"] > 0.9


def test_cross_validation_gives_one_score_per_fold(store_dir: Path) -> None:
    store = FeatureStore(store_dir)
    result = cross_validate(store, TrainOptions(model="baseline"), 3)
    assert len(result.scores) == 3 and all(s > 0.8 for s in result.scores)
    assert result.probabilities.shape == (36, 3)
    assert np.allclose(result.probabilities.sum(axis=1), 1.0)  # every clip tested exactly once
    assert min(result.per_genre_recall(store.labels)) > 0.7


def test_training_is_reproducible(store_dir: Path, tmp_path: Path) -> None:
    first = train(store_dir, tmp_path / "a", TrainOptions(model="tiny", epochs=2, seed=5))
    second = train(store_dir, tmp_path / "b", TrainOptions(model="tiny", epochs=2, seed=5))
    assert first.split == second.split
    for name, tensor in first.state.items():
        torch.testing.assert_close(tensor, second.state[name], rtol=0, atol=0)


def test_learning_curve_trains_on_few_clips_per_genre(store_dir: Path) -> None:
    store = FeatureStore(store_dir)
    cv = cross_validate(store, TrainOptions(model="baseline"), 3, per_genre=2)
    assert len(cv.scores) == 3 and np.mean(cv.scores) > 0.5


def test_only_networks_make_ensembles() -> None:
    assert TrainOptions(model="cnn", members=3).recipe().members == 3
    for wrong in (TrainOptions(model="baseline", members=2), TrainOptions(model="cnn", members=0)):
        with pytest.raises(ParameterError, match=r"^members=\d: need 1 or more") as raised:
            wrong.recipe()
        assert "--" not in str(raised.value)  # the library names no flag of the CLI
        assert raised.value.with_flag().startswith(f"--members {wrong.members}: need 1")


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
