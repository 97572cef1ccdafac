"""Evaluating a trained model on a store (genrekit.evaluation)."""

from __future__ import annotations

from pathlib import Path

import pytest

from genrekit.evaluation import evaluate
from genrekit.training import TrainOptions, train


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
