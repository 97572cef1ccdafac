"""What a genrekit model says about itself, checked before it is trusted.

An exported model (ONNX) and a checkpoint carry the same description, a :class:`ModelInfo`: its
classes, the feature parameters it was trained with, the length of its input and the backbone it
reads; :meth:`ModelInfo.to_dict` is the one place its fields are named as stored. A file that is
damaged or was made elsewhere can say anything there, so every field is checked for presence,
type and range (:meth:`ModelInfo.from_dict`), and an ONNX graph's input and output against it,
with one run on a silent input (:func:`check_graph`), before any audio is read. Each fault is
one :class:`ModelError` line that names the file and the field.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from genrekit.backbones import BACKBONE_TAGS, BACKBONES, EMBEDDING_SIZE
from genrekit.constants import MIN_SECONDS
from genrekit.errors import ModelError, ParameterError
from genrekit.features import FeatureParams
from genrekit.onnx_session import one_line

ONNX_FORMAT = "genrekit-onnx"
ONNX_VERSION = 1
"""The ``format`` and newest ``version`` of the metadata genrekit writes into an ONNX graph."""
MAX_SECONDS = 600.0
"""Longest clip or input window a model may ask for: ten minutes of audio."""
MAX_CLASSES = 10000
SHORT_FILLS = ("loop", "silence")
OUTPUT = "probabilities"
"""The output of every genrekit classifier: (batch, n_classes), each row summing to 1."""
_FIELDS = ("architecture", "classes", "feature_params", "clip_seconds", "window_frames")
_SUM_TOLERANCE = 1e-3


@dataclass(frozen=True)
class ModelInfo:
    """A model's checked description: the one place its fields are named as stored.

    A checkpoint and an exported graph's metadata hold it as a dict (:meth:`to_dict`), read
    back, checked, by :meth:`from_dict`."""

    architecture: str
    classes: tuple[str, ...]
    params: FeatureParams
    clip_seconds: float
    window_frames: int | None  # frames of one window (window models), or None
    input_frames: int | None  # frames of the input when fixed, or None (any length)
    short_fill: str  # how training filled inputs longer than a clip: "loop" or "silence"
    backbone: str | None  # the backbone whose embeddings the model reads, or None
    # A backbone model's input, in order: "<backbone>:embedding|tags" (by default, when left
    # empty, its backbone's embedding alone).
    reads: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.reads and self.backbone is not None:
            object.__setattr__(self, "reads", _default_reads(self.backbone))

    @property
    def input_size(self) -> int:
        """Numbers in one input row of a backbone model (0 for a log-mel model)."""
        return sum(part_size(part) for part in self.reads)

    @property
    def frames(self) -> int | None:
        """Frames of one log-mel input, None when any length will do."""
        return self.window_frames or self.input_frames

    def to_dict(self) -> dict[str, Any]:
        """The description as a checkpoint and an ONNX graph's metadata store it (plain types;
        ``reads`` only when it is not the backbone's embedding alone, as :meth:`from_dict`
        reads it by default)."""
        out: dict[str, Any] = {
            "architecture": self.architecture,
            "classes": list(self.classes),
            "feature_params": self.params.to_dict(),
            "clip_seconds": self.clip_seconds,
            "window_frames": self.window_frames,
            "input_frames": self.input_frames,
            "short_fill": self.short_fill,
            "backbone": self.backbone,
        }
        if self.reads != _default_reads(self.backbone):
            out["reads"] = list(self.reads)
        return out

    def onnx_metadata(self) -> dict[str, Any]:
        """What an exported graph carries under the metadata key ``genrekit``."""
        return {"format": ONNX_FORMAT, "version": ONNX_VERSION, **self.to_dict()}

    @classmethod
    def from_dict(cls, meta: dict[str, Any], where: str) -> ModelInfo:
        """The checked description in ``meta`` (a checkpoint, or an ONNX graph's metadata);
        other keys are left alone.

        Raises :class:`ModelError` naming ``where`` and the first field at fault."""
        missing = [name for name in (*_FIELDS, "input_frames") if name not in meta]
        if missing:
            raise ModelError(f"{where}: damaged model description: no {', '.join(missing)}")
        architecture = meta["architecture"]
        if not isinstance(architecture, str) or not architecture.strip():
            raise ModelError(f"{where}: architecture {architecture!r} is not a name")
        classes = _classes(meta["classes"], where)
        try:
            params = FeatureParams.from_dict(meta["feature_params"])
        except ParameterError as exc:
            raise ModelError(f"{where}: feature_params: {exc}") from None
        clip = meta["clip_seconds"]
        if isinstance(clip, bool) or not isinstance(clip, int | float):
            raise ModelError(f"{where}: clip_seconds={clip!r} is not a number")
        if not MIN_SECONDS <= clip <= MAX_SECONDS:  # NaN fails too
            raise ModelError(
                f"{where}: clip_seconds={clip!r} is out of range ({MIN_SECONDS:g} to "
                f"{MAX_SECONDS:g})"
            )
        most = params.n_frames(int(MAX_SECONDS * params.sr))
        window, frames = (
            _frames(meta, name, most, where) for name in ("window_frames", "input_frames")
        )
        short_fill = meta.get("short_fill", "silence")
        if short_fill not in SHORT_FILLS:
            raise ModelError(
                f"{where}: short_fill={short_fill!r} is not one of {', '.join(SHORT_FILLS)}"
            )
        backbone = meta.get("backbone")
        if backbone is not None and backbone not in BACKBONES:
            raise ModelError(
                f"{where}: reads the embeddings of backbone {backbone!r}, which this genrekit "
                f"does not have (it has {', '.join(BACKBONES)})"
            )
        reads = _reads(meta, backbone, where)
        return cls(
            architecture, classes, params, float(clip), window, frames, short_fill, backbone, reads
        )

    @classmethod
    def from_onnx_metadata(cls, meta: Any, where: str) -> ModelInfo:
        """The checked description an exported graph carries under the metadata key
        ``genrekit`` (its format and version first)."""
        if not isinstance(meta, dict):
            raise ModelError(f"{where}: its genrekit metadata is not a JSON object; re-export it")
        if meta.get("format", ONNX_FORMAT) != ONNX_FORMAT:
            raise ModelError(f"{where}: metadata of format {meta['format']!r}, not {ONNX_FORMAT!r}")
        version = meta.get("version", ONNX_VERSION)
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise ModelError(f"{where}: metadata version {version!r} is not a version number")
        if version > ONNX_VERSION:
            raise ModelError(f"{where}: made by a newer genrekit (metadata version {version})")
        return cls.from_dict(meta, where)


READ_KINDS = ("embedding", "tags")
"""What a backbone model may read of a backbone: its clip embedding, or its tag means."""


def part_size(part: str) -> int:
    backbone, kind = part.split(":")
    return EMBEDDING_SIZE if kind == "embedding" else len(BACKBONE_TAGS[backbone])


def _default_reads(backbone: str | None) -> tuple[str, ...]:
    """What a model reads when its description does not say: its backbone's embedding."""
    return (f"{backbone}:embedding",) if backbone is not None else ()


def _reads(meta: dict[str, Any], backbone: str | None, where: str) -> tuple[str, ...]:
    """The parts of a backbone model's input (``reads``); by default its backbone's embedding."""
    found = meta.get("reads")
    if backbone is None:
        if found:
            raise ModelError(f"{where}: reads {found!r:.80} but names no backbone")
        return ()
    if found is None:
        return _default_reads(backbone)
    if not isinstance(found, list) or not found:
        raise ModelError(f"{where}: reads={found!r:.80} is not a list of inputs")
    for part in found:
        name, _, kind = part.partition(":") if isinstance(part, str) else ("", "", "")
        if name not in BACKBONES or kind not in READ_KINDS:
            raise ModelError(
                f"{where}: reads {part!r:.80}, not one of <backbone>:{'|'.join(READ_KINDS)} with "
                f"a backbone this genrekit has ({', '.join(BACKBONES)})"
            )
    if found[0] != f"{backbone}:embedding":
        raise ModelError(f"{where}: reads {found[0]!r} first, not its backbone's embedding")
    if any(not part.startswith(f"{backbone}:") for part in found):
        raise ModelError(f"{where}: reads {found!r:.80}: all from its backbone {backbone}")
    return tuple(found)


def _classes(found: Any, where: str) -> tuple[str, ...]:
    if not isinstance(found, list) or not found:
        raise ModelError(f"{where}: classes must be a non-empty list of names, not {found!r:.80}")
    if len(found) > MAX_CLASSES:
        raise ModelError(f"{where}: {len(found)} classes, more than {MAX_CLASSES}")
    seen: dict[str, str] = {}
    for name in found:
        if not isinstance(name, str) or not name.strip() or not name.isprintable():
            raise ModelError(f"{where}: class {name!r:.80} is not a one-line name")
        if name.lower() in seen:
            raise ModelError(
                f"{where}: classes {seen[name.lower()]!r} and {name!r} are one name twice"
            )
        seen[name.lower()] = name
    return tuple(found)


def _frames(meta: dict[str, Any], name: str, most: int, where: str) -> int | None:
    value = meta[name]
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ModelError(f"{where}: {name}={value!r} is not a number of frames (or null)")
    if not 1 <= value <= most:
        raise ModelError(
            f"{where}: {name}={value} is out of range (1 to {most}, {MAX_SECONDS:g} s of frames)"
        )
    return value


def check_graph(session: Any, info: ModelInfo, where: str) -> str:
    """The name of the graph's input, once its input and output fit ``info`` and one run on a
    silent input gives a probability per class.

    Raises :class:`ModelError` naming ``where`` and what does not fit."""
    inputs = session.get_inputs()
    if len(inputs) != 1:
        names = ", ".join(i.name for i in inputs) or "none"
        raise ModelError(f"{where}: the graph takes {len(inputs)} inputs ({names}), not one")
    graph_input = inputs[0]
    if graph_input.type != "tensor(float)":
        raise ModelError(f"{where}: input {graph_input.name!r} is {graph_input.type}, not float")
    if info.backbone is not None:
        wanted: list[int | None] = [None, info.input_size]
        what = ["batch", f"{' + '.join(info.reads)} ({info.input_size} numbers)"]
    else:
        wanted = [None, info.params.n_mels, info.frames]
        what = ["batch", f"n_mels={info.params.n_mels}", _frames_text(info)]
    shape = list(graph_input.shape)
    if len(shape) != len(wanted):
        raise ModelError(
            f"{where}: input {graph_input.name!r} has shape {_shape(shape)}, but the model's "
            f"description gives {len(wanted)} dimensions ({', '.join(what)})"
        )
    for axis, (size, expected) in enumerate(zip(shape, wanted, strict=True)):
        if isinstance(size, int) and axis > 0 and size != expected:
            raise ModelError(
                f"{where}: input {graph_input.name!r} has shape {_shape(shape)}, but its "
                f"description gives {what[axis]}"
            )
    outputs = {o.name: o for o in session.get_outputs()}
    if OUTPUT not in outputs:
        raise ModelError(
            f"{where}: the graph has no output {OUTPUT!r} (it has {', '.join(outputs) or 'none'})"
        )
    out_shape = list(outputs[OUTPUT].shape)
    n_classes = len(info.classes)
    if len(out_shape) != 2 or (isinstance(out_shape[1], int) and out_shape[1] != n_classes):
        raise ModelError(
            f"{where}: output {OUTPUT!r} has shape {_shape(out_shape)}, but the model's "
            f"description names {_count(info.classes)}"
        )
    _dry_run(session, graph_input.name, info, where)
    return str(graph_input.name)


def _dry_run(session: Any, name: str, info: ModelInfo, where: str) -> None:
    """One run on a silent input: a graph that fails, or answers other than one probability per
    class, fails here rather than on every track."""
    if info.backbone is not None:
        shape: tuple[int, ...] = (1, info.input_size)
    else:
        frames = info.frames or info.params.n_frames(int(info.clip_seconds * info.params.sr))
        shape = (1, info.params.n_mels, frames)
    try:
        out = np.asarray(session.run([OUTPUT], {name: np.zeros(shape, np.float32)})[0])
    except Exception as exc:  # onnxruntime's own kinds: a broken or mismatched graph
        raise ModelError(f"{where}: fails on an input of shape {shape}: {one_line(exc)}") from None
    if out.shape != (1, len(info.classes)):
        raise ModelError(
            f"{where}: gives {out.shape[-1] if out.ndim else 'no'} probabilities an input "
            f"(shape {out.shape}), but its description names {_count(info.classes)}"
        )
    total = float(out.sum())
    if not (
        np.isfinite(out).all()
        and (out >= 0).all()
        and math.isclose(total, 1, abs_tol=_SUM_TOLERANCE)
    ):
        raise ModelError(
            f"{where}: output {OUTPUT!r} is not one probability per class (a silent input's "
            f"sum to {total:.4g}, not 1)"
        )


def _count(classes: tuple[str, ...]) -> str:
    shown = ", ".join(classes[:5]) + (", ..." if len(classes) > 5 else "")
    return f"{len(classes)} class{'es' if len(classes) != 1 else ''} ({shown})"


def _frames_text(info: ModelInfo) -> str:
    if info.window_frames:
        return f"window_frames={info.window_frames}"
    if info.input_frames:
        return f"input_frames={info.input_frames}"
    return "any number of frames"


def _shape(shape: list[Any]) -> str:
    return "(" + ", ".join(str(s) if s is not None else "?" for s in shape) + ")"
