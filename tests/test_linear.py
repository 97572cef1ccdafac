"""Closed-form models (genrekit.linear): a head on backbone embeddings, trained, exported, used."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from genrekit.checkpoint import export_onnx, load_checkpoint
from genrekit.dataset import FeatureStore
from genrekit.errors import ParameterError
from genrekit.evaluation import evaluate
from genrekit.linear import head_probabilities
from genrekit.predict import classify, load_model
from genrekit.training import TrainOptions, train


def test_backbone_model_trains_evaluates_exports_and_classifies(
    embedded_store: Path, tmp_path: Path
) -> None:
    model_dir = tmp_path / "model"
    train(embedded_store, model_dir, TrainOptions(model="backbone-msd-musicnn"))
    report = evaluate(model_dir, embedded_store)
    assert report["accuracy"] > 0.9
    onnx_path = export_onnx(model_dir, model_dir / "model.onnx")
    model = load_model(onnx_path)
    assert model.backbone is not None and model.backbone.name == "msd-musicnn"
    audio = next((embedded_store.parent / "in" / "tones").glob("*.wav"))
    # Its genres are generated tones, clicks and noise: sounds the music check refuses.
    prediction = classify(audio, model=model, segments=True, check_music=False)
    assert prediction.genre == "tones"
    assert prediction.tags and len(prediction.segments) == 1
    # The head on a clip's embedding: the same answer from its arrays and from ONNX.
    checkpoint = load_checkpoint(model_dir)
    x = np.stack([FeatureStore(embedded_store).embedding(i, "msd-musicnn") for i in range(3)])
    expected = head_probabilities(checkpoint.state, x)
    assert np.abs(model.probabilities(x) - expected).max() < 1e-5


def test_backbone_model_without_embeddings_says_what_to_run(tmp_path: Path) -> None:
    from tests.stores import make_store

    store = make_store(tmp_path, ("clicks", "tones"), 8)
    with pytest.raises(ParameterError, match="genrekit embed"):
        train(store, tmp_path / "m", TrainOptions(model="backbone-msd-musicnn"))
