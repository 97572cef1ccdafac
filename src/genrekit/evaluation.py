"""``genrekit evaluate``: a trained model's honest numbers (export is :mod:`genrekit.checkpoint`).

Evaluation uses only clips the model never saw in training or validation (the checkpoint keeps
the content hashes of both), so evaluating on the training store gives its held-out test split,
and on another store gives all of it. Models fitted in closed form need no PyTorch for either.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from genrekit import plotting
from genrekit.checkpoint import load_checkpoint
from genrekit.dataset import FeatureStore
from genrekit.errors import ModelError
from genrekit.storage import write_bytes_atomic
from genrekit.training import probabilities

MOST_CONFUSED = 15


def evaluate(
    model_dir: str | os.PathLike[str],
    store_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """Track-level metrics of a model on the clips of a store it was not trained on."""
    from sklearn.metrics import (
        balanced_accuracy_score,
        confusion_matrix,
        precision_recall_fscore_support,
    )

    checkpoint = load_checkpoint(model_dir)
    info = checkpoint.info
    store = FeatureStore(store_dir, expect=info.params)
    if info.window_frames is None and store.info.clip_seconds != info.clip_seconds:
        raise ModelError(
            f"{store.root}: clips of {store.info.clip_seconds:g} s, but this model reads whole "
            f"clips of {info.clip_seconds:g} s; extract the audio again with clips of "
            f"{info.clip_seconds:g} s"
        )
    classes = list(info.classes)
    split = checkpoint.split
    seen = set(split.get("train", [])) | set(split.get("val", []))
    picked = [i for i, t in enumerate(store.tracks) if t.sha256 not in seen and t.genre in classes]
    if not picked:
        raise ModelError(
            f"{store.root}: no clip left to evaluate: every clip was used in training, or none "
            f"has a genre the model knows ({', '.join(classes)})"
        )
    indices = np.array(picked, dtype=np.int64)
    truth = np.array([classes.index(store.tracks[i].genre) for i in picked])
    probs = probabilities(checkpoint, store, indices)
    guess = probs.argmax(axis=1)
    labels = list(range(len(classes)))
    precision, recall, f1, support = precision_recall_fscore_support(
        truth, guess, labels=labels, zero_division=0
    )
    matrix = confusion_matrix(truth, guess, labels=labels, normalize="true")
    wrong = [k for k in range(len(picked)) if guess[k] != truth[k]]
    wrong.sort(key=lambda k: -probs[k, guess[k]])
    report: dict[str, Any] = {
        "model": str(model_dir),
        "store": str(store.root),
        "architecture": info.architecture,
        "tracks": len(picked),
        "skipped_seen_in_training": sum(1 for t in store.tracks if t.sha256 in seen),
        "accuracy": float((guess == truth).mean()),
        "balanced_accuracy": float(balanced_accuracy_score(truth, guess)),
        "per_genre": {
            genre: {
                "precision": float(precision[c]),
                "recall": float(recall[c]),
                "f1": float(f1[c]),
                "tracks": int(support[c]),
            }
            for c, genre in enumerate(classes)
        },
        "confusion_normalized": np.nan_to_num(matrix).round(4).tolist(),
        "classes": classes,
        "most_confused": [
            {
                "path": store.tracks[picked[k]].path,
                "genre": classes[truth[k]],
                "predicted": classes[guess[k]],
                "probability": round(float(probs[k, guess[k]]), 4),
            }
            for k in wrong[:MOST_CONFUSED]
        ],
    }
    out = Path(out_dir) if out_dir is not None else Path(model_dir) / "evaluation"
    out.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(out / "evaluation.json", json.dumps(report, indent=2).encode("utf-8"))
    confusion_figure(np.nan_to_num(matrix), classes, out / "confusion.png", report["accuracy"])
    return report


def confusion_figure(matrix: np.ndarray, classes: list[str], path: Path, accuracy: float) -> None:
    plt = plotting.pyplot()
    size = 1.6 + 0.55 * len(classes)
    fig, ax = plt.subplots(figsize=(size + 1.2, size), layout="constrained")
    image = ax.imshow(matrix, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted genre")
    ax.set_ylabel("true genre")
    for r in range(len(classes)):
        for c in range(len(classes)):
            if matrix[r, c] >= 0.005:
                colour = "white" if matrix[r, c] > 0.5 else "black"
                ax.text(
                    c, r, f"{matrix[r, c]:.2f}", ha="center", va="center", fontsize=8, color=colour
                )
    ax.set_title(f"Confusion (rows sum to 1); accuracy {100 * accuracy:.1f} %")
    fig.colorbar(image, ax=ax, fraction=0.046)
    plotting.save(fig, path, dpi=100)
