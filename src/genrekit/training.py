"""Training genre classifiers on a feature store, honestly and reproducibly.

``train_model`` fits one model on given training clips, choosing the epoch by accuracy on given
validation clips (never on test clips), and returns a self-describing checkpoint.
``train`` splits a store (test / validation / training, stratified, disjoint by artist or clip)
and writes a model folder; ``cross_validate`` gives accuracy over K disjoint folds.

The models fitted in closed form (``baseline``, backbone heads: :mod:`genrekit.linear`) need
numpy and scikit-learn only; networks are trained by :mod:`genrekit.networks`, the only
training code that imports PyTorch (and only when a network is trained, evaluated or exported).
Around this module: what each model is (:mod:`genrekit.recipes`), how it reads a clip
(:mod:`genrekit.clip_reader`), its epochs' log (:mod:`genrekit.training_log`) and its life on
disk (:mod:`genrekit.checkpoint`).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from genrekit import extras, linear
from genrekit.checkpoint import Checkpoint, load_model_state, save_checkpoint
from genrekit.clip_reader import ClipReader, window_frames
from genrekit.dataset import FeatureStore
from genrekit.errors import ParameterError
from genrekit.model_info import ModelInfo
from genrekit.progress import Progress, Step
from genrekit.recipes import (
    RECIPES,
    Recipe,
    public_models,
)
from genrekit.splits import (
    Indices,
    check_folds,
    check_trainable,
    describe_split,
    groups_of,
    holdout,
    kfold,
)
from genrekit.storage import write_bytes_atomic
from genrekit.training_log import EpochLog, TrainingOutcome, write_log


@dataclass(frozen=True)
class TrainOptions:
    model: str = "cnn"
    epochs: int | None = None  # None: the model's recipe
    members: int | None = None  # networks in an ensemble; None: the recipe's
    patience: int = 15  # epochs without a better validation accuracy before stopping
    seed: int = 0
    val_fraction: float = 0.15
    test_fraction: float = 0.15
    mixup: float = 0.0  # alpha of mixup; 0 turns it off
    teacher: bool = True  # False: train without the recipe's teacher (no embeddings needed)
    device: str | None = None  # None: CUDA when present, else CPU

    def recipe(self) -> Recipe:
        if self.model not in RECIPES:
            raise ParameterError(
                f"unknown model {self.model!r}; choose one of: {', '.join(public_models())}"
            )
        recipe = RECIPES[self.model]
        if not self.teacher:
            recipe = replace(recipe, teacher=None)
        if self.epochs is not None:
            if self.epochs < 1:
                raise ParameterError("need 1 or more", option="epochs", value=self.epochs)
            if not recipe.epochs:
                raise ParameterError(
                    f"{self.model} is fitted in closed form and has no epochs; leave it out",
                    option="epochs",
                    value=self.epochs,
                )
            recipe = replace(recipe, epochs=self.epochs)
        if self.members is not None:
            if self.members < 1 or (self.members > 1 and not recipe.epochs):
                raise ParameterError(
                    "need 1 or more, and more than 1 only for networks (baseline and backbone "
                    "heads are fitted in closed form)",
                    option="members",
                    value=self.members,
                )
            recipe = replace(recipe, members=self.members)
        return recipe


def train_model(
    store: FeatureStore,
    train_idx: Indices,
    val_idx: Indices,
    options: TrainOptions,
    *,
    progress: Progress | None = None,
) -> tuple[Checkpoint, list[EpochLog]]:
    """Train ``options.model`` on ``train_idx``, keep the epoch best on ``val_idx``.

    Returns the checkpoint (its state numpy arrays for models fitted in closed form, tensors
    for networks) and the per-epoch log. ``checkpoint.training`` (a :class:`TrainingOutcome`)
    says how training ended, and ``notes`` there what a user should know (a teacher left out
    for want of embeddings).
    """
    recipe = options.recipe()
    extras.require(f"training the {options.model} model", *recipe.packages())
    notes: list[str] = []
    recipe = _check_embeddings(store, options.model, recipe, notes)
    window = window_frames(store) if recipe.window else None
    reader = ClipReader(store, window, recipe.backbone, recipe.reads)
    log: list[EpochLog] = []
    outcome = TrainingOutcome("fitted")
    state: dict[str, Any]
    if recipe.backbone is not None and not recipe.epochs:
        n_classes = len(store.genres)
        embeddings = reader.embeddings(train_idx)
        state, arguments = linear.fit_head(
            embeddings, store.labels[train_idx], n_classes, options.seed
        )
    elif not recipe.epochs:
        state, arguments = linear.fit_baseline(store, train_idx, options.seed)
    else:
        from genrekit.networks import train_networks

        state, arguments, log, outcome = train_networks(
            store, reader, train_idx, val_idx, options, recipe, progress
        )
    outcome = replace(
        outcome, patience=options.patience, val_clips=len(val_idx), notes=tuple(notes)
    )
    info = ModelInfo(
        architecture=options.model,
        classes=tuple(store.genres),
        params=store.params,
        clip_seconds=store.info.clip_seconds,
        window_frames=window,
        input_frames=None if recipe.backbone else window or reader.n_frames,
        # A clip shorter than the window is looped to fill it (whole-clip models see the padding).
        short_fill="loop" if window else "silence",
        backbone=recipe.backbone,
    )
    checkpoint = Checkpoint(
        info,
        arguments,
        state,
        teacher=recipe.teacher,  # training only: inference never needs it
        options=asdict(options),
        training=outcome,
    )
    return checkpoint, log


def _check_embeddings(store: FeatureStore, model: str, recipe: Recipe, notes: list[str]) -> Recipe:
    """The recipe, without its teacher when clips lack the teacher's embeddings (said in
    ``notes``); an error when the model's own input, a backbone's embeddings, is missing."""
    for backbone in (recipe.backbone, recipe.teacher):
        if backbone is None:
            continue
        missing = sum(not store.has_embedding(i, backbone) for i in range(len(store)))
        if not missing:
            continue
        what = f"{missing} of {len(store)} clips of {store.root} have no {backbone} embedding"
        hint = f"'genrekit embed IN_DIR -o {store.root}' first, or give train --audio IN_DIR"
        if backbone == recipe.backbone:
            raise ParameterError(
                f"model {model!r} reads {backbone} embeddings, but {what}; run {hint}"
            )
        notes.append(
            f"{what}, so {model} trains without its {backbone} teacher (on GTZAN the teacher "
            f"added 0.6-1.9 points of accuracy); to teach it, run {hint}"
        )
        recipe = replace(recipe, teacher=None)
    return recipe


def split_store(store: FeatureStore, options: TrainOptions) -> dict[str, Indices]:
    """Test, validation and training clips: stratified, disjoint by artist or clip.

    A model fitted in closed form chooses no epoch, so it needs no validation clips: they
    stay in training.
    """
    check_trainable(store, min_per_genre=3)
    groups = groups_of(store)
    rest, test = holdout(store.labels, groups, options.test_fraction, options.seed)
    if not options.recipe().epochs:
        return {"train": rest, "val": rest[:0], "test": test}
    fit, val = holdout(store.labels[rest], groups[rest], options.val_fraction, options.seed)
    return {"train": rest[fit], "val": rest[val], "test": test}


def train(
    store_dir: str | os.PathLike[str],
    model_dir: str | os.PathLike[str],
    options: TrainOptions,
    *,
    progress: Progress | None = None,
) -> Checkpoint:
    """Split, train, test, and write ``model_dir`` (checkpoint, log, learning curve, split).

    Besides :func:`train_model`'s account, ``checkpoint.training`` holds ``held_out`` (what
    was held out for testing and validation, and why) and ``test_accuracy`` on the test clips
    (None if there are none).
    """
    out = Path(model_dir)
    if out.exists() and not out.is_dir():
        raise ParameterError(f"{out}: a file, not a folder; a model is written into a folder")
    store = FeatureStore(store_dir)
    options.recipe()  # a bad model or option fails before the split
    splits = split_store(store, options)
    checkpoint, log = train_model(store, splits["train"], splits["val"], options, progress=progress)
    split = {name: [store.tracks[int(i)].sha256 for i in idx] for name, idx in splits.items()}
    checkpoint = replace(checkpoint, split=split)
    test = splits["test"]
    accuracy = None
    if test.size:
        guess = probabilities(checkpoint, store, test).argmax(axis=1)
        accuracy = float((guess == store.labels[test]).mean())
    held_out = describe_split(store, splits, options.test_fraction, options.val_fraction)
    outcome = replace(
        checkpoint.training,
        held_out=tuple(held_out),
        test_accuracy=accuracy,
        test_clips=int(test.size),
    )
    checkpoint = replace(checkpoint, training=outcome)
    saved = save_checkpoint(checkpoint, out)
    write_log(log, out)
    # Where it was saved is told, not saved.
    return replace(checkpoint, training=replace(outcome, file=str(saved)))


@dataclass
class CrossValidation:
    """Scores of K folds, their test clips, and every clip's out-of-fold class probabilities."""

    scores: list[float]
    probabilities: npt.NDArray[np.float64]  # (n_clips, n_classes), each from the fold testing it
    tests: list[Indices]  # each fold's test clips, in fold order

    @property
    def mean(self) -> float:
        """Mean accuracy over the folds."""
        return float(np.mean(self.scores))

    @property
    def std(self) -> float:
        """Standard deviation of the folds' accuracies (population, as numpy's)."""
        return float(np.std(self.scores))

    def text(self) -> str:
        """``"82.7 +- 3.1 %"``: how every report writes a cross-validated accuracy."""
        return f"{100 * self.mean:.1f} +- {100 * self.std:.1f} %"

    def summary(self) -> dict[str, Any]:
        """The folds' accuracies, mean and std, for JSON (no per-clip arrays)."""
        return {
            "folds": len(self.scores),
            "accuracy": self.scores,
            "mean": self.mean,
            "std": self.std,
        }

    def save(self, model_dir: str | os.PathLike[str], model: str) -> Path:
        """Write :meth:`summary`, with the model's name, as ``cross_validation.json``."""
        path = Path(model_dir) / "cross_validation.json"
        write_bytes_atomic(path, json.dumps({"model": model} | self.summary(), indent=2).encode())
        return path

    def per_genre_recall(self, labels: npt.NDArray[np.int64]) -> list[float]:
        guess = self.probabilities.argmax(axis=1)
        return [float((guess[labels == c] == c).mean()) for c in range(self.probabilities.shape[1])]


def cross_validate(
    store: FeatureStore,
    options: TrainOptions,
    folds: int,
    *,
    per_genre: int | None = None,
    progress: Progress | None = None,
) -> CrossValidation:
    """Track-level test accuracy of ``folds`` folds, disjoint by artist or clip.

    ``per_genre`` trains each fold on at most that many clips per genre (drawn with the seed
    from the fold's training part) for a learning curve; the test folds stay whole. Models
    fitted in closed form (no epochs) use the whole training part: they choose no epoch, so
    they need no validation clips.
    """
    check_folds(store, folds)
    groups = groups_of(store)
    scores = []
    tests = []
    probs = np.zeros((len(store), len(store.genres)))
    rng = np.random.default_rng(options.seed)
    for k, (rest, test) in enumerate(kfold(store.labels, groups, folds, options.seed)):
        if per_genre is not None:
            rest = np.sort(
                np.concatenate(
                    [
                        rng.permutation(rest[store.labels[rest] == c])[:per_genre]
                        for c in range(len(store.genres))
                    ]
                )
            )
        if options.recipe().epochs == 0:
            fit, val = np.arange(rest.size), np.zeros(0, dtype=np.int64)
        else:
            fit, val = holdout(store.labels[rest], groups[rest], options.val_fraction, options.seed)
        checkpoint, _ = train_model(store, rest[fit], rest[val], options)
        probs[test] = probabilities(checkpoint, store, test)
        scores.append(float((probs[test].argmax(axis=1) == store.labels[test]).mean()))
        tests.append(test)
        if progress:
            progress(Step("fold", k + 1, folds, scores[-1]))
    return CrossValidation(scores, probs, tests)


def probabilities(
    checkpoint: Checkpoint, store: FeatureStore, indices: Indices
) -> npt.NDArray[np.float64]:
    """Track-level class probabilities (n, n_classes) of the store's clips ``indices``; PyTorch
    only for a network."""
    if checkpoint.closed_form:
        return linear.probabilities(checkpoint.state, checkpoint.info.backbone, store, indices)
    import torch

    from genrekit.networks import network_probabilities

    model = load_model_state(checkpoint)
    reader = ClipReader.for_checkpoint(store, checkpoint)
    return network_probabilities(model, reader, indices, torch.device("cpu"))
