"""The base install: classify, extract and embed need none of the extras' packages; the commands
that do (explore, figure, pictures, train) say in one line which extra to install. Each command
runs in a fresh Python whose import system refuses those packages, as a base install would."""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys
from pathlib import Path

import pytest

import genrekit
from genrekit import extras
from genrekit.errors import MissingExtraError
from tests.hidden import env_without, run

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
HIDDEN = ("sklearn", "matplotlib", "PIL", "onnx", "torch")


@pytest.fixture(scope="module")
def base_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return env_without(tmp_path_factory.mktemp("base-install"), HIDDEN)


def test_the_shim_really_hides_the_extras(base_env: dict[str, str]) -> None:
    code = "import sklearn"
    result = subprocess.run([sys.executable, "-c", code], env=base_env, capture_output=True)
    assert result.returncode == 1
    assert b"No module named 'sklearn'" in result.stderr


def test_classify_extract_and_embed_need_no_extra(base_env: dict[str, str], tmp_path: Path) -> None:
    song = EXAMPLES / "metal" / "Muldjord - Armygeddon.mp3"
    classified = run(base_env, "classify", str(song), "--format", "json", "--tags")
    assert classified.returncode == 0, classified.stderr
    assert json.loads(classified.stdout)["genre"] == "metal"
    store = tmp_path / "store"
    extracted = run(base_env, "extract", str(EXAMPLES), "-o", str(store))
    assert extracted.returncode == 0, extracted.stderr
    assert len(list((store / "features" / "mfcc").rglob("*.*"))) == 5
    embedded = run(base_env, "embed", str(EXAMPLES), "-o", str(store))
    assert embedded.returncode == 0, embedded.stderr


@pytest.mark.parametrize(
    ("args", "needs"),
    [
        (("explore", "{store}", "-o", "{tmp}/report"), "scikit-learn, matplotlib"),
        (("figure", "{song}", "-o", "{tmp}/mel.png"), "matplotlib"),
        (("extract", "{examples}", "-o", "{tmp}/store", "--images"), "Pillow, matplotlib"),
        (("train", "{store}", "-o", "{tmp}/model", "--model", "baseline"), "scikit-learn"),
    ],
)
def test_what_needs_an_extra_says_which_in_one_line(
    base_env: dict[str, str], tmp_path: Path, args: tuple[str, ...], needs: str
) -> None:
    values = {
        "store": str(tmp_path / "store"),
        "tmp": str(tmp_path),
        "song": str(EXAMPLES / "metal" / "Muldjord - Armygeddon.mp3"),
        "examples": str(EXAMPLES),
    }
    (tmp_path / "store").mkdir()
    result = run(base_env, *(arg.format(**values) for arg in args))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert needs in lines[0]
    assert lines[0].endswith("pip install 'genrekit[explore]'")
    assert not (tmp_path / "store" / "features").exists()  # refused before any work


def test_missing_names_the_packages_and_their_extras() -> None:
    assert extras.missing("numpy", "genrekit_no_such_module") == ["genrekit_no_such_module"]
    assert extras.install_hint(["torch", "sklearn"]) == (
        "PyTorch, scikit-learn: pip install 'genrekit[explore,train]'"
    )
    with pytest.raises(MissingExtraError, match=r"^drawing needs genrekit_nope: pip install"):
        extras.require("drawing", "numpy", "genrekit_nope")


def test_one_version() -> None:
    assert importlib.metadata.version("genrekit") == genrekit.__version__
