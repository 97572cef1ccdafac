"""Classify songs with an exported model: onnxruntime and genrekit's own features, no PyTorch.

``load_model()`` opens a model once (the shipped one by default); ``classify(path_or_array)``
listens to a few windows spread over the sound of the track (``genrekit.listen``: silence
skipped, each window decoded on its own, so the time per track stays bounded whatever its
length), computes what the model reads (musicnn embeddings or the log-mel) and gives one answer
per track, and on demand a timeline of at most ``MAX_SEGMENTS`` segments.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from genrekit.audio import not_a_file
from genrekit.backbones import (
    BACKBONE_HOP_LENGTH,
    BACKBONE_SAMPLE_RATE,
    BACKBONES,
    PATCH_FRAMES,
    PRECISIONS,
    Backbone,
    BackboneOutputs,
    backbone_file,
    load_backbone,
    musicnn_input,
    musicnn_patches,
)
from genrekit.constants import SILENCE_DB
from genrekit.errors import ModelError, ParameterError, SilentAudioError
from genrekit.features import log_mel_and_mfcc, loop_frames
from genrekit.listen import Track, Window, listen, loudness
from genrekit.model_info import ModelInfo, check_graph
from genrekit.music_check import check as music_check
from genrekit.onnx_session import one_line, open_session

DEFAULT_MODEL = "genres-musicnn"
"""The default shipped model: GTZAN's ten genres (a head on musicnn embeddings) and electronic,
folk, punk and ambient read from musicnn's tags, in one calibrated answer (its card says how
each genre was measured).

``gtzan-musicnn`` is that head alone (the ten genres); ``gtzan-cnn`` a short-chunk CNN trained on
the same clips (taught by that head, classifying without it): as accurate on one draw of 5 folds
(83.0 % against 82.7 %), less on another (80.8 % against 85.2 %); about as fast (~30 tracks/s on
2 cores)."""
PATCH_SECONDS = PATCH_FRAMES * BACKBONE_HOP_LENGTH / BACKBONE_SAMPLE_RATE
"""Audio of one backbone patch (~3 s)."""
MAX_WINDOWS = 16
"""Windows a log-mel model (``gtzan-cnn``) reads per track, spread evenly over its sound."""
MAX_SEGMENTS = 32
"""At most this many segments in a timeline (``segments=True``): a track of up to ~96 s gets one
per ~3 s window; a longer one is cut into 32 equal segments, each judged by its middle window."""
BACKBONE_PATCHES = 3
"""Patches a backbone model reads per track, spread evenly over its sound (silence skipped).

Measured on GTZAN's development set (5 folds, head trained on whole-clip embeddings): 3 spread
patches gave 86.5 % where every patch gave 85.2 % (2: 85.9 %, 1: 83.3 %), at a third of the
cost of a 30 s preview's 10 patches: musicnn costs ~13 ms a patch on one core in int8."""
TAGGERS = ("msd-musicnn", "mtt-musicnn")
"""The pretrained taggers whose tags ``classify(tags=True)`` adds, each under its own name: musicnn
trained on the Million Song Dataset's tags and on MagnaTagATune's. They read the same windows."""
_PRETRAINED = "genrekit.pretrained"


@dataclass(frozen=True)
class Segment:
    """The answer for one window of a track."""

    start: float  # seconds
    end: float
    genre: str  # "" when no genre is told: silent, or ``reason`` says why
    probabilities: dict[str, float]
    silent: bool = False  # mostly silence: no genre told
    reason: str | None = None  # why no genre, when it is not silence (e.g. "not music: ...")


@dataclass(frozen=True)
class Prediction:
    """The genre of a track, with every genre's probability (highest first).

    ``genre`` is None when the track gets no genre, and ``reason`` says why: silence, audio
    that is not music (:mod:`genrekit.music_check`), or a top probability under
    ``min_confidence``. The probabilities are still given (none for silence)."""

    genre: str | None
    probabilities: dict[str, float]
    source: str | None = None  # the file, when classified from a file
    duration: float | None = None  # the track's length in seconds
    segments: list[Segment] = field(default_factory=list)
    # Tags by tagger (a name of TAGGERS), each most likely first: every tagger's when asked,
    # else those of the model's own backbone (computed anyway), else none.
    tags: dict[str, dict[str, float]] = field(default_factory=dict)
    damage: str | None = None  # why only part of a damaged file was decoded
    heard: float = 0.0  # seconds of audio the answer was judged from (its windows)
    reason: str | None = None  # why no genre is told (``genre`` None)

    def top(self, k: int = 3) -> list[tuple[str, float]]:
        return list(self.probabilities.items())[:k]


class Model:
    """An exported genrekit model (ONNX) and what it needs to be fed."""

    def __init__(self, path: Path, *, name: str | None = None, threads: int | None = None):
        self.path = path
        self.name = name or path.stem
        self.threads = threads  # the cap of each session's threads: its backbone's, its taggers'
        self.session, meta = open_session(path, threads=threads)
        # Checked before use: a damaged or foreign file is one ModelError, before any audio.
        info = ModelInfo.from_onnx_metadata(meta, str(path))
        self.input_name: str = check_graph(self.session, info, str(path))
        self.meta: dict[str, Any] = meta
        self.info = info  # its checked description; the attributes below are its fields
        self.classes: list[str] = list(info.classes)
        self.params = info.params
        self.clip_seconds = info.clip_seconds
        self.window: int | None = info.window_frames
        self.input_frames: int | None = info.input_frames
        # How training filled inputs longer than a clip: "loop" its frames, or "silence".
        self.short_fill: str = info.short_fill
        self.architecture: str = info.architecture
        self.reads: tuple[str, ...] = info.reads  # a backbone model's input, part by part
        # A backbone model reads that backbone's embedding of the audio, not the log-mel.
        self.backbone: Backbone | None = (
            load_backbone(info.backbone, threads=threads) if info.backbone else None
        )

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
        try:
            out: npt.NDArray[np.float32] = self.session.run(
                ["probabilities"], {self.input_name: x}
            )[0]
        except Exception as exc:  # onnxruntime's own kinds: this input's failure, not the batch's
            raise ModelError(
                f"model {self.name} failed on an input of shape {x.shape}: {one_line(exc)}"
            ) from None
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
    if path.exists() and not path.is_dir():  # a pipe or device would block or never end
        problem = not_a_file(path, wanted="an .onnx file or a model folder")
        if problem is not None:
            raise ModelError(f"{path}: {problem}")
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
    min_confidence: float | None = None,
    check_music: bool = True,
) -> Prediction:
    """The genre of a file or of samples (``sr`` required for samples).

    A model listens to a few windows spread over the sound of the track (silence at its edges,
    or between its parts, is skipped): the answer is the same with or without it. ``segments``
    adds a timeline: the whole track in at most :data:`MAX_SEGMENTS` equal segments, a genre
    each. ``genres`` restricts the answer to two or more of the model's genres (any case;
    probabilities are renormalized over them), and music whose top genre over all the model's
    genres is none of them gets no genre ("none of the chosen genres"); ``tags`` adds the tags
    of every pretrained tagger (:data:`TAGGERS`), keyed by tagger, from the same windows as the
    answer.

    No genre is told (``genre`` None, ``reason`` why) for audio that is not music or too quiet
    to judge (:mod:`genrekit.music_check`; ``check_music=False`` turns the check off, for a
    model of other sounds), for silence, and when the top probability, after ``genres``, is
    under ``min_confidence`` (0 to 1). Segments of a timeline are judged the same way.

    Raises :class:`AudioTooShortError` for under ``MIN_SECONDS`` of audio (a file's or an
    array's), :class:`SilentAudioError` for silence when ``check_music`` is off, and the
    loader's errors for a file that cannot be read. A damaged file is classified from what
    decodes, and ``damage`` says why.
    """
    check_confidence(min_confidence)
    model = model if isinstance(model, Model) else load_model(model)
    keep = [model.classes.index(g) for g in check_genres(model, genres)]
    source = str(audio) if isinstance(audio, str | os.PathLike) else None
    rate = BACKBONE_SAMPLE_RATE if model.backbone is not None else model.params.sr
    track = Track(audio, sr=rate, source_sr=sr)
    judge = _Judge(rate, check_music, min_confidence, tuple(model.classes), tuple(keep))
    try:
        if model.backbone is not None:
            prediction = _classify_embeddings(
                model, model.backbone, track, keep, segments, judge, tags
            )
        else:
            prediction = _classify_log_mel(model, track, keep, segments, judge)
    except SilentAudioError:
        if not check_music:
            raise
        # Silence is an answer, as "too quiet" is: no genre, and why (not a failed file).
        reason = f"silent: never louder than {SILENCE_DB:g} dBFS"
        return Prediction(None, {}, source, track.length, damage=track.damage, reason=reason)
    if model.backbone is None and tags:
        tagged = Track(audio, sr=BACKBONE_SAMPLE_RATE, source_sr=sr)
        patches = _patches(listen(tagged, BACKBONE_PATCHES, PATCH_SECONDS))
        prediction = replace(prediction, tags=_every_tagger(patches, model.threads, {}))
    return replace(prediction, source=source, duration=track.length, damage=track.damage)


@dataclass(frozen=True)
class _Judge:
    """Whether some windows get a genre: not when they are not music, or the model is unsure."""

    sr: int
    check_music: bool
    min_confidence: float | None
    classes: tuple[str, ...] = ()  # the model's genres
    keep: tuple[int, ...] = ()  # those the answer is restricted to (``genres``)

    def reason(
        self,
        windows: list[Window],
        probabilities: dict[str, float],
        full: npt.NDArray[np.floating[Any]] | None = None,
    ) -> str | None:
        """Why these windows, with these (ranked) probabilities, get no genre; None if they do.

        ``full`` is the answer over all the model's genres: when the answer is restricted to
        some, music whose own genre is none of them gets no genre, not the nearest chosen one
        at a confidence renormalizing made up."""
        if self.check_music:
            why = music_check([w.y for w in windows], self.sr)
            if why is not None:
                return why
        if full is not None and len(self.keep) < len(self.classes):
            best = int(np.argmax(full))
            if best not in self.keep:
                return (
                    f"none of the chosen genres: its genre is {self.classes[best]} "
                    f"({percent(float(full[best]))} over all {len(self.classes)})"
                )
        top, p = next(iter(probabilities.items()))
        least = self.min_confidence
        if least is not None and p < least:
            return f"unsure: top genre {top} {percent_under(p, least)}"
        return None


def percent(p: float, digits: int = 0) -> str:
    """A probability as a percentage rounded to the nearest (``0.487`` is ``"49 %"``): the one
    rounding of every percentage classify shows."""
    return f"{100 * p:.{digits}f} %"


def percent_under(p: float, least: float) -> str:
    """``"49 % < 60 %"``: ``p`` rounded as :func:`percent` rounds it, with as many decimals as it
    takes to read as less than ``least`` (``"59.6 % < 60 %"``, never ``"60 % < 60 %"``)."""
    limit = f"{100 * least:g}"
    for digits in range(4):
        shown = percent(p, digits)
        if float(shown[:-2]) < float(limit):
            return f"{shown} < {limit} %"
    return f"just under {limit} %"


def check_confidence(min_confidence: float | None) -> None:
    """Raises :class:`ParameterError` unless ``min_confidence`` is None or from 0 to 1."""
    if min_confidence is not None and not 0.0 <= min_confidence <= 1.0:  # NaN too
        raise ParameterError(
            f"min_confidence={min_confidence!r} must be a probability from 0 to 1 (0.5 for 50 %)"
        )


GENRE_ALIASES = {
    # electronic music and its dance forms (the tags the vocabulary's detector reads)
    "edm": "electronic",
    "electronica": "electronic",
    "electro": "electronic",
    "dance": "electronic",
    "house": "electronic",
    "techno": "electronic",
    "trance": "electronic",
    "drum and bass": "electronic",
    "dnb": "electronic",
    "dubstep": "electronic",
    "hip-hop": "hiphop",
    "hip hop": "hiphop",
    "rap": "hiphop",
    "heavy metal": "metal",
    "rock'n'roll": "rock",
    "punk rock": "punk",
}
"""Other names people give a genre (lower case) -> the genre's name in genrekit's models."""


def check_genres(model: Model, genres: list[str] | None) -> list[str]:
    """The model's own names of ``genres`` (any case, or another common name in
    :data:`GENRE_ALIASES`; duplicates dropped); all if None or empty.

    Raises :class:`ParameterError` naming the unknown ones and the model's genres."""
    if not genres:
        return list(model.classes)
    by_lower = {c.lower(): c for c in model.classes}
    # Other common names of a model's genre (the seed experiment's "EDM", Last.fm's "Hip-Hop").
    by_lower |= {a: by_lower[c] for a, c in GENRE_ALIASES.items() if c in by_lower}
    unknown = [g for g in genres if g.strip().lower() not in by_lower]
    if unknown:
        names = ", ".join(repr(g) for g in unknown)
        verb = "is" if len(unknown) == 1 else "are"
        raise ParameterError(
            f"genre{'s' if len(unknown) > 1 else ''} {names} {verb} not known to model "
            f"{model.name}; its genres: {', '.join(model.classes)}"
        )
    chosen = list(dict.fromkeys(by_lower[g.strip().lower()] for g in genres))
    if len(chosen) < 2:
        raise ParameterError(
            "name two genres or more; the answer is one of them (or none, when the music is of "
            "another genre)",
            option="genres",
            value=",".join(genres),
        )
    return chosen


def _patches(windows: list[Window]) -> npt.NDArray[np.float32]:
    """One musicnn patch per window, shape (windows, 187, 96)."""
    return np.stack([musicnn_patches(musicnn_input(w.y))[0] for w in windows])


def _backbone_run(backbone: Backbone, windows: list[Window]) -> BackboneOutputs:
    """The backbone's outputs for one patch per window."""
    return backbone.run(_patches(windows))


def _every_tagger(
    patches: npt.NDArray[np.float32], threads: int | None, done: dict[str, BackboneOutputs]
) -> dict[str, dict[str, float]]:
    """Each tagger's tags of a track's patches; ``done`` has outputs already computed on them."""
    found: dict[str, dict[str, float]] = {}
    for name in TAGGERS:
        tagger = load_backbone(name, threads=threads)
        outputs = done[name] if name in done else tagger.run(patches)
        found[name] = _track_tags(tagger, [outputs])
    return found


def _classify_embeddings(
    model: Model,
    backbone: Backbone,
    track: Track,
    keep: list[int],
    segments: bool,
    judge: _Judge,
    tags: bool,
) -> Prediction:
    """A backbone model: the track's embedding (mean over its patches) through the head."""
    heard = listen(track, BACKBONE_PATCHES, PATCH_SECONDS)
    patches = _patches(heard)
    outputs = backbone.run(patches)
    names = [model.classes[k] for k in keep]
    track_row = _backbone_rows(model, outputs).mean(axis=0, keepdims=True)
    full = model.probabilities(track_row)
    result = _ranked(names, _renormalized(full, keep)[0])
    found: list[Segment] = []
    if segments:
        parts = track.timeline(MAX_SEGMENTS, PATCH_SECONDS)
        each = _backbone_rows(model, _backbone_run(backbone, [w for _, _, w in parts]))
        found = _segments(parts, names, model.probabilities(each), judge)
    reason = judge.reason(heard, result, full[0])
    return Prediction(
        None if reason else next(iter(result)),
        result,
        heard=sum(w.y.size for w in heard) / BACKBONE_SAMPLE_RATE,
        segments=found,
        tags=(
            _every_tagger(patches, model.threads, {backbone.name: outputs})
            if tags
            else {backbone.name: _track_tags(backbone, [outputs])}
        ),
        reason=reason,
    )


def _backbone_rows(model: Model, outputs: BackboneOutputs) -> npt.NDArray[np.float32]:
    """What the model reads of each patch, (patches, input size): its backbone's embedding,
    then its tags if the model reads them (``Model.reads``). The mean of the rows is the
    track's: both parts are means over the patches."""
    parts = [
        outputs.patch_embeddings() if part.endswith(":embedding") else outputs.taggram
        for part in model.reads
    ]
    return np.concatenate(parts, axis=1).astype(np.float32)


def _segments(
    parts: list[tuple[float, float, Window]],
    names: list[str],
    full: npt.NDArray[np.float32],
    judge: _Judge,
) -> list[Segment]:
    """The timeline: a genre per segment; none for a segment that is mostly silence, or that
    ``judge`` gives a reason for. ``full``: each segment's answer over all the model's genres."""
    found = []
    probs = _renormalized(full, list(judge.keep))
    for (start, end, window), p, all_genres in zip(parts, probs, full, strict=True):
        if not window.loud:
            found.append(Segment(start, end, "", {}, silent=True))
            continue
        ranked = _ranked(names, p)
        reason = judge.reason([window], ranked, all_genres)
        found.append(
            Segment(start, end, "" if reason else next(iter(ranked)), ranked, reason=reason)
        )
    return found


def _track_tags(backbone: Backbone, found: list[BackboneOutputs]) -> dict[str, float]:
    """The backbone's tags of a track, most likely first: the mean over all its patches."""
    return _ranked(backbone.tags, np.concatenate([f.taggram for f in found]).mean(axis=0))


def _renormalized(probs: npt.NDArray[np.float32], keep: list[int]) -> npt.NDArray[np.float32]:
    kept = probs[:, keep]
    out: npt.NDArray[np.float32] = kept / np.maximum(kept.sum(axis=1, keepdims=True), 1e-12)
    return out


def _classify_log_mel(
    model: Model, track: Track, keep: list[int], segments: bool, judge: _Judge
) -> Prediction:
    """A log-mel model: the mean of its windows' probabilities (one input for whole-clip models)."""
    width = model.window_seconds
    if width is None:  # a whole-clip model reads what it was trained on: the first clip_seconds
        y = track.head(model.clip_seconds)
        heard = [Window(0.0, y, *loudness(y, model.params.sr))]
        if not heard[0].sound:
            raise SilentAudioError(
                f"{track.name}: silent (never louder than {SILENCE_DB:g} dBFS); no genre to tell"
            )
    else:
        heard = listen(track, MAX_WINDOWS, width)
    names = [model.classes[k] for k in keep]
    full = model.probabilities(_inputs(model, heard))
    result = _ranked(names, _renormalized(full, keep).mean(axis=0))
    reason = judge.reason(heard, result, full.mean(axis=0))
    genre = None if reason else next(iter(result))
    found: list[Segment] = []
    if segments and width is None:
        length = heard[0].y.size / model.params.sr
        found = [Segment(0.0, length, genre or "", result, reason=reason)]
    elif segments and width is not None:
        parts = track.timeline(MAX_SEGMENTS, width)
        each = model.probabilities(_inputs(model, [w for _, _, w in parts]))
        found = _segments(parts, names, each, judge)
    return Prediction(
        genre,
        result,
        heard=sum(w.y.size for w in heard) / model.params.sr,
        segments=found,
        reason=reason,
    )


def _inputs(model: Model, windows: list[Window]) -> npt.NDArray[np.float32]:
    """One model input per window (its log-mel, looped or padded if short)."""
    return np.concatenate(
        [model.inputs(log_mel_and_mfcc(w.y, model.params)[1])[0][:1] for w in windows]
    )


def _ranked(names: list[str], probs: npt.NDArray[np.floating[Any]]) -> dict[str, float]:
    order = np.argsort(-probs, kind="stable")
    return {names[i]: float(probs[i]) for i in order}
