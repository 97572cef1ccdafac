"""The exploration report's figures: maps of clips by genre, the scree plot, a gallery of
spectrograms, class balance and durations (matplotlib figures; :mod:`genrekit.plotting` writes
them)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from genrekit.dataset import FeatureStore
from genrekit.explore import sample_indices
from genrekit.plotting import literal

if TYPE_CHECKING:
    from matplotlib.figure import Figure


MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">", "h", "p")


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
