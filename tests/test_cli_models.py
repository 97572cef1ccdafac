"""genrekit train, evaluate, export and models on the command line: what they say and do."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from genrekit import networks
from genrekit.checkpoint import load_checkpoint
from genrekit.cli import app
from genrekit.dataset import FeatureStore
from genrekit.errors import ParameterError
from genrekit.models import build
from tests.conftest import genrekit
from tests.stores import make_store


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
    assert re.search(r"accuracy \d+\.\d %, balanced \d+\.\d %", result.output), result.output
    result = runner.invoke(app, ["export", str(model_dir), "-o", str(tmp_path / "m.onnx")])
    assert result.exit_code == 0 and (tmp_path / "m.onnx").is_file()


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
    assert checkpoint.training.test_clips == 5
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
    assert load_checkpoint(tmp_path / "m").training.ran == (2,)


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


def test_models_command_lists_local_models(onnx_model: Path) -> None:
    result = CliRunner().invoke(app, ["models", str(onnx_model.parent)])
    assert result.exit_code == 0, result.output
    assert "model.onnx: 3 genres: clicks, noise, tones\n  architecture tiny\n" in result.output
