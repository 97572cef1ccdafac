"""A data set's catalog (genrekit.catalog): one row per track, deduplicated across sources."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from genrekit.catalog import Catalog
from genrekit.cli import app
from genrekit.errors import CatalogError
from genrekit.sources import TrackInfo


def test_catalog_of_a_folder_without_one_is_a_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["catalog", str(tmp_path)])
    assert isinstance(result.exception, CatalogError)
    assert str(result.exception) == (
        f"{tmp_path}: not a data set (no catalog.sqlite); "
        "make a data set with 'genrekit fetch' or 'genrekit import'"
    )


def test_catalog_dedupes_by_isrc_across_sources(tmp_path: Path) -> None:
    with Catalog(tmp_path) as catalog:
        a = TrackInfo("deezer", "1", "Ping!", "Ann", isrc="GBSMU7385741")
        b = TrackInfo("spotify", "xyz", "Ping!", "Ann", isrc="GBSMU7385741")
        assert catalog.add(a, "pop", "search:ping") == "added"
        assert catalog.add(b, "pop", "playlist:1") == "known"
        assert catalog.add(b, "rock", "playlist:2") == "conflict"
        assert catalog.conflicts() == [("deezer", "1", "pop", "rock")]
