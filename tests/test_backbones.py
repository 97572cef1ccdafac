"""The musicnn backbone: its input chain, and the shipped port against TensorFlow's outputs."""

from __future__ import annotations

import numpy as np
import pytest

from genrekit import backbones
from genrekit.audio import load
from genrekit.backbones import (
    BACKBONE_N_MELS,
    BACKBONE_TAGS,
    BACKBONES,
    EMBEDDING_SIZE,
    MSD_TAGS,
    MTT_TAGS,
    PATCH_FRAMES,
    load_backbone,
    musicnn_input,
    musicnn_patches,
)
from genrekit.errors import ModelError, ParameterError
from tests.musicnn_reference import EXAMPLE, _reference


@pytest.mark.parametrize("name", BACKBONES)
def test_port_equals_tensorflow_on_the_same_patches(name: str) -> None:
    reference = _reference(name)
    out = load_backbone(name, precision="float32").run(reference["patches"])
    for key in ("taggram", "penultimate"):
        assert np.abs(getattr(out, key) - reference[key]).max() < 1e-4, key
    for key in ("mean_pool", "max_pool"):  # values up to ~100: float32's relative precision
        np.testing.assert_allclose(getattr(out, key), reference[key], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", BACKBONES)
def test_port_equals_tensorflow_from_the_audio(name: str) -> None:
    reference = _reference(name)
    y, _ = load(EXAMPLE, sr=16000)
    patches = musicnn_patches(musicnn_input(y))
    n = reference["patches"].shape[0]
    # genrekit's chain rounds like musicnn's: only float16 ties may differ, by one step.
    assert np.abs(patches[:n] - reference["patches"]).max() < 1e-3
    out = load_backbone(name, precision="float32").run(patches[:n])
    assert np.abs(out.taggram - reference["taggram"]).max() < 1e-4
    assert np.abs(out.penultimate - reference["penultimate"]).max() < 1e-4


def test_the_two_taggers_are_different_models() -> None:
    """The MTT graph is not the MSD one relabelled: TensorFlow's outputs differ, and so do ours."""
    msd, mtt = _reference("msd-musicnn"), _reference("mtt-musicnn")
    assert np.array_equal(msd["patches"], mtt["patches"])
    assert np.abs(msd["taggram"] - mtt["taggram"]).max() > 0.1
    a = load_backbone("msd-musicnn", precision="float32").run(mtt["patches"])
    assert np.abs(a.taggram - mtt["taggram"]).max() > 0.1


@pytest.mark.parametrize("name", BACKBONES)
def test_each_backbone_has_its_own_50_tags(name: str) -> None:
    for precision in ("float32", "int8"):
        backbone = load_backbone(name, precision=precision)
        assert backbone.tags == BACKBONE_TAGS[name] == backbone.meta["tags"]
        assert len(backbone.tags) == len(set(backbone.tags)) == 50
        assert backbone.run(_reference(name)["patches"][:1]).taggram.shape == (1, 50)
    assert BACKBONE_TAGS["mtt-musicnn"] is MTT_TAGS and BACKBONE_TAGS["msd-musicnn"] is MSD_TAGS
    assert MTT_TAGS[:4] == ["guitar", "classical", "slow", "techno"] and MTT_TAGS[-1] == "choral"
    assert {"opera", "choir", "new age", "indian", "metal"} <= set(MTT_TAGS)


def test_a_backbone_file_with_foreign_tags_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backbones, "_CACHE", {})
    monkeypatch.setitem(backbones.BACKBONE_TAGS, "mtt-musicnn", MSD_TAGS)
    with pytest.raises(ModelError, match=r"mtt-musicnn.*tags are not mtt-musicnn's"):
        load_backbone("mtt-musicnn", precision="float32")


@pytest.mark.parametrize("name", BACKBONES)
def test_int8_graph_agrees_with_float32(name: str) -> None:
    reference = _reference(name)
    fast, exact = load_backbone(name, precision="int8"), load_backbone(name, precision="float32")
    assert fast.path.name == f"{name}-int8.onnx" and fast.meta["precision"] == "int8"
    a, b = exact.run(reference["patches"]), fast.run(reference["patches"])
    ea, eb = a.patch_embeddings(), b.patch_embeddings()
    cosine = (ea * eb).sum(axis=1) / np.linalg.norm(ea, axis=1) / np.linalg.norm(eb, axis=1)
    assert cosine.min() > 0.998
    assert np.abs(a.taggram - b.taggram).max() < 0.05
    assert np.array_equal(a.taggram.argmax(axis=1), b.taggram.argmax(axis=1))
    assert fast.meta["tags"] == exact.meta["tags"] and fast.meta["input"] == exact.meta["input"]


def test_unknown_precision(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ParameterError, match="precision"):
        load_backbone(precision="float16")
    monkeypatch.setenv(backbones.PRECISION_ENV, "int4")
    with pytest.raises(ParameterError, match=r"int4.*GENREKIT_BACKBONE_PRECISION"):
        load_backbone()


def test_int8_only_where_the_cpu_does_not_saturate(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(backbones.PRECISION_ENV, raising=False)
    monkeypatch.setattr("platform.machine", lambda: "x86_64")
    monkeypatch.setattr(backbones, "_cpu_flags", lambda: {"avx2", "fma", "avx512f"})
    assert backbones.default_precision() == "float32"
    assert load_backbone().path.name == "msd-musicnn.onnx"
    monkeypatch.setattr(backbones, "_cpu_flags", lambda: {"avx2", "avx512_vnni"})
    assert backbones.default_precision() == "int8"
    assert load_backbone().path.name == "msd-musicnn-int8.onnx"
    monkeypatch.setattr("platform.machine", lambda: "aarch64")
    monkeypatch.setattr(backbones, "_cpu_flags", set)
    assert backbones.default_precision() == "int8"
    monkeypatch.setenv(backbones.PRECISION_ENV, "float32")
    assert backbones.default_precision() == "float32"


def test_metal_example_is_tagged_metal() -> None:
    y, _ = load(EXAMPLE, sr=16000)
    tags = load_backbone().outputs_of(y).tags()
    top = [MSD_TAGS[i] for i in np.argsort(tags)[::-1][:5]]
    assert {"metal", "heavy metal", "hard rock"} & set(top), top
    mtt = load_backbone("mtt-musicnn").outputs_of(y).tags()
    top = [MTT_TAGS[i] for i in np.argsort(mtt)[::-1][:5]]
    assert {"metal", "rock"} <= set(top) and not {"classical", "quiet", "soft"} & set(top), top


def test_patches_drop_the_tail_and_loop_short_clips() -> None:
    rep = np.arange(2 * PATCH_FRAMES + 10, dtype=np.float32)[:, None] * np.ones(
        (1, BACKBONE_N_MELS)
    )
    patches = musicnn_patches(rep)
    assert patches.shape == (2, PATCH_FRAMES, BACKBONE_N_MELS)
    assert patches[1, 0, 0] == PATCH_FRAMES
    short = musicnn_patches(rep[:50])
    assert short.shape == (1, PATCH_FRAMES, BACKBONE_N_MELS)
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
