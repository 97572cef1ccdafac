"""Train, measure and export the vocabulary model: GTZAN's ten genres and genres told by tags.

    python scripts/tagger_table.py ../shared/data/gtzan-dev -o gtzan.npz
    python scripts/tagger_table.py MUSIC_SETS/dev -o dev.npz      # bench/music_sets/rebuild.py
    python scripts/train_vocabulary_model.py gtzan.npz dev.npz [--write]

1. the head: a class-balanced logistic regression on the musicnn (MSD) clip embeddings of
   gtzan-dev, as ``gtzan-musicnn``; its out-of-fold logits (5 folds, two draws) give its
   accuracy, its temperature (maximum likelihood on held-out answers) and its calibration error
   before and after (each fold scaled by a temperature fitted on the other folds);
2. the tag genres (``GENRES`` below): two numbers each (``genrekit.vocabulary``), fitted on the
   out-of-fold answers for gtzan-dev (each clip's label, none of them a tag genre) and the answers
   of the head trained on all of gtzan-dev for the development set's clips (their labels). The
   check set is never read here;
3. measures the joined model the same way (gates refitted without the held-out fold) and, with
   ``--write``, exports it to ``src/genrekit/pretrained/<name>.onnx`` with ``<name>.json``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from genrekit.backbones import BACKBONE_TAGS, EMBEDDING_SIZE
from genrekit.calibration import (
    cross_fitted_probabilities,
    expected_calibration_error,
    fit_temperature,
    softmax,
)
from genrekit.constants import AUDIO_EXTENSIONS
from genrekit.features import FeatureParams
from genrekit.linear import fit_head, standardize
from genrekit.model_info import ModelInfo
from genrekit.splits import kfold
from genrekit.vocabulary import (
    Evidence,
    TagGenre,
    as_dict,
    combined_logits,
    fit_gates,
    onnx_graph,
    tag_columns,
    tag_log_odds,
)

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "src" / "genrekit" / "pretrained"
EXAMPLES = ROOT / "examples"
BACKBONE = "msd-musicnn"
MSD = BACKBONE
GENRES = (
    # Last.fm's tags for electronic music: the genre and its dance forms (house, electro).
    TagGenre(
        "electronic",
        ((MSD, "electronic"), (MSD, "electronica"), (MSD, "electro"), (MSD, "House")),
    ),
    TagGenre("folk", ((MSD, "folk"),)),
    TagGenre("punk", ((MSD, "punk"),)),
    TagGenre("ambient", ((MSD, "ambient"),)),
)
DETECTOR_C = 0.01
"""L2 strength of a detector (scikit-learn's C): chosen on the development set, leaving each
electronic artist out in turn (0.001 claimed 18 GTZAN clips, 0.1 found 8 of 12 clips)."""
DETECTOR_ARTISTS = 3
"""A tag genre gets a detector when the development set has its music by this many artists."""
FOLDS = 5
DRAWS = (0, 1)
SEED = 0

Array = npt.NDArray[Any]


def head_logits(x: Array, y: Array, n: int, train: Array, test: Array) -> Array:
    state, _ = fit_head(x[train].astype(np.float32), y[train], n, SEED)
    z = standardize(x[test].astype(np.float32), state)
    out: Array = z @ state["linear.weight"].T + state["linear.bias"]
    return out


def log_softmax(z: Array, t: float) -> Array:
    return np.log(np.maximum(softmax(z, t), 1e-300))


def fit_detector(odds: Array, positive: Array) -> tuple[Array, float]:
    """A logistic regression of ``positive`` on the tags' log-odds: its weights and bias."""
    from sklearn.linear_model import LogisticRegression

    # Balanced: the genre's few clips weigh as much as all the others (the gates then set how
    # often it is answered).
    clf = LogisticRegression(C=DETECTOR_C, class_weight="balanced", max_iter=5000)
    clf.fit(odds, positive)
    return clf.coef_[0].astype(np.float64), float(clf.intercept_[0])


def detector_scores(odds: Array, positive: Array, groups: Array) -> Array:
    """Each row's detector log-odds from a detector fitted without its group (a GTZAN fold, a
    development artist): what a detector says of music it has not seen."""
    out = np.zeros(len(odds))
    for group in np.unique(groups):
        held = groups == group
        weight, bias = fit_detector(odds[~held], positive[~held])
        out[held] = odds[held] @ weight + bias
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("gtzan", type=Path, help="tagger table of gtzan-dev")
    parser.add_argument("dev", type=Path, help="tagger table of the development set")
    parser.add_argument("--name", default="genres-musicnn")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()

    g, d = np.load(args.gtzan), np.load(args.dev)
    head_classes = sorted(set(g["genre"].tolist()))
    names = head_classes + [t.name for t in GENRES]
    n_head = len(head_classes)
    # The bundled examples' tracks stay out: `make demo` must show an answer it was not fitted on.
    shown = {p.stem for p in EXAMPLES.rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS}
    demo = np.array([Path(p).stem.split(" @")[0] in shown for p in d["path"].tolist()])
    keep = np.array([n in names for n in d["genre"].tolist()]) & ~demo
    print(
        f"development clips left out: {int(demo.sum())} of the bundled examples' tracks, "
        f"{int((~keep & ~demo).sum())} of genres outside the vocabulary"
    )
    x = g[f"{BACKBONE}:emb"]
    y = np.array([head_classes.index(n) for n in g["genre"].tolist()])
    dx, dy = d[f"{BACKBONE}:emb"][keep], np.array([names.index(n) for n in d["genre"][keep]])
    d_artist = d["artist"][keep]
    g_tags, d_tags = g[f"{BACKBONE}:tags"], d[f"{BACKBONE}:tags"][keep]
    n_tags = len(BACKBONE_TAGS[BACKBONE])
    reader = Evidence.from_tags(tag_columns(GENRES, BACKBONE_TAGS, [BACKBONE]), n_tags)
    ev_g, ev_d = reader.of(g_tags), reader.of(d_tags)
    groups = np.array([f"clip:{p}" for p in g["path"].tolist()])
    present = [(i, n) for i, n in enumerate(names) if (dy == i).any()]
    counts = ", ".join(f"{n} {int((dy == i).sum())}" for i, n in present)
    print(f"gtzan-dev: {len(y)} clips; development set: {len(dy)} clips ({counts})")

    # Detectors for the tag genres with development clips of at least DETECTOR_ARTISTS artists.
    odds = tag_log_odds(np.vstack([g_tags, d_tags]))
    fold_of = np.zeros(len(y), dtype=int)
    for k, (_, test) in enumerate(kfold(y, groups, FOLDS, DRAWS[0])):
        fold_of[test] = k
    where = np.concatenate(
        [[f"gtzan fold {k}" for k in fold_of], [f"artist {a}" for a in d_artist]]
    )
    for i, genre in enumerate(GENRES):
        label = n_head + i
        artists = set(d_artist[dy == label].tolist())
        if len(artists) < DETECTOR_ARTISTS:
            continue
        positive = np.concatenate([np.zeros(len(y), bool), dy == label])
        scores = detector_scores(odds, positive, where)
        ev_g[:, i], ev_d[:, i] = scores[: len(y)], scores[len(y) :]
        weight, bias = fit_detector(odds, positive)
        reader = reader.with_detector(i, weight, bias)
        found = int((scores[len(y) :][dy == label] > 0).sum())
        flagged = int((scores[: len(y)] > 0).sum())
        print(
            f"{genre.name} detector ({len(artists)} artists): a detector that never heard the "
            f"artist finds {found}/{int((dy == label).sum())} development clips; of gtzan-dev, "
            f"held out, it claims {flagged}/{len(y)}"
        )

    full_state, _ = fit_head(x.astype(np.float32), y, n_head, SEED)
    dev_logits = (
        standardize(dx.astype(np.float32), full_state) @ full_state["linear.weight"].T
        + full_state["linear.bias"]
    )

    report: dict[str, Any] = {"draws": []}
    for draw in DRAWS:
        oof = np.zeros((len(y), n_head))
        fold = np.zeros(len(y), dtype=int)
        for k, (train, test) in enumerate(kfold(y, groups, FOLDS, draw)):
            oof[test] = head_logits(x, y, n_head, train, test)
            fold[test] = k
        p_head = softmax(oof)
        calibrated, temps = cross_fitted_probabilities(oof, y, fold)
        # The joined model: each fold's temperature and gates fitted without it.
        joined = np.zeros((len(y), len(names)))
        for k in range(FOLDS):
            rest, held = fold != k, fold == k
            t = fit_temperature(oof[rest], y[rest])
            lp = np.vstack([log_softmax(oof[rest], t), log_softmax(dev_logits, t)])
            labels = np.concatenate([y[rest], dy])
            slope, offset = fit_gates(lp, np.vstack([ev_g[rest], ev_d]), labels)
            joined[held] = softmax(
                combined_logits(log_softmax(oof[held], t), ev_g[held], slope, offset), 1.0
            )
        row = {
            "draw": draw,
            "head_accuracy": float((p_head.argmax(1) == y).mean()),
            "head_ece": expected_calibration_error(p_head, y),
            "calibrated_ece": expected_calibration_error(calibrated, y),
            "temperatures": temps,
            "joined_accuracy": float((joined.argmax(1) == y).mean()),
            "joined_fold_accuracy": [
                float((joined[fold == k].argmax(1) == y[fold == k]).mean()) for k in range(FOLDS)
            ],
            "joined_recall": {
                n: float((joined[y == i].argmax(1) == i).mean()) for i, n in enumerate(head_classes)
            },
            "joined_ece": expected_calibration_error(joined, y),
            "called_tag_genre": int((joined.argmax(1) >= n_head).sum()),
        }
        report["draws"].append(row)
        print(
            f"draw {draw}: head {row['head_accuracy']:.1%}, ECE {row['head_ece']:.3f} -> "
            f"{row['calibrated_ece']:.3f} calibrated (T {np.mean(temps):.2f}); joined "
            f"{row['joined_accuracy']:.1%}, ECE {row['joined_ece']:.3f}; gtzan clips given a "
            f"tag genre: {row['called_tag_genre']}"
        )

    # The shipped model: the temperature from the first draw's out-of-fold answers, the gates
    # from those and the development set.
    oof = np.zeros((len(y), n_head))
    for train, test in kfold(y, groups, FOLDS, DRAWS[0]):
        oof[test] = head_logits(x, y, n_head, train, test)
    temperature = fit_temperature(oof, y)
    lp = np.vstack([log_softmax(oof, temperature), log_softmax(dev_logits, temperature)])
    slope, offset = fit_gates(lp, np.vstack([ev_g, ev_d]), np.concatenate([y, dy]))
    print(f"temperature {temperature:.3f}")
    for genre, s, o, learned in zip(GENRES, slope, offset, reader.learned, strict=True):
        how = "detector" if learned else "its tags"
        print(f"  {genre.name:10s} read by {how}: slope {s:6.3f} offset {o:7.3f}")
    report |= {"temperature": temperature, "slope": slope.tolist(), "offset": offset.tolist()}
    answers = softmax(
        combined_logits(log_softmax(dev_logits, temperature), ev_d, slope, offset), 1.0
    ).argmax(1)
    print("development set, answers of the joined model (detectors cross-fitted by artist):")
    for i, n in present:
        print(f"  {n:10s} {int((answers[dy == i] == i).sum())}/{int((dy == i).sum())}")

    if args.write:
        info = ModelInfo(
            architecture="vocabulary-msd-musicnn",
            classes=tuple(names),
            params=FeatureParams(),
            clip_seconds=30.0,
            window_frames=None,
            input_frames=None,
            short_fill="silence",
            backbone=BACKBONE,
            reads=(f"{BACKBONE}:embedding", f"{BACKBONE}:tags"),
        )
        meta = info.onnx_metadata() | {"tag_genres": [as_dict(t) for t in GENRES]}
        graph = onnx_graph(
            full_state,
            temperature,
            reader,
            slope,
            offset,
            embedding_size=EMBEDDING_SIZE,
            metadata=json.dumps(meta),
        )
        import onnx

        onnx.save(graph, str(OUT / f"{args.name}.onnx"))
        numbers = {
            "name": args.name,
            **meta,
            **report,
            "clips": len(y),
            "dev_clips": len(dy),
            "cv_folds": FOLDS,
            "cv_accuracy": report["draws"][0]["joined_fold_accuracy"],
        }
        (OUT / f"{args.name}.json").write_text(json.dumps(numbers, indent=2) + "\n")
        print(f"wrote {OUT / f'{args.name}.onnx'}")


if __name__ == "__main__":
    main()
