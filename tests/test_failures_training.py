"""Bad input to training: impossible options, stores that cannot be trained on, damaged models."""

from __future__ import annotations

from pathlib import Path

import pytest

from genrekit.checkpoint import load_checkpoint
from genrekit.errors import FeatureStoreError, ModelError, ParameterError
from genrekit.evaluation import evaluate
from genrekit.extract import ExtractOptions, extract_dataset
from genrekit.features import FeatureParams
from genrekit.training import TrainOptions, train
from tests.conftest import genrekit
from tests.stores import SECONDS, make_store


def test_clear_errors(tmp_path: Path, store_dir: Path, tiny_dir: Path) -> None:
    single = make_store(tmp_path / "single", ("tones",), 4)
    with pytest.raises(FeatureStoreError, match="only one genre"):
        train(single, tmp_path / "m", TrainOptions(model="tiny", epochs=1))
    few = make_store(tmp_path / "few", ("tones", "noise"), 2)
    few_clips = r"too few clips in noise \(2\), tones \(2\); each genre needs at least 3"
    with pytest.raises(FeatureStoreError, match=few_clips):
        train(few, tmp_path / "m", TrainOptions(model="tiny", epochs=1))
    with pytest.raises(ParameterError, match="unknown model 'resnet'"):
        train(store_dir, tmp_path / "m", TrainOptions(model="resnet"))
    with pytest.raises(ModelError, match="no such model"):
        evaluate(tmp_path / "nothing", store_dir)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "model.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ModelError, match="not a readable genrekit model"):
        load_checkpoint(tmp_path / "bad")
    other = tmp_path / "other"
    extract_dataset(
        store_dir.parent / "in",
        other,
        ExtractOptions(clip_seconds=SECONDS, params=FeatureParams(n_mels=64)),
    )
    with pytest.raises(FeatureStoreError, match="n_mels=64"):
        evaluate(tiny_dir, other)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "baseline", "--folds", "1"], "--folds 1: cross-validation needs 2 folds"),
        (["--model", "baseline", "--folds", "-3"], "--folds -3: cross-validation needs 2 folds"),
        (["--model", "tiny", "--folds", "13"], "--folds 13: genre 'clicks' has only 12 clips"),
        (["--model", "tiny", "--epochs", "0"], "--epochs 0: need 1 or more"),
        (["--model", "cnn", "--epochs", "-2"], "--epochs -2: need 1 or more"),
        (["--model", "baseline", "--epochs", "5"], "baseline is fitted in closed form"),
        (["--model", "resnet"], "unknown model 'resnet'; choose one of: baseline,"),
    ],
)
def test_impossible_options_fail_before_any_training(
    store_dir: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    result = genrekit("train", str(store_dir), "-o", str(tmp_path / "m"), *args)
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: ") and message in line
    assert "tiny" not in line
    assert not (tmp_path / "m").exists()


def test_a_file_as_model_folder_is_refused_before_training(store_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "m").write_text("my notes")
    result = genrekit("train", str(store_dir), "-o", str(tmp_path / "m"), "--model", "baseline")
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line == f"error: -o {tmp_path / 'm'}: a file, not a folder; give a folder for the model"
    with pytest.raises(ParameterError, match="a file, not a folder"):
        train(store_dir, tmp_path / "m", TrainOptions(model="baseline"))
    assert (tmp_path / "m").read_text() == "my notes"
