"""Genres beyond the labelled ten, told by the pretrained taggers' tags, in one calibrated answer.

genrekit has labelled audio for GTZAN's ten genres only. Genres people play today (electronic,
folk, punk, ambient, ...) have no labelled clips here, but the MSD tagger was trained on
hundreds of thousands of songs tagged ``electronic``, ``folk``, ``punk``... by Last.fm users.
A vocabulary model joins the two in one softmax:

- the ten genres keep the head's answer: logits ``log p_head(k)`` (the head's log-probabilities,
  temperature-scaled);
- each tag genre ``g`` gets a logit ``slope_g * evidence_g + offset_g``, where ``evidence_g`` is
  the log-odds that at least one of its tags applies (a noisy-OR of the tagger's tag
  probabilities: ``1 - prod(1 - p_tag)``).

So a song with no electronic evidence keeps the head's answer whole; one the tagger calls
electronic takes the probability mass from all ten in proportion. The slopes and offsets (two
numbers per genre) are fitted by maximum likelihood on clips of known genre: GTZAN's (out-of-fold
head answers) and a development set of freely licensed music, never the check set.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from genrekit.errors import ParameterError
from genrekit.linear import softmax, standardize

FloatArray = npt.NDArray[np.float64]
EVIDENCE_FLOOR = 1e-4
"""Tag probabilities are clipped to [floor, 1 - floor] before their log-odds: the taggers give
exact zeros and ones in float32, which would make the evidence infinite."""


@dataclass(frozen=True)
class TagGenre:
    """A genre told by tags: ``tags`` are (backbone, tag) pairs, any of which means the genre."""

    name: str
    tags: tuple[tuple[str, str], ...]


def evidence(tag_probabilities: npt.ArrayLike) -> FloatArray:
    """Log-odds that at least one tag applies, from rows of tag probabilities (n, tags)."""
    p = np.clip(np.asarray(tag_probabilities, dtype=np.float64), EVIDENCE_FLOOR, 1 - EVIDENCE_FLOOR)
    none = np.exp(np.log1p(-p).sum(axis=1))  # P(no tag applies), tags taken as independent
    none = np.clip(none, EVIDENCE_FLOOR, 1 - EVIDENCE_FLOOR)
    out: FloatArray = np.log1p(-none) - np.log(none)
    return out


def tag_log_odds(tag_probabilities: npt.ArrayLike) -> FloatArray:
    """Each tag's log-odds, clipped as :func:`evidence` clips them: rows (n, tags)."""
    p = np.clip(np.asarray(tag_probabilities, dtype=np.float64), EVIDENCE_FLOOR, 1 - EVIDENCE_FLOOR)
    out: FloatArray = np.log(p) - np.log1p(-p)
    return out


@dataclass(frozen=True)
class Evidence:
    """How each tag genre's evidence is read from a clip's tag probabilities (n, n_tags).

    A genre with examples to learn from is read by a detector: a logistic regression on all the
    tags' log-odds (``weight`` column, ``bias``), which can learn that "electronic" without
    "Hip-Hop" is electronic music and with it hip-hop. Any other genre is read from its own tags
    (``columns``) as the log-odds that one of them applies.
    """

    columns: list[list[int]]
    weight: npt.NDArray[np.float64]  # (n_tags, genres); zero for genres read from their tags
    bias: npt.NDArray[np.float64]  # (genres,)
    learned: npt.NDArray[np.bool_]  # (genres,): read by the detector

    @classmethod
    def from_tags(cls, columns: list[list[int]], n_tags: int) -> Evidence:
        g = len(columns)
        return cls(columns, np.zeros((n_tags, g)), np.zeros(g), np.zeros(g, dtype=bool))

    def with_detector(self, genre: int, weight: npt.ArrayLike, bias: float) -> Evidence:
        w, b, learned = self.weight.copy(), self.bias.copy(), self.learned.copy()
        w[:, genre], b[genre], learned[genre] = np.asarray(weight, dtype=np.float64), bias, True
        return Evidence(self.columns, w, b, learned)

    def of(self, tag_probabilities: npt.ArrayLike) -> FloatArray:
        """Evidence (n, genres) for rows of tag probabilities."""
        t = np.asarray(tag_probabilities, dtype=np.float64)
        by_tags = np.stack([evidence(t[:, cols]) for cols in self.columns], axis=1)
        by_detector = tag_log_odds(t) @ self.weight + self.bias
        out: FloatArray = np.where(self.learned, by_detector, by_tags)
        return out


def combined_logits(
    head_log_probs: npt.ArrayLike,
    evidences: npt.ArrayLike,
    slope: npt.ArrayLike,
    offset: npt.ArrayLike,
) -> FloatArray:
    """Logits over the head's classes then the tag genres: (n, head classes + tag genres)."""
    head = np.asarray(head_log_probs, dtype=np.float64)
    e = np.asarray(evidences, dtype=np.float64).reshape(head.shape[0], -1)
    tagged = e * np.asarray(slope, dtype=np.float64) + np.asarray(offset, dtype=np.float64)
    out: FloatArray = np.concatenate([head, tagged], axis=1)
    return out


def fit_gates(
    head_log_probs: npt.ArrayLike,
    evidences: npt.ArrayLike,
    labels: npt.ArrayLike,
    *,
    weights: npt.ArrayLike | None = None,
    ridge: float = 1e-2,
) -> tuple[FloatArray, FloatArray]:
    """Slopes and offsets of the tag genres that maximize the (weighted) likelihood of ``labels``
    (indices over head classes then tag genres) under :func:`combined_logits`.

    ``ridge`` pulls the slopes towards 1 (trust the tagger's own odds) and the offsets towards 0,
    so a genre with few examples keeps a sensible rule. A genre without any example among the
    labels keeps exactly that rule (slope 1, offset 0): clips of other genres alone would only
    push its offset down without end.
    """
    from scipy.optimize import minimize

    head = np.asarray(head_log_probs, dtype=np.float64)
    e = np.asarray(evidences, dtype=np.float64).reshape(head.shape[0], -1)
    y = np.asarray(labels, dtype=np.int64)
    w = np.ones(y.size) if weights is None else np.asarray(weights, dtype=np.float64)
    n_tagged = e.shape[1]
    if y.size != head.shape[0] or w.size != y.size:
        raise ParameterError(f"need one label and weight per row; got {y.size}, {w.size}")
    if y.size and (y.min() < 0 or y.max() >= head.shape[1] + n_tagged):
        raise ParameterError("labels must index the head's classes, then the tag genres")

    def loss(theta: FloatArray) -> tuple[float, FloatArray]:
        slope, offset = theta[:n_tagged], theta[n_tagged:]
        z = combined_logits(head, e, slope, offset)
        p = softmax(z)
        picked = np.log(np.maximum(p[np.arange(y.size), y], 1e-300))
        value = -(w * picked).sum() / w.sum()
        value += ridge * (((slope - 1) ** 2).sum() + (offset**2).sum())
        # Gradient of the weighted cross-entropy w.r.t. the tag genres' logits.
        onehot = np.zeros_like(p)
        onehot[np.arange(y.size), y] = 1.0
        dz = (w[:, None] * (p - onehot))[:, head.shape[1] :] / w.sum()
        grad = np.concatenate(
            [(dz * e).sum(axis=0) + 2 * ridge * (slope - 1), dz.sum(axis=0) + 2 * ridge * offset]
        )
        return float(value), grad

    seen = np.isin(head.shape[1] + np.arange(n_tagged), y)
    start = np.concatenate([np.ones(n_tagged), np.zeros(n_tagged)])
    bounds = [
        (None, None) if free else (v, v) for free, v in zip(np.tile(seen, 2), start, strict=True)
    ]
    found = minimize(loss, start, jac=True, method="L-BFGS-B", bounds=bounds)
    return found.x[:n_tagged].copy(), found.x[n_tagged:].copy()


def tag_columns(
    genres: Sequence[TagGenre], backbone_tags: Mapping[str, Sequence[str]], order: Sequence[str]
) -> list[list[int]]:
    """For each genre, its tags' columns in a row that joins the backbones' tag means in
    ``order``; raises :class:`ParameterError` for a tag a backbone does not have."""
    starts: dict[str, int] = {}
    at = 0
    for name in order:
        starts[name] = at
        at += len(backbone_tags[name])
    columns = []
    for genre in genres:
        found = []
        for backbone, tag in genre.tags:
            if backbone not in starts or tag not in backbone_tags[backbone]:
                raise ParameterError(f"genre {genre.name}: {backbone} has no tag {tag!r}")
            found.append(starts[backbone] + list(backbone_tags[backbone]).index(tag))
        columns.append(found)
    return columns


def describe(genre: TagGenre) -> str:
    return ", ".join(f"{tag} ({backbone})" for backbone, tag in genre.tags)


def as_dict(genre: TagGenre) -> dict[str, Any]:
    return {"name": genre.name, "tags": [list(t) for t in genre.tags]}


def onnx_graph(
    head: dict[str, npt.NDArray[np.float32]],
    temperature: float,
    reader: Evidence,
    slope: npt.ArrayLike,
    offset: npt.ArrayLike,
    *,
    embedding_size: int,
    metadata: str,
    opset: int = 17,
) -> Any:
    """The vocabulary model as an ``onnx.ModelProto``: input ``embedding`` (batch,
    embedding_size + n_tags: the backbone's embedding, then tag means), output ``probabilities``
    over the head's classes then the tag genres, whose evidence ``reader`` reads."""
    from onnx import TensorProto, helper, numpy_helper

    from genrekit.linear import onnx_model

    n_head = int(head["linear.bias"].shape[0])
    columns = reader.columns
    n_tags = int(reader.weight.shape[0])
    membership = np.zeros((n_tags, len(columns)), np.float32)
    for g, cols in enumerate(columns):
        membership[cols, g] = 1.0

    def const(name: str, value: npt.ArrayLike, dtype: type = np.float32) -> Any:
        return numpy_helper.from_array(np.asarray(value, dtype=dtype), name)

    total = embedding_size + n_tags
    initializers = [
        const("mean", head["norm.mean"][:, 0]),
        const("std", head["norm.std"][:, 0]),
        const("weight", head["linear.weight"]),
        const("bias", head["linear.bias"]),
        const("temperature", np.float32(temperature)),
        const("membership", membership),
        const("detector_weight", reader.weight),
        const("detector_bias", reader.bias),
        const("learned", reader.learned.astype(np.float32)),
        const("unlearned", 1 - reader.learned.astype(np.float32)),
        const("slope", slope),
        const("offset", offset),
        const("one", np.float32(1.0)),
        const("floor", np.float32(EVIDENCE_FLOOR)),
        const("ceiling", np.float32(1 - EVIDENCE_FLOOR)),
        const("axis1", [1], np.int64),
        const("emb_start", [0], np.int64),
        const("emb_end", [embedding_size], np.int64),
        const("tags_end", [total], np.int64),
    ]
    nodes = [
        helper.make_node("Slice", ["embedding", "emb_start", "emb_end", "axis1"], ["emb"]),
        helper.make_node("Slice", ["embedding", "emb_end", "tags_end", "axis1"], ["tags"]),
        helper.make_node("Sub", ["emb", "mean"], ["shifted"]),
        helper.make_node("Div", ["shifted", "std"], ["standardized"]),
        helper.make_node("Gemm", ["standardized", "weight", "bias"], ["head_logits"], transB=1),
        helper.make_node("Div", ["head_logits", "temperature"], ["scaled"]),
        helper.make_node("LogSoftmax", ["scaled"], ["head_log_probs"], axis=1),
        # Noisy-OR of each genre's tags: P(none) = prod(1 - p) = exp(sum(log(1 - p))).
        helper.make_node("Clip", ["tags", "floor", "ceiling"], ["p"]),
        helper.make_node("Sub", ["one", "p"], ["not_p"]),
        helper.make_node("Log", ["not_p"], ["log_not_p"]),
        helper.make_node("MatMul", ["log_not_p", "membership"], ["log_none"]),
        helper.make_node("Exp", ["log_none"], ["none_raw"]),
        helper.make_node("Clip", ["none_raw", "floor", "ceiling"], ["none"]),
        helper.make_node("Sub", ["one", "none"], ["some"]),
        helper.make_node("Log", ["some"], ["log_some"]),
        helper.make_node("Log", ["none"], ["log_none_clipped"]),
        helper.make_node("Sub", ["log_some", "log_none_clipped"], ["by_tags"]),
        # The detectors: a linear function of every tag's log-odds.
        helper.make_node("Log", ["p"], ["log_p"]),
        helper.make_node("Sub", ["log_p", "log_not_p"], ["tag_log_odds"]),
        helper.make_node("MatMul", ["tag_log_odds", "detector_weight"], ["detected_raw"]),
        helper.make_node("Add", ["detected_raw", "detector_bias"], ["by_detector"]),
        helper.make_node("Mul", ["by_detector", "learned"], ["from_detector"]),
        helper.make_node("Mul", ["by_tags", "unlearned"], ["from_tags"]),
        helper.make_node("Add", ["from_detector", "from_tags"], ["evidence"]),
        helper.make_node("Mul", ["evidence", "slope"], ["tilted"]),
        helper.make_node("Add", ["tilted", "offset"], ["tag_logits"]),
        helper.make_node("Concat", ["head_log_probs", "tag_logits"], ["logits"], axis=1),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "vocabulary",
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", total])],
        [
            helper.make_tensor_value_info(
                "probabilities", TensorProto.FLOAT, ["batch", n_head + len(columns)]
            )
        ],
        initializers,
    )
    return onnx_model(graph, opset, metadata)


def probabilities(
    head: dict[str, npt.NDArray[np.float32]],
    temperature: float,
    reader: Evidence,
    slope: npt.ArrayLike,
    offset: npt.ArrayLike,
    embeddings: npt.ArrayLike,
    tags: npt.ArrayLike,
) -> FloatArray:
    """What :func:`onnx_graph`'s model answers, in numpy (for fitting and for its tests)."""
    z = standardize(np.asarray(embeddings, dtype=np.float32), head)
    logits = (z @ head["linear.weight"].T + head["linear.bias"]).astype(np.float64)
    head_log = np.log(np.maximum(softmax(logits / temperature), 1e-300))
    return softmax(combined_logits(head_log, reader.of(tags), slope, offset))
