"""``genrekit explore``: one folder with the pictures and numbers of a feature store.

``REPORT_DIR/index.html`` (static, opens from disk) shows PCA maps of the MFCC and mel images,
a scree plot, a t-SNE map of clip summaries, a gallery per genre, class balance and durations,
with the numbers of :mod:`genrekit.explore` in ``numbers.json``. This module computes and
writes; the figures are drawn by :mod:`genrekit.report_figures`, the page by
:mod:`genrekit.report_page`.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from genrekit import extras, plotting
from genrekit.dataset import FeatureKind, FeatureStore
from genrekit.errors import FeatureStoreError, ParameterError
from genrekit.explore import (
    PcaResult,
    clip_summaries,
    embedded_backbones,
    image_pca,
    select_clips,
    separation,
    tsne_map,
)
from genrekit.progress import Progress, Step
from genrekit.report_figures import balance, durations, gallery, scatter, scree
from genrekit.report_page import page
from genrekit.storage import write_bytes_atomic

if TYPE_CHECKING:
    from matplotlib.figure import Figure

KINDS: tuple[tuple[FeatureKind, str], ...] = (("mfcc", "MFCC"), ("logmel", "mel"))


@dataclass(frozen=True)
class ExploreOptions:
    per_genre: int | None = 200  # the seed's sample size; None: every clip
    min_seconds: float = 0.0  # leave out clips with less real audio
    seed: int = 0
    gallery: int = 3  # example clips per genre in the gallery

    def __post_init__(self) -> None:
        if self.per_genre is not None and self.per_genre < 1:
            raise ParameterError(f"per_genre={self.per_genre} must be at least 1")
        if self.gallery < 1:
            raise ParameterError(f"gallery={self.gallery} must be at least 1")


@dataclass
class Report:
    out_dir: Path
    files: list[str] = field(default_factory=list)
    numbers: dict[str, Any] = field(default_factory=dict)


def write_report(
    store_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    options: ExploreOptions | None = None,
    *,
    progress: Progress | None = None,
) -> Report:
    """Write the exploration report of the feature store ``store_dir`` into ``out_dir``."""
    extras.require("exploring a data set", "sklearn", "matplotlib")
    plotting.pyplot()
    options = options or ExploreOptions()
    store = FeatureStore(store_dir)
    if len(store) == 0:
        raise FeatureStoreError(f"{store.root}: the store holds no usable clip; nothing to explore")

    def step(stage: str, done: int, total: int) -> None:
        if progress is not None:
            progress(Step(stage, done, total))

    report = Report(Path(out_dir))
    report.out_dir.mkdir(parents=True, exist_ok=True)

    chosen = select_clips(
        store, options.per_genre, min_seconds=options.min_seconds, seed=options.seed
    )
    idx, frames = chosen.indices, chosen.frames
    labels = store.labels[idx]
    genres = store.genres
    pcas: dict[str, PcaResult] = {}
    for kind, name in KINDS:

        def pca_step(found: Step, stage: str = f"PCA of {name}") -> None:
            step(stage, found.done, found.total or 0)

        pcas[kind] = image_pca(store, kind, idx, frames=frames, progress=pca_step)
    step("clip summaries", 0, 1)
    summaries = clip_summaries(store, idx)
    step("t-SNE", 0, 1)
    tsne = tsne_map(summaries, options.seed) if idx.size >= 4 else None
    # A pretrained backbone's embeddings (genrekit embed), mapped the same way when present.
    embedded = embedded_backbones(store, idx)
    embedding_maps = {
        b: tsne_map(np.stack([store.embedding(int(i), b) for i in idx]), options.seed)
        for b in embedded
        if idx.size >= 4
    }
    step("figures", 0, 1)

    spaces = {"mfcc_pca": pcas["mfcc"].coords[:, :2], "mel_pca": pcas["logmel"].coords[:, :2]}
    if tsne is not None:
        spaces["summary_tsne"] = tsne
    for backbone, coords in embedding_maps.items():
        spaces[f"embedding_tsne_{backbone}"] = coords
    scores = {name: separation(coords, labels, options.seed) for name, coords in spaces.items()}
    report.numbers = {
        "store": str(store.root),
        "clips_in_store": len(store),
        "clips_explored": int(idx.size),
        "per_genre": options.per_genre,
        "min_seconds": options.min_seconds,
        "frames_compared": frames,
        "seconds_compared": round(frames * store.params.hop_length / store.params.sr, 3),
        "seed": options.seed,
        "genres": {g: int((labels == i).sum()) for i, g in enumerate(genres)},
        "explained_variance": {
            kind: [round(float(v), 6) for v in pca.explained] for kind, pca in pcas.items()
        },
        "separation": {name: s.to_dict() if s else None for name, s in scores.items()},
        "artists": _artist_numbers(store, idx),
        "feature_params": store.params.to_dict(),
        "clip_seconds": store.info.clip_seconds,
    }

    def save(name: str, figure: Figure, dpi: int = 110) -> None:
        plotting.save(figure, report.out_dir / name, dpi=dpi)
        report.files.append(name)

    for kind, name in KINDS:
        pca = pcas[kind]
        axes = (_pc_label(pca, 0), _pc_label(pca, 1))
        title = f"PCA of standardized {name} images ({idx.size} clips)"
        save(f"pca_{kind}.png", scatter(pca.coords[:, :2], labels, genres, title, axes))
    save("scree.png", scree({"MFCC": pcas["mfcc"].explained, "mel": pcas["logmel"].explained}))
    if tsne is not None:
        title = f"t-SNE of clip summaries (mean and std per band; {idx.size} clips)"
        save("tsne.png", scatter(tsne, labels, genres, title, ("t-SNE 1", "t-SNE 2")))
    for backbone, coords in embedding_maps.items():
        title = f"t-SNE of {backbone} embeddings ({idx.size} clips)"
        save(
            f"embedding_{backbone}.png",
            scatter(coords, labels, genres, title, ("t-SNE 1", "t-SNE 2")),
        )
    # Spectrograms compress badly: a lower resolution keeps the gallery near 1 MB.
    save("gallery.png", gallery(store, options.gallery, options.seed), dpi=80)
    save("balance.png", balance(store))
    save("durations.png", durations(store))

    write_bytes_atomic(
        report.out_dir / "numbers.json", json.dumps(report.numbers, indent=2).encode("utf-8")
    )
    report.files.append("numbers.json")
    write_bytes_atomic(report.out_dir / "index.html", page(report).encode("utf-8"))
    report.files.append("index.html")
    step("figures", 1, 1)
    return report


def _pc_label(pca: PcaResult, i: int) -> str:
    return f"PC{i + 1} ({100 * pca.explained[i]:.1f} % of variance)"


def _artist_numbers(store: FeatureStore, idx: npt.NDArray[np.int64]) -> dict[str, Any] | None:
    artists = [store.tracks[int(i)].artist for i in idx]
    known = [a for a in artists if a]
    if not known:
        return None
    top = Counter(known).most_common(1)[0]
    return {
        "known_for": len(known),
        "distinct": len(set(known)),
        "largest": {"artist": top[0], "clips": top[1]},
    }
