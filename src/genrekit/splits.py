"""Honest splits of a feature store: stratified by genre, disjoint by artist or by clip.

Clips of one artist never sit on both sides of a split when the catalog knows the artists (the
same artist in training and test inflates accuracy); otherwise each clip is its own group, keyed
by its content hash, so byte-identical copies cannot leak either.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from genrekit.dataset import FeatureStore
from genrekit.errors import FeatureStoreError, ParameterError

Indices = npt.NDArray[np.int64]


def groups_of(store: FeatureStore) -> npt.NDArray[np.str_]:
    """The split group of every clip: ``artist:<name>`` when known, else ``clip:<sha256>``."""
    return np.array(
        [f"artist:{t.artist.casefold()}" if t.artist else f"clip:{t.sha256}" for t in store.tracks]
    )


def check_trainable(store: FeatureStore, min_per_genre: int) -> None:
    """Raise a clear error if ``store`` cannot give honest splits with ``min_per_genre`` clips."""
    if len(store) == 0:
        raise FeatureStoreError(
            f"{store.root}: the store holds no usable clip; nothing to train on"
        )
    if len(store.genres) < 2:
        raise FeatureStoreError(
            f"{store.root}: only one genre ({store.genres[0]!r}); a classifier needs two or more"
        )
    counts = np.bincount(store.labels, minlength=len(store.genres))
    small = [f"{g} ({n})" for g, n in zip(store.genres, counts, strict=True) if n < min_per_genre]
    if small:
        raise FeatureStoreError(
            f"{store.root}: too few clips for the split in {', '.join(small)}; each genre needs "
            f"at least {min_per_genre} (fewer folds or more clips help)"
        )


def kfold(
    labels: npt.NDArray[np.int64], groups: npt.NDArray[np.str_], k: int, seed: int = 0
) -> list[tuple[Indices, Indices]]:
    """``k`` (train, test) index pairs, stratified by label, each group on one side only."""
    from sklearn.model_selection import StratifiedGroupKFold

    if k < 2:
        raise ParameterError(f"folds={k} must be at least 2")
    splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    x = np.zeros((labels.size, 1))
    return [
        (np.asarray(tr, dtype=np.int64), np.asarray(te, dtype=np.int64))
        for tr, te in splitter.split(x, labels, groups)
    ]


def holdout(
    labels: npt.NDArray[np.int64], groups: npt.NDArray[np.str_], fraction: float, seed: int = 0
) -> tuple[Indices, Indices]:
    """Split off about ``fraction`` of the clips (stratified, group-disjoint): (rest, held out)."""
    if not 0 < fraction < 0.5:
        raise ParameterError(f"fraction={fraction} must be between 0 and 0.5")
    # A genre with fewer clips than folds cannot be stratified: hold out less (at least one clip
    # per genre), or nothing when a genre has a single clip (tiny training sets of a learning
    # curve).
    smallest = int(np.bincount(labels)[np.unique(labels)].min())
    k = min(round(1 / fraction), smallest, len(np.unique(groups)))
    if k < 2:
        return np.arange(labels.size, dtype=np.int64), np.zeros(0, dtype=np.int64)
    rest, held = kfold(labels, groups, k, seed)[0]
    return rest, held
