"""Train, cross-validate and export a model shipped in the package.

    python scripts/train_shipped_model.py ../shared/data/gtzan-dev                  # gtzan-musicnn
    python scripts/train_shipped_model.py ../shared/data/gtzan-dev --model cnn --name gtzan-cnn

1. extracts the data set with genrekit's default features (22,050 Hz, 128 mel bands, 30 s), and
   for a backbone model, or a model taught by one, embeds it (``genrekit embed``);
2. cross-validates the recipe over 5 clip-disjoint folds (accuracy and per-genre recall for the
   model card);
3. trains the same recipe on every clip (a network keeps its last epoch: there is no validation
   split left to choose one) and exports it to ``src/genrekit/pretrained/<name>.onnx``;
4. writes the model card ``<name>.md`` and its numbers ``<name>.json`` beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from genrekit.checkpoint import export_onnx, load_model_state, save_checkpoint
from genrekit.dataset import FeatureStore
from genrekit.embed import embed_dataset
from genrekit.extract import ExtractOptions, extract_dataset
from genrekit.predict import DEFAULT_MODEL
from genrekit.training import (
    TrainOptions,
    cross_validate,
    train_model,
)

OUT = Path(__file__).resolve().parent.parent / "src" / "genrekit" / "pretrained"

CARD = """# Model card: {name}

{role}

{what_it_is}
- **Classes** ({n_classes}): {classes}.
{features}
- **Training data**: the {n_clips} clips of the GTZAN development set (`../shared/data/gtzan-dev`:
  15-20 s clips and 2-2.6 s fragments, {per_genre}). {recipe_text} Seed {seed}, trained in
  {train_time} on {threads}.
- **Cross-validated accuracy** (same recipe, {folds} folds disjoint by clip{cv_note}):
  **{cv_mean:.1f} % +- {cv_std:.1f}** (per fold: {cv_folds}).

| genre | recall (cross-validated) |
| --- | ---: |
{recall_rows}

- **Known limits**: GTZAN is small, old (recordings up to ~2000, many from CDs and radio), and
  has repeated clips, a few mislabelings, and many clips of the same artists; its artists are not
  recorded here, so folds are clip-disjoint, not artist-disjoint, and the cross-validated number
  above is likely optimistic for music by artists it has never heard. "Genre" means these ten
  GTZAN labels: music outside them (electronic, folk, latin, ...) still gets one of the ten.
  Short clips (~2 s) and 44.1 kHz stereo input are handled (resampled, down-mixed, looped to
  fill a window).
- **Not music**: the model itself names a genre for anything (white noise: metal). `genrekit
  classify` first checks that what it heard is music (`genrekit.music_check`): noise, steady
  tones, clicks, speech, silence and audio under -50 dBFS get no genre and a reason; how often
  music does too is measured by `bench/not_music.py` (the README's "Not music").
- **Reproduce**: `python scripts/train_shipped_model.py ../shared/data/gtzan-dev{reproduce}`
  (`pip install -e '.[train]'` first).
"""

CNN_TEXT = {
    "what_it_is": "- **What it is**: a short-chunk CNN (`--model cnn`: seven 3x3 conv + batch "
    "norm + ReLU + max-pool\n  blocks, {pooling}, a dense layer; {parameters:,} "
    "parameters) that reads ~3 s log-mel\n  windows and averages their probabilities over a track.",
    "features": "- **Features**: log-mel spectrogram, {feature_text}; dB re 1.0, 80 dB range; "
    "windows of\n  {window} frames. These must equal `genrekit.features.FeatureParams()` "
    "(a test checks it).",
    "recipe_text": "Trained on all of them with the `cnn`\n  recipe ({epochs} epochs, AdamW with a "
    "one-cycle schedule, class-weighted loss, random windows,\n  gain and SpecAugment masks, "
    "shifts of up to {band_shift} mel bands, tempo changes of up to {stretch} %){teaching}.",
    "cv_note": ", the epoch chosen on a\n  validation split of each training part",
}
POOLING = {"max": "global max pooling", "avgmax": "global average and max pooling"}
BACKBONE_TEXT = {
    "what_it_is": "- **What it is**: a linear head (multinomial logistic regression, "
    "{parameters:,} parameters) on the clip\n  embeddings of the pretrained music tagger "
    "musicnn (`MSD_musicnn`, "
    "trained on the Million Song\n  Dataset; see `msd-musicnn.md`): the mean over ~3 s patches of "
    "its mean- and max-pooled\n  features, 1,506 numbers, computed by its int8 graph "
    "(`msd-musicnn-int8.onnx`, for training\n  and classifying alike). `genrekit classify` reads "
    "3 patches spread evenly over a track\n  (`BACKBONE_PATCHES`).",
    "features": "- **Features**: the backbone's own input chain (16 kHz, 96 mel bands, n_fft 512, "
    "hop 256,\n  log10(10000 x + 1), patches of 187 frames), computed with genrekit's features.",
    "recipe_text": "Trained on all of them with the\n  `backbone-msd-musicnn` recipe "
    "(standardized embeddings, class-balanced logistic\n  regression, C 0.1).",
    "cv_note": "",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", default="backbone-msd-musicnn")
    parser.add_argument("--name", default="gtzan-musicnn")
    args = parser.parse_args()
    threads = len(os.sched_getaffinity(0))
    torch.set_num_threads(threads)
    options = TrainOptions(model=args.model, seed=args.seed)
    recipe = options.recipe()
    work = Path(tempfile.mkdtemp(prefix="genrekit-shipped-"))
    try:
        extract_dataset(args.folder, work / "store", ExtractOptions())
        backbone = recipe.backbone or recipe.teacher  # the model's input, or its teacher's
        if backbone:
            embed_dataset(args.folder, work / "store", backbone=backbone)
        store = FeatureStore(work / "store")
        cv = cross_validate(
            store,
            options,
            args.folds,
            progress=lambda step: print(f"fold {step.done}: {100 * step.item:.1f} %", flush=True),
        )
        recall = cv.per_genre_recall(store.labels)
        started = time.perf_counter()
        everything = np.arange(len(store))
        checkpoint, log = train_model(store, everything, everything[:0], options)
        minutes = (time.perf_counter() - started) / 60
        save_checkpoint(checkpoint, work / "model")
        export_onnx(work / "model", OUT / f"{args.name}.onnx")
        counts = np.bincount(store.labels)
        params = store.params
        numbers = {
            "name": args.name,
            "architecture": checkpoint.info.architecture,
            "arguments": checkpoint.arguments,
            "classes": store.genres,
            "feature_params": params.to_dict(),
            "clip_seconds": store.info.clip_seconds,
            "window_frames": checkpoint.info.window_frames,
            "backbone": checkpoint.info.backbone,
            "clips": len(store),
            "clips_per_genre": dict(zip(store.genres, counts.tolist(), strict=True)),
            "epochs": len(log),
            "seed": args.seed,
            "cv_folds": args.folds,
            "cv_accuracy": cv.scores,
            "cv_recall": dict(zip(store.genres, recall, strict=True)),
            "train_minutes": round(minutes, 2),
        }
        (OUT / f"{args.name}.json").write_text(json.dumps(numbers, indent=2) + "\n")
        n_params = sum(p.numel() for p in load_model_state(checkpoint).parameters())
        texts = BACKBONE_TEXT if recipe.backbone else CNN_TEXT
        fields = {
            "name": args.name,
            "parameters": n_params,
            "n_classes": len(store.genres),
            "classes": ", ".join(store.genres),
            "feature_text": (
                f"{params.sr} Hz, n_fft {params.n_fft}, hop {params.hop_length}, "
                f"{params.n_mels} Slaney mel bands"
            ),
            "window": checkpoint.info.window_frames,
            "n_clips": len(store),
            "per_genre": f"{counts.min()}-{counts.max()} per genre",
            "epochs": len(log),
            "seed": args.seed,
            "train_time": f"{minutes:.1f} minutes" if minutes >= 1 else f"{60 * minutes:.1f} s",
            "threads": f"{threads} CPU thread" + ("s" if threads > 1 else ""),
            "pooling": POOLING[checkpoint.arguments.get("pooling", "max")],
            "band_shift": recipe.band_shift,
            "stretch": round(100 * recipe.time_stretch),
            "teaching": (
                f",\n  taught by a head on {recipe.teacher} embeddings (knowledge distillation, "
                f"weight {recipe.teacher_weight:g}); classifying\n  needs only the CNN"
                if recipe.teacher
                else ""
            ),
            "folds": args.folds,
            "cv_mean": 100 * cv.mean,
            "cv_std": 100 * cv.std,
            "cv_folds": ", ".join(f"{100 * s:.0f} %" for s in cv.scores),
            "recall_rows": "\n".join(
                f"| {g} | {100 * r:.0f} % |" for g, r in zip(store.genres, recall, strict=True)
            ),
            "reproduce": ""
            if args.name == "gtzan-musicnn"
            else f" --model {args.model} --name {args.name}",
        }
        fields["role"] = (
            "The model `genrekit classify` uses by default."
            if args.name == DEFAULT_MODEL
            else f"A shipped model: `genrekit classify --model {args.name}`."
        )
        card = CARD.format(**fields, **{k: v.format(**fields) for k, v in texts.items()})
        (OUT / f"{args.name}.md").write_text(card)
        print(card)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
