"""The vocabulary model's parts: tag evidence, the fitted gates, and its ONNX graph."""

from __future__ import annotations

import json

import numpy as np
import onnxruntime as ort
import pytest

from genrekit.errors import ParameterError
from genrekit.linear import softmax
from genrekit.vocabulary import (
    Evidence,
    TagGenre,
    combined_logits,
    evidence,
    fit_gates,
    onnx_graph,
    probabilities,
    tag_columns,
)


def test_evidence_is_the_log_odds_that_any_tag_applies() -> None:
    # One tag at 0.5: even odds; two at 0.5: P(any) = 0.75, odds 3.
    got = evidence(np.array([[0.5, 0.0], [0.5, 0.5], [0.0, 0.0]]))
    assert got[0] == pytest.approx(0.0, abs=1e-3)
    assert got[1] == pytest.approx(np.log(3.0), abs=1e-3)
    assert got[2] < -8  # no tag at all: strongly against, but finite
    assert np.isfinite(evidence(np.array([[1.0, 1.0]]))).all()


def test_without_evidence_the_head_keeps_its_answer() -> None:
    head = np.log(np.array([[0.7, 0.2, 0.1]]))
    p = softmax(combined_logits(head, np.array([[-9.0]]), [1.0], [0.0]))
    assert p[0, :3] == pytest.approx([0.7, 0.2, 0.1], abs=1e-3) and p[0, 3] < 1e-3
    strong = softmax(combined_logits(head, np.array([[5.0]]), [1.0], [0.0]))
    assert strong[0].argmax() == 3  # a tag genre takes the mass from all three alike
    assert strong[0, 0] / strong[0, 1] == pytest.approx(3.5)


def test_fitted_gates_recover_how_the_labels_were_made() -> None:
    rng = np.random.default_rng(0)
    n = 3000
    head = np.log(rng.dirichlet(np.ones(3), n))
    e = rng.normal(-3.0, 3.0, (n, 2))
    slope, offset = np.array([1.5, 0.8]), np.array([-1.0, 0.5])
    p = softmax(combined_logits(head, e, slope, offset))
    labels = np.array([rng.choice(5, p=row) for row in p])
    got_slope, got_offset = fit_gates(head, e, labels, ridge=0.0)
    assert got_slope == pytest.approx(slope, abs=0.2)
    assert got_offset == pytest.approx(offset, abs=0.3)


def test_a_detector_reads_every_tag_and_the_others_their_own() -> None:
    reader = Evidence.from_tags([[0], [1]], 3).with_detector(1, [2.0, -1.0, 0.0], 0.5)
    tags = np.array([[0.5, 0.5, 0.9], [0.9, 0.1, 0.1]])
    got = reader.of(tags)
    assert got[:, 0] == pytest.approx(evidence(tags[:, [0]]))
    odds = np.log(tags / (1 - tags))
    assert got[:, 1] == pytest.approx(odds @ [2.0, -1.0, 0.0] + 0.5)


def test_tag_columns_name_the_missing_tag() -> None:
    tags = {"a": ["x", "y"], "b": ["z"]}
    genres = [TagGenre("g", (("a", "y"), ("b", "z")))]
    assert tag_columns(genres, tags, ["a", "b"]) == [[1, 2]]
    with pytest.raises(ParameterError, match="b has no tag 'w'"):
        tag_columns([TagGenre("h", (("b", "w"),))], tags, ["a", "b"])


def test_the_onnx_graph_answers_as_numpy_does() -> None:
    rng = np.random.default_rng(1)
    size, n_tags, n_head = 6, 4, 3
    head = {
        "norm.mean": rng.normal(size=(size, 1)).astype(np.float32),
        "norm.std": rng.uniform(0.5, 2, (size, 1)).astype(np.float32),
        "linear.weight": rng.normal(size=(n_head, size)).astype(np.float32),
        "linear.bias": rng.normal(size=n_head).astype(np.float32),
    }
    reader = Evidence.from_tags([[0, 1], [3], [2]], n_tags)
    reader = reader.with_detector(2, rng.normal(size=n_tags), 0.4)  # one genre learned
    slope, offset = [1.2, 0.7, 0.9], [-0.5, 0.3, 0.1]
    graph = onnx_graph(
        head, 1.3, reader, slope, offset, embedding_size=size, metadata=json.dumps({"x": 1})
    )
    session = ort.InferenceSession(graph.SerializeToString(), providers=["CPUExecutionProvider"])
    emb = rng.normal(size=(5, size)).astype(np.float32)
    tags = rng.uniform(0, 1, (5, n_tags)).astype(np.float32)
    tags[0] = 0.0  # exact zeros and ones, as the taggers give in float32
    tags[1] = 1.0
    got = session.run(["probabilities"], {"embedding": np.hstack([emb, tags])})[0]
    want = probabilities(head, 1.3, reader, slope, offset, emb, tags)
    assert got.shape == (5, n_head + 3)
    assert np.allclose(got, want, atol=1e-5) and np.allclose(got.sum(axis=1), 1, atol=1e-5)
