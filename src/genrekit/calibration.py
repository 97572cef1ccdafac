"""How far a model's probabilities can be taken at their word: calibration error and its repair.

A model is calibrated when, of the answers it gives with 80 % confidence, 80 % are right. The
expected calibration error (ECE, Naeini et al. 2015; Guo et al. 2017) measures the gap: answers
are binned by their confidence and each bin's |accuracy - mean confidence| is weighed by its
share of answers. Temperature scaling (Guo et al. 2017) repairs most of it with one number:
the logits are divided by ``T`` (> 1 softens an overconfident model), fitted by maximum
likelihood on held-out answers. It never changes which class is ranked first.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from genrekit import linear
from genrekit.errors import ParameterError

FloatArray = npt.NDArray[np.floating[Any]]
IntArray = npt.NDArray[np.integer[Any]]

ECE_BINS = 15
"""Equal-width confidence bins, as in Guo et al. (2017)."""
TEMPERATURE_RANGE = (0.05, 20.0)


def softmax(logits: FloatArray, temperature: float = 1.0) -> npt.NDArray[np.float64]:
    """Probabilities of ``logits`` (n, classes) divided by ``temperature``."""
    return linear.softmax(np.asarray(logits, dtype=np.float64) / temperature)


def expected_calibration_error(probs: FloatArray, labels: IntArray, bins: int = ECE_BINS) -> float:
    """The ECE of probabilities ``probs`` (n, classes) for true ``labels`` (n,), in [0, 1]."""
    p = np.asarray(probs, dtype=np.float64)
    y = np.asarray(labels)
    if p.ndim != 2 or y.shape != (p.shape[0],) or p.shape[0] == 0:
        raise ParameterError(
            f"need probabilities (n, classes) and n labels; got {p.shape}, {y.shape}"
        )
    confidence = p.max(axis=1)
    correct = p.argmax(axis=1) == y
    # Bin k holds confidences in (k/bins, (k+1)/bins]; a confidence of exactly 0 joins bin 0.
    which = np.clip(np.ceil(confidence * bins).astype(int) - 1, 0, bins - 1)
    gap = 0.0
    for k in range(bins):
        members = which == k
        if members.any():
            gap += members.mean() * abs(correct[members].mean() - confidence[members].mean())
    return float(gap)


def negative_log_likelihood(logits: FloatArray, labels: IntArray, temperature: float) -> float:
    p = softmax(logits, temperature)
    picked = p[np.arange(p.shape[0]), np.asarray(labels)]
    return float(-np.log(np.maximum(picked, 1e-300)).mean())


def fit_temperature(logits: FloatArray, labels: IntArray) -> float:
    """The temperature that maximizes the likelihood of ``labels`` under ``softmax(logits / T)``.

    ``logits`` must be held-out answers (cross-validated): on its own training data a model is
    more confident than it deserves, and the temperature would learn nothing.
    """
    from scipy.optimize import minimize_scalar

    low, high = (np.log(t) for t in TEMPERATURE_RANGE)
    found = minimize_scalar(
        lambda log_t: negative_log_likelihood(logits, labels, float(np.exp(log_t))),
        bounds=(low, high),
        method="bounded",
        options={"xatol": 1e-4},
    )
    return float(np.exp(found.x))


def cross_fitted_probabilities(
    logits: FloatArray, labels: IntArray, folds: IntArray
) -> tuple[npt.NDArray[np.float64], list[float]]:
    """Each fold's probabilities under a temperature fitted on the other folds' answers.

    The honest way to report a calibrated model's ECE on the answers that chose its temperature.
    Returns the probabilities and each fold's temperature.
    """
    z = np.asarray(logits, dtype=np.float64)
    fold_of = np.asarray(folds)
    out = np.zeros_like(z)
    temperatures = []
    for k in np.unique(fold_of):
        held = fold_of == k
        t = fit_temperature(z[~held], np.asarray(labels)[~held])
        out[held] = softmax(z[held], t)
        temperatures.append(t)
    return out, temperatures
