"""Training genre classifiers on a feature store, honestly and reproducibly.

``train_model`` fits one model on given training clips, choosing the epoch by accuracy on given
validation clips (never on test clips), and returns a self-describing checkpoint.
``train`` splits a store (test / validation / training, stratified, disjoint by artist or clip)
and writes a model folder; ``cross_validate`` gives accuracy over K disjoint folds.

The models fitted in closed form (``baseline``, backbone heads: :mod:`genrekit.linear`) need
numpy and scikit-learn only; PyTorch is imported only to train, evaluate or export a network.
"""

from __future__ import annotations

import copy
import csv
import io
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from genrekit import linear
from genrekit.dataset import FeatureStore
from genrekit.errors import GenrekitError, ModelError, ParameterError
from genrekit.features import loop_frames
from genrekit.splits import (
    Indices,
    check_folds,
    check_trainable,
    describe_split,
    groups_of,
    holdout,
    kfold,
)
from genrekit.storage import atomic_path, write_bytes_atomic

if TYPE_CHECKING:
    import torch
    from torch import nn

CHECKPOINT_FORMAT = "genrekit-model"
CHECKPOINT_VERSION = 1
WINDOW_SECONDS = 3.0
"""Window of the short-chunk CNN: ~3 s, 129 frames at 22,050 Hz and hop 512."""


@dataclass(frozen=True)
class Recipe:
    """How a model is trained; defaults per model in ``RECIPES``."""

    epochs: int
    lr: float
    weight_decay: float
    batch_size: int = 32
    window: bool = False  # trained on random windows, evaluated on the average over windows
    crops_per_clip: int = 1  # windows drawn from each clip per epoch
    band_shift: int = 0  # augmentation: shift examples by up to this many mel bands
    time_stretch: float = 0.0  # augmentation: tempo changes of up to 1 + this, faster or slower
    members: int = 1  # networks trained with seeds seed, seed + 1, ...; their answers averaged
    arguments: dict[str, Any] = field(default_factory=dict)
    backbone: str | None = None  # reads this backbone's clip embeddings instead of the log-mel
    # Knowledge distillation, training only: each window also learns the softened genre
    # probabilities that a head on this backbone's clip embeddings gives its clip.
    teacher: str | None = None
    teacher_weight: float = 0.0  # of the distillation loss beside the genre loss


RECIPES: dict[str, Recipe] = {
    "baseline": Recipe(epochs=0, lr=0.0, weight_decay=0.0),  # scikit-learn, closed form
    "backbone-msd-musicnn": Recipe(epochs=0, lr=0.0, weight_decay=0.0, backbone="msd-musicnn"),
    "seed-mlp": Recipe(epochs=80, lr=3e-4, weight_decay=1e-2),  # the seed's L2 0.01
    "seed-cnn": Recipe(epochs=60, lr=1e-3, weight_decay=1e-2),
    "cnn": Recipe(
        epochs=40,
        lr=2e-3,
        weight_decay=1e-2,
        window=True,
        crops_per_clip=3,
        band_shift=4,
        time_stretch=0.2,
        teacher="msd-musicnn",
        teacher_weight=3.0,
        arguments={"channels": (16, 32, 32, 64, 64, 128, 128), "pooling": "avgmax"},
    ),
    "tiny": Recipe(
        epochs=15,
        lr=1e-2,
        weight_decay=1e-3,
        window=True,
        crops_per_clip=2,
        arguments={"channels": (8, 16), "dropout": 0.0},
    ),
}
TEST_ONLY = frozenset({"tiny"})
"""Recipes for the tests (built in seconds): usable by name, never offered to users."""
INSTALL_TORCH = "pip install 'genrekit[train]'"
CHECKPOINT_FILES = ("model.npz", "model.pt")
"""A model folder's checkpoint: numpy arrays (closed-form models) or PyTorch (networks)."""


def public_models() -> list[str]:
    """The models users can train (``--model``)."""
    return [name for name in RECIPES if name not in TEST_ONLY]


def closed_form(architecture: str) -> bool:
    """Whether a model is fitted in closed form with numpy and scikit-learn (no PyTorch)."""
    recipe = RECIPES.get(architecture)
    return recipe is not None and recipe.epochs == 0


def require_torch(what: str, error: type[GenrekitError] = ParameterError) -> None:
    """Raise ``error`` in one line with the install command if PyTorch cannot be imported."""
    try:
        import torch  # noqa: F401
    except ImportError:
        raise error(f"{what} needs PyTorch: {INSTALL_TORCH}") from None


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
                raise ParameterError(f"--epochs {self.epochs}: need 1 or more")
            if not recipe.epochs:
                raise ParameterError(
                    f"--epochs {self.epochs}: {self.model} is fitted in closed form and has no "
                    "epochs; leave --epochs out"
                )
            recipe = replace(recipe, epochs=self.epochs)
        if self.members is not None:
            if self.members < 1 or (self.members > 1 and not recipe.epochs):
                raise ParameterError(
                    f"--members {self.members}: need 1 or more, and more than 1 only for "
                    "networks (baseline and backbone heads are fitted in closed form)"
                )
            recipe = replace(recipe, members=self.members)
        return recipe


@dataclass
class EpochLog:
    epoch: int
    train_loss: float
    train_accuracy: float
    val_accuracy: float
    lr: float
    seconds: float
    member: int = 1  # which network of an ensemble


Progress = Callable[[EpochLog, int], None]  # (the epoch's log, epochs planned)


def window_frames(store: FeatureStore) -> int:
    params = store.params
    return 1 + round(WINDOW_SECONDS * params.sr / params.hop_length)


class ClipReader:
    """Inputs of a store's clips: whole log-mels, random windows, every window, or embeddings."""

    def __init__(self, store: FeatureStore, window: int | None, backbone: str | None = None):
        self.store = store
        self.window = window
        self.backbone = backbone
        self.n_frames = store.array("logmel", 0).shape[1] if len(store) else 0

    def embeddings(self, indices: Indices) -> npt.NDArray[np.float32]:
        assert self.backbone is not None
        return np.stack([self.store.embedding(int(i), self.backbone) for i in indices])

    def whole(self, indices: Indices) -> npt.NDArray[np.float32]:
        return np.stack([np.asarray(self.store.array("logmel", int(i))) for i in indices])

    def valid(self, i: int) -> npt.NDArray[np.float32]:
        """The real frames of clip ``i`` only (at least 2), without the padding."""
        frames = max(2, self.store.tracks[i].n_valid)
        return np.array(self.store.array("logmel", i)[:, :frames])

    def random_windows(
        self, indices: Indices, rng: np.random.Generator, stretch: float = 0.0
    ) -> npt.NDArray[np.float32]:
        """A random window of each clip. ``stretch``: read up to ``1 + stretch`` times more or
        fewer frames and resample them to the window (a tempo change of as much)."""
        assert self.window is not None
        out = []
        for i in indices:
            length = self.window
            if stretch:
                rate = math.exp(rng.uniform(-math.log1p(stretch), math.log1p(stretch)))
                length = max(2, round(self.window * rate))
            valid = self.store.tracks[int(i)].n_valid
            image = self.store.array("logmel", int(i))
            if valid < length:
                # Loop the clip from a random point of it: a short clip's random crop.
                clip = np.asarray(image[:, : max(1, valid)])
                start = int(rng.integers(0, clip.shape[1]))
                crop = loop_frames(np.roll(clip, -start, axis=1), length)
            else:
                start = int(rng.integers(0, valid - length + 1))
                crop = np.asarray(image[:, start : start + length])
            if length != self.window:
                import torch

                stretched = torch.nn.functional.interpolate(
                    torch.tensor(crop)[None], size=self.window, mode="linear"
                )
                crop = stretched[0].numpy()
            out.append(crop)
        return np.stack(out)

    def windows_of(self, i: int) -> npt.NDArray[np.float32]:
        """Every window of clip ``i`` over its real frames, half-overlapping, end included."""
        assert self.window is not None
        image = np.asarray(self.store.array("logmel", i))
        valid = self.store.tracks[i].n_valid
        if valid < self.window:
            return loop_frames(image[:, : max(1, valid)], self.window)[None]
        last = valid - self.window
        starts = sorted({*range(0, last + 1, self.window // 2), last})
        return np.stack([image[:, s : s + self.window] for s in starts])


def shift_bands(x: torch.Tensor, shifts: npt.NDArray[np.int64]) -> torch.Tensor:
    """Each example of (batch, bands, frames) moved up by ``shifts[i]`` mel bands (down if
    negative), the edge band repeated into the space left: a rough pitch shift."""
    import torch

    bands = x.shape[1]
    rows = np.arange(bands)
    source = torch.from_numpy(np.clip(rows[None, :] - shifts[:, None], 0, bands - 1))
    return torch.gather(x, 1, source[:, :, None].expand(-1, -1, x.shape[2]))


def augment(x: torch.Tensor, rng: np.random.Generator, band_shift: int = 0) -> torch.Tensor:
    """Gain (+-6 dB) and SpecAugment: one time mask and one band mask per example.

    ``band_shift``: also shift each example by up to that many mel bands (:func:`shift_bands`).
    """
    import torch

    batch, bands, frames = x.shape
    x = x + torch.from_numpy(rng.uniform(-6, 6, size=(batch, 1, 1)).astype(np.float32))
    if band_shift:
        x = shift_bands(x, rng.integers(-band_shift, band_shift + 1, size=batch))
    for b in range(batch):
        fill = x[b].mean()
        width = int(rng.integers(0, max(1, frames // 10) + 1))
        start = int(rng.integers(0, frames - width + 1))
        x[b, :, start : start + width] = fill
        height = int(rng.integers(0, max(1, bands // 8) + 1))
        low = int(rng.integers(0, bands - height + 1))
        x[b, low : low + height, :] = fill
    return x


def fit_normalization(model: nn.Module, reader: ClipReader, indices: Indices) -> None:
    """Set every ``Standardize`` buffer from the training clips' real frames."""
    import torch

    from genrekit.models import Baseline, EmbeddingHead, Standardize

    sample = indices[: min(len(indices), linear.NORM_SAMPLE)]
    if isinstance(model, EmbeddingHead):
        values = torch.from_numpy(reader.embeddings(indices)).T
        model.norm.mean.copy_(values.mean(dim=1, keepdim=True))
        model.norm.std.copy_(values.std(dim=1, keepdim=True).clamp_min(1e-3))
        return
    for module in model.modules():
        if not isinstance(module, Standardize):
            continue
        rows = []
        for i in sample:
            image = torch.from_numpy(reader.valid(int(i)))
            if isinstance(model, Baseline):
                rows.append(model.summaries(image[None])[0])
            elif module.mean.shape[0] == image.shape[0]:
                rows.append(image)
            else:  # the MFCC models standardize MFCCs
                rows.append(model.mfcc(image))  # type: ignore[operator]
        values = torch.cat(rows, dim=1)
        module.mean.copy_(values.mean(dim=1, keepdim=True))
        module.std.copy_(values.std(dim=1, keepdim=True).clamp_min(1e-3))


def predict(
    model: nn.Module, reader: ClipReader, indices: Indices, device: torch.device
) -> npt.NDArray[np.float64]:
    """Track-level class probabilities: window probabilities averaged over each whole track."""
    import torch

    from genrekit.models import Baseline, EmbeddingHead

    model.eval()
    out = []
    with torch.no_grad():
        if isinstance(model, EmbeddingHead):
            x = torch.from_numpy(reader.embeddings(indices)).to(device)
            out.append(torch.softmax(model(x), dim=1).double().cpu().numpy())
        elif isinstance(model, Baseline):  # summaries of the real audio, whatever its length
            for i in indices:
                x = torch.from_numpy(reader.valid(int(i))[None]).to(device)
                out.append(torch.softmax(model(x), dim=1).double().cpu().numpy())
        elif reader.window is None:
            for start in range(0, len(indices), 64):
                x = torch.from_numpy(reader.whole(indices[start : start + 64])).to(device)
                out.append(torch.softmax(model(x), dim=1).double().cpu().numpy())
        else:
            for i in indices:
                x = torch.from_numpy(reader.windows_of(int(i))).to(device)
                out.append(
                    torch.softmax(model(x), dim=1).double().mean(dim=0, keepdim=True).cpu().numpy()
                )
    return np.concatenate(out) if out else np.zeros((0, 0))


def class_weights(labels: npt.NDArray[np.int64], n_classes: int) -> torch.Tensor:
    """Inverse-frequency weights, mean 1: each genre counts alike in the loss."""
    import torch

    counts = np.bincount(labels, minlength=n_classes).astype(np.float64)
    weights = np.where(counts > 0, counts.sum() / np.maximum(counts, 1) / n_classes, 0.0)
    return torch.tensor(weights, dtype=torch.float32)


def train_model(
    store: FeatureStore,
    train_idx: Indices,
    val_idx: Indices,
    options: TrainOptions,
    *,
    progress: Progress | None = None,
) -> tuple[dict[str, Any], list[EpochLog]]:
    """Train ``options.model`` on ``train_idx``, keep the epoch best on ``val_idx``.

    Returns the checkpoint (plain types and arrays: numpy for models fitted in closed form,
    tensors for networks) and the per-epoch log. ``checkpoint["training"]`` says how training
    ended: ``stopped`` is "fitted" (closed form), "early" (no better validation accuracy for
    ``options.patience`` epochs), "epochs" (all of them) or "interrupted" (Ctrl-C: the best
    epoch so far is kept), ``kept``/``ran`` the epochs kept and run per network, ``notes`` what
    a user should know (a teacher left out for want of embeddings).
    """
    recipe = options.recipe()
    if recipe.epochs:
        require_torch(f"--model {options.model}")
    notes: list[str] = []
    recipe = _check_embeddings(store, options.model, recipe, notes)
    window = window_frames(store) if recipe.window else None
    reader = ClipReader(store, window, recipe.backbone)
    log: list[EpochLog] = []
    outcome: dict[str, Any] = {"stopped": "fitted", "kept": [], "ran": []}
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
        state, arguments, log, outcome = _train_networks(
            store, reader, train_idx, val_idx, options, recipe, progress
        )
    outcome |= {"patience": options.patience, "val_clips": len(val_idx), "notes": notes}
    checkpoint = {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "architecture": options.model,
        "arguments": arguments,
        "classes": list(store.genres),
        "feature_params": store.params.to_dict(),
        "clip_seconds": store.info.clip_seconds,
        "window_frames": window,
        "input_frames": None if recipe.backbone else window or reader.n_frames,
        "backbone": recipe.backbone,
        "teacher": recipe.teacher,  # training only: inference never needs it
        # A clip shorter than the window is looped to fill it (whole-clip models see the padding).
        "short_fill": "loop" if window else "silence",
        "options": asdict(options),
        "training": outcome,
        "state_dict": state,
    }
    return checkpoint, log


def describe_outcome(training: dict[str, Any]) -> str:
    """How training ended, in one line for people (``checkpoint["training"]``)."""
    stopped = training["stopped"]
    if stopped == "fitted":
        return "fitted in closed form (no epochs to choose)"
    kept, ran = training["kept"], training["ran"]
    planned, patience = training["planned"], training["patience"]
    accuracy = training.get("kept_val_accuracy") or []
    if len(kept) == 1:
        chosen = f"kept epoch {kept[0]}"
    else:
        chosen = "kept epochs " + ", ".join(map(str, kept)) + f" of networks 1-{len(kept)}"
    if not training.get("val_clips"):
        chosen += ", the lowest training loss (no validation clips)"
    elif len(accuracy) == 1:
        chosen += f", the best on validation ({100 * accuracy[0]:.1f} %)"
    else:
        chosen += ", each the best on validation"
    last = ran[-1] if ran else 0
    if stopped == "interrupted":
        why = f"interrupted (Ctrl-C) after {last} of {planned} epochs"
    elif stopped == "early":
        why = (
            f"early stopping after epoch {max(ran)}: no better validation accuracy for "
            f"{patience} epochs"
        )
    else:
        why = f"ran all {planned} epochs"
    return f"{why}; {chosen}"


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


def architecture_arguments(name: str, store: FeatureStore, recipe: Recipe) -> dict[str, Any]:
    params = store.params
    n_frames = store.array("logmel", 0).shape[1]
    base: dict[str, Any] = {"n_classes": len(store.genres)}
    if name in ("seed-mlp", "seed-cnn"):
        base |= {"n_mels": params.n_mels, "n_mfcc": params.n_mfcc, "n_frames": n_frames}
    else:
        base |= {"n_mels": params.n_mels}
    if recipe.members > 1:
        base |= {"members": recipe.members}
    return base | recipe.arguments


def _train_networks(
    store: FeatureStore,
    reader: ClipReader,
    train_idx: Indices,
    val_idx: Indices,
    options: TrainOptions,
    recipe: Recipe,
    progress: Progress | None,
) -> tuple[dict[str, Any], dict[str, Any], list[EpochLog], dict[str, Any]]:
    """Train the network (or the networks of an ensemble) of ``recipe``: its state dict, its
    arguments, the log and how training ended (see :func:`train_model`)."""
    import torch

    from genrekit.models import Ensemble, build

    torch.manual_seed(options.seed)
    rng = np.random.default_rng(options.seed)
    device = torch.device(options.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    arguments = architecture_arguments(options.model, store, recipe)
    model = build(options.model, **arguments)
    fit_normalization(model, reader, train_idx)
    log: list[EpochLog] = []
    networks = list(model.members) if isinstance(model, Ensemble) else [model]
    teacher = None  # the same for every member: fitted once
    if recipe.teacher is not None:
        teacher = torch.from_numpy(
            teacher_genres(store, recipe.teacher, store.labels, train_idx, options.seed)
        )
    trained: list[nn.Module] = []
    kept: list[int] = []
    ran: list[int] = []
    stops: list[str] = []
    for k, network in enumerate(networks):
        if k:  # member k starts from seed + k: other weights, crops and batches
            torch.manual_seed(options.seed + k)
            rng = np.random.default_rng(options.seed + k)
        network.to(device)
        member_log, stop, best = _fit_network(
            network,
            reader,
            store.labels,
            train_idx,
            val_idx,
            recipe,
            options,
            rng,
            device,
            progress,
            teacher,
            member=k + 1,
        )
        network.cpu()
        log += member_log
        if member_log:  # interrupted before its first epoch ended: nothing to keep
            trained.append(network)
            kept.append(best)
            ran.append(len(member_log))
        stops.append(stop)
        if stop == "interrupted":
            break
    if not trained:
        raise KeyboardInterrupt  # Ctrl-C before the first epoch ended: no model
    if len(trained) < len(networks):  # Ctrl-C: keep the networks trained so far
        model = Ensemble(trained) if len(trained) > 1 else trained[0]
        arguments = {a: v for a, v in arguments.items() if a != "members"}
        if len(trained) > 1:
            arguments["members"] = len(trained)
    stopped = "interrupted" if "interrupted" in stops else "early" if "early" in stops else "epochs"
    best_val = [
        next(e.val_accuracy for e in log if e.member == m + 1 and e.epoch == epoch)
        for m, epoch in enumerate(kept)
    ]
    outcome = {
        "stopped": stopped,
        "kept": kept,
        "ran": ran,
        "planned": recipe.epochs,
        "kept_val_accuracy": best_val,
    }
    return model.state_dict(), arguments, log, outcome


def mixed(
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    output: torch.Tensor,
    target: torch.Tensor,
    mix: tuple[float, torch.Tensor] | None,
) -> torch.Tensor:
    """``loss_fn`` of a batch, or of a mixup batch (weight, permutation): the mix of both losses."""
    if mix is None:
        return loss_fn(output, target)
    lam, perm = mix
    return lam * loss_fn(output, target) + (1 - lam) * loss_fn(output, target[perm])


KD_TEMPERATURE = 2.0
"""Softens the teacher's and the network's genre probabilities (Hinton et al. 2015)."""


def teacher_genres(
    store: FeatureStore, backbone: str, labels: npt.NDArray[np.int64], train_idx: Indices, seed: int
) -> npt.NDArray[np.float32]:
    """Softened genre probabilities of every training clip by a ``backbone`` head fitted on the
    training clips (rows of other clips stay zero: they are never trained on)."""
    embeddings = ClipReader(store, None, backbone).embeddings(train_idx)
    n_classes = int(labels.max()) + 1
    state, _ = linear.fit_head(embeddings, labels[train_idx], n_classes, seed)
    z = linear.standardize(embeddings, state)
    logits = z @ state["linear.weight"].T + state["linear.bias"]
    probs = linear.softmax(logits / KD_TEMPERATURE).astype(np.float32)
    targets = np.zeros((len(store), probs.shape[1]), np.float32)
    targets[train_idx] = probs
    return targets


def soft_cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Distillation loss: cross-entropy of softened logits against softened probabilities, times
    T squared so that its gradients keep their size whatever T is."""
    import torch

    log_probs = torch.log_softmax(logits / KD_TEMPERATURE, dim=1)
    return -(target * log_probs).sum(dim=1).mean() * KD_TEMPERATURE**2


def _fit_network(
    model: nn.Module,
    reader: ClipReader,
    labels: npt.NDArray[np.int64],
    train_idx: Indices,
    val_idx: Indices,
    recipe: Recipe,
    options: TrainOptions,
    rng: np.random.Generator,
    device: torch.device,
    progress: Progress | None,
    teacher: torch.Tensor | None = None,
    member: int = 1,
) -> tuple[list[EpochLog], str, int]:
    """Train ``model`` on random crops, keep its best epoch; returns the log, why training
    stopped ("early", "epochs" or "interrupted" by Ctrl-C) and the epoch kept.

    ``teacher``: per clip, the genre probabilities to distil beside the labels (``teacher_genres``).
    """
    import torch
    from torch import nn

    n_classes = int(labels.max()) + 1
    loss_fn = nn.CrossEntropyLoss(weight=class_weights(labels[train_idx], n_classes).to(device))
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay
    )
    per_epoch = math.ceil(len(train_idx) * recipe.crops_per_clip / recipe.batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=recipe.lr, total_steps=max(1, recipe.epochs * per_epoch), pct_start=0.15
    )
    best_state, best_score, since_best = copy.deepcopy(model.state_dict()), (-1.0, 0.0), 0
    log: list[EpochLog] = []
    stop, best_epoch = "epochs", 0
    try:
        for epoch in range(1, recipe.epochs + 1):
            started = time.perf_counter()
            model.train()
            order = rng.permutation(np.repeat(train_idx, recipe.crops_per_clip))
            total_loss = correct = seen = 0.0
            for start in range(0, len(order), recipe.batch_size):
                batch = order[start : start + recipe.batch_size]
                if len(batch) < 2:
                    continue  # batch norm needs two examples
                raw = (
                    reader.random_windows(batch, rng, recipe.time_stretch)
                    if reader.window
                    else reader.whole(batch)
                )
                x = augment(torch.from_numpy(raw), rng, recipe.band_shift).to(device)
                y = torch.from_numpy(labels[batch]).to(device)
                mix: tuple[float, torch.Tensor] | None = None
                if options.mixup > 0:
                    lam = float(rng.beta(options.mixup, options.mixup))
                    perm = torch.from_numpy(rng.permutation(len(batch))).to(device)
                    x, mix = lam * x + (1 - lam) * x[perm], (lam, perm)
                logits = model(x)
                loss = mixed(loss_fn, logits, y, mix)
                if teacher is not None:
                    soft = teacher[batch].to(device)
                    loss = loss + recipe.teacher_weight * mixed(
                        soft_cross_entropy, logits, soft, mix
                    )
                optimizer.zero_grad()
                loss.backward()  # type: ignore[no-untyped-call]  # torch leaves it unannotated
                optimizer.step()
                if schedule.last_epoch + 1 < schedule.total_steps:
                    schedule.step()
                total_loss += float(loss.detach()) * len(batch)
                correct += float((logits.argmax(dim=1) == y).sum())
                seen += len(batch)
            probs = predict(model, reader, val_idx, device)
            val_acc = (
                float((probs.argmax(axis=1) == labels[val_idx]).mean()) if len(val_idx) else 0.0
            )
            entry = EpochLog(
                epoch,
                total_loss / max(seen, 1),
                correct / max(seen, 1),
                val_acc,
                optimizer.param_groups[0]["lr"],
                time.perf_counter() - started,
                member,
            )
            log.append(entry)
            if progress:
                progress(entry, recipe.epochs)
            score = (val_acc, -entry.train_loss)
            if score > best_score:
                best_state, best_score, since_best = copy.deepcopy(model.state_dict()), score, 0
                best_epoch = epoch
            else:
                since_best += 1
                if since_best >= options.patience:
                    stop = "early"
                    break
    except KeyboardInterrupt:
        stop = "interrupted"  # keep the best epoch so far
    model.load_state_dict(best_state)
    return log, stop, best_epoch


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


def save_checkpoint(checkpoint: dict[str, Any], model_dir: str | os.PathLike[str]) -> Path:
    """Write ``checkpoint`` into ``model_dir``: ``model.npz`` (numpy arrays and a JSON
    description, read without pickle) for a model fitted in closed form, else ``model.pt``
    (PyTorch, read with ``weights_only``). A checkpoint of the other kind there is removed."""
    folder = Path(model_dir)
    folder.mkdir(parents=True, exist_ok=True)
    if closed_form(checkpoint["architecture"]):
        target = folder / "model.npz"
        description = {k: v for k, v in checkpoint.items() if k != "state_dict"}
        arrays: dict[str, Any] = {
            f"state/{k}": np.asarray(v) for k, v in checkpoint["state_dict"].items()
        }
        arrays["checkpoint"] = np.array(json.dumps(description))
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
    else:
        import torch

        target = folder / "model.pt"
        buffer = io.BytesIO()
        torch.save(checkpoint, buffer)
    write_bytes_atomic(target, buffer.getvalue())
    for name in CHECKPOINT_FILES:  # the previous model of this folder, of the other kind
        if name != target.name:
            (folder / name).unlink(missing_ok=True)
    return target


def read_npz_checkpoint(path: Path) -> dict[str, Any]:
    """A checkpoint written by :func:`save_checkpoint` as ``model.npz`` (no pickle)."""
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


def write_log(log: list[EpochLog], model_dir: Path) -> None:
    """``train_log.csv`` and ``learning_curve.png`` of a network; none for a closed-form model
    (a previous network's in this folder are removed: they describe another model)."""
    if not log:
        for name in ("train_log.csv", "learning_curve.png"):
            (model_dir / name).unlink(missing_ok=True)
        return
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(asdict(log[0])))
    writer.writeheader()
    writer.writerows(asdict(entry) for entry in log)
    write_bytes_atomic(model_dir / "train_log.csv", text.getvalue().encode("utf-8"))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4), layout="constrained")
    ax2 = ax.twinx()
    for member in sorted({e.member for e in log}):  # an ensemble: one set of lines per network
        part = [e for e in log if e.member == member]
        epochs = [e.epoch for e in part]
        first = member == 1
        ax.plot(
            epochs,
            [e.train_accuracy for e in part],
            color="C0",
            label="training accuracy (augmented)" if first else None,
        )
        ax.plot(
            epochs,
            [e.val_accuracy for e in part],
            color="C1",
            label="validation accuracy (whole tracks)" if first else None,
        )
        ax2.plot(epochs, [e.train_loss for e in part], color="grey", alpha=0.5)
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy")
    ax2.set_ylabel("loss")
    ax.set_ylim(0, 1)
    ax.legend(loc="lower right", frameon=False)
    ax.set_title("Learning curve")
    with atomic_path(model_dir / "learning_curve.png") as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)


def train(
    store_dir: str | os.PathLike[str],
    model_dir: str | os.PathLike[str],
    options: TrainOptions,
    *,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Split, train, test, and write ``model_dir`` (checkpoint, log, learning curve, split).

    Besides :func:`train_model`'s account, ``checkpoint["training"]`` holds ``held_out`` (what
    was held out for testing and validation, and why) and ``test_accuracy`` on the test clips
    (None if there are none).
    """
    store = FeatureStore(store_dir)
    options.recipe()  # a bad model or option fails before the split
    splits = split_store(store, options)
    checkpoint, log = train_model(store, splits["train"], splits["val"], options, progress=progress)
    checkpoint["split"] = {
        name: [store.tracks[int(i)].sha256 for i in idx] for name, idx in splits.items()
    }
    test = splits["test"]
    accuracy = None
    if test.size:
        guess = probabilities(checkpoint, store, test).argmax(axis=1)
        accuracy = float((guess == store.labels[test]).mean())
    checkpoint["training"] |= {
        "held_out": describe_split(store, splits, options.test_fraction, options.val_fraction),
        "test_accuracy": accuracy,
        "test_clips": int(test.size),
    }
    out = Path(model_dir)
    checkpoint["training"]["file"] = str(save_checkpoint(checkpoint, out))
    write_log(log, out)
    return checkpoint


@dataclass
class CrossValidation:
    """Scores of K folds, their test clips, and every clip's out-of-fold class probabilities."""

    scores: list[float]
    probabilities: npt.NDArray[np.float64]  # (n_clips, n_classes), each from the fold testing it
    tests: list[Indices]  # each fold's test clips, in fold order

    def per_genre_recall(self, labels: npt.NDArray[np.int64]) -> list[float]:
        guess = self.probabilities.argmax(axis=1)
        return [float((guess[labels == c] == c).mean()) for c in range(self.probabilities.shape[1])]


def cross_validate(
    store: FeatureStore,
    options: TrainOptions,
    folds: int,
    *,
    per_genre: int | None = None,
    progress: Callable[[int, float], None] | None = None,
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
            progress(k + 1, scores[-1])
    return CrossValidation(scores, probs, tests)


def probabilities(
    checkpoint: dict[str, Any], store: FeatureStore, indices: Indices
) -> npt.NDArray[np.float64]:
    """Track-level class probabilities (n, n_classes) of the store's clips ``indices``; PyTorch
    only for a network."""
    if closed_form(checkpoint["architecture"]):
        return linear.probabilities(checkpoint, store, indices)
    import torch

    model = load_model_state(checkpoint)
    reader = ClipReader(store, checkpoint["window_frames"], checkpoint.get("backbone"))
    return predict(model, reader, indices, torch.device("cpu"))


def load_model_state(checkpoint: dict[str, Any]) -> nn.Module:
    """The PyTorch module of a checkpoint (a closed-form model's arrays become tensors)."""
    import torch

    from genrekit.models import build

    model = build(checkpoint["architecture"], **checkpoint["arguments"])
    state = {
        name: torch.from_numpy(np.array(value)) if isinstance(value, np.ndarray) else value
        for name, value in checkpoint["state_dict"].items()
    }
    model.load_state_dict(state)
    model.eval()
    return model
