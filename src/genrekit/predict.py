"""Classify songs with an exported model: onnxruntime and genrekit's own features, no PyTorch.

``load_model()`` opens a model once (the shipped one by default); ``classify(path_or_array)``
decodes the audio, computes the log-mel the model was trained on, cuts it into the model's
windows, and averages the window probabilities into one answer per track. Long tracks are
sampled: at most ``MAX_WINDOWS`` windows spread evenly over the track, each decoded on its own,
so the time per track stays bounded whatever its length.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from genrekit.audio import duration as file_duration
from genrekit.audio import read, resample
from genrekit.constants import HOP_LENGTH, SILENCE_DB
from genrekit.embedding import (
    BACKBONES,
    PATCH_FRAMES,
    PRECISIONS,
    SAMPLE_RATE,
    Backbone,
    BackboneOutputs,
    backbone_file,
    load_backbone,
)
from genrekit.embedding import HOP_LENGTH as PATCH_HOP
from genrekit.errors import ModelError, ParameterError, SilentAudioError
from genrekit.extract import peak_rms_db
from genrekit.features import FeatureParams, log_mel_and_mfcc, loop_frames
from genrekit.onnx_session import open_session

DEFAULT_MODEL = "gtzan-musicnn"
"""The default shipped model: a head on musicnn embeddings, trained on 10 GTZAN genres.

``gtzan-cnn``, a short-chunk CNN trained on the same clips (taught by that head, classifying
without it), is shipped too: as accurate on one draw of 5 folds (83.0 % against 82.7 %), less on
another (80.8 % against 85.2 %); about as fast (~30 tracks/s on 2 cores)."""
PATCH_SECONDS = PATCH_FRAMES * PATCH_HOP / SAMPLE_RATE
"""Audio of one backbone patch (~3 s)."""
MAX_WINDOWS = 16
"""At most this many windows per track; longer tracks are sampled evenly."""
BACKBONE_PATCHES = 3
"""Patches a backbone model reads per track (evenly spread) unless a timeline is asked for.

Measured on GTZAN's development set (5 folds, head trained on whole-clip embeddings): 3 spread
patches gave 86.5 % where every patch gave 85.2 % (2: 85.9 %, 1: 83.3 %), at a third of the
cost of a 30 s preview's 10 patches: musicnn costs ~13 ms a patch on one core in int8."""
_PRETRAINED = "genrekit.pretrained"


@dataclass(frozen=True)
class Segment:
    """The answer for one window of a track."""

    start: float  # seconds
    end: float
    genre: str
    probabilities: dict[str, float]


@dataclass(frozen=True)
class Prediction:
    """The genre of a track, with every genre's probability (highest first)."""

    genre: str
    probabilities: dict[str, float]
    source: str | None = None  # the file, when classified from a file
    duration: float | None = None  # seconds of audio considered
    segments: list[Segment] = field(default_factory=list)
    tags: dict[str, float] = field(default_factory=dict)  # the backbone's tags, when asked

    def top(self, k: int = 3) -> list[tuple[str, float]]:
        return list(self.probabilities.items())[:k]


class Model:
    """An exported genrekit model (ONNX) and what it needs to be fed."""

    def __init__(self, path: Path, *, name: str | None = None, threads: int | None = None):
        self.path = path
        self.name = name or path.stem
        self.session, meta = open_session(path, threads=threads)
        self.meta: dict[str, Any] = meta
        self.classes: list[str] = list(meta["classes"])
        self.params = FeatureParams.from_dict(meta["feature_params"])
        self.clip_seconds = float(meta["clip_seconds"])
        self.window: int | None = meta["window_frames"]
        self.input_frames: int | None = meta["input_frames"]
        # How training filled inputs longer than a clip: "loop" its frames, or "silence".
        self.short_fill: str = meta.get("short_fill", "silence")
        self.architecture: str = meta["architecture"]
        # A backbone model reads that backbone's embedding of the audio, not the log-mel.
        self.backbone: Backbone | None = (
            load_backbone(meta["backbone"], threads=threads) if meta.get("backbone") else None
        )
        self.input_name: str = self.session.get_inputs()[0].name

    @property
    def window_seconds(self) -> float | None:
        """Audio of exactly one window (a centred STFT gives 1 + n // hop frames), or None."""
        if self.window is None:
            return None
        hop = self.params.hop_length
        return ((self.window - 1) * hop + hop // 2) / self.params.sr

    def __repr__(self) -> str:
        return f"Model({self.name!r}, {self.architecture}, {len(self.classes)} genres)"

    def probabilities(self, log_mel: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Class probabilities of a batch of inputs, shape (batch, n_mels, frames)."""
        x = np.ascontiguousarray(log_mel, dtype=np.float32)
        out: npt.NDArray[np.float32] = self.session.run(["probabilities"], {self.input_name: x})[0]
        return out

    def inputs(self, log_mel: npt.NDArray[np.float32]) -> tuple[npt.NDArray[np.float32], list[int]]:
        """The model's inputs from one log-mel (n_mels, frames), and each input's first frame."""
        frames = log_mel.shape[1]
        floor = np.float32(max(log_mel.max() - self.params.top_db, log_mel.min()))
        if self.window is None and self.input_frames is None:  # the baseline: any length
            return log_mel[None], [0]
        size = self.window or self.input_frames
        assert size is not None
        if frames < size and self.short_fill == "loop":  # as training filled short clips
            return loop_frames(log_mel, size)[None], [0]
        if frames < size:  # short audio: pad with silence, as training saw padded clips
            padded = np.full((log_mel.shape[0], size), floor, dtype=np.float32)
            padded[:, :frames] = log_mel
            return padded[None], [0]
        if self.window is None:
            return log_mel[None, :, :size], [0]
        starts = list(range(0, frames - size + 1, size))
        if starts[-1] != frames - size:
            starts.append(frames - size)
        return np.stack([log_mel[:, s : s + size] for s in starts]), starts


def available_models() -> list[str]:
    """Names of the models shipped in the package."""
    folder = resources.files(_PRETRAINED)
    backbones = {backbone_file(b, p) for b in BACKBONES for p in PRECISIONS}
    # Backbones embed, they don't classify.
    return sorted(
        p.name[: -len(".onnx")]
        for p in folder.iterdir()
        if p.name.endswith(".onnx") and p.name not in backbones
    )


def load_model(
    name_or_path: str | os.PathLike[str] | None = None, *, threads: int | None = None
) -> Model:
    """A model by shipped name, ONNX file, or model folder (with ``model.onnx``).

    Load it once and pass it to :func:`classify` for many files.
    """
    name = str(name_or_path) if name_or_path is not None else DEFAULT_MODEL
    path = Path(name)
    if path.is_dir():
        if (path / "model.onnx").is_file():
            return Model(path / "model.onnx", name=path.name, threads=threads)
        hint = (
            f"; export it first: genrekit export {path} -o {path / 'model.onnx'}"
            if (path / "model.pt").is_file() or (path / "model.npz").is_file()
            else ""
        )
        raise ModelError(f"{path}: no model.onnx in this folder{hint}")
    if path.suffix == ".onnx" and path.is_file():
        return Model(path, threads=threads)
    if name in available_models():
        resource = resources.files(_PRETRAINED) / f"{name}.onnx"
        with resources.as_file(resource) as file:
            return Model(Path(file), name=name, threads=threads)
    raise ModelError(
        f"{name}: no such model; shipped models: {', '.join(available_models()) or 'none'}, "
        "or give an .onnx file or a model folder"
    )


def classify(
    audio: str | os.PathLike[str] | npt.ArrayLike,
    *,
    sr: int | None = None,
    model: Model | str | None = None,
    segments: bool = False,
    genres: list[str] | None = None,
    tags: bool = False,
) -> Prediction:
    """The genre of a file or of samples (``sr`` required for samples).

    ``genres`` restricts the answer to a subset of the model's genres (probabilities are
    renormalized over it); ``tags`` adds the pretrained backbone's tags of the track. Raises
    :class:`SilentAudioError` for silence and the loader's errors (``AudioTooShortError`` under
    0.5 s, ...) for audio that cannot be read.
    """
    model = model if isinstance(model, Model) else load_model(model)
    keep = _genre_subset(model, genres)
    source = str(audio) if isinstance(audio, str | os.PathLike) else None
    if model.backbone is not None:
        most = MAX_WINDOWS if segments else BACKBONE_PATCHES
        chunks, starts_s = _audio(audio, sr, model, SAMPLE_RATE, PATCH_SECONDS, most)
        return _classify_embeddings(model, model.backbone, chunks, starts_s, source, keep, segments)
    chunks, starts_s = _audio(audio, sr, model, model.params.sr, model.window_seconds)
    prediction = _classify_log_mel(model, chunks, starts_s, source, keep, segments)
    if tags:
        backbone = load_backbone()
        chunks, _ = _audio(audio, sr, model, SAMPLE_RATE, PATCH_SECONDS, BACKBONE_PATCHES)
        found = [backbone.outputs_of(c) for c in chunks]
        prediction = replace(prediction, tags=_track_tags(backbone, found))
    return prediction


def _audio(
    audio: str | os.PathLike[str] | npt.ArrayLike,
    sr: int | None,
    model: Model,
    rate: int,
    window_s: float | None,
    most: int = MAX_WINDOWS,
) -> tuple[list[npt.NDArray[np.float32]], list[float]]:
    """Mono samples at ``rate``: a file decoded (at most ``most`` windows of a long track, evenly
    spread), or samples resampled."""
    if isinstance(audio, str | os.PathLike):
        chunks, starts_s = _decode(Path(audio), rate, window_s, model.clip_seconds, most)
        source = str(audio)
    else:
        if sr is None:
            raise ParameterError("classify(samples) needs sr=, the samples' rate")
        y = np.asarray(audio, dtype=np.float32)
        if y.ndim == 2:
            y = y.mean(axis=0 if y.shape[0] <= 8 else 1)
        if sr != rate:
            y = resample(y, orig_sr=sr, target_sr=rate)
        chunks, starts_s, source = [y], [0.0], "audio"
    if max(peak_rms_db(c, HOP_LENGTH) for c in chunks) < SILENCE_DB:
        raise SilentAudioError(
            f"{source}: silent (never louder than {SILENCE_DB:g} dBFS); no genre to tell"
        )
    return chunks, starts_s


def _classify_embeddings(
    model: Model,
    backbone: Backbone,
    chunks: list[npt.NDArray[np.float32]],
    starts_s: list[float],
    source: str | None,
    keep: list[int],
    segments: bool,
) -> Prediction:
    """A backbone model: the track's embedding (mean over its patches) through the head."""
    found = [backbone.outputs_of(c) for c in chunks]
    per_patch = np.concatenate([f.patch_embeddings() for f in found])
    # Samples given as an array (or a file short enough to decode whole) may hold more patches
    # than the answer needs: the same evenly spread few a long file is sampled with.
    most = MAX_WINDOWS if segments else BACKBONE_PATCHES
    chosen = np.unique(np.linspace(0, per_patch.shape[0] - 1, most).round().astype(int))
    batch = per_patch[chosen].mean(axis=0, keepdims=True)
    if segments:
        batch = np.concatenate([batch, per_patch])
    probs = _renormalized(model.probabilities(batch), keep)
    names = [model.classes[k] for k in keep]
    result = _ranked(names, probs[0])
    spans = []
    for chunk, offset, outputs in zip(chunks, starts_s, found, strict=True):
        length = chunk.size / SAMPLE_RATE
        for k in range(outputs.taggram.shape[0]):
            start = offset + k * PATCH_SECONDS
            spans.append((start, min(start + PATCH_SECONDS, offset + max(length, PATCH_SECONDS))))
    found_segments = []
    if segments:
        found_segments = [
            Segment(start, end, names[int(p.argmax())], _ranked(names, p))
            for (start, end), p in zip(spans, probs[1:], strict=True)
        ]
    total = sum(c.size for c in chunks) / SAMPLE_RATE
    return Prediction(
        next(iter(result)),
        result,
        source,
        total,
        found_segments,
        _track_tags(backbone, found),
    )


def _track_tags(backbone: Backbone, found: list[BackboneOutputs]) -> dict[str, float]:
    """The backbone's tags of a track, most likely first: the mean over all its patches."""
    return _ranked(backbone.tags, np.concatenate([f.taggram for f in found]).mean(axis=0))


def _renormalized(probs: npt.NDArray[np.float32], keep: list[int]) -> npt.NDArray[np.float32]:
    kept = probs[:, keep]
    out: npt.NDArray[np.float32] = kept / np.maximum(kept.sum(axis=1, keepdims=True), 1e-12)
    return out


def _classify_log_mel(
    model: Model,
    chunks: list[npt.NDArray[np.float32]],
    starts_s: list[float],
    source: str | None,
    keep: list[int],
    segments: bool,
) -> Prediction:
    params = model.params
    batch, spans = [], []
    for chunk, offset in zip(chunks, starts_s, strict=True):
        _, log_mel, _ = log_mel_and_mfcc(chunk, params)
        inputs, starts = model.inputs(log_mel)
        batch.append(inputs)
        hop_s = params.hop_length / params.sr
        width = inputs.shape[2] * hop_s
        spans += [
            (offset + s * hop_s, min(offset + s * hop_s + width, offset + chunk.size / params.sr))
            for s in starts
        ]
    probs = _renormalized(model.probabilities(np.concatenate(batch)), keep)
    names = [model.classes[k] for k in keep]
    mean = probs.mean(axis=0)
    result = _ranked(names, mean)
    found = []
    if segments:
        found = [
            Segment(start, end, names[int(p.argmax())], _ranked(names, p))
            for (start, end), p in zip(spans, probs, strict=True)
        ]
    total = sum(c.size for c in chunks) / params.sr
    return Prediction(next(iter(result)), result, source, total, found)


def _ranked(names: list[str], probs: npt.NDArray[np.floating[Any]]) -> dict[str, float]:
    order = np.argsort(-probs, kind="stable")
    return {names[i]: float(probs[i]) for i in order}


def _genre_subset(model: Model, genres: list[str] | None) -> list[int]:
    if not genres:
        return list(range(len(model.classes)))
    unknown = [g for g in genres if g not in model.classes]
    if unknown:
        raise ParameterError(
            f"--genres {','.join(unknown)}: not known to model {model.name} "
            f"({', '.join(model.classes)})"
        )
    return [model.classes.index(g) for g in dict.fromkeys(genres)]


def _decode(
    path: Path, sr: int, window_s: float | None, clip_seconds: float, most: int = MAX_WINDOWS
) -> tuple[list[npt.NDArray[np.float32]], list[float]]:
    """The audio a model reads from a file: whole, or evenly spaced excerpts of a long track.

    ``window_s`` is the audio of one model input; ``None`` for whole-clip models, which read
    what they were trained on: the first ``clip_seconds``.
    """
    if window_s is None:
        return [read(path, sr=sr, duration=clip_seconds).y], [0.0]
    length = file_duration(path)
    if length is None or length <= most * window_s:
        return [read(path, sr=sr).y], [0.0]
    offsets = np.linspace(0.0, length - window_s, most)
    chunks = []
    for offset in offsets:
        chunks.append(
            read(path, sr=sr, offset=float(offset), duration=window_s, min_duration=0.5).y
        )
    return chunks, [float(o) for o in offsets]
