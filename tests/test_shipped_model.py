"""The model shipped in the package: its card, its metadata and the code's features agree."""

from __future__ import annotations

import json
from importlib import resources

import pytest

from genrekit.features import FeatureParams
from genrekit.predict import DEFAULT_MODEL, available_models, classify, load_model
from tests.conftest import EXAMPLES

PACKAGE = resources.files("genrekit.pretrained")


def test_default_model_ships_small() -> None:
    assert DEFAULT_MODEL in available_models()
    assert len((PACKAGE / f"{DEFAULT_MODEL}.onnx").read_bytes()) <= 10 * 2**20


@pytest.mark.parametrize("name", available_models())
def test_card_metadata_and_code_agree(name: str) -> None:
    card = json.loads((PACKAGE / f"{name}.json").read_text())
    text = (PACKAGE / f"{name}.md").read_text()
    model = load_model(name)
    assert model.classes == card["classes"]
    assert model.params == FeatureParams() == FeatureParams.from_dict(card["feature_params"])
    assert model.meta["feature_params"] == FeatureParams().to_dict()
    assert model.window == card["window_frames"]
    assert model.clip_seconds == card["clip_seconds"]
    assert model.meta.get("backbone") == card.get("backbone")
    mean = 100 * sum(card["cv_accuracy"]) / len(card["cv_accuracy"])
    assert f"{mean:.1f} %" in text
    for genre in card["classes"]:
        assert f"| {genre} |" in text
    assert ("uses by default" in text) == (name == DEFAULT_MODEL)


@pytest.mark.parametrize("name", ["msd-musicnn", "mtt-musicnn"])
def test_backbone_metadata_matches_the_input_chain(name: str) -> None:
    from genrekit import backbones

    backbone = backbones.load_backbone(name)
    chain = backbone.meta["input"]
    assert (chain["sr"], chain["n_fft"], chain["hop_length"], chain["n_mels"]) == (
        backbones.BACKBONE_SAMPLE_RATE,
        backbones.BACKBONE_N_FFT,
        backbones.BACKBONE_HOP_LENGTH,
        backbones.BACKBONE_N_MELS,
    )
    assert chain["patch_frames"] == backbones.PATCH_FRAMES
    assert backbone.tags == backbones.BACKBONE_TAGS[name]
    card = (PACKAGE / f"{name}.md").read_text()
    assert "ISC" in card and f"# Backbone: {name}" in card
    assert ", ".join(backbone.tags) in " ".join(card.split())  # every tag, in output order
    parity = backbones.load_backbone(name, precision="float32").meta["parity"]
    for measured in parity.values():  # the card quotes the conversion's own numbers
        assert f"{measured:.1e}" in card, measured


def test_backbones_ship_but_are_not_classifiers() -> None:
    from genrekit.backbones import BACKBONES, PRECISIONS, backbone_file

    for name in BACKBONES:
        for precision in PRECISIONS:
            assert (PACKAGE / backbone_file(name, precision)).is_file()
        assert name not in available_models()
    assert not {m for m in available_models() if "musicnn-int8" in m or m.startswith("mtt")}


def test_classifies_an_example_song() -> None:
    prediction = classify(EXAMPLES / "metal" / "Muldjord - Armygeddon.mp3")
    assert prediction.genre in load_model().classes
    assert abs(sum(prediction.probabilities.values()) - 1) < 1e-4


def test_classifying_never_imports_pytorch() -> None:
    import subprocess
    import sys

    song = str(EXAMPLES / "rock" / "Sectoid - Escape from chaosland.ogg")
    code = (
        "import sys, genrekit; "
        f"p = genrekit.classify({song!r}); "
        "assert 'torch' not in sys.modules and 'sklearn' not in sys.modules, sorted(sys.modules); "
        "print(p.genre)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() in load_model().classes
