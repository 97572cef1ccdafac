"""explore's numbers (genrekit.explore): PCA and separation on data with known structure."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from genrekit.dataset import FeatureStore
from genrekit.explore import image_pca, sample_indices, separation


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
