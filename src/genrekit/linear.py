"""The light models, fitted in closed form with numpy and scikit-learn: no PyTorch needed.

- ``baseline``: mean and std over time of every mel band and MFCC of a clip's real frames,
  standardized, then a class-balanced multinomial logistic regression.
- ``backbone-<name>``: the same regression on a backbone's standardized clip embedding.

Their state has the names and shapes of the PyTorch modules ``models.Baseline`` and
``models.EmbeddingHead`` (``mfcc.basis``, ``norm.mean``, ``norm.std``, ``linear.weight``,
``linear.bias``), so a checkpoint of either kind loads into those modules where PyTorch is
installed; here it is plain numpy arrays, saved without pickle. :func:`onnx_graph` writes the
same computation as an ONNX graph, built node by node (no PyTorch exporter).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from genrekit.errors import ModelError
from genrekit.features import dct_matrix

if TYPE_CHECKING:
    from genrekit.dataset import FeatureStore

Indices = npt.NDArray[np.int64]
State = dict[str, npt.NDArray[np.float32]]

NORM_SAMPLE = 512
"""The baseline's standardization statistics come from at most this many training clips."""
BASELINE_C = 0.5
HEAD_C = 0.1
"""Inverse regularization strengths of the two regressions (scikit-learn's ``C``)."""
NEVER = -1e4
"""Bias of a class absent from the training clips: never chosen."""


def valid_log_mel(store: FeatureStore, i: int) -> npt.NDArray[np.float32]:
    """The real frames of clip ``i`` only (at least 2), without the padding."""
    frames = max(2, store.tracks[i].n_valid)
    return np.array(store.array("logmel", i)[:, :frames])


def summaries(
    log_mel: npt.NDArray[np.float32], basis: npt.NDArray[np.float32]
) -> npt.NDArray[np.float32]:
    """Mean and std over time of the bands and MFCCs of one log-mel.

    log_mel : ndarray, shape (n_mels, n_frames); basis : ndarray, shape (n_mfcc, n_mels).
    Returns shape (2 * (n_mels + n_mfcc),): the means, then the stds (divided by n).
    """
    bands = np.concatenate([log_mel, basis @ log_mel]).astype(np.float32)
    return np.concatenate([bands.mean(axis=1), bands.std(axis=1)]).astype(np.float32)


def _standardization(values: npt.NDArray[np.float32]) -> tuple[State, npt.NDArray[np.float32]]:
    """``norm.mean`` and ``norm.std`` of rows ``values`` (n, features): the unbiased std,
    floored at 1e-3, shaped (features, 1) like the PyTorch buffers."""
    mean = values.mean(axis=0, dtype=np.float64).astype(np.float32)
    std = np.maximum(values.std(axis=0, ddof=1, dtype=np.float64), 1e-3).astype(np.float32)
    return {"norm.mean": mean[:, None], "norm.std": std[:, None]}, mean


def standardize(x: npt.NDArray[np.float32], state: State) -> npt.NDArray[np.float32]:
    """Rows ``x`` (n, features) standardized with the state's statistics."""
    out: npt.NDArray[np.float32] = (x - state["norm.mean"][:, 0]) / state["norm.std"][:, 0]
    return out.astype(np.float32)


def fit_linear(
    x: npt.NDArray[np.float32],
    labels: npt.NDArray[np.int64],
    n_classes: int,
    seed: int,
    c: float,
) -> State:
    """``linear.weight`` (n_classes, features) and ``linear.bias`` of a class-balanced logistic
    regression of ``labels`` on ``x``; a class without training clips gets a bias of -1e4."""
    from sklearn.linear_model import LogisticRegression

    classes = np.unique(labels)
    clf = LogisticRegression(C=c, max_iter=3000, class_weight="balanced", random_state=seed)
    clf.fit(x, labels)
    weight = np.zeros((n_classes, x.shape[1]), np.float32)
    bias = np.full(n_classes, NEVER, np.float32)
    if classes.size > 2:
        coef, intercept = clf.coef_, clf.intercept_
    else:  # scikit-learn gives one row for two classes: split it into two opposite halves
        coef = np.vstack([-clf.coef_[0] / 2, clf.coef_[0] / 2])
        intercept = np.array([-clf.intercept_[0] / 2, clf.intercept_[0] / 2])
    weight[classes] = coef
    bias[classes] = intercept
    return {"linear.weight": weight, "linear.bias": bias}


def fit_baseline(
    store: FeatureStore, train_idx: Indices, seed: int
) -> tuple[State, dict[str, Any]]:
    """The baseline's state and architecture arguments, fitted on the clips ``train_idx``."""
    params = store.params
    basis = dct_matrix(params.n_mfcc, params.n_mels).astype(np.float32)
    sample = train_idx[: min(len(train_idx), NORM_SAMPLE)]
    rows = {int(i): summaries(valid_log_mel(store, int(i)), basis) for i in train_idx}
    state, _ = _standardization(np.stack([rows[int(i)] for i in sample]))
    x = standardize(np.stack([rows[int(i)] for i in train_idx]), state)
    n_classes = len(store.genres)
    state |= fit_linear(x, store.labels[train_idx], n_classes, seed, BASELINE_C)
    state["mfcc.basis"] = basis
    arguments = {"n_classes": n_classes, "n_mels": params.n_mels, "n_mfcc": params.n_mfcc}
    return state, arguments


def fit_head(
    embeddings: npt.NDArray[np.float32],
    labels: npt.NDArray[np.int64],
    n_classes: int,
    seed: int,
) -> tuple[State, dict[str, Any]]:
    """A head's state and architecture arguments, fitted on rows ``embeddings`` (n, size)."""
    state, _ = _standardization(embeddings)
    state |= fit_linear(standardize(embeddings, state), labels, n_classes, seed, HEAD_C)
    return state, {"n_classes": n_classes, "n_inputs": int(embeddings.shape[1])}


def softmax(logits: npt.NDArray[np.floating[Any]]) -> npt.NDArray[np.float64]:
    shifted = np.asarray(logits, dtype=np.float64)
    shifted = shifted - shifted.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    out: npt.NDArray[np.float64] = e / e.sum(axis=1, keepdims=True)
    return out


def head_probabilities(state: State, x: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
    """Class probabilities of rows ``x`` (n, features), not yet standardized."""
    z = standardize(np.asarray(x, dtype=np.float32), state)
    return softmax(z @ state["linear.weight"].T + state["linear.bias"])


def probabilities(
    state: State, backbone: str | None, store: FeatureStore, indices: Indices
) -> npt.NDArray[np.float64]:
    """Class probabilities (n, n_classes) of the store's clips ``indices`` by the light model of
    ``state``: a head on ``backbone``'s embeddings, or the baseline when None."""
    if backbone:
        x = np.stack([store.embedding(int(i), backbone) for i in indices])
    else:
        basis = state["mfcc.basis"]
        x = np.stack([summaries(valid_log_mel(store, int(i)), basis) for i in indices])
    if not len(indices):
        return np.zeros((0, state["linear.bias"].shape[0]))
    return head_probabilities(state, x)


def check_state(state: dict[str, Any], arguments: dict[str, Any], where: str) -> None:
    """Raise :class:`ModelError` unless ``state`` holds the arrays ``arguments`` describe."""

    def count(name: str) -> int:
        value = arguments.get(name)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= 1 << 20:
            raise ModelError(f"{where}: damaged model: arguments give {name}={value!r:.40}")
        return value

    n_classes = count("n_classes")
    if "n_inputs" in arguments:
        features = count("n_inputs")
        shapes: dict[str, tuple[int, ...]] = {}
    else:
        n_mels, n_mfcc = count("n_mels"), count("n_mfcc")
        features = 2 * (n_mels + n_mfcc)
        shapes = {"mfcc.basis": (n_mfcc, n_mels)}
    shapes |= {
        "norm.mean": (features, 1),
        "norm.std": (features, 1),
        "linear.weight": (n_classes, features),
        "linear.bias": (n_classes,),
    }
    for name, shape in shapes.items():
        array = state.get(name)
        if not isinstance(array, np.ndarray) or array.shape != shape or array.dtype != np.float32:
            found = "missing" if array is None else f"{getattr(array, 'shape', '?')}"
            raise ModelError(f"{where}: damaged model: {name} should be float32 {shape}, {found}")


def onnx_graph(state: State, backbone: str | None, name: str, opset: int, metadata: str) -> Any:
    """The light model of ``state`` (a head on ``backbone``'s embeddings, or the baseline when
    None) as an ``onnx.ModelProto`` named ``name``: input ``logmel`` (batch, n_mels, frames; any
    length) or ``embedding`` (batch, size), output ``probabilities``; the metadata key
    ``genrekit`` holds ``metadata``."""
    from onnx import TensorProto, helper, numpy_helper

    nodes = []
    initializers = [
        numpy_helper.from_array(state["norm.mean"][:, 0], "mean"),
        numpy_helper.from_array(state["norm.std"][:, 0], "std"),
        numpy_helper.from_array(state["linear.weight"], "weight"),
        numpy_helper.from_array(state["linear.bias"], "bias"),
    ]
    if backbone:
        size = int(state["norm.mean"].shape[0])
        graph_input = helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", size])
        features = "embedding"
    else:
        n_mels = int(state["mfcc.basis"].shape[1])
        graph_input = helper.make_tensor_value_info(
            "logmel", TensorProto.FLOAT, ["batch", n_mels, "frames"]
        )
        initializers.append(numpy_helper.from_array(state["mfcc.basis"], "basis"))
        nodes += [
            helper.make_node("MatMul", ["basis", "logmel"], ["mfcc"]),
            helper.make_node("Concat", ["logmel", "mfcc"], ["bands"], axis=1),
            helper.make_node("ReduceMean", ["bands"], ["band_mean"], axes=[2], keepdims=1),
            helper.make_node("Sub", ["bands", "band_mean"], ["centred"]),
            helper.make_node("Mul", ["centred", "centred"], ["squares"]),
            helper.make_node("ReduceMean", ["squares"], ["band_var"], axes=[2], keepdims=1),
            helper.make_node("Sqrt", ["band_var"], ["band_std"]),
            helper.make_node("Concat", ["band_mean", "band_std"], ["stats"], axis=1),
            helper.make_node("Flatten", ["stats"], ["summaries"], axis=1),
        ]
        features = "summaries"
    nodes += [
        helper.make_node("Sub", [features, "mean"], ["shifted"]),
        helper.make_node("Div", ["shifted", "std"], ["standardized"]),
        helper.make_node("Gemm", ["standardized", "weight", "bias"], ["logits"], transB=1),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
    ]
    n_classes = int(state["linear.bias"].shape[0])
    output = helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", n_classes])
    graph = helper.make_graph(nodes, name, [graph_input], [output], initializers)
    return onnx_model(graph, opset, metadata)


def onnx_model(graph: Any, opset: int, metadata: str) -> Any:
    """``graph`` as a checked ``onnx.ModelProto`` with genrekit's ``metadata`` (JSON text)."""
    from onnx import checker, helper

    # IR 8 (opset 17's): readable by every onnxruntime the dependencies admit.
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", opset)],
        ir_version=8,
        producer_name="genrekit",
    )
    helper.set_model_props(model, {"genrekit": metadata})
    checker.check_model(model)
    return model
