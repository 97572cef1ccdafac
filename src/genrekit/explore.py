"""Numbers that describe a feature store: PCA of genres, clip summaries, how well genres separate.

The seed's procedure is kept: each clip's MFCC (or mel) image is flattened, every pixel is
standardized over the clips, and PCA keeps the first components. A mel image has ~165,000 pixels,
so for large stores the statistics and the PCA are computed in passes over memory-mapped clips
(``IncrementalPCA``), never holding the whole matrix. "Genres cluster" is then measured: the
silhouette of the genre labels in the 2-D PCA space, and a cross-validated k-nearest-neighbour
accuracy there, each beside its value for shuffled labels (what chance looks like).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from genrekit.backbones import BACKBONES
from genrekit.dataset import FeatureKind, FeatureStore
from genrekit.errors import FeatureStoreError, ParameterError
from genrekit.progress import Progress, Step

Matrix = npt.NDArray[np.float64]

BATCH_CLIPS = 64
"""Clips per pass batch: ~42 MB of float32 mel images at 30 s, and enough rows for 10 components."""
N_COMPONENTS = 10
"""Components kept for the scree plot; the scatter plots use the first two."""
KNN_NEIGHBOURS = 5


def sample_indices(
    labels: npt.NDArray[np.int64], per_genre: int | None, seed: int = 0
) -> npt.NDArray[np.int64]:
    """Up to ``per_genre`` clip indices of each genre, drawn with ``seed``, in store order."""
    if per_genre is not None and per_genre < 1:
        raise ParameterError(f"per_genre={per_genre} must be at least 1")
    rng = np.random.default_rng(seed)
    chosen = []
    for genre in np.unique(labels):
        members = np.flatnonzero(labels == genre)
        if per_genre is not None and members.size > per_genre:
            members = rng.choice(members, size=per_genre, replace=False)
        chosen.append(members)
    return np.sort(np.concatenate(chosen)) if chosen else np.zeros(0, dtype=np.int64)


@dataclass(frozen=True)
class Selection:
    """The clips a map of a store shows, and the frames its images are compared on."""

    indices: npt.NDArray[np.int64]  # positions in the store, ascending
    frames: int  # frames every selected clip really has (not padding)


def select_clips(
    store: FeatureStore, per_genre: int | None, *, min_seconds: float = 0.0, seed: int = 0
) -> Selection:
    """Up to ``per_genre`` clips of each genre with ``min_seconds`` of audio, drawn with ``seed``
    (:func:`sample_indices`), and the frames all of them really have."""
    long_enough = np.array([t.duration >= min_seconds for t in store.tracks], dtype=bool)
    if not long_enough.any():
        raise FeatureStoreError(
            f"{store.root}: no clip has {min_seconds:g} s of audio; lower the minimum "
            "length (min_seconds)"
        )
    kept = np.flatnonzero(long_enough)
    idx = kept[sample_indices(store.labels[kept], per_genre, seed)]
    return Selection(idx, max(1, min(store.tracks[int(i)].n_valid for i in idx)))


def embedded_backbones(
    store: FeatureStore, indices: Sequence[int] | npt.NDArray[np.int64]
) -> list[str]:
    """The pretrained backbones (``genrekit embed``) that embedded every clip of ``indices``."""
    return [b for b in BACKBONES if all(store.has_embedding(int(i), b) for i in indices)]


@dataclass(frozen=True)
class PcaResult:
    """A standardized PCA of flattened images."""

    coords: Matrix  # (n_clips, n_components)
    explained: npt.NDArray[np.float64]  # fraction of variance of each component


def image_pca(
    store: FeatureStore,
    kind: FeatureKind,
    indices: Sequence[int] | npt.NDArray[np.int64],
    *,
    frames: int | None = None,
    n_components: int = N_COMPONENTS,
    batch: int = BATCH_CLIPS,
    progress: Progress | None = None,
) -> PcaResult:
    """PCA of the standardized, flattened ``kind`` images of the clips ``indices``.

    ``frames`` keeps only the first frames of each image: clips of different lengths are
    compared on their common, real part instead of on where their padding starts.

    Small inputs are decomposed in memory (exact SVD); larger ones in three streaming passes
    (pixel statistics, ``IncrementalPCA.partial_fit``, projection), so memory stays at a few
    batches whatever the store's size.
    """
    from sklearn.decomposition import PCA, IncrementalPCA

    idx = np.asarray(indices, dtype=np.int64)
    if idx.size < 3:
        raise FeatureStoreError(f"PCA needs at least 3 clips; the selection has {idx.size}")
    n_components = min(n_components, idx.size - 1)
    batch = max(batch, n_components + 1)

    def flat(chunk: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
        rows = [
            np.asarray(store.array(kind, int(i))[:, :frames], dtype=np.float64).ravel()
            for i in chunk
        ]
        if len({r.size for r in rows}) != 1:
            raise FeatureStoreError(f"{store.root}: clips of different shapes cannot be compared")
        return np.stack(rows)

    chunks = [idx[i : i + batch] for i in range(0, idx.size, batch)]
    if len(chunks) > 1 and chunks[-1].size <= n_components:  # partial_fit needs enough rows
        chunks[-2] = np.concatenate([chunks[-2], chunks.pop()])
    n_passes = 1 if len(chunks) == 1 else 3
    read = 0

    def load(chunk: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
        nonlocal read
        x = flat(chunk)
        read += chunk.size
        if progress:
            progress(Step("pca", read, n_passes * idx.size))
        return x

    if n_passes == 1:
        x = load(chunks[0])
        x = _standardize(x, x.mean(axis=0), x.std(axis=0))
        pca = PCA(n_components=n_components, svd_solver="full").fit(x)
        return PcaResult(pca.transform(x), pca.explained_variance_ratio_)

    # Pass 1: per-pixel mean and standard deviation (float64 sums).
    x = load(chunks[0])
    total, total_sq = x.sum(axis=0), (x**2).sum(axis=0)
    for chunk in chunks[1:]:
        x = load(chunk)
        total += x.sum(axis=0)
        total_sq += (x**2).sum(axis=0)
    mean = total / idx.size
    std = np.sqrt(np.maximum(total_sq / idx.size - mean**2, 0.0))
    # Pass 2: fit; pass 3: project.
    ipca = IncrementalPCA(n_components=n_components)
    for chunk in chunks:
        ipca.partial_fit(_standardize(load(chunk), mean, std))
    coords = np.concatenate([ipca.transform(_standardize(load(c), mean, std)) for c in chunks])
    return PcaResult(coords, ipca.explained_variance_ratio_)


def _standardize(x: Matrix, mean: Matrix, std: Matrix) -> Matrix:
    # Constant pixels (the padding of short clips) carry no information: leave them at 0.
    return (x - mean) / np.where(std > 0, std, 1.0)


def clip_summaries(
    store: FeatureStore, indices: Sequence[int] | npt.NDArray[np.int64]
) -> npt.NDArray[np.float64]:
    """Mean and standard deviation of every MFCC and mel band over a clip's real frames.

    Returns
    -------
    X : ndarray, shape (n_clips, 2 * (n_mfcc + n_mels))
    """
    rows = []
    for i in np.asarray(indices, dtype=np.int64):
        valid = max(1, store.tracks[int(i)].n_valid)
        parts = []
        for kind in ("mfcc", "logmel"):
            image = np.asarray(store.array(kind, int(i))[:, :valid], dtype=np.float64)
            parts += [image.mean(axis=1), image.std(axis=1)]
        rows.append(np.concatenate(parts))
    return np.stack(rows)


def tsne_map(summaries: npt.NDArray[np.floating[Any]], seed: int = 0) -> Matrix:
    """A 2-D t-SNE map of standardized clip summaries (perplexity suited to the clip count)."""
    from sklearn.manifold import TSNE
    from sklearn.preprocessing import StandardScaler

    n = summaries.shape[0]
    if n < 4:
        raise FeatureStoreError(f"a t-SNE map needs at least 4 clips; the selection has {n}")
    x = StandardScaler().fit_transform(summaries)
    perplexity = float(min(30.0, (n - 1) / 3))
    tsne = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed)
    coords: Matrix = tsne.fit_transform(x)
    return coords


@dataclass(frozen=True)
class Separation:
    """How well labels separate in a space, beside the same numbers for shuffled labels."""

    silhouette: float
    silhouette_shuffled: float
    knn_accuracy: float
    knn_accuracy_shuffled: float
    chance: float  # accuracy of always answering the largest genre
    folds: int

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


def separation(coords: Matrix, labels: npt.NDArray[np.int64], seed: int = 0) -> Separation | None:
    """Silhouette and k-NN accuracy of ``labels`` in ``coords``; None if they cannot be measured.

    k-NN accuracy is cross-validated (stratified folds, at most 5), so no clip votes for itself.
    """
    from sklearn.metrics import silhouette_score
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.neighbors import KNeighborsClassifier

    counts = np.bincount(np.unique(labels, return_inverse=True)[1])
    if counts.size < 2 or counts.min() < 2:
        return None  # one genre, or a genre of one clip: nothing to measure
    folds = int(min(5, counts.min()))
    shuffled = np.random.default_rng(seed).permutation(labels)

    def knn(y: npt.NDArray[np.int64]) -> float:
        k = min(KNN_NEIGHBOURS, int(coords.shape[0] * (folds - 1) / folds) - 1)
        cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
        scores = cross_val_score(KNeighborsClassifier(n_neighbors=max(1, k)), coords, y, cv=cv)
        return float(scores.mean())

    return Separation(
        silhouette=float(silhouette_score(coords, labels)),
        silhouette_shuffled=float(silhouette_score(coords, shuffled)),
        knn_accuracy=knn(labels),
        knn_accuracy_shuffled=knn(shuffled),
        chance=float(counts.max() / counts.sum()),
        folds=folds,
    )
