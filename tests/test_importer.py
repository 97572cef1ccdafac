"""genrekit import (genrekit.importer): folder trees and FMA metadata into a data set."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import soundfile as sf
from typer.testing import CliRunner

from genrekit.catalog import Catalog
from genrekit.cli import app
from genrekit.dataset import FeatureStore
from genrekit.errors import CatalogError
from genrekit.extract import ExtractOptions, extract_dataset
from genrekit.importer import ImportSummary, fma_tracks, import_tracks
from tests.conftest import music_like


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "gtzan"
    for g, genre in enumerate(["blues", "jazz"]):
        for i in range(2):
            path = root / genre / f"{genre}.0000{i}.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            sf.write(path, music_like(1.0, 22050, seed=10 * g + i), 22050)
    (root / "README.txt").write_text("not audio")
    return root


def test_import_folder_in_place_then_extract(tree: Path, tmp_path: Path) -> None:
    out = tmp_path / "data"
    result = CliRunner().invoke(app, ["import", str(tree), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "4 added" in result.output
    assert not list(out.glob("*/*.wav"))  # audio stays where it is
    with Catalog(out) as catalog:
        rows = catalog.rows(status="done")
    assert [(r.genre, r.source) for r in rows] == [("blues", "local")] * 2 + [("jazz", "local")] * 2
    assert all(Path(r.path or "").is_absolute() for r in rows)

    again = CliRunner().invoke(app, ["import", str(tree), "-o", str(out)])
    assert "0 added, 4 already in the catalog" in again.output

    summary = extract_dataset(out, tmp_path / "features", ExtractOptions(clip_seconds=1.0))
    assert summary.ok and summary.counts["done"] == 4
    assert FeatureStore(tmp_path / "features").genres == ["blues", "jazz"]


def test_import_with_copy(tree: Path, tmp_path: Path) -> None:
    out = tmp_path / "data"
    result = CliRunner().invoke(app, ["import", str(tree), "-o", str(out), "--copy"])
    assert result.exit_code == 0, result.output
    assert sorted(p.relative_to(out).as_posix() for p in out.glob("*/*.wav")) == [
        "blues/blues.00000.wav",
        "blues/blues.00001.wav",
        "jazz/jazz.00000.wav",
        "jazz/jazz.00001.wav",
    ]
    with Catalog(out) as catalog:
        assert all(r.path and not Path(r.path).is_absolute() for r in catalog.rows())


def test_same_audio_under_two_genres_is_a_conflict(tree: Path, tmp_path: Path) -> None:
    shutil.copy(tree / "jazz" / "jazz.00000.wav", tree / "blues" / "copy.wav")
    out = tmp_path / "data"
    result = CliRunner().invoke(app, ["import", str(tree), "-o", str(out)])
    assert "already labelled otherwise" in result.output
    with Catalog(out) as catalog:
        assert len(catalog.rows()) == 4 and len(catalog.conflicts()) == 1


def write_fma(tmp_path: Path) -> tuple[Path, Path]:
    """A tracks.csv in FMA's layout (two header rows plus the index row) and its audio folder."""
    csv_path = tmp_path / "fma_metadata" / "tracks.csv"
    csv_path.parent.mkdir()
    csv_path.write_text(
        ",album,artist,artist,track,track,track\n"
        ",title,id,name,duration,genre_top,title\n"
        "track_id,,,,,,\n"
        "2,AWOL - A Way Of Life,1,AWOL,168,Hip-Hop,Food\n"
        '3,AWOL - A Way Of Life,1,AWOL,237,Hip-Hop,"Electric Ave, live"\n'
        "5,AWOL - A Way Of Life,1,AWOL,206,,This World\n"
        "10,Constant Hitmaker,6,Kurt Vile,161,Pop,Freeway\n"
    )
    audio = tmp_path / "fma_small"
    for tid in (2, 3, 5):
        path = audio / f"{tid:06d}"[:3] / f"{tid:06d}.mp3"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, music_like(1.0, 44100, seed=tid), 44100, format="MP3")
    return csv_path, audio


def test_import_fma_metadata(tmp_path: Path) -> None:
    csv_path, audio = write_fma(tmp_path)
    summary = ImportSummary()
    tracks = list(fma_tracks(csv_path, audio, summary))
    assert [(t.genre, t.info and t.info.title) for t in tracks] == [
        ("Hip-Hop", "Food"),
        ("Hip-Hop", "Electric Ave, live"),
    ]
    assert summary.missing == 1  # track 10 has no audio here; 5 has no top genre
    assert tracks[0].info is not None and tracks[0].info.artist == "AWOL"
    result = import_tracks(iter(tracks), tmp_path / "data", source="fma", found_by="fma")
    assert result.added == {"Hip-Hop": 2}
    with Catalog(tmp_path / "data") as catalog:
        assert {(r.source, r.source_id, r.artist) for r in catalog.rows()} == {
            ("fma", "2", "AWOL"),
            ("fma", "3", "AWOL"),
        }


def test_import_rejects_a_csv_that_is_not_fma(tmp_path: Path) -> None:
    bad = tmp_path / "tracks.csv"
    bad.write_text("a,b\nc,d\ne,f\n")
    with pytest.raises(CatalogError, match=r"not FMA's tracks\.csv"):
        list(fma_tracks(bad, tmp_path, ImportSummary()))
