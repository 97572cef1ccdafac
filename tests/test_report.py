"""genrekit explore's report (genrekit.report): its files, figures and page."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from genrekit.cli import app
from genrekit.errors import FeatureStoreError
from genrekit.extract import ExtractOptions, extract_dataset
from genrekit.report import ExploreOptions, write_report
from tests.stores import SR


def test_explore_maps_the_embeddings_when_present(embedded_store: Path, tmp_path: Path) -> None:
    from genrekit.report import write_report

    report = write_report(embedded_store, tmp_path / "report")
    assert "embedding_msd-musicnn.png" in report.files
    assert report.numbers["separation"]["embedding_tsne_msd-musicnn"]["knn_accuracy"] > 0.8
    assert 'src="embedding_msd-musicnn.png"' in (tmp_path / "report" / "index.html").read_text()


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href") and value:
                self.links.append(value)


def test_report_writes_every_file_and_links_only_to_them(
    two_genre_store: Path, tmp_path: Path
) -> None:
    out = tmp_path / "report"
    result = CliRunner().invoke(app, ["explore", str(two_genre_store), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "silhouette" in result.output
    expected = {
        "pca_mfcc.png",
        "pca_logmel.png",
        "scree.png",
        "tsne.png",
        "gallery.png",
        "balance.png",
        "durations.png",
        "numbers.json",
        "index.html",
    }
    assert {p.name for p in out.iterdir()} == expected
    for png in out.glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    parser = _Links()
    parser.feed((out / "index.html").read_text(encoding="utf-8"))
    assert parser.links, "the page shows nothing"
    for link in parser.links:
        assert "://" not in link and not link.startswith("/")  # opens from disk
        assert (out / link).is_file(), link
    assert set(expected) - {"index.html"} <= set(parser.links)
    numbers = json.loads((out / "numbers.json").read_text())
    assert numbers["clips_explored"] == 16
    assert numbers["genres"] == {"drone": 8, "noise": 8}
    assert numbers["frames_compared"] == 31  # the 0.7 s clips' real frames
    assert numbers["separation"]["mfcc_pca"]["knn_accuracy"] == 1.0


def test_min_seconds_and_per_genre_select_clips(two_genre_store: Path, tmp_path: Path) -> None:
    report = write_report(
        two_genre_store, tmp_path / "r", ExploreOptions(per_genre=5, min_seconds=0.9, gallery=1)
    )
    assert report.numbers["clips_explored"] == 10
    assert report.numbers["frames_compared"] == 44  # 1 s clips
    with pytest.raises(FeatureStoreError, match="no clip has 5 s of audio"):
        write_report(two_genre_store, tmp_path / "r2", ExploreOptions(min_seconds=5))


def test_explore_of_a_folder_that_is_no_store(tmp_path: Path) -> None:
    with pytest.raises(FeatureStoreError, match="not a feature store"):
        write_report(tmp_path, tmp_path / "report")


def test_explore_of_an_empty_store(tmp_path: Path) -> None:
    (tmp_path / "in" / "jazz").mkdir(parents=True)
    sf.write(tmp_path / "in" / "jazz" / "quiet.wav", np.zeros(SR, np.float32), SR)
    extract_dataset(tmp_path / "in", tmp_path / "store", ExtractOptions(clip_seconds=1.0))
    with pytest.raises(FeatureStoreError, match="no usable clip"):
        write_report(tmp_path / "store", tmp_path / "report")
