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
            f"{store.root}: too few clips in {', '.join(small)}; each genre needs at least "
            f"{min_per_genre} to be split (tested, validated, trained on); add clips of it or "
            "leave it out"
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


def check_folds(store: FeatureStore, folds: int) -> None:
    """Raise a one-line error, before any training, if ``folds`` folds cannot be made."""
    if folds < 2:
        raise ParameterError("cross-validation needs 2 folds or more", option="folds", value=folds)
    check_trainable(store, min_per_genre=2)
    counts = np.bincount(store.labels, minlength=len(store.genres))
    smallest = int(counts.min())
    if folds > smallest:
        genre = store.genres[int(counts.argmin())]
        raise ParameterError(
            f"genre {genre!r} has only {smallest} clips, so at most {smallest} folds can each "
            f"test it; use {max(2, min(smallest, 5))}",
            option="folds",
            value=folds,
        )
    n_groups = len(set(groups_of(store).tolist()))
    if folds > n_groups:
        raise ParameterError(
            f"the clips come from only {n_groups} artists, and an artist never sits on both "
            f"sides of a fold; use {n_groups} or fewer",
            option="folds",
            value=folds,
        )


def holdout(
    labels: npt.NDArray[np.int64], groups: npt.NDArray[np.str_], fraction: float, seed: int = 0
) -> tuple[Indices, Indices]:
    """Split off about ``fraction`` of the clips (stratified, group-disjoint): (rest, held out).

    When every genre and the groups allow ``round(1 / fraction)`` folds, the held-out part is
    the first of that many stratified group folds. Otherwise (a genre too small for that many
    folds) each genre keeps its own share, :func:`per_genre_holdout`, so that one small genre
    does not make every genre hold out half its clips.
    """
    if not 0 < fraction < 0.5:
        raise ParameterError(f"fraction={fraction} must be between 0 and 0.5")
    k = round(1 / fraction)
    smallest = int(np.bincount(labels)[np.unique(labels)].min())
    if smallest >= k and len(np.unique(groups)) >= k:
        rest, held = kfold(labels, groups, k, seed)[0]
        return rest, held
    return per_genre_holdout(labels, groups, fraction, seed)


def held_out_per_genre(n: int, fraction: float) -> int:
    """Clips a genre of ``n`` holds out: ``fraction`` of them, at least one when it has two or
    more, and never all but none."""
    if n < 2:
        return 0
    return min(n - 1, max(1, round(fraction * n)))


def keeps_every_genre(left: npt.NDArray[np.int64], taken: npt.NDArray[np.int64]) -> bool:
    """Whether taking ``taken`` clips per genre out of ``left`` leaves one of each genre."""
    return bool(np.all(left - taken >= np.minimum(left, 1)))


def per_genre_holdout(
    labels: npt.NDArray[np.int64], groups: npt.NDArray[np.str_], fraction: float, seed: int = 0
) -> tuple[Indices, Indices]:
    """Hold out :func:`held_out_per_genre` clips of each genre, whole groups at a time (drawn
    with ``seed``). A group that would overshoot a genre's share stays in the rest, unless the
    genre has nothing held out otherwise: then its smallest group goes, if every genre keeps
    a clip in the rest."""
    rng = np.random.default_rng(seed)
    n_classes = int(labels.max()) + 1 if labels.size else 0
    need = np.array(
        [held_out_per_genre(int(n), fraction) for n in np.bincount(labels, minlength=n_classes)]
    )
    names, group_of = np.unique(groups, return_inverse=True)
    left = np.bincount(labels, minlength=n_classes)  # clips of each genre still in the rest
    held = np.zeros(labels.size, dtype=bool)
    for g in rng.permutation(names.size):
        members = np.flatnonzero(group_of == g)
        counts = np.bincount(labels[members], minlength=n_classes)
        takes_needed = bool((counts[need > 0] > 0).any())
        fits = bool(np.all(counts <= need)) and keeps_every_genre(left, counts)
        if takes_needed and fits:
            held[members] = True
            need -= counts
            left -= counts
    for c in np.flatnonzero((need > 0) & ~np.isin(np.arange(n_classes), labels[held])):
        order = rng.permutation(names.size)
        sizes = [(int(np.sum(group_of == g)), k) for k, g in enumerate(order)]
        for _, k in sorted(sizes):
            members = np.flatnonzero(group_of == order[k])
            counts = np.bincount(labels[members], minlength=n_classes)
            if counts[c] and not held[members].any() and keeps_every_genre(left, counts):
                held[members] = True
                left -= counts
                break
    return np.flatnonzero(~held).astype(np.int64), np.flatnonzero(held).astype(np.int64)


def describe_split(
    store: FeatureStore, splits: dict[str, Indices], test_fraction: float, val_fraction: float
) -> list[str]:
    """What was held out of ``store`` and why, in a few lines for people."""
    n_classes = len(store.genres)
    count = {k: np.bincount(store.labels[v], minlength=n_classes) for k, v in splits.items()}
    by = (
        "artist (no artist on two sides)"
        if any(t.artist for t in store.tracks)
        else "clip (the store records no artists)"
    )
    val = splits["val"].size
    lines = [
        f"held out for testing: {splits['test'].size} of {len(store)} clips, about "
        f"{100 * test_fraction:.0f} % of each genre, never seen in training; disjoint by {by}",
        (
            f"held out for validation (choosing the epoch): {val} clips, about "
            f"{100 * val_fraction:.0f} % of the rest"
            if val
            else "no validation clips: the model is fitted in closed form and chooses no epoch"
        ),
    ]
    totals = np.bincount(store.labels, minlength=n_classes)
    for c, genre in enumerate(store.genres):
        n = int(totals[c])
        if n >= round(1 / test_fraction):
            continue  # large enough for its share: nothing to explain
        lines.append(
            f"genre {genre!r} has only {n} clips: {count['test'][c]} tested, "
            f"{count['val'][c]} validated, {count['train'][c]} trained on"
        )
    return lines
