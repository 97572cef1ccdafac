"""Training the networks (``cnn``, ``seed-mlp``, ``seed-cnn``) with PyTorch.

:func:`genrekit.training.train_model` comes here for a model with epochs: random crops and
augmentation, class-weighted loss, AdamW with a one-cycle schedule, the epoch kept by validation
accuracy, optionally a teacher's softened genre answers (knowledge distillation). PyTorch is
imported inside the functions, so that importing this module costs nothing.
"""

from __future__ import annotations

import copy
import functools
import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import numpy as np
import numpy.typing as npt

from genrekit import linear
from genrekit.clip_reader import ClipReader
from genrekit.dataset import FeatureStore
from genrekit.progress import Progress, Step
from genrekit.recipes import Recipe
from genrekit.splits import Indices
from genrekit.training_log import EpochLog, TrainingOutcome

if TYPE_CHECKING:
    import torch
    from torch import nn

    from genrekit.training import TrainOptions

P = ParamSpec("P")
R = TypeVar("R")


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

    from genrekit.models import Standardize

    sample = indices[: min(len(indices), linear.NORM_SAMPLE)]
    for module in model.modules():
        if not isinstance(module, Standardize):
            continue
        rows = []
        for i in sample:
            image = torch.from_numpy(reader.valid(int(i)))
            if module.mean.shape[0] == image.shape[0]:
                rows.append(image)
            else:  # the MFCC models standardize MFCCs
                rows.append(model.mfcc(image))  # type: ignore[operator]
        values = torch.cat(rows, dim=1)
        module.mean.copy_(values.mean(dim=1, keepdim=True))
        module.std.copy_(values.std(dim=1, keepdim=True).clamp_min(1e-3))


def network_probabilities(
    model: nn.Module, reader: ClipReader, indices: Indices, device: torch.device
) -> npt.NDArray[np.float64]:
    """Track-level class probabilities: window probabilities averaged over each whole track."""
    import torch

    model.eval()
    out = []
    with torch.no_grad():
        for batch, pooled in reader.answer_inputs(indices):
            probs = torch.softmax(model(torch.from_numpy(batch).to(device)), dim=1).double()
            out.append((probs.mean(dim=0, keepdim=True) if pooled else probs).cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, 0))


def class_weights(labels: npt.NDArray[np.int64], n_classes: int) -> torch.Tensor:
    """Inverse-frequency weights, mean 1: each genre counts alike in the loss."""
    import torch

    counts = np.bincount(labels, minlength=n_classes).astype(np.float64)
    weights = np.where(counts > 0, counts.sum() / np.maximum(counts, 1) / n_classes, 0.0)
    return torch.tensor(weights, dtype=torch.float32)


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


def _forked_rng(train: Callable[P, R]) -> Callable[P, R]:
    """``train`` run on forks of torch's global generators: it seeds them for a reproducible
    run without leaving the caller's reseeded."""

    @functools.wraps(train)
    def forked(*args: P.args, **kwargs: P.kwargs) -> R:
        import torch

        with torch.random.fork_rng(devices=list(range(torch.cuda.device_count()))):
            return train(*args, **kwargs)

    return forked


@_forked_rng
def train_networks(
    store: FeatureStore,
    reader: ClipReader,
    train_idx: Indices,
    val_idx: Indices,
    options: TrainOptions,
    recipe: Recipe,
    progress: Progress | None,
) -> tuple[dict[str, Any], dict[str, Any], list[EpochLog], TrainingOutcome]:
    """Train the network (or the networks of an ensemble) of ``recipe``: its state dict, its
    arguments, the log and how training ended (see :func:`genrekit.training.train_model`)."""
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
    outcome = TrainingOutcome(
        stopped,
        kept=tuple(kept),
        ran=tuple(ran),
        planned=recipe.epochs,
        kept_val_accuracy=tuple(best_val),
    )
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
            probs = network_probabilities(model, reader, val_idx, device)
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
                progress(Step("epoch", entry.epoch, recipe.epochs, entry))
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
