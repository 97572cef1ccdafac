"""Commands on models: ``train``, ``evaluate``, ``export``, ``classify``, ``models``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from genrekit.cli.app import (
    EXIT_ERROR,
    EXIT_FAILURES,
    EXIT_INTERRUPTED,
    app,
    console,
    errors,
    fail,
    visible,
)


@app.command()
def train(
    features: Annotated[Path, typer.Argument(help="Feature store (from genrekit extract).")],
    out: Annotated[Path, typer.Option("-o", "--out", help="Model folder to write.")],
    model: Annotated[
        str,
        typer.Option(
            help="baseline (no PyTorch needed), backbone-msd-musicnn (a head on musicnn "
            "embeddings; no PyTorch needed), cnn (short-chunk CNN, taught by musicnn when the "
            "store has its embeddings), seed-mlp or seed-cnn. The networks (cnn, seed-mlp, "
            "seed-cnn) need PyTorch, genrekit's train extra."
        ),
    ] = "cnn",
    epochs: Annotated[
        int | None, typer.Option(help="Epochs of a network, 1 or more (default: the model's).")
    ] = None,
    members: Annotated[
        int | None,
        typer.Option(
            help="Train N networks with seeds SEED, SEED+1, ... and average them "
            "(default: the model's)."
        ),
    ] = None,
    folds: Annotated[
        int,
        typer.Option(
            help="Also cross-validate over K artist/clip-disjoint folds, 2 or more, at most the "
            "clips of the smallest genre (0: no)."
        ),
    ] = 0,
    seed: Annotated[int, typer.Option(help="Seed of splits, initialization and batches.")] = 0,
    mixup: Annotated[float, typer.Option(help="Mixup alpha (0: off).")] = 0.0,
    teacher: Annotated[
        bool,
        typer.Option(
            help="Let the model's teacher guide training where its recipe has one (cnn: the "
            "musicnn head's genre answers; needs the store's musicnn embeddings, see --audio; "
            "without them cnn trains untaught and says so). The model never needs it to "
            "classify."
        ),
    ] = True,
    audio: Annotated[
        Path | None,
        typer.Option(
            "--audio",
            exists=True,
            file_okay=False,
            help="The audio folder the store was extracted from: musicnn embeddings that the "
            "model or its teacher needs and the store lacks are computed first (as genrekit "
            "embed does, resumable).",
        ),
    ] = None,
) -> None:
    """Train a genre classifier with honest splits; Ctrl-C keeps the best epoch so far."""

    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from genrekit import extras
    from genrekit.dataset import FeatureStore
    from genrekit.errors import ParameterError
    from genrekit.progress import Step
    from genrekit.splits import check_folds, check_trainable
    from genrekit.training import TrainOptions, cross_validate
    from genrekit.training import train as run_train
    from genrekit.training_log import EpochLog

    options = TrainOptions(
        model=model, epochs=epochs, members=members, seed=seed, mixup=mixup, teacher=teacher
    )
    recipe = options.recipe()  # every usage error before any work
    if out.exists() and not out.is_dir():
        raise ParameterError(f"-o {out}: a file, not a folder; give a folder for the model")
    extras.require(f"--model {model}", *recipe.packages(), "matplotlib")
    store = FeatureStore(features)
    check_trainable(store, min_per_genre=3)
    if folds:
        check_folds(store, folds)
    backbone = recipe.backbone or recipe.teacher
    if audio is not None and backbone is not None and not store.has_embeddings(backbone):
        _embed_missing(audio, features, backbone)
    # Linear models (baseline, backbone heads) are fitted in closed form: no epochs to show.
    epoch_text = "epoch {task.completed}/{task.total}" if recipe.epochs else "fitting"
    progress = Progress(
        TextColumn(model, style="bold", markup=False),
        BarColumn(),
        TextColumn(epoch_text, markup=False),
        TextColumn("{task.fields[stats]}", markup=False),
        TimeRemainingColumn(),
        console=errors,
    )
    task = progress.add_task("train", total=None, stats="")

    def on_epoch(step: Step) -> None:
        entry: EpochLog = step.item
        planned = step.total or 0
        stats = (
            f"loss {entry.train_loss:.3f}  train {100 * entry.train_accuracy:.1f} %  "
            f"val {100 * entry.val_accuracy:.1f} %"
        )
        if recipe.members > 1:  # an ensemble: its networks train one after another
            stats = f"network {entry.member}/{recipe.members}  {stats}"
        done = (entry.member - 1) * planned + entry.epoch
        progress.update(task, completed=done, total=planned * recipe.members, stats=stats)

    with progress:
        checkpoint = run_train(features, out, options, progress=on_epoch)
    result = checkpoint.training
    sizes = {name: len(v) for name, v in checkpoint.split.items()}
    for line in result.held_out or ():
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    for note in result.notes:
        errors.print(f"note: {note}", markup=False, highlight=False, soft_wrap=True)
    trained = f"trained {model} on {sizes['train']} clips: {result.file}"
    console.print(trained, markup=False, highlight=False)
    console.print(result.describe(), markup=False, highlight=False)
    if result.test_accuracy is not None:
        console.print(
            f"test accuracy: {100 * result.test_accuracy:.1f} % on the "
            f"{result.test_clips} held-out clips",
            markup=False,
            highlight=False,
        )
    console.print(f"evaluate it with: genrekit evaluate {out} {features}", markup=False)
    if result.stopped == "interrupted":
        errors.print("interrupted: the best epoch so far is saved", markup=False)
        raise typer.Exit(EXIT_INTERRUPTED)
    if folds:
        cv = cross_validate(
            store,
            options,
            folds,
            progress=lambda step: console.print(
                f"  fold {step.done}/{step.total}: {100 * step.item:.1f} %"
            ),
        )
        console.print(f"{folds}-fold cross-validated accuracy: {cv.text()}")
        cv.save(out, model)


def _embed_missing(audio: Path, features: Path, backbone: str) -> None:
    """Compute the store's missing ``backbone`` embeddings from ``audio``, with progress."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from genrekit.embed import Embedded, embed_dataset
    from genrekit.progress import Step

    progress = Progress(
        TextColumn(f"embedding the clips ({backbone})", markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        console=errors,
    )
    task = progress.add_task("embed", total=None)

    def on_clip(step: Step) -> None:
        progress.update(task, completed=step.done, total=step.total)
        clip: Embedded | None = step.item
        if clip is not None and clip.error:
            message = f"failed {clip.rel}: {clip.error}"
            progress.console.print(message, markup=False, highlight=False)

    with progress:
        summary = embed_dataset(audio, features, backbone=backbone, progress=on_clip)
    errors.print(
        f"{summary.done} clips embedded, {summary.cached} already done, "
        f"{len(summary.failures)} failed ({summary.seconds:.1f} s)",
        markup=False,
        highlight=False,
    )
    if summary.interrupted:
        errors.print("interrupted: finished embeddings are saved; run again to resume")
        raise typer.Exit(EXIT_INTERRUPTED)


@app.command()
def evaluate(
    model_dir: Annotated[Path, typer.Argument(help="Model folder (from genrekit train).")],
    features: Annotated[Path, typer.Argument(help="Feature store to evaluate on.")],
    out: Annotated[
        Path | None, typer.Option("-o", "--out", help="Report folder [MODEL_DIR/evaluation].")
    ] = None,
) -> None:
    """Accuracy, per-genre precision/recall/F1, confusion matrix, most confused tracks."""
    from rich.table import Table

    from genrekit.evaluation import evaluate as run_evaluate

    report = run_evaluate(model_dir, features, out)
    table = Table(
        title=f"{report['architecture']} on {report['tracks']} unseen tracks", show_edge=False
    )
    for column in ("genre", "precision", "recall", "F1", "tracks"):
        table.add_column(column, justify="left" if column == "genre" else "right")
    for genre, m in report["per_genre"].items():
        table.add_row(
            genre, f"{m['precision']:.2f}", f"{m['recall']:.2f}", f"{m['f1']:.2f}", str(m["tracks"])
        )
    table.caption = (
        f"accuracy {100 * report['accuracy']:.1f} %, "
        f"balanced {100 * report['balanced_accuracy']:.1f} %; "
        f"{report['skipped_seen_in_training']} clips seen in training were left out"
    )
    console.print(table)
    for item in report["most_confused"][:5]:
        console.print(
            f"  {item['path']}: {item['genre']} taken for {item['predicted']} "
            f"(p={item['probability']:.2f})",
            highlight=False,
        )
    where = out or model_dir / "evaluation"
    console.print(f"report: {where / 'evaluation.json'}, {where / 'confusion.png'}")


@app.command()
def export(
    model_dir: Annotated[Path, typer.Argument(help="Model folder (from genrekit train).")],
    out: Annotated[Path, typer.Option("-o", "--out", help="ONNX file to write.")],
) -> None:
    """Export a trained model to ONNX for light inference (onnxruntime)."""
    from genrekit.checkpoint import export_onnx

    console.print(f"wrote {export_onnx(model_dir, out)}")


@app.command()
def classify(
    ctx: typer.Context,
    paths: Annotated[
        list[Path],
        typer.Argument(metavar="PATH", help="Audio files or folders (searched deeply)."),
    ],
    model: Annotated[
        str | None, typer.Option(help="Shipped model name, .onnx file or model folder.")
    ] = None,
    top_k: Annotated[
        int, typer.Option("--top-k", "-k", help="Genres shown per track in the table.")
    ] = 3,
    output: Annotated[
        str,
        typer.Option(
            "--format",
            help="table, csv (a column per genre's probability) or json (JSON lines: an object "
            "per track, printed as it is ready). Each input gets one row or object, its status "
            "classified, unknown (no genre, with the reason) or failed (with the reason).",
        ),
    ] = "table",
    segments: Annotated[
        bool,
        typer.Option(
            "--segments",
            help="Add a timeline: the whole track in at most 32 equal segments, a genre each "
            "(table and json).",
        ),
    ] = False,
    genres: Annotated[
        str | None,
        typer.Option(help="Only these genres, comma-separated, any case (renormalized)."),
    ] = None,
    workers: Annotated[
        int | None, typer.Option("--workers", "-j", help="Parallel tracks (default: one per core).")
    ] = None,
    tags: Annotated[
        bool,
        typer.Option(
            "--tags",
            help="Add the top tags of both pretrained taggers, labelled by tagger: musicnn "
            "trained on the Million Song Dataset (msd-musicnn) and on MagnaTagATune (mtt-musicnn).",
        ),
    ] = False,
    min_confidence: Annotated[
        float | None,
        typer.Option(
            "--min-confidence",
            metavar="P",
            help="No genre (unknown, with a reason) when the top probability is under P, "
            "from 0 to 1 (after --genres).",
        ),
    ] = None,
    music_check: Annotated[
        bool,
        typer.Option(
            "--music-check/--no-music-check",
            help="Answer no genre (unknown, with a reason) for noise, tones, clicks, speech, "
            "silence and audio too quiet to judge; turn off for a model of other sounds.",
        ),
    ] = True,
    cluster: Annotated[
        str | None,
        typer.Option(
            "--cluster",
            metavar="ADDRESS",
            help="Classify on a Dask cluster: tcp://HOST:PORT of its scheduler, or local:N for "
            "N local worker processes; each worker loads the model once and must see the files "
            "(and a model file) at the same paths. Needs genrekit[cluster].",
        ),
    ] = None,
) -> None:
    """Tell the genre of songs with the shipped model (or your own).

    Each result goes to stdout as soon as it is ready; progress and failures go to stderr.
    A track that gets no genre (not music, silent, unsure) is an answer, with its reason.

    Exit: 0 all classified, 1 some failed, 2 usage error or none classified, 130 interrupted.
    """
    from rich.text import Text

    from genrekit.classify_batch import batch_workers, classify_each, find_tracks, load_for_batch
    from genrekit.cli.classify_output import FORMATS, Status, Writer, damage_text
    from genrekit.predict import check_genres

    if output not in FORMATS:
        raise typer.BadParameter(f"{output!r}: use table, csv or json", param_hint="--format")
    if segments and output == "csv":
        raise typer.BadParameter(
            "a timeline does not fit CSV's one row per track; use --format json or table",
            param_hint="--segments",
        )
    if top_k < 1:
        raise typer.BadParameter(f"{top_k}: show 1 genre or more", param_hint="--top-k")
    if min_confidence is not None and not 0.0 <= min_confidence <= 1.0:
        raise typer.BadParameter(
            f"{min_confidence}: give a probability from 0 to 1 (0.5 for 50 %)",
            param_hint="--min-confidence",
        )
    subset = [g for g in genres.split(",") if g.strip()] if genres is not None else None
    if subset == []:
        raise typer.BadParameter(
            f"{genres!r}: name one genre or more, e.g. jazz,rock", param_hint="--genres"
        )
    files = find_tracks(paths)
    threads = batch_workers(workers, len(files))
    loaded = load_for_batch(model, threads)
    pool = None
    if cluster is not None:  # connected before any output; closed when the command ends
        from genrekit.cluster import connect, pool_of

        pool = pool_of(ctx.with_resource(connect(cluster)))
    names = check_genres(loaded, subset)
    writer = Writer(
        console, output, files=files, genres=names, top_k=top_k, segments=segments, tags=tags
    )
    status = Status(errors, len(files))
    writer.header()
    status.draw()
    interrupted = False
    try:
        for outcome in classify_each(
            files,
            loaded,
            segments=segments,
            genres=subset,
            tags=tags,
            workers=threads,
            min_confidence=min_confidence,
            check_music=music_check,
            pool=pool,
        ):
            status.clear()
            writer.write(outcome)  # every input gets its row, failed ones too
            found = outcome.prediction
            if found is None:
                line = f"x {outcome.file.name}: {outcome.error}"
                errors.print(Text(visible(line), style="red"), soft_wrap=True)
            elif found.damage:
                damage = damage_text(found.damage, found.duration)
                line = f"warning: {outcome.file.name}: {damage}"
                errors.print(Text(visible(line), style="yellow"), soft_wrap=True)
            unknown = outcome.prediction is not None and outcome.prediction.genre is None
            status.advance(failed=outcome.prediction is None, unknown=unknown)
    except KeyboardInterrupt:
        interrupted = True
    status.clear()
    only_one_failed = status.total == 1 and status.failed == 1 and not interrupted
    if not only_one_failed:  # one track that failed: its line above says all
        errors.print(Text(status.summary(interrupted), style="dim"), soft_wrap=True)
    if interrupted:
        raise typer.Exit(EXIT_INTERRUPTED)
    if only_one_failed:
        raise typer.Exit(EXIT_ERROR)  # nothing could be done
    if status.failed and status.failed == status.total:
        raise fail("no track could be classified (each is listed above with its reason)")
    if status.failed:
        raise typer.Exit(EXIT_FAILURES)


@app.command()
def models(
    folders: Annotated[
        list[Path] | None,
        typer.Argument(help="Folders to search for your own models (default: ./models)."),
    ] = None,
) -> None:
    """List the models shipped with genrekit, and your own exported ones.

    Each model is listed by what ``classify --model`` takes (a shipped name, or a file), with its
    genres; a dim line under it says how it is built (its architecture, a name of genrekit's
    training recipes, not a model to pass)."""
    from genrekit.errors import ModelError, reason_about
    from genrekit.predict import DEFAULT_MODEL, available_models, load_model
    from genrekit.recipes import public_models

    console.print("shipped models (genrekit classify --model NAME; the default needs none):")
    for name in available_models():
        loaded = load_model(name)
        mark = " (default)" if name == DEFAULT_MODEL else ""
        _list_model(f"{name}{mark}", loaded.classes, loaded.architecture)
    for folder in folders or [Path("models")]:
        if not folder.is_dir():
            continue
        for found in sorted(folder.rglob("*.onnx")):
            try:
                loaded = load_model(found)
            except ModelError as exc:
                reason = visible(f" ({reason_about(found, exc)})")
                line = Text.assemble(visible(f"{found}: "), ("unusable", "red"), reason)
                console.print(line)
                continue
            _list_model(str(found), loaded.classes, loaded.architecture)
    console.print(
        f"your own: genrekit train STORE -o DIR --model {'|'.join(public_models())}, then "
        "genrekit export DIR -o DIR/model.onnx",
        style="dim",
        markup=False,
        highlight=False,
    )


ARCHITECTURES = {
    "vocabulary-msd-musicnn": "a linear head on musicnn's MSD embedding, with genres read from "
    "musicnn's tags",
    "backbone-msd-musicnn": "a linear head on musicnn's MSD embedding",
    "cnn": "a short-chunk CNN on log-mel windows",
    "baseline": "a logistic regression on mel-band and MFCC statistics",
    "seed-mlp": "the seed experiment's MLP on MFCCs",
    "seed-cnn": "the seed experiment's CNN on MFCCs",
}
"""How each architecture a model can have is built, in words, for ``genrekit models``."""


def _list_model(name: str, classes: list[str], architecture: str) -> None:
    """A model as ``classify --model`` knows it, then how it is built (never a name to pass)."""
    console.print(f"{name}: {len(classes)} genres: {', '.join(classes)}")
    built = ARCHITECTURES.get(architecture)
    how = f"{built} (architecture {architecture})" if built else f"architecture {architecture}"
    console.print(f"  {how}", style="dim")
