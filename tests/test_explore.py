"""genrekit explore: PCA and separation numbers on data with known structure, and the report."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from genrekit.cli import app
from genrekit.dataset import FeatureStore
from genrekit.errors import FeatureStoreError
from genrekit.explore import image_pca, sample_indices, separation
from genrekit.extract import ExtractOptions, extract_dataset
from genrekit.report import ExploreOptions, write_report

SR = 22050


def tone_clip(rng: np.random.Generator, seconds: float) -> np.ndarray:
    """A low, steady chord: one 'genre'."""
    t = np.arange(int(seconds * SR)) / SR
    freqs = rng.uniform(100, 300, size=3)
    chord: np.ndarray = np.sum([0.2 * np.sin(2 * np.pi * f * t) for f in freqs], axis=0)
    return chord + 0.001 * rng.standard_normal(t.size)


def noise_clip(rng: np.random.Generator, seconds: float) -> np.ndarray:
    """Bright noise bursts: another 'genre'."""
    y = rng.standard_normal(int(seconds * SR)) * 0.2
    y[:: 2 * SR // 10] *= 3
    return np.diff(y, prepend=0.0)


@pytest.fixture(scope="module")
def two_genre_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("explore")
    rng = np.random.default_rng(1)
    for genre, make in (("drone", tone_clip), ("noise", noise_clip)):
        for i in range(8):
            path = root / "in" / genre / f"{genre}{i}.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            seconds = 1.0 if i < 6 else 0.7  # some shorter clips: padding must not matter
            sf.write(path, make(rng, seconds).astype(np.float32), SR)
    summary = extract_dataset(root / "in", root / "store", ExtractOptions(clip_seconds=1.0))
    assert summary.ok and summary.counts["done"] == 16
    return root / "store"


def test_sample_indices_per_genre_and_seeded() -> None:
    labels = np.array([0] * 10 + [1] * 3 + [2] * 7)
    picked = sample_indices(labels, 4, seed=3)
    assert np.bincount(labels[picked]).tolist() == [4, 3, 4]
    assert picked.tolist() == sample_indices(labels, 4, seed=3).tolist()
    assert picked.tolist() != sample_indices(labels, 4, seed=4).tolist()
    assert sample_indices(labels, None).tolist() == list(range(20))


def test_pca_separates_known_structure(two_genre_store: Path) -> None:
    store = FeatureStore(two_genre_store)
    idx = np.arange(len(store))
    for kind in ("mfcc", "logmel"):
        pca = image_pca(store, kind, idx, frames=30)
        scores = separation(pca.coords[:, :2], store.labels)
        assert scores is not None
        assert scores.silhouette > 0.5
        assert scores.knn_accuracy == 1.0
        assert scores.silhouette > scores.silhouette_shuffled + 0.3  # 16 clips: chance varies
        assert pca.explained[0] > pca.explained[1] > 0


def test_streaming_pca_matches_in_memory(two_genre_store: Path) -> None:
    store = FeatureStore(two_genre_store)
    idx = np.arange(len(store))
    exact = image_pca(store, "mfcc", idx, n_components=3, frames=30, batch=64)
    calls: list[tuple[int, int | None]] = []
    streamed = image_pca(
        store,
        "mfcc",
        idx,
        n_components=3,
        frames=30,
        batch=4,
        progress=lambda step: calls.append((step.done, step.total)),
    )
    assert calls[-1] == (3 * len(store), 3 * len(store))  # three passes
    np.testing.assert_allclose(streamed.explained[:2], exact.explained[:2], rtol=0.05)
    first = np.corrcoef(streamed.coords[:, 0], exact.coords[:, 0])[0, 1]
    assert abs(first) > 0.99  # the same axis, up to its sign


def test_separation_on_blobs_and_its_limits() -> None:
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), 20)
    blobs = rng.normal(size=(60, 2)) * 0.3 + np.array([[0, 0], [5, 0], [0, 5]])[labels]
    scores = separation(blobs, labels)
    assert scores is not None
    assert scores.silhouette > 0.7 and scores.knn_accuracy > 0.95
    assert abs(scores.silhouette_shuffled) < 0.15 and scores.knn_accuracy_shuffled < 0.6
    assert scores.chance == pytest.approx(1 / 3)
    assert separation(blobs, np.zeros(60, dtype=np.int64)) is None  # one genre


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
