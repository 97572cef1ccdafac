"""Splits and folds (genrekit.splits): stratified, artist-disjoint, sane for small genres."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from genrekit.dataset import FeatureStore
from genrekit.splits import groups_of, kfold


def test_artist_disjoint_folds() -> None:
    labels = np.array([0, 0, 0, 0, 1, 1, 1, 1, 0, 1, 0, 1])
    groups = np.array(
        [
            "artist:a",
            "artist:a",
            "artist:b",
            "artist:b",
            "artist:c",
            "artist:c",
            "artist:d",
            "artist:d",
            "artist:e",
            "artist:f",
            "artist:g",
            "artist:h",
        ]
    )
    for train_idx, test_idx in kfold(labels, groups, 2):
        assert not set(groups[train_idx]) & set(groups[test_idx])


def test_groups_fall_back_to_clip_ids(store_dir: Path) -> None:
    store = FeatureStore(store_dir)
    groups = groups_of(store)
    assert len(set(groups)) == len(store) and groups[0].startswith("clip:")


def test_holdout_of_tiny_genres_keeps_training_clips() -> None:
    from genrekit.splits import holdout

    labels = np.repeat(np.arange(4), 2)  # two clips per genre: hold out one of each
    groups = np.array([f"clip:{i}" for i in range(labels.size)])
    rest, held = holdout(labels, groups, 0.15)
    assert sorted(np.bincount(labels[rest])) == [1, 1, 1, 1]
    assert sorted(np.bincount(labels[held])) == [1, 1, 1, 1]
    single = np.arange(4)  # one clip per genre: nothing can be held out
    rest, held = holdout(single, groups[:4], 0.15)
    assert rest.size == 4 and held.size == 0


def test_one_small_genre_does_not_make_every_genre_hold_out_half() -> None:
    from genrekit.splits import holdout

    labels = np.repeat(np.arange(3), [52, 52, 4])  # the store: 54/27/27 before
    groups = np.array([f"clip:{i}" for i in range(labels.size)])
    rest, test = holdout(labels, groups, 0.15)
    assert np.bincount(labels[test]).tolist() == [8, 8, 1]  # 15 % of each, at least one
    fit, val = holdout(labels[rest], groups[rest], 0.15)
    assert np.bincount(labels[rest][val]).tolist() == [7, 7, 1]
    assert np.bincount(labels[rest][fit]).tolist() == [37, 37, 2]
    assert not set(rest) & set(test) and len(rest) + len(test) == labels.size


def test_a_small_genre_split_keeps_artists_on_one_side() -> None:
    from genrekit.splits import per_genre_holdout

    labels = np.repeat(np.arange(2), [30, 4])
    groups = np.array([f"artist:{i // 3}" for i in range(30)] + ["artist:x"] * 2 + ["artist:y"] * 2)
    for seed in range(5):
        rest, held = per_genre_holdout(labels, groups, 0.15, seed)
        assert not set(groups[rest]) & set(groups[held])
        assert 0 < np.bincount(labels[held], minlength=2)[0] <= 6
        assert np.bincount(labels[held], minlength=2)[1] == 2  # a whole artist, never all four
        assert np.bincount(labels[rest], minlength=2).min() >= 2
