"""bench/music_sets/rebuild.py and bench/check_set.py: the parts that need no package or model."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest

from genrekit.predict import Prediction

BENCH = Path(__file__).resolve().parent.parent / "bench"


def _load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


REBUILD = _load("music_sets_rebuild", BENCH / "music_sets" / "rebuild.py")
CHECK_SET = _load("bench_check_set", BENCH / "check_set.py")


def module_clip(path: str = "usr/share/games/x/song.xm") -> object:
    return REBUILD.Clip(
        set="dev",
        genre="electronic",
        package="x-data",
        version="1.0-1",
        path=path,
        artist="Someone",
        title="Song",
        licence="GPL-2",
        start=10.0,
        duration=100.0,
        evidence="module text: Style : Trance",
    )


def test_a_tracker_module_without_openmpt123_is_one_line_saying_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    song = tmp_path / "song.xm"
    song.write_bytes(b"Extended Module: not really")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(REBUILD.SourceError) as caught:
        REBUILD.read_clip(song, module_clip())
    message = str(caught.value)
    assert "usr/share/games/x/song.xm" in message
    assert "apt-get install openmpt123" in message
    assert "\n" not in message


@pytest.mark.skipif(shutil.which("openmpt123") is None, reason="needs Debian's openmpt123")
def test_a_module_openmpt123_cannot_play_names_the_package_and_file(tmp_path: Path) -> None:
    song = tmp_path / "song.it"
    song.write_bytes(b"IMPM" + bytes(200))
    with pytest.raises(REBUILD.SourceError, match=r"x-data 1\.0-1: openmpt123 could not render"):
        REBUILD.read_clip(song, module_clip("usr/share/games/x/song.it"))


def test_check_set_save_writes_each_taggers_tags_as_tagger_colon_tag(tmp_path: Path) -> None:
    found = [
        (
            "electronic",
            Path("Someone - Song.ogg"),
            Prediction(
                genre="electronic",
                probabilities={"electronic": 0.75, "rock": 0.25},
                tags={"msd-musicnn": {"electronic": 0.5}, "mtt-musicnn": {"techno": 0.25}},
            ),
        ),
        (
            "ambient",
            Path("Other - Calm.ogg"),
            Prediction(genre=None, probabilities={}, tags={}, reason="silence"),
        ),
    ]
    target = tmp_path / "answers.tsv"
    CHECK_SET.save(found, target)
    rows = [line.split("\t") for line in target.read_text(encoding="utf-8").splitlines()]
    assert rows[0] == [
        "genre",
        "file",
        "answer",
        "probability",
        "msd-musicnn:electronic",
        "mtt-musicnn:techno",
    ]
    assert rows[1] == [
        "electronic",
        "Someone - Song.ogg",
        "electronic",
        "0.7500",
        "0.5000",
        "0.2500",
    ]
    assert rows[2][:3] == ["ambient", "Other - Calm.ogg", "(none: silence)"]
    assert rows[2][4:] == ["0.0000", "0.0000"]
