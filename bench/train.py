"""Benchmark: cross-validated accuracy and training time of every model on one data set.

    python bench/train.py ../shared/data/gtzan-dev
    python bench/train.py ../shared/data/gtzan-dev --genres classical,disco,hiphop,jazz,metal
    python bench/train.py ../shared/data/gtzan-dev --models "" --curve 2,5,10,all
    python bench/train.py ../shared/data/gtzan-dev --models baseline,cnn --draws 2

The folder (``<genre>/<files>``) is extracted into a temporary feature store, then every model
is trained and tested on K folds that are stratified by genre and disjoint by artist (when the
catalog knows artists) or by clip. Within each fold the epoch is chosen on a validation split of
the training part; the test fold is only used to score. Backbone models first embed the folder
(``genrekit embed``). When both ``cnn`` and ``backbone-msd-musicnn`` are benchmarked, a row scores
them together: the product of their out-of-fold answers, on the same folds. Prints Markdown
tables; ``--curve`` adds a learning curve.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from genrekit.dataset import FeatureStore
from genrekit.embed import embed_dataset
from genrekit.extract import ExtractOptions, extract_dataset
from genrekit.recipes import RECIPES
from genrekit.training import CrossValidation, TrainOptions, cross_validate

MODELS = ("baseline", "seed-mlp", "seed-cnn", "cnn", "backbone-msd-musicnn")
CURVE_MODELS = ("baseline", "cnn", "backbone-msd-musicnn")
FUSED = ("cnn", "backbone-msd-musicnn")
"""Also scored together (the product of their answers) when both are benchmarked."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder", type=Path, help="<genre>/<files> data set")
    parser.add_argument("--genres", default=None, help="comma-separated subset of genres")
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--draws",
        type=int,
        default=1,
        help="cross-validate again with seeds seed+1, ...: other folds and network starts",
    )
    parser.add_argument("--mixup", type=float, default=0.0, help="mixup alpha for every model")
    parser.add_argument("--epochs", type=int, default=None, help="instead of each recipe's")
    parser.add_argument(
        "--members", type=int, default=None, help="networks per ensemble (networks only)"
    )
    parser.add_argument(
        "--curve",
        default=None,
        help="learning curve: clips per genre to train on, e.g. 2,5,10,all",
    )
    parser.add_argument("--curve-models", default=",".join(CURVE_MODELS))
    args = parser.parse_args()
    torch.set_num_threads(len(os.sched_getaffinity(0)))

    work = Path(tempfile.mkdtemp(prefix="genrekit-train-bench-"))
    try:
        source = args.folder
        if args.genres:
            source = work / "in"
            source.mkdir()
            for genre in args.genres.split(","):
                (source / genre).symlink_to((args.folder / genre).resolve())
        started = time.perf_counter()
        summary = extract_dataset(source, work / "store", ExtractOptions())
        extract_seconds = time.perf_counter() - started
        models = [name for name in args.models.split(",") if name]
        curve_models = [name for name in args.curve_models.split(",") if name]
        wanted = models + (curve_models if args.curve else [])
        embed_seconds = 0.0
        if any(RECIPES[name].backbone or RECIPES[name].teacher for name in wanted):
            started = time.perf_counter()
            embedded = embed_dataset(source, work / "store")
            embed_seconds = time.perf_counter() - started
            if not embedded.ok:
                raise SystemExit(f"embedding failed: {embedded.failures[:3]}")
        store = FeatureStore(work / "store")
        counts = np.bincount(store.labels)
        print(
            f"{len(store)} clips, {len(store.genres)} genres ({', '.join(store.genres)}; "
            f"{counts.min()}-{counts.max()} per genre), extracted in {extract_seconds:.1f} s "
            f"({summary.counts['done']} new), embedded in {embed_seconds:.1f} s; {args.folds} "
            f"folds, {torch.get_num_threads()} CPU threads\n"
        )
        # One draw of folds moves every model by several points: --draws 2 or more pools the
        # folds of several draws and shows each draw's mean.
        draw_column = args.draws > 1
        if models:
            print(
                "| model | accuracy (mean +- std over folds) | per fold |"
                + (" per draw |" if draw_column else "")
                + " time per fold |"
            )
            print("| --- | ---: | --- |" + (" --- |" if draw_column else "") + " ---: |")
        results: dict[str, list[CrossValidation]] = {}
        for name in models:
            started = time.perf_counter()
            results[name] = [
                cross_validate(store, options_for(name, args, draw), args.folds)
                for draw in range(args.draws)
            ]
            per_fold = (time.perf_counter() - started) / (args.folds * args.draws)
            draws = [result.scores for result in results[name]]
            print_row(name, draws, draw_column, f"{per_fold:.0f} s")
        if all(name in results for name in FUSED):
            draws = [
                fused_scores(store, [results[name][draw] for name in FUSED])
                for draw in range(args.draws)
            ]
            print_row(" x ".join(FUSED) + " (answers multiplied)", draws, draw_column, "-")
        if args.curve:
            learning_curve(store, args, args.curve.split(","), curve_models)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def print_row(name: str, draws: list[list[float]], draw_column: bool, time_cell: str) -> None:
    """One Markdown row: pooled mean +- std, every fold grouped by draw, each draw's mean."""
    scores = [s for draw in draws for s in draw]
    folds = " / ".join(" ".join(f"{100 * s:.0f}" for s in draw) for draw in draws)
    means = " / ".join(f"{100 * np.mean(draw):.1f}" for draw in draws)
    print(
        f"| {name} | {100 * np.mean(scores):.1f} +- {100 * np.std(scores):.1f} % | {folds} |"
        + (f" {means} |" if draw_column else "")
        + f" {time_cell} |",
        flush=True,
    )


def fused_scores(store: FeatureStore, results: list[CrossValidation]) -> list[float]:
    """Per-fold accuracy of the product of several models' out-of-fold answers (same folds)."""
    log_probs = np.sum(
        [np.log(np.clip(result.probabilities, 1e-9, None)) for result in results], axis=0
    )
    return [
        float((log_probs[test].argmax(axis=1) == store.labels[test]).mean())
        for test in results[0].tests
    ]


def options_for(name: str, args: argparse.Namespace, draw: int = 0) -> TrainOptions:
    """The recipe of ``name`` with the command line's changes (epochs and members only for
    networks); ``draw`` k > 0 uses the seed ``--seed`` + k."""
    return TrainOptions(
        model=name,
        seed=args.seed + draw,
        mixup=args.mixup,
        epochs=args.epochs if RECIPES[name].epochs else None,
        members=args.members if RECIPES[name].epochs else None,
    )


def learning_curve(
    store: FeatureStore, args: argparse.Namespace, sizes: list[str], models: list[str]
) -> None:
    """Cross-validated accuracy when each fold trains on only n clips per genre."""
    print("\nLearning curve: accuracy (mean +- std over folds) by training clips per genre\n")
    print("| model | " + " | ".join(sizes) + " |")
    print("| --- |" + " ---: |" * len(sizes))
    for name in models:
        cells = []
        for size in sizes:
            per_genre = None if size == "all" else int(size)
            options = options_for(name, args)
            cv = cross_validate(store, options, args.folds, per_genre=per_genre)
            cells.append(cv.text().removesuffix(" %"))
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
