"""``genrekit evaluate`` and ``genrekit export``: a trained model's honest numbers, and ONNX.

Evaluation uses only clips the model never saw in training or validation (the checkpoint keeps
the content hashes of both), so evaluating on the training store gives its held-out test split,
and on another store gives all of it. Models fitted in closed form need no PyTorch for either.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from genrekit import extras, linear
from genrekit.dataset import FeatureStore
from genrekit.errors import GenrekitError, ModelError, ParameterError
from genrekit.features import FeatureParams
from genrekit.model_info import read_info
from genrekit.onnx_session import one_line
from genrekit.storage import atomic_path, write_bytes_atomic
from genrekit.training import (
    CHECKPOINT_FILES,
    CHECKPOINT_FORMAT,
    CHECKPOINT_VERSION,
    RECIPES,
    closed_form,
    load_model_state,
    probabilities,
    public_models,
    read_npz_checkpoint,
)

ONNX_OPSET = 17
MOST_CONFUSED = 15


def load_checkpoint(model: str | os.PathLike[str]) -> dict[str, Any]:
    """A checkpoint from a model folder (its ``model.npz`` or ``model.pt``) or file: arrays and
    plain types only, no code (``model.pt`` needs PyTorch, read with ``weights_only``)."""
    path = Path(model)
    if path.is_dir():
        path = next(
            (path / name for name in CHECKPOINT_FILES if (path / name).is_file()), path / "model.pt"
        )
    if not path.is_file():
        raise ModelError(f"{path}: no such model; train one with 'genrekit train'")
    checkpoint: dict[str, Any]
    if path.suffix == ".npz":
        checkpoint = read_npz_checkpoint(path)
    else:
        extras.require(f"{path}: reading a network's checkpoint", "torch")
        import torch

        try:
            checkpoint = torch.load(path, weights_only=True, map_location="cpu")
        except Exception as exc:  # torch raises many kinds for a damaged file
            raise ModelError(f"{path}: not a readable genrekit model ({exc})") from exc
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != CHECKPOINT_FORMAT:
        raise ModelError(f"{path}: not a genrekit model checkpoint")
    version = checkpoint.get("version", 0)
    if isinstance(version, bool) or not isinstance(version, int):
        raise ModelError(f"{path}: damaged model checkpoint (version {version!r:.40})")
    if version > CHECKPOINT_VERSION:
        raise ModelError(f"{path}: made by a newer genrekit (version {version})")
    for key in ("architecture", "arguments", "classes", "feature_params", "state_dict"):
        if key not in checkpoint:
            raise ModelError(f"{path}: damaged model checkpoint (no {key!r})")
    check_checkpoint(checkpoint, path)
    return checkpoint


def check_checkpoint(checkpoint: dict[str, Any], path: Path) -> None:
    """Raise :class:`ModelError` naming ``path`` unless the checkpoint's description is whole
    and sane (:func:`model_info.read_info`) and its state holds the arrays its architecture and
    arguments call for, of the right shapes (a closed-form model's state becomes numpy arrays).
    """
    architecture = checkpoint["architecture"]
    if not isinstance(architecture, str) or architecture not in RECIPES:
        raise ModelError(
            f"{path}: unknown architecture {architecture!r:.60}; this genrekit has "
            f"{', '.join(public_models())}"
        )
    info = read_info(checkpoint, str(path))
    arguments, state = checkpoint["arguments"], checkpoint["state_dict"]
    if not isinstance(arguments, dict) or not all(isinstance(k, str) for k in arguments):
        raise ModelError(f"{path}: damaged model: arguments {arguments!r:.80} are not named")
    if not isinstance(state, dict) or not all(isinstance(k, str) for k in state):
        raise ModelError(f"{path}: damaged model: its state is not a set of named arrays")
    described = {
        "n_classes": (len(info.classes), f"{len(info.classes)} classes"),
        "n_mels": (info.params.n_mels, f"feature_params n_mels={info.params.n_mels}"),
        "n_frames": (info.input_frames, f"input_frames={info.input_frames}"),
    }
    for name, (value, text) in described.items():
        if name in arguments and value is not None and arguments[name] != value:
            raise ModelError(
                f"{path}: damaged model: arguments give {name}={arguments[name]!r:.40}, but it "
                f"describes {text}"
            )
    if closed_form(architecture):
        # Older closed-form checkpoints were saved by PyTorch: the same arrays, as tensors.
        try:
            checkpoint["state_dict"] = {
                name: np.asarray(value, dtype=np.float32) for name, value in state.items()
            }
        except (TypeError, ValueError) as exc:
            raise ModelError(f"{path}: damaged model: its state is not arrays ({exc})") from None
        linear.check_state(checkpoint["state_dict"], arguments, str(path))
    else:
        _check_network_state(checkpoint, path)


def _check_network_state(checkpoint: dict[str, Any], path: Path) -> None:
    """Raise :class:`ModelError` unless the state has exactly the tensors, of exactly the
    shapes, of the network its arguments build (built on no device: nothing is allocated)."""
    import torch

    from genrekit.models import build

    architecture = checkpoint["architecture"]
    try:
        with torch.device("meta"):
            wanted = build(architecture, **checkpoint["arguments"]).state_dict()
    except (GenrekitError, TypeError, ValueError, RuntimeError) as exc:
        raise ModelError(
            f"{path}: damaged model: its arguments do not build a {architecture} ({one_line(exc)})"
        ) from None
    state = checkpoint["state_dict"]
    faults = [f"{name} missing" for name in wanted if name not in state]
    faults += [f"{name} unexpected" for name in state if name not in wanted]
    faults += [
        f"{name} of shape {tuple(getattr(state[name], 'shape', ()))}, not {tuple(tensor.shape)}"
        for name, tensor in wanted.items()
        if name in state
        and (not isinstance(state[name], torch.Tensor) or state[name].shape != tensor.shape)
    ]
    if faults:
        more = f" and {len(faults) - 3} more" if len(faults) > 3 else ""
        raise ModelError(
            f"{path}: damaged {architecture} model: {'; '.join(faults[:3])}{more}; train it again"
        )


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
    store = FeatureStore(store_dir, expect=FeatureParams.from_dict(checkpoint["feature_params"]))
    if (
        checkpoint["window_frames"] is None
        and store.info.clip_seconds != checkpoint["clip_seconds"]
    ):
        raise ModelError(
            f"{store.root}: clips of {store.info.clip_seconds:g} s, but this model reads whole "
            f"clips of {checkpoint['clip_seconds']:g} s; extract with --clip-seconds "
            f"{checkpoint['clip_seconds']:g}"
        )
    classes: list[str] = checkpoint["classes"]
    split = checkpoint.get("split", {})
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
        "architecture": checkpoint["architecture"],
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
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

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
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)


def onnx_metadata(checkpoint: dict[str, Any]) -> dict[str, Any]:
    """What a classifier needs to feed an exported model: classes, features, input shape."""
    return {
        "format": "genrekit-onnx",
        "version": 1,
        "architecture": checkpoint["architecture"],
        "classes": checkpoint["classes"],
        "feature_params": checkpoint["feature_params"],
        "clip_seconds": checkpoint["clip_seconds"],
        "window_frames": checkpoint["window_frames"],
        "input_frames": None
        if checkpoint["architecture"] == "baseline"
        else checkpoint["input_frames"],
        "short_fill": checkpoint.get("short_fill", "silence"),
        # A backbone model's input is that backbone's clip embedding, not the log-mel.
        "backbone": checkpoint.get("backbone"),
    }


def export_onnx(model_dir: str | os.PathLike[str], out_path: str | os.PathLike[str]) -> Path:
    """Write the model as ONNX: input ``logmel`` (batch, n_mels, frames) in dB, or for a backbone
    model ``embedding`` (batch, size); output ``probabilities`` (batch, n_classes); the metadata
    key ``genrekit`` holds ``onnx_metadata``. A model fitted in closed form is written node by
    node with ``onnx``; a network is exported by PyTorch."""
    extras.require("exporting a model to ONNX", "onnx")
    import onnx

    target = Path(out_path)
    if target.suffix.lower() != ".onnx":
        raise ParameterError(f"{target}: an ONNX file must end in .onnx, e.g. {target}.onnx")
    if target.is_dir():
        raise ParameterError(f"{target}: a folder; give a file, e.g. {target / 'model.onnx'}")
    checkpoint = load_checkpoint(model_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    metadata = json.dumps(onnx_metadata(checkpoint))
    if closed_form(checkpoint["architecture"]):
        graph = linear.onnx_graph(checkpoint, ONNX_OPSET, metadata)
        with atomic_path(target) as tmp:
            onnx.save(graph, str(tmp))
        return target
    extras.require(f"exporting a {checkpoint['architecture']} network", "torch")
    import torch
    from torch import nn

    model = nn.Sequential(load_model_state(checkpoint), nn.Softmax(dim=1)).eval()
    if checkpoint.get("backbone"):
        input_name = "embedding"
        example = torch.zeros(2, int(checkpoint["arguments"]["n_inputs"]))
    else:
        input_name = "logmel"
        n_mels = int(checkpoint["feature_params"]["n_mels"])
        example = torch.zeros(2, n_mels, int(checkpoint["input_frames"]))
    dynamic = {input_name: {0: "batch"}, "probabilities": {0: "batch"}}
    if checkpoint["architecture"] == "baseline" or checkpoint["window_frames"]:
        dynamic["logmel"][2] = "frames"  # summaries and global pooling take any length
    # The TorchScript exporter is deprecated but needs no extra packages (the torch.export
    # one needs onnxscript) and handles these plain feed-forward graphs exactly.
    with atomic_path(target) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            model,
            (example,),
            str(tmp),
            dynamo=False,
            opset_version=ONNX_OPSET,
            input_names=[input_name],
            output_names=["probabilities"],
            dynamic_axes=dynamic,
        )
        graph = onnx.load(str(tmp))
        entry = graph.metadata_props.add()
        entry.key, entry.value = "genrekit", metadata
        onnx.save(graph, str(tmp))
    return target
