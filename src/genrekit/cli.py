"""The ``genrekit`` command: a thin layer of options and output over the library API.

Heavy modules are imported inside the commands that need them, so ``genrekit --help`` is quick.
Exit codes: 0 success, 1 some inputs failed, 2 bad usage or a fatal error, 130 interrupted.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from genrekit import __version__
from genrekit.errors import GenrekitError

if TYPE_CHECKING:
    from rich.progress import TaskID

    from genrekit.collect import FetchOptions, FetchSummary
    from genrekit.extract import ExtractSummary, Status

app = typer.Typer(
    name="genrekit",
    help="Learn to tell music genres apart from short song previews.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
errors = Console(stderr=True)

EXIT_FAILURES = 1
EXIT_ERROR = 2
EXIT_INTERRUPTED = 130


def _version(value: bool) -> None:
    if value:
        console.print(f"genrekit {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """genrekit: collect previews, extract features, explore, train and classify genres."""


@app.command()
def extract(
    in_dir: Annotated[Path, typer.Argument(help="Folder of <genre>/<track files>.")],
    out: Annotated[Path, typer.Option("-o", "--out", help="Feature store folder to write.")],
    images: Annotated[bool, typer.Option("--images", help="Also write PNG images.")] = False,
    workers: Annotated[
        int | None, typer.Option("--workers", "-j", help="Parallel workers [default: all cores].")
    ] = None,
    clip_seconds: Annotated[
        float, typer.Option("--clip-seconds", help="Seconds analysed per track.")
    ] = 30.0,
) -> None:
    """Extract log-mel spectrograms and MFCCs of every track (resumable)."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from genrekit.extract import ClipOutcome, ExtractOptions, default_workers, extract_dataset

    options = ExtractOptions(
        clip_seconds=clip_seconds, images=images, workers=workers or default_workers()
    )
    progress = Progress(
        TextColumn("[bold]extract"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]:>6} clips/s"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=errors,
        transient=False,
    )
    task = progress.add_task("extract", total=None, rate="-")

    def on_start(total: int) -> None:
        progress.update(task, total=total)

    def on_clip(outcome: ClipOutcome) -> None:
        progress.advance(task)
        elapsed = progress.tasks[0].elapsed or 0.0
        done = progress.tasks[0].completed
        progress.update(task, rate=f"{done / elapsed:.1f}" if elapsed > 0 else "-")
        if outcome.status == "failed":
            progress.console.print(f"[red]failed[/] {outcome.rel}: {outcome.reason}")

    with progress:
        summary = extract_dataset(in_dir, out, options, on_start=on_start, on_clip=on_clip)
    _print_summary(summary, out)
    if summary.interrupted:
        errors.print("interrupted: finished clips are saved; run the same command to resume")
        raise typer.Exit(EXIT_INTERRUPTED)
    if summary.failures:
        raise typer.Exit(EXIT_FAILURES)


def _print_summary(summary: ExtractSummary, out: Path) -> None:
    from rich.table import Table

    table = Table(title=f"genrekit extract -> {out}", show_edge=False)
    table.add_column("outcome")
    table.add_column("clips", justify="right")
    labels: dict[Status, str] = {
        "done": "extracted now",
        "cached": "already done (skipped)",
        "duplicate": "duplicate audio (skipped)",
        "silent": "silent (skipped)",
        "failed": "failed",
    }
    for status, label in labels.items():
        if summary.counts[status]:
            style = "red" if status == "failed" else ""
            table.add_row(label, str(summary.counts[status]), style=style)
    if summary.ignored:
        table.add_row("not audio (ignored)", str(summary.ignored))
    rate = summary.counts["done"] / summary.seconds if summary.seconds else 0.0
    table.caption = (
        f"{summary.total} files in {summary.seconds:.1f} s ({rate:.1f} clips/s extracted)"
    )
    console.print(table)
    for failure in summary.failures[:20]:
        console.print(f"  [red]x[/] {failure.rel}: {failure.reason}")
    if len(summary.failures) > 20:
        console.print(f"  ... and {len(summary.failures) - 20} more (see index.sqlite)")


@app.command()
def explore(
    features: Annotated[Path, typer.Argument(help="Feature store (from genrekit extract).")],
    out: Annotated[Path, typer.Option("-o", "--out", help="Report folder to write.")],
    per_genre: Annotated[
        int, typer.Option(help="Clips per genre to explore (0: all), sampled with --seed.")
    ] = 200,
    min_seconds: Annotated[
        float, typer.Option(help="Leave out clips with less audio (PCA compares the shortest).")
    ] = 0.0,
    seed: Annotated[int, typer.Option(help="Seed of the sampling, t-SNE and k-NN folds.")] = 0,
    gallery: Annotated[int, typer.Option(help="Example clips per genre in the gallery.")] = 3,
) -> None:
    """PCA of genres, t-SNE, gallery, class balance and separation numbers in one HTML report."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from genrekit.report import ExploreOptions
    from genrekit.report import explore as run_explore

    options = ExploreOptions(
        per_genre=per_genre or None, min_seconds=min_seconds, seed=seed, gallery=gallery
    )
    progress = Progress(
        TextColumn("[bold]{task.description:<16}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=errors,
    )
    task = progress.add_task("reading", total=None)

    def on_step(stage: str, done: int, total: int) -> None:
        progress.update(task, description=stage, completed=done, total=total)

    with progress:
        report = run_explore(features, out, options, on_step=on_step)
    numbers = report.numbers
    console.print(f"explored {numbers['clips_explored']} clips of {len(numbers['genres'])} genres")
    for space, value in numbers["separation"].items():
        if value:
            console.print(
                f"  {space:>12}: silhouette {value['silhouette']:+.3f} "
                f"(shuffled {value['silhouette_shuffled']:+.3f}), "
                f"k-NN accuracy {100 * value['knn_accuracy']:.1f} % "
                f"(shuffled {100 * value['knn_accuracy_shuffled']:.1f} %)"
            )
    console.print(f"report: {report.out_dir / 'index.html'}")


@app.command()
def train(
    features: Annotated[Path, typer.Argument(help="Feature store (from genrekit extract).")],
    out: Annotated[Path, typer.Option("-o", "--out", help="Model folder to write.")],
    model: Annotated[
        str, typer.Option(help="baseline, seed-mlp, seed-cnn or cnn (short-chunk CNN).")
    ] = "cnn",
    epochs: Annotated[int | None, typer.Option(help="Epochs [default: the model's].")] = None,
    folds: Annotated[
        int, typer.Option(help="Also cross-validate over K artist/clip-disjoint folds (0: no).")
    ] = 0,
    seed: Annotated[int, typer.Option(help="Seed of splits, initialization and batches.")] = 0,
    mixup: Annotated[float, typer.Option(help="Mixup alpha (0: off).")] = 0.0,
) -> None:
    """Train a genre classifier with honest splits; Ctrl-C keeps the best epoch so far."""
    import json

    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from genrekit.training import EpochLog, TrainOptions, cross_validate
    from genrekit.training import train as run_train

    options = TrainOptions(model=model, epochs=epochs, seed=seed, mixup=mixup)
    progress = Progress(
        TextColumn(f"[bold]{model}"),
        BarColumn(),
        TextColumn("epoch {task.completed}/{task.total}"),
        TextColumn("{task.fields[stats]}"),
        TimeRemainingColumn(),
        console=errors,
    )
    task = progress.add_task("train", total=None, stats="")

    def on_epoch(entry: EpochLog, planned: int) -> None:
        stats = (
            f"loss {entry.train_loss:.3f}  train {100 * entry.train_accuracy:.1f} %  "
            f"val {100 * entry.val_accuracy:.1f} %"
        )
        progress.update(task, completed=entry.epoch, total=planned, stats=stats)

    with progress:
        checkpoint = run_train(features, out, options, progress=on_epoch)
    sizes = {name: len(v) for name, v in checkpoint["split"].items()}
    console.print(
        f"trained {model} on {sizes['train']} clips (validation {sizes['val']}, test held out "
        f"{sizes['test']}): {out / 'model.pt'}"
    )
    console.print(f"evaluate it with: genrekit evaluate {out} {features}")
    if folds:
        import numpy as np

        from genrekit.dataset import FeatureStore

        store = FeatureStore(features)
        scores = cross_validate(
            store,
            options,
            folds,
            progress=lambda k, acc: console.print(f"  fold {k}/{folds}: {100 * acc:.1f} %"),
        ).scores
        mean, std = float(np.mean(scores)), float(np.std(scores))
        console.print(
            f"{folds}-fold cross-validated accuracy: {100 * mean:.1f} +- {100 * std:.1f} %"
        )
        from genrekit.storage import write_bytes_atomic

        summary = {"model": model, "folds": folds, "accuracy": scores, "mean": mean, "std": std}
        write_bytes_atomic(out / "cross_validation.json", json.dumps(summary, indent=2).encode())


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
    from genrekit.evaluation import export_onnx

    console.print(f"wrote {export_onnx(model_dir, out)}")


@app.command()
def classify(
    paths: Annotated[list[Path], typer.Argument(help="Audio files or folders (searched deeply).")],
    model: Annotated[
        str | None, typer.Option(help="Shipped model name, .onnx file or model folder.")
    ] = None,
    top_k: Annotated[int, typer.Option("--top-k", "-k", help="Genres shown per track.")] = 3,
    output: Annotated[str, typer.Option("--format", help="table, json or csv.")] = "table",
    segments: Annotated[
        bool, typer.Option("--segments", help="Add a genre per ~3 s window (a timeline).")
    ] = False,
    genres: Annotated[
        str | None, typer.Option(help="Only these genres, comma-separated (renormalized).")
    ] = None,
    workers: Annotated[
        int | None, typer.Option("--workers", "-j", help="Parallel tracks [default: cores].")
    ] = None,
) -> None:
    """Tell the genre of songs with the shipped model (or your own)."""
    from genrekit.classify_batch import classify_many, find_audio, render

    if output not in ("table", "json", "csv"):
        raise typer.BadParameter(f"--format {output!r}: use table, json or csv")
    files = find_audio(paths)
    subset = [g.strip() for g in genres.split(",") if g.strip()] if genres else None
    results, failures = classify_many(
        files, model=model, segments=segments, genres=subset, workers=workers
    )
    render(results, failures, output=output, top_k=top_k, segments=segments, console=console)
    for path, reason in failures:
        errors.print(f"[red]x[/] {path}: {reason}", highlight=False)
    if failures:
        raise typer.Exit(EXIT_FAILURES)


@app.command()
def models(
    folders: Annotated[
        list[Path] | None, typer.Argument(help="Folders to search for your own models [./models].")
    ] = None,
) -> None:
    """List the models shipped with genrekit, and your own exported ones."""
    from genrekit.errors import ModelError
    from genrekit.predict import DEFAULT_MODEL, available_models, load_model

    for name in available_models():
        loaded = load_model(name)
        mark = " (default)" if name == DEFAULT_MODEL else ""
        console.print(
            f"{name}{mark}: {loaded.architecture}, {len(loaded.classes)} genres: "
            f"{', '.join(loaded.classes)}",
            highlight=False,
            soft_wrap=True,
        )
    for folder in folders or [Path("models")]:
        if not folder.is_dir():
            continue
        for found in sorted(folder.rglob("*.onnx")):
            try:
                loaded = load_model(found)
            except ModelError as exc:
                console.print(f"{found}: [red]unusable[/] ({exc})", highlight=False)
                continue
            console.print(
                f"{found}: {loaded.architecture}, {len(loaded.classes)} genres: "
                f"{', '.join(loaded.classes)}",
                highlight=False,
                soft_wrap=True,
            )
    console.print(
        "[dim]your own: genrekit train ..., then genrekit export DIR -o DIR/model.onnx[/]"
    )


@app.command()
def figure(
    audio_file: Annotated[Path, typer.Argument(help="An audio file.")],
    out: Annotated[Path, typer.Option("-o", "--out", help="PNG (or PDF/SVG) to write.")],
    kind: Annotated[str, typer.Option(help="'mel' or 'mfcc'.")] = "mel",
    offset: Annotated[float, typer.Option(help="Start, in seconds.")] = 0.0,
    duration: Annotated[float, typer.Option(help="Length, in seconds.")] = 30.0,
) -> None:
    """Draw a labelled mel-spectrogram or MFCC figure of one file."""
    import numpy as np

    from genrekit.audio import load
    from genrekit.features import FeatureParams, log_mel_and_mfcc, power_to_db
    from genrekit.images import save_figure

    params = FeatureParams()
    y, sr = load(audio_file, sr=params.sr, offset=offset, duration=duration)
    mel, _, mfcc = log_mel_and_mfcc(y, params)
    values = power_to_db(mel, ref=np.max) if kind == "mel" else mfcc
    save_figure(values, out, kind=kind, sr=sr, hop_length=params.hop_length, title=audio_file.name)
    console.print(f"wrote {out}")


@app.command()
def fetch(
    source: Annotated[str, typer.Argument(help="deezer, itunes or spotify.")],
    genre: Annotated[
        list[str],
        typer.Option(
            "--genre",
            "-g",
            help="LABEL=KIND:VALUE, e.g. jazz=playlist:1615514485 or metal=search:'heavy metal'. "
            "Kinds: deezer playlist|search|chart|album; itunes search|artist|album; "
            "spotify playlist|category. Repeat for more genres or more queries per genre.",
        ),
    ],
    out: Annotated[Path, typer.Option("-o", "--out", help="Data set folder.")],
    per_genre: Annotated[int, typer.Option(help="Tracks wanted per genre.")] = 100,
    per_artist: Annotated[
        int, typer.Option(help="At most this many tracks of one artist per genre (0: no cap).")
    ] = 3,
    workers: Annotated[int, typer.Option("--workers", "-j", help="Parallel downloads.")] = 4,
) -> None:
    """Download labeled 30-second previews into OUT/<genre>/ with a catalog (resumable)."""
    from genrekit.collect import FetchOptions, open_source
    from genrekit.collect import fetch as run_fetch
    from genrekit.sources import GenreQuery

    queries = [GenreQuery.parse(text) for text in genre]
    options = FetchOptions(per_genre=per_genre, per_artist=per_artist or None, workers=workers)
    src = open_source(source.lower())
    try:
        with _FetchDisplay() as display:
            summary = run_fetch(src, queries, out, options, progress=display)
    finally:
        src.http.close()
    _print_fetch_summary(summary, out, options, source.lower())
    if summary.interrupted:
        errors.print("interrupted: finished downloads are kept; run the same command to resume")
        raise typer.Exit(EXIT_INTERRUPTED)
    if not any(summary.have.values()) and summary.no_preview:
        from genrekit.sources.spotify import NO_PREVIEWS

        errors.print(f"[red]error:[/] no track had a preview. {NO_PREVIEWS}", highlight=False)
        raise typer.Exit(EXIT_ERROR)
    if not summary.ok:
        raise typer.Exit(EXIT_FAILURES)


class _FetchDisplay:
    """Rich progress for fetch: one bar per genre, first while listing, then downloading."""

    def __init__(self) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self.progress = Progress(
            TextColumn("{task.fields[phase]:>11}"),
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=errors,
        )
        self.tasks: dict[str, TaskID] = {}

    def __enter__(self) -> _FetchDisplay:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def _task(self, genre: str) -> TaskID:
        if genre not in self.tasks:
            self.tasks[genre] = self.progress.add_task(genre, total=None, phase="listing")
        return self.tasks[genre]

    def listing(self, genre: str, selected: int, wanted: int) -> None:
        self.progress.update(self._task(genre), completed=selected, total=wanted)

    def downloading(self, totals: dict[str, int]) -> None:
        for genre in self.tasks | totals:
            total = totals.get(genre, 0)
            self.progress.update(self._task(genre), completed=0, total=total, phase="downloading")

    def downloaded(self, genre: str, name: str, error: str | None) -> None:
        self.progress.advance(self._task(genre))
        if error is not None:
            self.progress.console.print(f"[red]failed[/] {genre}/{name}: {error}", highlight=False)


def _print_fetch_summary(
    summary: FetchSummary, out: Path, options: FetchOptions, source: str
) -> None:
    from rich.table import Table

    table = Table(title=f"genrekit fetch {source} -> {out}", show_edge=False)
    for column in ("genre", "listed now", "downloaded now", "have", "wanted"):
        table.add_column(column, justify="left" if column == "genre" else "right")
    for genre, have in summary.have.items():
        style = "yellow" if have < options.per_genre else ""
        table.add_row(
            genre,
            str(summary.added[genre]),
            str(summary.downloaded[genre]),
            str(have),
            str(options.per_genre),
            style=style,
        )
    notes = []
    if summary.capped:
        notes.append(f"{summary.capped} skipped by the per-artist cap")
    if summary.conflicts:
        notes.append(f"{len(summary.conflicts)} found under two genres (kept the first label)")
    if summary.no_preview:
        notes.append(f"{summary.no_preview} without a preview")
    table.caption = "; ".join(notes) or None
    console.print(table)
    for line in summary.conflicts[:10]:
        console.print(f"  [yellow]![/] {line}", highlight=False)
    for line in summary.query_errors:
        console.print(f"  [red]x[/] {line}", highlight=False)
    for line in summary.failures[:20]:
        console.print(f"  [red]x[/] {line}", highlight=False)
    if len(summary.failures) > 20:
        console.print(f"  ... and {len(summary.failures) - 20} more (genrekit catalog {out} --csv)")
    if summary.no_preview and source == "spotify":
        from genrekit.sources.spotify import NO_PREVIEWS

        console.print(f"[yellow]note:[/] {NO_PREVIEWS}", highlight=False)


@app.command("import")
def import_(
    folder: Annotated[Path, typer.Argument(help="<genre>/<files> tree, or FMA's audio folder.")],
    out: Annotated[Path, typer.Option("-o", "--out", help="Data set folder.")],
    copy: Annotated[bool, typer.Option("--copy", help="Copy the audio into OUT/<genre>/.")] = False,
    fma_metadata: Annotated[
        Path | None,
        typer.Option(help="FMA's tracks.csv: label FOLDER's tracks by their top-level genre."),
    ] = None,
) -> None:
    """Add audio you already have to a data set's catalog (files stay put unless --copy)."""
    from genrekit.importer import ImportSummary, fma_tracks, folder_tracks, import_tracks

    if fma_metadata is not None:
        scan = ImportSummary()
        tracks = fma_tracks(fma_metadata, folder, scan)
        summary = import_tracks(tracks, out, source="fma", found_by="fma:genre_top", copy=copy)
        summary.missing = scan.missing
    else:
        tracks = folder_tracks(folder)
        summary = import_tracks(tracks, out, source="local", found_by="folder", copy=copy)
    for genre, n in sorted(summary.added.items()):
        console.print(f"{genre}: {n} added")
    console.print(
        f"{sum(summary.added.values())} added, {summary.known} already in the catalog"
        + (f", {summary.missing} listed without audio" if summary.missing else "")
    )
    for line in summary.conflicts[:10] + summary.failures:
        console.print(f"  [yellow]![/] {line}", highlight=False)
    if summary.failures:
        raise typer.Exit(EXIT_FAILURES)


@app.command()
def catalog(
    data_dir: Annotated[Path, typer.Argument(help="Data set folder.")],
    csv_out: Annotated[
        Path | None, typer.Option("--csv", help="Export every track to this CSV ('-': stdout).")
    ] = None,
) -> None:
    """Count a data set's tracks per genre and source, or export its catalog as CSV."""
    from rich.table import Table

    from genrekit.catalog import Catalog

    with Catalog.open_existing(data_dir) as cat:
        if csv_out is not None:
            if str(csv_out) == "-":
                cat.write_csv(sys.stdout)
                return
            from genrekit.storage import atomic_path

            with atomic_path(csv_out) as tmp, tmp.open("w", newline="", encoding="utf-8") as f:
                n = cat.write_csv(f)
            console.print(f"wrote {n} tracks to {csv_out}")
            return
        counts = cat.counts()
        conflicts = cat.conflicts()
    sources = sorted({source for _, source, _, _ in counts})
    table = Table(title=f"catalog of {data_dir}", show_edge=False)
    table.add_column("genre")
    for source in sources:
        table.add_column(source, justify="right")
    table.add_column("failed", justify="right")
    table.add_column("pending", justify="right")
    for genre in sorted({g for g, _, _, _ in counts}):
        done = {s: n for g, s, st, n in counts if g == genre and st == "done"}
        failed = sum(n for g, _, st, n in counts if g == genre and st == "failed")
        pending = sum(n for g, _, st, n in counts if g == genre and st == "pending")
        table.add_row(genre, *(str(done.get(s, 0)) for s in sources), str(failed), str(pending))
    table.caption = "downloaded or imported tracks per source" + (
        f"; {len(conflicts)} tracks found under two genres" if conflicts else ""
    )
    console.print(table)


def main() -> None:
    """Console entry point: one clear line and a non-zero exit for every expected failure."""
    try:
        app()
    except GenrekitError as exc:
        errors.print(f"[red]error:[/] {exc}", highlight=False)
        sys.exit(EXIT_ERROR)
    except KeyboardInterrupt:
        errors.print("interrupted")
        sys.exit(EXIT_INTERRUPTED)
