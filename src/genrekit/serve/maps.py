"""The Explore page's maps of a feature store, computed once when first asked, then kept.

The maps and their numbers are ``genrekit explore``'s (:mod:`genrekit.explore`): the same
clips (up to :data:`PER_GENRE` of each genre, drawn with the same seed), the PCA of their
standardized MFCC images, and a t-SNE map of each pretrained backbone's embeddings when every
chosen clip has one (``genrekit embed``), each with the silhouette and k-NN accuracy of its
genres beside the same numbers for shuffled labels. A store of many genres is mapped on fewer
clips of each, so that no map holds more than :data:`MAX_CLIPS`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from genrekit.dataset import FeatureStore
from genrekit.errors import FeatureStoreError
from genrekit.explore import (
    embedded_backbones,
    image_pca,
    select_clips,
    separation,
    tsne_map,
)
from genrekit.report import ExploreOptions
from genrekit.serve.spectrogram import picture

PER_GENRE = ExploreOptions().per_genre or 200
"""Clips of each genre on a map: ``genrekit explore``'s default (the seed's)."""
MAX_CLIPS = 2000
"""Most clips on a map (a store of many genres gets fewer of each): t-SNE stays in seconds."""
SEED = ExploreOptions().seed
PCA_MAP = "mfcc_pca"


@dataclass(frozen=True)
class MapInfo:
    name: str  # as genrekit explore's numbers.json names the space
    title: str
    short: str  # a table column's heading
    axes: tuple[str, str]


class StoreMaps:
    """The maps of the store ``root``: the clips they show at once, each map when asked.

    Raises :class:`FeatureStoreError` for a folder that is no readable store, or one without
    enough usable clips for a map (3).
    """

    def __init__(self, root: Path):
        self.store = FeatureStore(root)
        if len(self.store) < 3:
            raise FeatureStoreError(
                f"{self.store.root}: a map needs at least 3 usable clips; the store has "
                f"{len(self.store)}"
            )
        genres = len(self.store.genres)
        self.per_genre = max(1, min(PER_GENRE, MAX_CLIPS // genres))
        self.selection = select_clips(self.store, self.per_genre, seed=SEED)
        self.labels = self.store.labels[self.selection.indices]
        enough = self.selection.indices.size >= 4  # t-SNE's least
        self.backbones = embedded_backbones(self.store, self.selection.indices) if enough else []
        self.maps = [MapInfo(PCA_MAP, "PCA of MFCC images", "MFCC PCA", ("PC1", "PC2"))] + [
            MapInfo(
                f"embedding_tsne_{b}",
                f"t-SNE of {b} embeddings",
                f"{b} t-SNE",
                ("t-SNE 1", "t-SNE 2"),
            )
            for b in self.backbones
        ]
        self._made: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def summary(self) -> dict[str, Any]:
        """The store's genres, the clips on the maps (in map order) and the maps' names."""
        store, idx = self.store, self.selection.indices
        return {
            "store": store.root.name,
            "genres": store.genres,
            "clips_in_store": len(store),
            "clips": [
                {"id": int(i), "name": store.tracks[int(i)].path, "genre": int(store.labels[i])}
                for i in idx
            ],
            "per_genre": self.per_genre,
            "seconds_compared": round(
                self.selection.frames * store.params.hop_length / store.params.sr, 3
            ),
            "maps": [{"name": m.name, "title": m.title, "short": m.short} for m in self.maps],
        }

    def map(self, name: str) -> dict[str, Any]:
        """One map: a point per clip of :meth:`summary` and its separation numbers; computed
        on the first call (one map at a time), then kept. Raises KeyError for no such map."""
        info = next((m for m in self.maps if m.name == name), None)
        if info is None:
            raise KeyError(name)
        with self._lock:
            if name not in self._made:
                self._made[name] = self._compute(info)
            return self._made[name]

    def _compute(self, info: MapInfo) -> dict[str, Any]:
        idx, axes = self.selection.indices, list(info.axes)
        if info.name == PCA_MAP:
            pca = image_pca(self.store, "mfcc", idx, frames=self.selection.frames)
            coords = pca.coords[:, :2]
            shares = [100 * float(v) for v in pca.explained[:2]]
            axes = [f"PC{k + 1} ({share:.1f} % of variance)" for k, share in enumerate(shares)]
        else:
            backbone = info.name.removeprefix("embedding_tsne_")
            found = np.stack([self.store.embedding(int(i), backbone) for i in idx])
            coords = tsne_map(found, SEED)  # as genrekit explore maps them (float32 in)
        scores = separation(coords, self.labels, SEED)
        return {
            "name": info.name,
            "title": f"{info.title} ({idx.size} clips)",
            "axes": axes,
            "x": _rounded(coords[:, 0]),
            "y": _rounded(coords[:, 1]),
            "separation": scores.to_dict() if scores else None,
        }

    def spectrogram(self, clip: int) -> dict[str, Any]:
        """Clip ``clip``'s log-mel from the store (its real frames), as the page draws it.
        Raises IndexError for no such clip."""
        if not 0 <= clip < len(self.store):
            raise IndexError(clip)
        track = self.store.tracks[clip]
        db = np.asarray(self.store.array("logmel", clip)[:, : max(1, track.n_valid)])
        power = np.power(10.0, db.astype(np.float64) / 10.0)  # stored as dB re 1.0
        return picture(power, seconds=track.duration, params=self.store.params)


def _rounded(values: npt.NDArray[np.float64]) -> list[float]:
    return [float(v) for v in np.round(values, 4)]
