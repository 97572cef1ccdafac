"""``genrekit explore``: one folder with the pictures and numbers of a feature store.

``REPORT_DIR/index.html`` (static, opens from disk) shows PCA maps of the MFCC and mel images,
a scree plot, a t-SNE map of clip summaries, a gallery per genre, class balance and durations,
with the numbers of :mod:`genrekit.explore` in ``numbers.json``.
"""

from __future__ import annotations

import html
import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from genrekit import extras, plotting
from genrekit.backbones import BACKBONES
from genrekit.dataset import FeatureKind, FeatureStore
from genrekit.errors import FeatureStoreError, ParameterError
from genrekit.explore import (
    PcaResult,
    clip_summaries,
    image_pca,
    sample_indices,
    separation,
    tsne_map,
)
from genrekit.plotting import literal
from genrekit.progress import Progress, Step
from genrekit.storage import write_bytes_atomic

if TYPE_CHECKING:
    from matplotlib.figure import Figure

KINDS: tuple[tuple[FeatureKind, str], ...] = (("mfcc", "MFCC"), ("logmel", "mel"))
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">", "h", "p")


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

    long_enough = np.array([t.duration >= options.min_seconds for t in store.tracks])
    if not long_enough.any():
        raise FeatureStoreError(
            f"{store.root}: no clip has {options.min_seconds:g} s of audio; lower the minimum "
            "length (min_seconds)"
        )
    kept = np.flatnonzero(long_enough)
    idx = kept[sample_indices(store.labels[kept], options.per_genre, options.seed)]
    labels = store.labels[idx]
    # Images are compared on the frames every selected clip really has, not on padding.
    frames = max(1, min(store.tracks[int(i)].n_valid for i in idx))
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
    embedded = [b for b in BACKBONES if all(store.has_embedding(int(i), b) for i in idx)]
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


def _figure(width: float, height: float) -> Figure:
    import matplotlib.pyplot as plt

    figure: Figure = plt.figure(figsize=(width, height), layout="constrained")
    return figure


def scatter(
    coords: npt.NDArray[np.float64],
    labels: npt.NDArray[np.int64],
    genres: list[str],
    title: str,
    axis_labels: tuple[str, str],
) -> Figure:
    """One colour and marker per genre, legend outside the plot."""
    from matplotlib import colormaps

    fig = _figure(8.5, 6)
    ax = fig.add_subplot()
    colours = colormaps["tab10" if len(genres) <= 10 else "tab20"]
    for i, genre in enumerate(genres):
        points = coords[labels == i]
        if points.size:
            ax.scatter(
                points[:, 0],
                points[:, 1],
                s=28,
                alpha=0.8,
                label=f"{literal(genre)} ({len(points)})",
                color=colours(i % colours.N),
                marker=MARKERS[i % len(MARKERS)],
                edgecolors="none",
            )
    ax.set_xlabel(axis_labels[0])
    ax.set_ylabel(axis_labels[1])
    ax.set_title(title)
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False, title="genre")
    return fig


def scree(explained: dict[str, npt.NDArray[np.float64]]) -> Figure:
    from matplotlib.ticker import MaxNLocator

    fig = _figure(7, 4)
    ax = fig.add_subplot()
    width = 0.8 / len(explained)
    for j, (name, ratios) in enumerate(explained.items()):
        x = np.arange(1, ratios.size + 1)
        ax.bar(x + (j - (len(explained) - 1) / 2) * width, 100 * ratios, width, label=name)
        ax.plot(x, 100 * np.cumsum(ratios), marker="o", label=f"{name}, cumulative")
    ax.set_xlabel("principal component")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("% of variance explained")
    ax.set_title("Scree plot: how much each component explains")
    ax.legend(frameon=False)
    return fig


def gallery(store: FeatureStore, per_genre: int, seed: int) -> Figure:
    """For each genre, ``per_genre`` example clips: mel (dB re max) and MFCC side by side."""
    examples = sample_indices(store.labels, per_genre, seed)
    genres = store.genres
    columns = per_genre * 2
    fig = _figure(1.8 * columns, 1.6 * len(genres) + 0.4)
    grid = fig.subplots(len(genres), columns, squeeze=False)
    for row, genre in enumerate(genres):
        chosen = [int(i) for i in examples if store.labels[i] == row]
        for col in range(per_genre):
            mel_ax, mfcc_ax = grid[row, 2 * col], grid[row, 2 * col + 1]
            for ax in (mel_ax, mfcc_ax):
                ax.set_xticks([])
                ax.set_yticks([])
            if col >= len(chosen):
                mel_ax.axis("off")
                mfcc_ax.axis("off")
                continue
            track = store.tracks[chosen[col]]
            valid = max(1, track.n_valid)
            mel = np.asarray(store.array("logmel", chosen[col])[:, :valid])
            mfcc = np.asarray(store.array("mfcc", chosen[col])[:, :valid])
            mel_ax.imshow(mel - mel.max(), origin="lower", aspect="auto", cmap="magma")
            # Each coefficient on its own scale: MFCC 0 (loudness) is ~10x the others and
            # would otherwise wash every other row out to one colour.
            spread = mfcc.std(axis=1, keepdims=True) + 1e-6
            shown = (mfcc - mfcc.mean(axis=1, keepdims=True)) / spread
            mfcc_ax.imshow(shown, origin="lower", aspect="auto", cmap="magma", vmin=-3, vmax=3)
            name = Path(track.path).stem
            mel_ax.set_title(literal(_shorten(name, 28)), fontsize=7, loc="left")
            mfcc_ax.set_title("MFCC (per row)", fontsize=7, loc="left")
        grid[row, 0].set_ylabel(literal(genre), fontsize=10, rotation=0, ha="right", va="center")
    fig.suptitle("Examples per genre: mel spectrogram (dB re max) and MFCCs, real audio only")
    return fig


def balance(store: FeatureStore) -> Figure:
    from matplotlib.ticker import MaxNLocator

    counts = Counter(t.genre for t in store.tracks)
    artists: dict[str, Counter[str]] = {g: Counter() for g in store.genres}
    for t in store.tracks:
        if t.artist:
            artists[t.genre][t.artist] += 1
    with_artists = any(artists.values())
    fig = _figure(10 if with_artists else 6, 0.35 * len(store.genres) + 1.5)
    axes = fig.subplots(1, 2 if with_artists else 1, squeeze=False)[0]
    y = np.arange(len(store.genres))
    axes[0].barh(y, [counts[g] for g in store.genres], color="tab:blue")
    axes[0].set_yticks(y, [literal(g) for g in store.genres])
    axes[0].invert_yaxis()
    axes[0].set_xlabel("clips")
    axes[0].xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[0].set_title("Clips per genre")
    if with_artists:
        axes[1].barh(y, [len(artists[g]) for g in store.genres], color="tab:green", label="artists")
        axes[1].barh(
            y,
            [max(artists[g].values(), default=0) for g in store.genres],
            height=0.4,
            color="tab:red",
            label="clips of the largest artist",
        )
        axes[1].set_yticks(y, [])
        axes[1].invert_yaxis()
        axes[1].set_title("Artists per genre")
        axes[1].xaxis.set_major_locator(MaxNLocator(integer=True))
        axes[1].legend(frameon=False, fontsize=8)
    return fig


def durations(store: FeatureStore) -> Figure:
    fig = _figure(7, 4)
    ax = fig.add_subplot()
    values = [[t.duration for t in store.tracks if t.genre == g] for g in store.genres]
    top = max(store.info.clip_seconds, max(t.duration for t in store.tracks))
    bins = [float(b) for b in np.linspace(0, top, 31)]
    ax.hist(values, bins=bins, stacked=True, label=[literal(g) for g in store.genres])
    ax.set_xlabel("seconds of real audio per clip (before padding)")
    ax.set_ylabel("clips")
    ax.set_title(f"Clip durations (clips are padded to {store.info.clip_seconds:g} s)")
    ax.legend(frameon=False, fontsize=8, ncol=2)
    return fig


def _shorten(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


_CAPTIONS = {
    "pca_mfcc.png": "The seed's view: each clip's MFCC image flattened, every pixel standardized "
    "over the clips, then PCA. Genres that sit apart differ already before any learning.",
    "pca_logmel.png": "The same PCA on the log-mel images (128 bands): far more pixels per clip.",
    "scree.png": "Variance explained by the first components; a steep start means a few "
    "directions carry most of the differences between clips.",
    "tsne.png": "A non-linear map (t-SNE) of clip summaries: mean and standard deviation of each "
    "MFCC and mel band over the clip's real audio. Distances between far clusters mean little.",
    "gallery.png": "Example clips of each genre, mel spectrogram and MFCCs side by side; each "
    "MFCC row is scaled on its own (MFCC 0, the loudness, would otherwise hide the others).",
    "balance.png": "Class balance: clips per genre (and artists per genre when known). One artist "
    "with many clips in a genre makes accuracy look better than it is.",
    "durations.png": "Seconds of real audio per clip; shorter clips are zero-padded.",
    **{
        f"embedding_{b}.png": f"t-SNE of the clips' {b} embeddings (genrekit embed): what a "
        "network pretrained on a large music collection hears. Tighter genre clusters here than "
        "in the maps above mean a small classifier on these embeddings will do well."
        for b in BACKBONES
    },
}


def page(report: Report) -> str:
    """The report's ``index.html``: static, relative links only."""
    n = report.numbers
    esc = html.escape
    min_text = f", at least {n['min_seconds']:g} s long" if n["min_seconds"] else ""
    rows = []
    names = {
        "mfcc_pca": "PCA of MFCC (2-D)",
        "mel_pca": "PCA of mel (2-D)",
        "summary_tsne": "t-SNE of summaries",
        **{f"embedding_tsne_{b}": f"t-SNE of {b} embeddings" for b in BACKBONES},
    }
    folds = ""
    for key, value in n["separation"].items():
        if value is None:
            rows.append(
                f"<tr><td>{esc(names[key])}</td><td colspan=4>not measurable "
                "(needs 2+ genres with 2+ clips each)</td></tr>"
            )
            continue
        folds = f"{value['folds']}-fold "
        rows.append(
            f"<tr><td>{esc(names[key])}</td><td>{value['silhouette']:.3f}</td>"
            f"<td>{value['silhouette_shuffled']:.3f}</td>"
            f"<td>{100 * value['knn_accuracy']:.1f} %</td>"
            f"<td>{100 * value['knn_accuracy_shuffled']:.1f} % "
            f"(chance {100 * value['chance']:.1f} %)</td></tr>"
        )
    genres = ", ".join(f"{esc(g)} ({c})" for g, c in n["genres"].items())
    figures = "\n".join(
        f'<figure><img src="{esc(name)}" alt="{esc(name)}"><figcaption>{esc(_CAPTIONS[name])}'
        "</figcaption></figure>"
        for name in report.files
        if name in _CAPTIONS
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>genrekit explore: {esc(Path(n["store"]).name)}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em;
       color: #222; }}
figure {{ margin: 2em 0; }} img {{ max-width: 100%; border: 1px solid #ddd; }}
figcaption {{ color: #555; font-size: 0.95em; margin-top: 0.4em; }}
table {{ border-collapse: collapse; }} td, th {{ border: 1px solid #ccc; padding: 0.3em 0.7em; }}
th {{ background: #f4f4f4; }} code {{ background: #f4f4f4; padding: 0 0.2em; }}
</style></head><body>
<h1>Exploring <code>{esc(n["store"])}</code></h1>
<p>{n["clips_explored"]} of {n["clips_in_store"]} clips (at most {n["per_genre"] or "all"} per
genre, seed {n["seed"]}{min_text}): {genres}.
PCA compares the first {n["frames_compared"]} frames ({n["seconds_compared"]:g} s) of every clip:
the audio the shortest selected clip really has. Raise <code>--min-seconds</code> to compare more.
</p>
<h2>Do genres cluster? Measured</h2>
<p>Silhouette (from -1 to 1; above 0 means clips sit nearer their own genre) and the accuracy of a
5-nearest-neighbour vote ({folds}cross-validated) in each 2-D map, beside the same numbers
with the genre labels shuffled.</p>
<table><tr><th>space</th><th>silhouette</th><th>shuffled</th><th>k-NN accuracy</th>
<th>shuffled labels</th></tr>
{"".join(rows)}
</table>
{figures}
<p>All numbers: <a href="numbers.json">numbers.json</a>. Made by genrekit explore.</p>
</body></html>
"""
