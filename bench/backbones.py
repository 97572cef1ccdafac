"""Benchmark: a head on each backbone's embeddings, and on both, and each backbone's speed.

    genrekit extract ../shared/data/gtzan-dev -o /tmp/store
    genrekit embed ../shared/data/gtzan-dev -o /tmp/store --backbone msd-musicnn
    genrekit embed ../shared/data/gtzan-dev -o /tmp/store --backbone mtt-musicnn
    OMP_NUM_THREADS=1 python bench/backbones.py /tmp/store [--seeds 0,1] [--compare STORE2]

Scores the head genrekit trains (``backbone-msd-musicnn``: a class-balanced logistic regression
on standardized clip embeddings, ``genrekit.linear.fit_head``) with K folds, stratified by genre
and disjoint by artist or clip (``genrekit.splits.kfold``, the folds of ``bench/train.py`` and
``genrekit train --folds``), on the embeddings of ``msd-musicnn``, of ``mtt-musicnn`` and of
both side by side (3,012 numbers), and of the two heads' answers multiplied (late fusion,
as ``bench/train.py`` fuses the CNN and the head). ``--compare`` scores a second store made the
same way (e.g. with ``GENREKIT_BACKBONE_PRECISION=float32``) and counts clips answered
differently. Then times each shipped backbone graph (int8 and float32) per patch on one core:
the median of
``--repeats`` runs of 3 patches (the patches ``classify`` reads per track) of the examples.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

from genrekit.audio import load
from genrekit.backbones import (
    BACKBONE_SAMPLE_RATE,
    BACKBONES,
    OUTPUTS,
    PRECISIONS,
    backbone_file,
    musicnn_input,
    musicnn_patches,
)
from genrekit.dataset import FeatureStore
from genrekit.linear import fit_head, head_probabilities
from genrekit.splits import groups_of, kfold

ROOT = Path(__file__).resolve().parent.parent
PRETRAINED = ROOT / "src" / "genrekit" / "pretrained"
COMBINATIONS = (("msd-musicnn",), ("mtt-musicnn",), ("msd-musicnn", "mtt-musicnn"))
FUSED = "msd-musicnn x mtt-musicnn"
"""The product of the two single-backbone heads' out-of-fold probabilities."""


def embeddings(store: FeatureStore, backbones: tuple[str, ...]) -> np.ndarray:
    return np.stack(
        [
            np.concatenate([store.embedding(i, b) for b in backbones]).astype(np.float32)
            for i in range(len(store))
        ]
    )


def out_of_fold(store: FeatureStore, x: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """Each clip's class probabilities from the fold that tests it, (clips, genres)."""
    probs = np.zeros((len(store), len(store.genres)))
    for train, test in kfold(store.labels, groups_of(store), folds, seed):
        state, _ = fit_head(x[train], store.labels[train], len(store.genres), seed)
        probs[test] = head_probabilities(state, x[test])
    return probs


def fold_scores(store: FeatureStore, guess: np.ndarray, folds: int, seed: int) -> list[float]:
    return [
        float((guess[test] == store.labels[test]).mean())
        for _, test in kfold(store.labels, groups_of(store), folds, seed)
    ]


def accuracy_table(stores: list[FeatureStore], folds: int, seeds: list[int]) -> None:
    print(f"| embeddings | store | {' | '.join(f'seed {s}' for s in seeds)} | mean |")
    print(f"| --- | --- | {' | '.join('---:' for _ in seeds)} | ---: |")
    guesses: dict[tuple[str, int, int], np.ndarray] = {}
    probs: dict[tuple[str, int, int], np.ndarray] = {}
    for name in [*(" + ".join(c) for c in COMBINATIONS), FUSED]:
        for k, store in enumerate(stores):
            combination = tuple(name.split(" + "))
            if name != FUSED and not all(store.has_embeddings(b) for b in combination):
                continue
            if name == FUSED and not all((b, k, seeds[0]) in probs for b in BACKBONES):
                continue
            x = embeddings(store, combination) if name != FUSED else None
            cells = []
            means = []
            for seed in seeds:
                if x is not None:
                    probs[(name, k, seed)] = out_of_fold(store, x, folds, seed)
                else:
                    probs[(name, k, seed)] = np.prod([probs[(b, k, seed)] for b in BACKBONES], 0)
                guess = probs[(name, k, seed)].argmax(axis=1)
                guesses[(name, k, seed)] = guess
                scores = fold_scores(store, guess, folds, seed)
                means.append(100 * float(np.mean(scores)))
                cells.append(f"{means[-1]:.1f} % +- {100 * float(np.std(scores)):.1f}")
            print(f"| {name} | {k} | {' | '.join(cells)} | {np.mean(means):.1f} % |")
    if len(stores) > 1:
        for (name, k, seed), guess in guesses.items():
            other = guesses.get((name, 0, seed))
            if k > 0 and other is not None:
                changed = int((guess != other).sum())
                print(f"{name}, seed {seed}: {changed} clips answered differently by store {k}")


def speed_table(repeats: int) -> None:
    clips = sorted(p for p in (ROOT / "examples").glob("*/*") if p.suffix in {".mp3", ".ogg"})
    patches = np.concatenate(
        [musicnn_patches(musicnn_input(load(c, sr=BACKBONE_SAMPLE_RATE)[0]))[:3] for c in clips]
    ).astype(np.float32)
    batch = patches[:3]
    sessions = {}
    for name in BACKBONES:
        for precision in PRECISIONS:
            options = ort.SessionOptions()
            options.intra_op_num_threads = 1
            options.inter_op_num_threads = 1
            options.log_severity_level = 3
            path = PRETRAINED / backbone_file(name, precision)
            sessions[(name, precision)] = ort.InferenceSession(
                str(path), options, providers=["CPUExecutionProvider"]
            )
    times: dict[tuple[str, str], list[float]] = {key: [] for key in sessions}
    for session in sessions.values():
        session.run(list(OUTPUTS), {"patches": batch})
    for _ in range(repeats):  # interleaved, so that a busy machine slows every graph alike
        for key, session in sessions.items():
            start = time.perf_counter()
            session.run(list(OUTPUTS), {"patches": batch})
            times[key].append((time.perf_counter() - start) / len(batch) * 1000)
    print("\n| backbone | precision | ms per patch, one core (median) | fastest |")
    print("| --- | --- | ---: | ---: |")
    for (name, precision), found in times.items():
        print(f"| {name} | {precision} | {np.median(found):.1f} | {min(found):.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("store", type=Path, help="feature store with both backbones' embeddings")
    parser.add_argument("--compare", type=Path, default=None, help="a second such store")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--repeats", type=int, default=30, help="timed runs per graph")
    args = parser.parse_args()
    stores = [FeatureStore(args.store)]
    if args.compare:
        stores.append(FeatureStore(args.compare))
    for k, store in enumerate(stores):
        print(f"store {k}: {store.root} ({len(store)} clips, {len(store.genres)} genres)")
    accuracy_table(stores, args.folds, [int(s) for s in args.seeds.split(",")])
    if args.repeats:
        speed_table(args.repeats)


if __name__ == "__main__":
    main()
