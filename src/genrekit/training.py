"""Training genre classifiers on a feature store, honestly and reproducibly.

``train_model`` fits one model on given training clips, choosing the epoch by accuracy on given
validation clips (never on test clips), and returns a self-describing checkpoint.
``train`` splits a store (test / validation / training, stratified, disjoint by artist or clip)
and writes a model folder; ``cross_validate`` gives accuracy over K disjoint folds.
"""

from __future__ import annotations

import copy
import csv
import io
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from genrekit.dataset import FeatureStore
from genrekit.errors import ParameterError
from genrekit.features import loop_frames
from genrekit.models import Baseline, EmbeddingHead, Ensemble, Standardize, build
from genrekit.splits import Indices, check_trainable, groups_of, holdout, kfold
from genrekit.storage import atomic_path, write_bytes_atomic

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
                f"unknown model {self.model!r}; choose one of: {', '.join(RECIPES)}"
            )
        recipe = RECIPES[self.model]
        if not self.teacher:
            recipe = replace(recipe, teacher=None)
        if self.epochs is not None:
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
                stretched = nn.functional.interpolate(
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
    bands = x.shape[1]
    rows = np.arange(bands)
    source = torch.from_numpy(np.clip(rows[None, :] - shifts[:, None], 0, bands - 1))
    return torch.gather(x, 1, source[:, :, None].expand(-1, -1, x.shape[2]))


def augment(x: torch.Tensor, rng: np.random.Generator, band_shift: int = 0) -> torch.Tensor:
    """Gain (+-6 dB) and SpecAugment: one time mask and one band mask per example.

    ``band_shift``: also shift each example by up to that many mel bands (:func:`shift_bands`).
    """
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
    sample = indices[: min(len(indices), 512)]
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
    counts = np.bincount(labels, minlength=n_classes).astype(np.float64)
    weights = np.where(counts > 0, counts.sum() / np.maximum(counts, 1) / n_classes, 0.0)
    return torch.tensor(weights, dtype=torch.float32)


def architecture_arguments(name: str, store: FeatureStore, recipe: Recipe) -> dict[str, Any]:
    params = store.params
    n_frames = store.array("logmel", 0).shape[1]
    base: dict[str, Any] = {"n_classes": len(store.genres)}
    if recipe.backbone is not None:
        base |= {"n_inputs": int(store.embedding(0, recipe.backbone).shape[0])}
    elif name == "baseline":
        base |= {"n_mels": params.n_mels, "n_mfcc": params.n_mfcc}
    elif name in ("seed-mlp", "seed-cnn"):
        base |= {"n_mels": params.n_mels, "n_mfcc": params.n_mfcc, "n_frames": n_frames}
    else:
        base |= {"n_mels": params.n_mels}
    if recipe.members > 1:
        base |= {"members": recipe.members}
    return base | recipe.arguments


def train_model(
    store: FeatureStore,
    train_idx: Indices,
    val_idx: Indices,
    options: TrainOptions,
    *,
    progress: Progress | None = None,
) -> tuple[dict[str, Any], list[EpochLog]]:
    """Train ``options.model`` on ``train_idx``, keep the epoch best on ``val_idx``.

    Returns the checkpoint (plain types and tensors only) and the per-epoch log. Ctrl-C stops
    training early and keeps the best epoch so far.
    """
    recipe = options.recipe()
    torch.manual_seed(options.seed)
    rng = np.random.default_rng(options.seed)
    device = torch.device(options.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    window = window_frames(store) if recipe.window else None
    if recipe.backbone is not None and not store.has_embeddings(recipe.backbone):
        raise ParameterError(
            f"{store.root}: model {options.model!r} needs {recipe.backbone} embeddings of every "
            f"clip; run 'genrekit embed IN_DIR -o {store.root}' first"
        )
    if recipe.teacher is not None and not store.has_embeddings(recipe.teacher):
        raise ParameterError(
            f"{store.root}: model {options.model!r} learns from a {recipe.teacher} teacher, which "
            f"needs the embedding of every clip; run 'genrekit embed IN_DIR -o {store.root}' "
            "first, or train without the teacher (--no-teacher)"
        )
    reader = ClipReader(store, window, recipe.backbone)
    arguments = architecture_arguments(options.model, store, recipe)
    model = build(options.model, **arguments)
    fit_normalization(model, reader, train_idx)
    log: list[EpochLog] = []
    if isinstance(model, EmbeddingHead):
        _fit_head(model, reader.embeddings(train_idx), store.labels[train_idx], options.seed)
    elif isinstance(model, Baseline):
        _fit_baseline(model, reader, store.labels[train_idx], train_idx, options.seed)
    else:
        networks = list(model.members) if isinstance(model, Ensemble) else [model]
        teacher = None  # the same for every member: fitted once
        if recipe.teacher is not None:
            teacher = torch.from_numpy(
                teacher_genres(store, recipe.teacher, store.labels, train_idx, options.seed)
            )
        trained: list[nn.Module] = []
        for k, network in enumerate(networks):
            if k:  # member k starts from seed + k: other weights, crops and batches
                torch.manual_seed(options.seed + k)
                rng = np.random.default_rng(options.seed + k)
            network.to(device)
            member_log, interrupted = _fit_network(
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
            trained.append(network)
            if interrupted:
                break
        if len(trained) < len(networks):  # Ctrl-C: keep the networks trained so far
            model = Ensemble(trained) if len(trained) > 1 else trained[0]
            arguments = {a: v for a, v in arguments.items() if a != "members"}
            if len(trained) > 1:
                arguments["members"] = len(trained)
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
        "state_dict": model.state_dict(),
    }
    return checkpoint, log


def _fit_baseline(
    model: Baseline,
    reader: ClipReader,
    labels: npt.NDArray[np.int64],
    train_idx: Indices,
    seed: int,
) -> None:
    """Multinomial logistic regression (scikit-learn) on standardized clip summaries."""
    with torch.no_grad():
        x = torch.cat(
            [
                model.norm(model.summaries(torch.from_numpy(reader.valid(int(i)))[None])).squeeze(
                    -1
                )
                for i in train_idx
            ]
        ).numpy()
    _fit_linear(model.linear, x, labels, seed, c=0.5)


def _fit_head(
    head: EmbeddingHead,
    embeddings: npt.NDArray[np.float32],
    labels: npt.NDArray[np.int64],
    seed: int,
) -> None:
    """Logistic regression of ``labels`` on the standardized ``embeddings`` (``head.norm`` set)."""
    with torch.no_grad():
        x = head.norm(torch.from_numpy(embeddings).T).T.numpy()
    _fit_linear(head.linear, x, labels, seed, c=0.1)


def _fit_linear(
    linear: nn.Linear,
    x: npt.NDArray[np.float32],
    labels: npt.NDArray[np.int64],
    seed: int,
    c: float,
) -> None:
    """Set ``linear`` to a class-balanced logistic regression of ``labels`` on ``x``."""
    from sklearn.linear_model import LogisticRegression

    classes = np.unique(labels)
    clf = LogisticRegression(C=c, max_iter=3000, class_weight="balanced", random_state=seed)
    clf.fit(x, labels)
    weight = np.zeros((linear.out_features, x.shape[1]), np.float32)
    bias = np.full(linear.out_features, -1e4, np.float32)  # a class never seen: never chosen
    coef = clf.coef_ if classes.size > 2 else np.vstack([-clf.coef_[0] / 2, clf.coef_[0] / 2])
    intercept = (
        clf.intercept_
        if classes.size > 2
        else np.array([-clf.intercept_[0] / 2, clf.intercept_[0] / 2])
    )
    weight[classes] = coef
    bias[classes] = intercept
    with torch.no_grad():
        linear.weight.copy_(torch.from_numpy(weight))
        linear.bias.copy_(torch.from_numpy(bias))


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
    reader = ClipReader(store, None, backbone)
    head = EmbeddingHead(int(store.embedding(0, backbone).shape[0]), int(labels.max()) + 1)
    fit_normalization(head, reader, train_idx)
    embeddings = reader.embeddings(train_idx)
    _fit_head(head, embeddings, labels[train_idx], seed)
    with torch.no_grad():
        probs = torch.softmax(head(torch.from_numpy(embeddings)) / KD_TEMPERATURE, dim=1).numpy()
    targets = np.zeros((len(store), probs.shape[1]), np.float32)
    targets[train_idx] = probs
    return targets


def soft_cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Distillation loss: cross-entropy of softened logits against softened probabilities, times
    T squared so that its gradients keep their size whatever T is."""
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
) -> tuple[list[EpochLog], bool]:
    """Train ``model`` on random crops; returns the log and whether Ctrl-C stopped it.

    ``teacher``: per clip, the genre probabilities to distil beside the labels (``teacher_genres``).
    """
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
    interrupted = False
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
            else:
                since_best += 1
                if since_best >= options.patience:
                    break
    except KeyboardInterrupt:
        interrupted = True  # keep the best epoch so far
    model.load_state_dict(best_state)
    return log, interrupted


def split_store(store: FeatureStore, options: TrainOptions) -> dict[str, Indices]:
    """Test, validation and training clips: stratified, disjoint by artist or clip."""
    check_trainable(store, min_per_genre=3)
    groups = groups_of(store)
    rest, test = holdout(store.labels, groups, options.test_fraction, options.seed)
    fit, val = holdout(store.labels[rest], groups[rest], options.val_fraction, options.seed)
    return {"train": rest[fit], "val": rest[val], "test": test}


def save_checkpoint(checkpoint: dict[str, Any], path: Path) -> None:
    buffer = io.BytesIO()
    torch.save(checkpoint, buffer)
    write_bytes_atomic(path, buffer.getvalue())


def write_log(log: list[EpochLog], model_dir: Path) -> None:
    if not log:
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
    """Split, train, and write ``model_dir`` (checkpoint, log, learning curve, split)."""
    store = FeatureStore(store_dir)
    splits = split_store(store, options)
    checkpoint, log = train_model(store, splits["train"], splits["val"], options, progress=progress)
    checkpoint["split"] = {
        name: [store.tracks[int(i)].sha256 for i in idx] for name, idx in splits.items()
    }
    out = Path(model_dir)
    out.mkdir(parents=True, exist_ok=True)
    save_checkpoint(checkpoint, out / "model.pt")
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
    check_trainable(store, min_per_genre=folds)
    groups = groups_of(store)
    scores = []
    tests = []
    probabilities = np.zeros((len(store), len(store.genres)))
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
        model = load_model_state(checkpoint)
        reader = ClipReader(store, checkpoint["window_frames"], checkpoint.get("backbone"))
        probabilities[test] = predict(model, reader, test, torch.device("cpu"))
        scores.append(float((probabilities[test].argmax(axis=1) == store.labels[test]).mean()))
        tests.append(test)
        if progress:
            progress(k + 1, scores[-1])
    return CrossValidation(scores, probabilities, tests)


def load_model_state(checkpoint: dict[str, Any]) -> nn.Module:
    model = build(checkpoint["architecture"], **checkpoint["arguments"])
    model.load_state_dict(checkpoint["state_dict"])
    model.eval()
    return model
