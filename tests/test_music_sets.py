"""bench/music_sets/manifest.py: the music sets' manifest is read and checked (no audio here)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

FOLDER = Path(__file__).resolve().parent.parent / "bench" / "music_sets"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("music_sets_manifest", FOLDER / "manifest.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


M = _load()
HEADER = "\t".join(M.COLUMNS)


def row(**fields: object) -> str:
    values = {
        "set": "check",
        "genre": "metal",
        "package": "songs-a",
        "version": "1:1.0-1",
        "path": "usr/share/a/song.ogg",
        "artist": "Band A",
        "title": "Song",
        "licence": "CC-BY-SA-3.0",
        "start": "30",
        "duration": "200",
        "evidence": "ogg tag GENRE=Death Metal",
    }
    values.update({k: str(v) for k, v in fields.items()})
    return "\t".join(values[c] for c in M.COLUMNS)


def manifest(*rows: str) -> str:
    return "\n".join([HEADER, *rows]) + "\n"


def problems(*rows: str) -> list[str]:
    found: list[str] = M.problems(M.parse(manifest(*rows)))
    return found


def test_parse_reads_every_column_and_the_line() -> None:
    clips = M.parse(manifest(row(), row(path="x.pk3!music/b.ogg", start=90.5)))
    assert [c.line for c in clips] == [2, 3]
    assert clips[0].version == "1:1.0-1" and clips[0].start == 30.0
    assert (clips[1].file, clips[1].member) == ("x.pk3", "music/b.ogg")
    assert clips[0].member is None
    assert problems(row(), row(path="x.pk3!music/b.ogg", start=90.5)) == []


def test_a_wrong_header_or_row_is_one_line_each() -> None:
    with pytest.raises(M.ManifestError, match="header must be"):
        M.parse("set\tgenre\n")
    with pytest.raises(M.ManifestError) as info:
        M.parse(manifest(row(evidence=""), row(start="soon"), "check\tmetal"))
    lines = str(info.value).splitlines()
    assert len(lines) == 3
    assert "manifest.tsv:2: empty evidence" in lines[0]
    assert "manifest.tsv:3:" in lines[1] and "'soon'" in lines[1]
    assert "manifest.tsv:4: expected 11" in lines[2]


def test_the_sets_may_share_no_package_and_no_artist() -> None:
    shared_package = problems(row(), row(set="dev", artist="Band B", path="b.ogg"))
    assert any("package 'songs-a' is in both sets" in p for p in shared_package)
    # The same artist under another package and spelling is the same artist.
    shared_artist = problems(row(), row(set="dev", package="songs-b", artist="band a "))
    assert shared_artist == [
        "artist 'band a' is in both sets (check, dev): the sets must not share one"
    ]
    assert problems(row(), row(set="dev", package="songs-b", artist="Band B")) == []


def test_unknown_set_genre_and_clips_that_do_not_fit() -> None:
    found = problems(
        row(set="test"),
        row(genre="Death Metal", path="b.ogg"),
        row(start=180, path="c.ogg"),  # 180 + 30 > 200
        row(path="../../etc/d.ogg"),
    )
    assert "set 'test' is not one of check, dev" in found[0]
    assert "genre 'Death Metal' is not one of" in found[1]
    assert "manifest.tsv:4: a 30 s clip from 180 s does not fit in the 200 s track" in found[2]
    assert "must be relative" in found[3]


def test_clips_of_one_track_must_not_overlap_or_repeat() -> None:
    assert problems(row(start=10), row(start=40)) == []
    overlap = problems(row(start=10), row(start=39))
    assert overlap == [
        "manifest.tsv:3: the clip at 39 s overlaps the one at 10 s (manifest.tsv:2) "
        "of the same track"
    ]
    assert any("twice" in p for p in problems(row(), row()))


def test_no_artist_has_more_than_eight_tracks_in_a_set() -> None:
    rows = [row(path=f"t{i}.ogg") for i in range(M.MAX_TRACKS_PER_ARTIST)]
    assert problems(*rows) == []
    # More clips of one track are still one track.
    assert problems(*rows, row(path="t0.ogg", start=100)) == []
    assert problems(*rows, row(path="t9.ogg")) == [
        "artist 'band a' has 9 tracks in the check set (at most 8)"
    ]


def test_output_names_are_safe_and_tell_clips_of_one_track_apart() -> None:
    clips = M.parse(
        manifest(
            row(artist="AC/DC: Live?", title="..Back Black"),
            row(path="b.ogg", artist="B", title="T", start=10),
            row(path="b.ogg", artist="B", title="T", start=100),
        )
    )
    names = M.output_names(clips)
    assert names[clips[0]] == "check/metal/AC_DC_ Live - Back Black.ogg"
    assert [names[c] for c in clips[1:]] == [
        "check/metal/B - T @10s.ogg",
        "check/metal/B - T @100s.ogg",
    ]
    assert M.safe("...") == "untitled"
    assert M.safe("a" * 200) == "a" * 80


def test_the_shipped_manifest_is_valid() -> None:
    clips = M.read(FOLDER / "manifest.tsv")
    assert {c.set for c in clips} == {"check", "dev"}
    assert all(c.evidence and c.licence for c in clips)
    names = M.output_names(clips).values()
    assert len(set(names)) == len(clips)  # no two clips written to one file
