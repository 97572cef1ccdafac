"""Checkpoints on disk: those written before the typed :class:`Checkpoint` still load, are
written again byte for byte, and export the same ONNX metadata.

The files in ``tests/data/checkpoints`` were written by genrekit 296e5bc (checkpoints as plain
dicts), trained on a generated store of three genres (``tests.stores.make_store(..., 6,
seed=3)``; the backbone head on fake 16-number embeddings): a baseline and a backbone head
(``model.npz``) and a ``tiny`` network of 2 epochs (``model.pt``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from genrekit.checkpoint import (
    Checkpoint,
    export_onnx,
    load_checkpoint,
    load_model_state,
    onnx_metadata,
    save_checkpoint,
)
from genrekit.clip_reader import ClipReader
from genrekit.dataset import FeatureStore
from genrekit.errors import ModelError
from genrekit.features import FeatureParams
from genrekit.training import TrainOptions, train
from tests.conftest import HAVE_TORCH

if HAVE_TORCH:  # a base install has none: the tests that use it are marked needs_torch
    import torch

    from genrekit.networks import network_probabilities

DATA = Path(__file__).parent / "data" / "checkpoints"
PARAMS = (
    '"feature_params": {"sr": 22050, "n_fft": 2048, "hop_length": 512, "n_mels": 128, '
    '"n_mfcc": 20, "fmin": 0.0, "fmax": null, "top_db": 80.0}'
)
HEAD = '{"format": "genrekit-onnx", "version": 1, "architecture": '
CLASSES = '"classes": ["clicks", "noise", "tones"]'
# The metadata genrekit 296e5bc exported for each (its graphs' "genrekit" entry, verbatim).
OLD_METADATA = {
    "baseline.npz": f'{HEAD}"baseline", {CLASSES}, {PARAMS}, "clip_seconds": 2.0, '
    '"window_frames": null, "input_frames": null, "short_fill": "silence", "backbone": null}',
    "backbone-msd-musicnn.npz": f'{HEAD}"backbone-msd-musicnn", {CLASSES}, {PARAMS}, '
    '"clip_seconds": 2.0, "window_frames": null, "input_frames": null, "short_fill": "silence", '
    '"backbone": "msd-musicnn"}',
    "tiny.pt": f'{HEAD}"tiny", {CLASSES}, {PARAMS}, "clip_seconds": 2.0, "window_frames": 130, '
    '"input_frames": 130, "short_fill": "loop", "backbone": null}',
}
FILES = [
    pytest.param("baseline.npz", id="baseline"),
    pytest.param("backbone-msd-musicnn.npz", id="backbone head"),
    pytest.param("tiny.pt", id="network", marks=pytest.mark.needs_torch),
]


@pytest.mark.parametrize("name", FILES)
def test_an_older_checkpoint_loads_and_is_saved_again_byte_for_byte(
    name: str, tmp_path: Path
) -> None:
    old = DATA / name
    checkpoint = load_checkpoint(old)
    info = checkpoint.info
    assert info.architecture == old.stem and info.classes == ("clicks", "noise", "tones")
    assert info.params == FeatureParams() and info.clip_seconds == 2.0
    assert checkpoint.options["model"] == old.stem and checkpoint.options["seed"] == 0
    assert set(checkpoint.split) == {"train", "val", "test"} and checkpoint.teacher is None
    assert checkpoint.training.test_clips == len(checkpoint.split["test"]) == 3
    assert json.dumps(onnx_metadata(checkpoint)) == OLD_METADATA[name]
    saved = save_checkpoint(checkpoint, tmp_path / "again")
    assert saved.suffix == old.suffix
    if saved.suffix == ".npz":
        assert saved.read_bytes() == old.read_bytes()
    else:  # the same pickle, but for which equal strings it shares (the file of a newly
        # trained network is the same byte for byte)
        import torch

        before, after = (torch.load(p, weights_only=True) for p in (old, saved))
        assert list(after) == list(before)
        assert {k: v for k, v in after.items() if k != "state_dict"} == {
            k: v for k, v in before.items() if k != "state_dict"
        }
        assert list(after["state_dict"]) == list(before["state_dict"])
        for name, tensor in before["state_dict"].items():
            assert torch.equal(after["state_dict"][name], tensor)


def test_a_checkpoint_is_its_dict_as_saved() -> None:
    checkpoint = load_checkpoint(DATA / "baseline.npz")
    data = checkpoint.to_dict()
    assert list(data)[:4] == ["format", "version", "architecture", "arguments"]
    assert list(data)[-2:] == ["state_dict", "split"]  # as train() wrote them
    assert data["input_frames"] == 87 and data["arguments"] == checkpoint.arguments
    again = Checkpoint.from_dict(data, DATA / "baseline.npz")
    assert again.info == checkpoint.info and again.split == checkpoint.split
    for name, array in checkpoint.state.items():
        np.testing.assert_array_equal(again.state[name], array)
    # Checked when read: the description, and the state against it.
    del data["state_dict"]["linear.bias"]
    with pytest.raises(ModelError, match=r"baseline\.npz: damaged model: linear\.bias"):
        Checkpoint.from_dict(data, DATA / "baseline.npz")


@pytest.mark.needs_torch
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


@pytest.mark.needs_torch
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
