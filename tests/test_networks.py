"""Training networks (genrekit.networks): augmentation, ensembles, Ctrl-C, a teacher."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch

from genrekit import networks, recipes, training_log
from genrekit.checkpoint import export_onnx, load_checkpoint, load_model_state
from genrekit.dataset import FeatureStore, embedding_kind, feature_path
from genrekit.evaluation import evaluate
from genrekit.models import Ensemble
from genrekit.networks import shift_bands
from genrekit.progress import Progress, Step
from genrekit.storage import save_npy_atomic
from genrekit.training import TrainOptions, train


def test_shift_bands_moves_each_example_and_repeats_the_edge() -> None:
    ramp = torch.arange(6, dtype=torch.float32)[None, :, None].repeat(3, 1, 2)
    out = shift_bands(ramp, np.array([0, 2, -1]))
    assert out.shape == ramp.shape
    assert out[0, :, 0].tolist() == [0, 1, 2, 3, 4, 5]
    assert out[1, :, 1].tolist() == [0, 0, 0, 1, 2, 3]  # up by two bands
    assert out[2, :, 0].tolist() == [1, 2, 3, 4, 5, 5]  # down by one


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
    (note,) = fallback.training.notes
    assert "36 of 36 clips" in note and "without its fake teacher" in note
    assert "genrekit embed" in note and "--audio" in note
    untaught = train(
        store_dir, tmp_path / "untaught", TrainOptions(model="tiny", epochs=12, teacher=False)
    )
    assert untaught.teacher is None
    for name, value in untaught.state.items():  # as if the recipe had no teacher
        assert torch.equal(value, plain.state[name])
