"""A trained model on disk: its checkpoint (saved, loaded, checked) and its ONNX export.

A :class:`Checkpoint` is a model's description (:class:`~genrekit.model_info.ModelInfo`), the
arguments that build it, its weights and how it was trained. On disk it is a dict of plain
types and arrays (:meth:`Checkpoint.to_dict`): ``model.npz`` (numpy, no pickle) for a model
fitted in closed form, ``model.pt`` (PyTorch, read with ``weights_only``) for a network. It is
checked when read (:meth:`Checkpoint.from_dict`); the same description travels in an exported
ONNX graph's metadata.
"""

from __future__ import annotations

import io
import json
import os
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from genrekit import extras, linear
from genrekit.errors import GenrekitError, ModelError, ParameterError
from genrekit.model_info import ModelInfo
from genrekit.onnx_session import one_line
from genrekit.recipes import RECIPES, closed_form, input_kind, public_models
from genrekit.storage import atomic_path, write_bytes_atomic
from genrekit.training_log import UNKNOWN, TrainingOutcome

if TYPE_CHECKING:
    from torch import nn


CHECKPOINT_FORMAT = "genrekit-model"


CHECKPOINT_VERSION = 1


CHECKPOINT_FILES = ("model.npz", "model.pt")
"""A model folder's checkpoint: numpy arrays (closed-form models) or PyTorch (networks)."""

ONNX_OPSET = 17

_KEYS = (
    "format",
    "version",
    "architecture",
    "arguments",
    "classes",
    "feature_params",
    "clip_seconds",
    "window_frames",
    "input_frames",
    "backbone",
    "teacher",
    "short_fill",
    "reads",
    "options",
    "training",
    "state_dict",
    "split",  # added by train() after the rest, so it comes last
)
"""A checkpoint's keys, in the order they are written: that of checkpoints made before, so a
model trained again on the same clips is the same file, byte for byte."""


@dataclass(frozen=True)
class Checkpoint:
    """A trained model: what it is, how to build it, its weights, and how it was trained."""

    info: ModelInfo
    arguments: dict[str, Any]  # the keyword arguments that build it (models.build)
    state: dict[str, Any]  # name -> array: numpy (closed form) or tensors (networks)
    teacher: str | None = None  # the backbone it was taught by (training only)
    options: dict[str, Any] = field(default_factory=dict)  # its TrainOptions, as plain types
    # How training ended (training.train_model, training.train): for people and reports.
    training: TrainingOutcome = field(default_factory=lambda: TrainingOutcome(UNKNOWN))
    # Content hashes of the clips of each part ("train", "val", "test"), when written by train.
    split: dict[str, list[str]] = field(default_factory=dict)

    @property
    def closed_form(self) -> bool:
        """Fitted in closed form (numpy state, ``model.npz``), not a network."""
        return closed_form(self.info.architecture)

    def to_dict(self) -> dict[str, Any]:
        """The checkpoint as saved: plain types, the state under ``state_dict``."""
        found = self.info.to_dict() | {
            "format": CHECKPOINT_FORMAT,
            "version": CHECKPOINT_VERSION,
            "arguments": self.arguments,
            "teacher": self.teacher,
            "options": self.options,
            "training": self.training.to_dict(),
            "state_dict": self.state,
        }
        if self.split:
            found["split"] = self.split
        return {key: found[key] for key in _KEYS if key in found}

    @classmethod
    def from_dict(cls, data: Any, path: Path) -> Checkpoint:
        """The checked checkpoint in ``data``, as read from ``path``.

        Raises :class:`ModelError` naming ``path`` unless its description is whole and sane
        (:meth:`ModelInfo.from_dict`) and its state holds the arrays its architecture and
        arguments call for, of the right shapes (a closed-form model's state becomes numpy
        arrays)."""
        if not isinstance(data, dict) or data.get("format") != CHECKPOINT_FORMAT:
            raise ModelError(f"{path}: not a genrekit model checkpoint")
        version = data.get("version", 0)
        if isinstance(version, bool) or not isinstance(version, int):
            raise ModelError(f"{path}: damaged model checkpoint (version {version!r:.40})")
        if version > CHECKPOINT_VERSION:
            raise ModelError(f"{path}: made by a newer genrekit (version {version})")
        for key in ("architecture", "arguments", "classes", "feature_params", "state_dict"):
            if key not in data:
                raise ModelError(f"{path}: damaged model checkpoint (no {key!r})")
        architecture = data["architecture"]
        if not isinstance(architecture, str) or architecture not in RECIPES:
            raise ModelError(
                f"{path}: unknown architecture {architecture!r:.60}; this genrekit has "
                f"{', '.join(public_models())}"
            )
        info = ModelInfo.from_dict(data, str(path))
        arguments, state = data["arguments"], data["state_dict"]
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
                    f"{path}: damaged model: arguments give {name}={arguments[name]!r:.40}, but "
                    f"it describes {text}"
                )
        if closed_form(architecture):
            # Older closed-form checkpoints were saved by PyTorch: the same arrays, as tensors.
            try:
                state = {name: np.asarray(value, dtype=np.float32) for name, value in state.items()}
            except (TypeError, ValueError) as exc:
                raise ModelError(
                    f"{path}: damaged model: its state is not arrays ({exc})"
                ) from None
            linear.check_state(state, arguments, str(path))
        else:
            _check_network_state(architecture, arguments, state, path)
        return cls(
            info,
            arguments,
            state,
            teacher=data.get("teacher"),
            options=data.get("options") or {},
            training=TrainingOutcome.from_dict(data.get("training")),
            split=data.get("split") or {},
        )


def save_checkpoint(checkpoint: Checkpoint, model_dir: str | os.PathLike[str]) -> Path:
    """Write ``checkpoint`` into ``model_dir``: ``model.npz`` (numpy arrays and a JSON
    description, read without pickle) for a model fitted in closed form, else ``model.pt``
    (PyTorch, read with ``weights_only``). A checkpoint of the other kind there is removed."""
    folder = Path(model_dir)
    folder.mkdir(parents=True, exist_ok=True)
    saved = checkpoint.to_dict()
    if checkpoint.closed_form:
        target = folder / "model.npz"
        description = {k: v for k, v in saved.items() if k != "state_dict"}
        arrays: dict[str, Any] = {f"state/{k}": np.asarray(v) for k, v in checkpoint.state.items()}
        arrays["checkpoint"] = np.array(json.dumps(description))
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
    else:
        import torch

        target = folder / "model.pt"
        buffer = io.BytesIO()
        torch.save(saved, buffer)
    write_bytes_atomic(target, buffer.getvalue())
    for name in CHECKPOINT_FILES:  # the previous model of this folder, of the other kind
        if name != target.name:
            (folder / name).unlink(missing_ok=True)
    return target


def read_npz_checkpoint(path: Path) -> dict[str, Any]:
    """The dict of a checkpoint saved as ``model.npz`` (no pickle), not yet checked."""
    try:
        with np.load(path, allow_pickle=False) as data:
            checkpoint: dict[str, Any] = json.loads(str(data["checkpoint"]))
            state = {
                k[len("state/") :]: np.array(data[k]) for k in data.files if k.startswith("state/")
            }
    except (OSError, ValueError, KeyError, TypeError, EOFError) as exc:
        raise ModelError(f"{path}: not a readable genrekit model ({exc})") from exc
    if not isinstance(checkpoint, dict):
        raise ModelError(f"{path}: not a genrekit model checkpoint")
    checkpoint["state_dict"] = state
    return checkpoint


def load_model_state(checkpoint: Checkpoint) -> nn.Module:
    """The PyTorch module of a checkpoint (a closed-form model's arrays become tensors)."""
    import torch

    from genrekit.models import build

    # Initial weights are drawn, then overwritten: drawn from a forked generator, so loading a
    # model leaves the caller's random stream as it was.
    with torch.random.fork_rng(devices=[]):
        model = build(checkpoint.info.architecture, **checkpoint.arguments)
    state = {
        name: torch.from_numpy(np.array(value)) if isinstance(value, np.ndarray) else value
        for name, value in checkpoint.state.items()
    }
    model.load_state_dict(state)
    model.eval()
    return model


def load_checkpoint(model: str | os.PathLike[str]) -> Checkpoint:
    """The checked checkpoint of a model folder (its ``model.npz`` or ``model.pt``) or file:
    arrays and plain types only, no code (``model.pt`` needs PyTorch, read with
    ``weights_only``)."""
    path = Path(model)
    if path.is_dir():
        path = next(
            (path / name for name in CHECKPOINT_FILES if (path / name).is_file()), path / "model.pt"
        )
    if not path.is_file():
        raise ModelError(f"{path}: no such model; train one with 'genrekit train'")
    data: Any
    if path.suffix == ".npz":
        data = read_npz_checkpoint(path)
    else:
        extras.require(f"{path}: reading a network's checkpoint", "torch")
        import torch

        try:
            data = torch.load(path, weights_only=True, map_location="cpu")
        except Exception as exc:  # torch raises many kinds for a damaged file
            raise ModelError(f"{path}: not a readable genrekit model ({exc})") from exc
    return Checkpoint.from_dict(data, path)


def _check_network_state(
    architecture: str, arguments: dict[str, Any], state: dict[str, Any], path: Path
) -> None:
    """Raise :class:`ModelError` unless ``state`` has exactly the tensors, of exactly the
    shapes, of the network ``arguments`` build (built on no device: nothing is allocated)."""
    import torch

    from genrekit.models import build

    try:
        with torch.device("meta"):
            wanted = build(architecture, **arguments).state_dict()
    except (GenrekitError, TypeError, ValueError, RuntimeError) as exc:
        raise ModelError(
            f"{path}: damaged model: its arguments do not build a {architecture} ({one_line(exc)})"
        ) from None
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


def onnx_metadata(checkpoint: Checkpoint) -> dict[str, Any]:
    """What a classifier needs to feed an exported model: classes, features, input shape."""
    info = checkpoint.info
    if input_kind(info.architecture) == "summaries":  # summaries take any length
        info = replace(info, input_frames=None)
    return info.onnx_metadata()


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
    info = checkpoint.info
    if checkpoint.closed_form:
        graph = linear.onnx_graph(
            checkpoint.state, info.backbone, info.architecture, ONNX_OPSET, metadata
        )
        with atomic_path(target) as tmp:
            onnx.save(graph, str(tmp))
        return target
    extras.require(f"exporting a {info.architecture} network", "torch")
    import torch
    from torch import nn

    model = nn.Sequential(load_model_state(checkpoint), nn.Softmax(dim=1)).eval()
    if info.backbone:
        input_name = "embedding"
        example = torch.zeros(2, int(checkpoint.arguments["n_inputs"]))
    else:
        if info.input_frames is None:
            raise ModelError(
                f"{model_dir}: damaged model: a {info.architecture} network reads "
                "a fixed number of frames, but it describes none (input_frames)"
            )
        input_name = "logmel"
        example = torch.zeros(2, info.params.n_mels, info.input_frames)
    dynamic = {input_name: {0: "batch"}, "probabilities": {0: "batch"}}
    if input_kind(info.architecture) in ("summaries", "windows"):
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
