"""The musicnn backbone: its input chain, and the shipped port against TensorFlow's outputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from genrekit.audio import load
from genrekit.embedding import (
    EMBEDDING_SIZE,
    MSD_TAGS,
    N_MELS,
    PATCH_FRAMES,
    load_backbone,
    musicnn_input,
    musicnn_patches,
)
from genrekit.errors import ModelError, ParameterError

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "metal" / "Muldjord - Armygeddon.mp3"
REFERENCE = Path(__file__).parent / "data" / "musicnn_reference.npz"


@pytest.fixture(scope="module")
def reference() -> dict[str, np.ndarray]:
    with np.load(REFERENCE) as data:
        return {name: data[name] for name in data.files}


def test_port_equals_tensorflow_on_the_same_patches(reference) -> None:
    out = load_backbone().run(reference["patches"])
    for name in ("taggram", "penultimate"):
        assert np.abs(getattr(out, name) - reference[name]).max() < 1e-4, name
    for name in ("mean_pool", "max_pool"):  # values up to ~100: float32's relative precision
        np.testing.assert_allclose(getattr(out, name), reference[name], rtol=1e-4, atol=1e-4)


def test_port_equals_tensorflow_from_the_audio(reference) -> None:
    y, _ = load(EXAMPLE, sr=16000)
    patches = musicnn_patches(musicnn_input(y))
    n = reference["patches"].shape[0]
    # genrekit's chain rounds like musicnn's: only float16 ties may differ, by one step.
    assert np.abs(patches[:n] - reference["patches"]).max() < 1e-3
    out = load_backbone().run(patches[:n])
    assert np.abs(out.taggram - reference["taggram"]).max() < 1e-4
    assert np.abs(out.penultimate - reference["penultimate"]).max() < 1e-4


def test_pytorch_port_loads_the_onnx_weights_and_agrees(reference) -> None:
    torch = pytest.importorskip("torch")
    from genrekit.musicnn import MusiCNN, state_from_onnx

    model = MusiCNN()
    model.load_state_dict(state_from_onnx(load_backbone().path))
    model.eval()
    with torch.no_grad():
        out = model.outputs(torch.from_numpy(reference["patches"]))
    assert np.abs(out["taggram"].numpy() - reference["taggram"]).max() < 1e-4
    assert np.abs(out["penultimate"].numpy() - reference["penultimate"]).max() < 1e-4


def test_metal_example_is_tagged_metal() -> None:
    y, _ = load(EXAMPLE, sr=16000)
    tags = load_backbone().outputs_of(y).tags()
    top = [MSD_TAGS[i] for i in np.argsort(tags)[::-1][:5]]
    assert {"metal", "heavy metal", "hard rock"} & set(top), top


def test_patches_drop_the_tail_and_loop_short_clips() -> None:
    rep = np.arange(2 * PATCH_FRAMES + 10, dtype=np.float32)[:, None] * np.ones((1, N_MELS))
    patches = musicnn_patches(rep)
    assert patches.shape == (2, PATCH_FRAMES, N_MELS)
    assert patches[1, 0, 0] == PATCH_FRAMES
    short = musicnn_patches(rep[:50])
    assert short.shape == (1, PATCH_FRAMES, N_MELS)
    assert np.array_equal(short[0, 50:100], short[0, :50])
    with pytest.raises(ParameterError):
        musicnn_patches(np.zeros((10, 20)))


def test_embedding_of_a_short_clip() -> None:
    rng = np.random.default_rng(0)
    y = (0.1 * rng.standard_normal(16000)).astype(np.float32)  # 1 s of noise
    out = load_backbone().outputs_of(y)
    assert out.taggram.shape == (1, len(MSD_TAGS))
    embedding = out.embedding()
    assert embedding.shape == (EMBEDDING_SIZE,) and np.isfinite(embedding).all()


def test_unknown_backbone() -> None:
    with pytest.raises(ModelError, match="unknown backbone"):
        load_backbone("nope")
