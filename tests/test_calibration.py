"""Calibration error and temperature scaling, on answers whose calibration is known."""

from __future__ import annotations

import numpy as np
import pytest

from genrekit.calibration import (
    cross_fitted_probabilities,
    expected_calibration_error,
    fit_temperature,
    softmax,
)
from genrekit.errors import ParameterError


def sampled(true_temperature: float, n: int = 4000, classes: int = 5, seed: int = 0):
    """Logits, and labels drawn from softmax(logits / true_temperature): the model that gave
    these logits is calibrated exactly at that temperature."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0.0, 3.0, (n, classes))
    p = softmax(logits, true_temperature)
    labels = np.array([rng.choice(classes, p=row) for row in p])
    return logits, labels


def test_a_calibrated_model_has_a_small_error_and_an_overconfident_one_a_large_one() -> None:
    logits, labels = sampled(1.0)
    assert expected_calibration_error(softmax(logits), labels) < 0.03
    assert expected_calibration_error(softmax(logits, 0.4), labels) > 0.1  # too sure


def test_the_error_of_hand_made_answers() -> None:
    # Two answers at 0.9 confidence, one right: |0.5 - 0.9| = 0.4 over the whole set.
    probs = np.array([[0.9, 0.1], [0.9, 0.1]])
    assert expected_calibration_error(probs, np.array([0, 1])) == pytest.approx(0.4)


@pytest.mark.parametrize("true_temperature", [0.5, 1.0, 2.5])
def test_the_fitted_temperature_finds_the_true_one(true_temperature: float) -> None:
    logits, labels = sampled(true_temperature)
    assert fit_temperature(logits, labels) == pytest.approx(true_temperature, rel=0.12)


def test_cross_fitting_repairs_an_overconfident_model_without_changing_its_answers() -> None:
    logits, labels = sampled(2.5)
    folds = np.arange(labels.size) % 5
    before = softmax(logits)
    after, temperatures = cross_fitted_probabilities(logits, labels, folds)
    assert len(temperatures) == 5 and all(t > 1.8 for t in temperatures)
    assert (
        expected_calibration_error(after, labels) < expected_calibration_error(before, labels) / 3
    )
    assert np.array_equal(after.argmax(axis=1), before.argmax(axis=1))


def test_mismatched_shapes_are_refused() -> None:
    with pytest.raises(ParameterError, match="need probabilities"):
        expected_calibration_error(np.ones((3, 2)) / 2, np.array([0, 1]))
