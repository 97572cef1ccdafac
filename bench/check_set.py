"""Accuracy of a genrekit model on a built music set (bench/music_sets), per genre.

    python bench/check_set.py /work/scratch/music-sets/check            # the default model
    python bench/check_set.py SET --model gtzan-cnn --save answers.tsv  # another; keep answers

SET is a folder of <genre>/<clip> (as bench/music_sets/rebuild.py builds it). Prints, in
Markdown: clips and accuracy per genre for the genres the model knows; the confusion table
(rows: the set's genres, genres the model does not know marked "*", whose row says what the
model answers instead); and per genre the mean score of the backbone's tags most relevant to the
new genres (MSD musicnn tags). Run single-threaded (OMP_NUM_THREADS=1) beside other work.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter, defaultdict
from pathlib import Path

from genrekit import GenrekitError
from genrekit.classify_batch import find_audio
from genrekit.predict import DEFAULT_MODEL, Model, Prediction, classify, load_model

# MSD tags (musicnn) that speak for the newer genres, then for GTZAN's.
TAGS = [
    "electronic",
    "electronica",
    "electro",
    "dance",
    "House",
    "chillout",
    "ambient",
    "experimental",
    "instrumental",
    "folk",
    "acoustic",
    "punk",
    "rock",
    "metal",
    "heavy metal",
    "hard rock",
    "jazz",
    "blues",
    "soul",
    "funk",
    "rnb",
    "Hip-Hop",
    "country",
    "pop",
]


def answers(folder: Path, model: Model) -> list[tuple[str, Path, Prediction]]:
    """(true genre, file, prediction) for every clip of the set; unreadable ones reported."""
    found: list[tuple[str, Path, Prediction]] = []
    for path in find_audio([folder]):
        genre = path.relative_to(folder).parts[0]
        try:
            found.append((genre, path, classify(path, model=model, tags=True)))
        except GenrekitError as exc:
            print(f"skipped {path}: {exc}", file=sys.stderr)
    return found


def msd(p: Prediction) -> dict[str, float]:
    """The MSD tagger's tags of an answer."""
    return p.tags.get("msd-musicnn", {})


def report(found: list[tuple[str, Path, Prediction]], classes: list[str], name: str) -> str:
    genres = sorted({g for g, _, _ in found})
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for genre, _, p in found:
        counts[genre][p.genre or "(none)"] += 1  # no genre: not music, or unsure
    lines = [f"model {name}, {len(found)} clips\n"]
    lines += ["| genre | clips | named right | accuracy |", "| --- | ---: | ---: | ---: |"]
    right = total = 0
    for g in genres:
        n = sum(counts[g].values())
        if g in classes:
            lines.append(f"| {g} | {n} | {counts[g][g]} | {100 * counts[g][g] / n:.0f} % |")
            right, total = right + counts[g][g], total + n
        else:
            lines.append(f"| {g}* | {n} | - | not a model genre |")
    if total:
        lines.append(f"| all known | {total} | {right} | {100 * right / total:.1f} % |")
    lines += ["", "Confusion (rows: the set's genre, * not a model genre; columns: answer)", ""]
    lines.append("| genre | " + " | ".join(classes) + " |")
    lines.append("| --- |" + " ---: |" * len(classes))
    for g in genres:
        mark = "" if g in classes else "*"
        cells = [str(counts[g][c] or ".") for c in classes]
        lines.append(f"| {g}{mark} | " + " | ".join(cells) + " |")
    tags = [t for t in TAGS if any(t in msd(p) for _, _, p in found)]
    if tags:
        lines += ["", "Mean MSD tag score per genre (musicnn, 0-1)", ""]
        lines.append("| genre | " + " | ".join(tags) + " |")
        lines.append("| --- |" + " ---: |" * len(tags))
        for g in genres:
            preds = [p for genre, _, p in found if genre == g]
            means = [sum(msd(p).get(t, 0.0) for p in preds) / len(preds) for t in tags]
            lines.append(f"| {g} | " + " | ".join(f"{m:.2f}" for m in means) + " |")
    tops: dict[str, Counter[str]] = defaultdict(Counter)
    for genre, _, p in found:
        if msd(p):
            tops[genre][max(msd(p), key=msd(p).__getitem__)] += 1
    if tops:
        lines += ["", "Each clip's highest MSD tag (of all 50), per genre", ""]
        lines += ["| genre | top tags (clips) |", "| --- | --- |"]
        for g, top in sorted(tops.items()):
            lines.append(f"| {g} | " + ", ".join(f"{t} {n}" for t, n in top.most_common()) + " |")
    return "\n".join(lines)


def save(found: list[tuple[str, Path, Prediction]], target: Path) -> None:
    """One row per clip: true genre, file, answer, its probability, then every tag's score.

    Tag columns are ``tagger:tag`` (both taggers' tags, as ``classify --tags`` gives them).
    """
    tags = sorted({(tagger, t) for _, _, p in found for tagger, ts in p.tags.items() for t in ts})
    rows = ["\t".join(["genre", "file", "answer", "probability", *(f"{a}:{t}" for a, t in tags)])]
    for genre, path, p in found:
        scores = [f"{p.tags.get(a, {}).get(t, 0.0):.4f}" for a, t in tags]
        top, probability = next(iter(p.probabilities.items()), (None, 0.0))  # none: silence
        answer = [p.genre or f"(none: {p.reason})", f"{probability:.4f}" if p.genre == top else ""]
        rows.append("\t".join([genre, path.name, *answer, *scores]))
    target.write_text("\n".join(rows) + "\n", encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("set", type=Path, help="a built set: SET/<genre>/<clip>")
    parser.add_argument("--model", help=f"model name or path (default {DEFAULT_MODEL})")
    parser.add_argument("--save", type=Path, help="write every clip's answer and tags (TSV)")
    args = parser.parse_args()
    if not args.set.is_dir():
        print(f"error: {args.set}: no such folder; build it with bench/music_sets/rebuild.py")
        return 2
    try:
        model = load_model(args.model, threads=1)
        found = answers(args.set, model)
    except GenrekitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not found:
        print(f"error: {args.set}: no clip could be classified", file=sys.stderr)
        return 2
    print(report(found, model.classes, model.name))
    if args.save:
        save(found, args.save)
    return 0


if __name__ == "__main__":
    sys.exit(main())
