"""A model's description (:class:`ModelInfo`): the dict it is stored as, and back.

Its bad inputs (damaged or foreign metadata) are in ``tests/test_failures_models.py``."""

from __future__ import annotations

import json
from dataclasses import replace
from importlib import resources

import pytest

from genrekit.backbones import EMBEDDING_SIZE
from genrekit.features import FeatureParams
from genrekit.model_info import ModelInfo
from genrekit.onnx_session import open_session
from genrekit.predict import available_models

PACKAGE = resources.files("genrekit.pretrained")


@pytest.mark.parametrize("name", available_models())
def test_a_shipped_graphs_metadata_is_written_again_as_it_was(name: str) -> None:
    with resources.as_file(PACKAGE / f"{name}.onnx") as path:
        _, meta = open_session(path)
    info = ModelInfo.from_onnx_metadata(meta, name)
    # Keys a ModelInfo does not hold (the vocabulary model's tag_genres) are the caller's.
    ours = {key: value for key, value in meta.items() if key != "tag_genres"}
    assert json.dumps(info.onnx_metadata()) == json.dumps(ours)
    assert ModelInfo.from_dict(info.to_dict(), name) == info


def test_a_backbone_model_reads_its_embedding_unless_told() -> None:
    info = ModelInfo(
        "head", ("a", "b"), FeatureParams(), 30.0, None, None, "silence", "msd-musicnn"
    )
    assert info.reads == ("msd-musicnn:embedding",) and info.input_size == EMBEDDING_SIZE
    assert "reads" not in info.to_dict()  # the default is not written, as before
    both = replace(info, reads=("msd-musicnn:embedding", "msd-musicnn:tags"))
    assert both.to_dict()["reads"] == ["msd-musicnn:embedding", "msd-musicnn:tags"]
    assert both.input_size == EMBEDDING_SIZE + 50
    assert ModelInfo.from_dict(both.to_dict(), "m") == both
    plain = ModelInfo("cnn", ("a", "b"), FeatureParams(), 30.0, 130, 130, "loop", None)
    assert plain.reads == () and plain.frames == 130
    assert ModelInfo.from_dict(plain.to_dict(), "m") == plain
