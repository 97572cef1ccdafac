"""Commands on audio and features: ``extract``, ``embed``, ``figure``, ``explore``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from genrekit.cli.app import (
    EXIT_FAILURES,
    EXIT_INTERRUPTED,
    app,
    console,
    errors,
    fail,
    output_path,
    visible,
)
from genrekit.errors import ParameterError

if TYPE_CHECKING:
    from rich.progress import Progress

    from genrekit.embed import Embedded
    from genrekit.extract import ClipOutcome, ExtractSummary, Status
    from genrekit.progress import Step

WORKERS_HELP = "Parallel workers (default, or 0: one per core)."
CLUSTER_HELP = (
    "Run on a Dask cluster: tcp://HOST:PORT of its scheduler, or local:N for N local worker "
    "processes. Workers must see the input and output folders at the same paths. Needs "
    "genrekit[cluster]."
)
LISTED = 20
"""Files listed by name per kind of outcome; the rest are in the store's index."""


def _workers(value: int | None) -> int:
    """``--workers``: 0 or none means one per core; a negative number is a usage error."""
    from genrekit.workers import default_workers

    if value is not None and value < 0:
        raise ParameterError(
            f"--workers {value}: give a number of parallel workers, or 0 for one per core"
        )
    return value or default_workers()


@contextmanager
def _shown_once_started(progress: Progress) -> Iterator[Callable[[], None]]:
    """Yield ``start()``: the bar appears once the inputs are checked, so that a usage error
    stays one line on stderr, without a half-drawn bar before it."""
    started = False

    def start() -> None:
        nonlocal started
        if not started:
            progress.start()
            started = True

    try:
        yield start
    except BaseException:
        if started:  # a fatal error is one line; a half-drawn bar above it would only hide it
            progress.live.transient = True
            progress.live.stop()  # not progress.stop(): off a terminal it adds a blank line
            started = False
        raise
    finally:
        if started:
            progress.stop()


@app.command()
def extract(
    in_dir: Annotated[Path, typer.Argument(help="Folder of <genre>/<track files>.")],
    out: Annotated[
        Path,
        typer.Option(
            "-o",
            "--out",
            help="Feature store folder to write.",
            parser=output_path,
            metavar="<path>",
        ),
    ],
    images: Annotated[bool, typer.Option("--images", help="Also write PNG images.")] = False,
    workers: Annotated[int | None, typer.Option("--workers", "-j", help=WORKERS_HELP)] = None,
    clip_seconds: Annotated[
        float,
        typer.Option("--clip-seconds", help="Seconds analysed per track (0.5 to 600)."),
    ] = 30.0,
    cluster: Annotated[
        str | None, typer.Option("--cluster", help=CLUSTER_HELP, metavar="ADDRESS")
    ] = None,
) -> None:
    """Extract log-mel spectrograms and MFCCs of every track (resumable).

    One run at a time writes to a store: a second extract is refused, naming the first.

    Exit status: 0 all done, 1 some files failed (listed),
    2 usage error, no usable clip, another run writing to the store, or the store
    full or read-only, 130 interrupted (finished clips are kept).
    """
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    from genrekit.cluster import connect_if
    from genrekit.extract import ExtractOptions, extract_dataset

    options = ExtractOptions(clip_seconds=clip_seconds, images=images, workers=_workers(workers))
    progress = Progress(
        TextColumn("extract", style="bold", markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]:>6} clips/s", markup=False),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=errors,
        transient=False,
    )
    task = progress.add_task("extract", total=None, rate="-")

    def on_step(step: Step) -> None:
        outcome: ClipOutcome | None = step.item
        if outcome is None:  # the input is scanned: the bar can start
            start()
            progress.update(task, total=step.total)
            return
        progress.update(task, completed=step.done)
        elapsed = progress.tasks[0].elapsed or 0.0
        progress.update(task, rate=f"{step.done / elapsed:.1f}" if elapsed > 0 else "-")
        if outcome.status == "failed":
            progress.console.print(
                Text.assemble(("failed", "red"), visible(f" {outcome.rel}: {outcome.reason}")),
                soft_wrap=True,
            )

    with connect_if(cluster) as client, _shown_once_started(progress) as start:
        summary = extract_dataset(in_dir, out, options, progress=on_step, client=client)
    _print_summary(summary, out)
    if summary.interrupted:
        errors.print("interrupted: finished clips are saved; run the same command to resume")
        raise typer.Exit(EXIT_INTERRUPTED)
    if not summary.usable:
        raise fail(
            f"{in_dir}: no usable clip ({summary.total} files: every one failed, was silent or "
            "a duplicate; see the list above)"
        )
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
    if summary.unlabelled:
        table.add_row("audio outside a <genre>/ folder (ignored)", str(len(summary.unlabelled)))
    rate = summary.counts["done"] / summary.seconds if summary.seconds else 0.0
    table.caption = (
        f"{summary.total} files in {summary.seconds:.1f} s ({rate:.1f} clips/s extracted)"
    )
    console.print(table)
    _list_outcomes(summary.failures, "x", "red")
    _list_outcomes([o for o in summary.skipped if o.status == "silent"], "-", "yellow")
    _list_outcomes([o for o in summary.skipped if o.status == "duplicate"], "=", "yellow")
    if summary.unlabelled:
        from rich.text import Text

        names = ", ".join(summary.unlabelled[:LISTED])
        more = (
            f" and {len(summary.unlabelled) - LISTED} more"
            if len(summary.unlabelled) > LISTED
            else ""
        )
        console.print(
            Text.assemble(
                ("  ! ", "yellow"),
                visible(
                    f"not in a <genre>/ folder, so without a label: {names}{more}; "
                    "move them into a folder named after their genre"
                ),
            ),
            soft_wrap=True,
        )


def _list_outcomes(outcomes: list[ClipOutcome], mark: str, style: str) -> None:
    from rich.text import Text

    for outcome in outcomes[:LISTED]:
        line = Text.assemble((f"  {mark} ", style), visible(f"{outcome.rel}: {outcome.reason}"))
        console.print(line, soft_wrap=True)  # one file a line, so that grep finds it whole
    if len(outcomes) > LISTED:
        status = outcomes[0].status
        console.print(
            f"  ... and {len(outcomes) - LISTED} more {status} files "
            f"(index.sqlite, table tracks, status '{status}')"
        )


@app.command()
def embed(
    in_dir: Annotated[Path, typer.Argument(help="The <genre>/<track files> folder extracted.")],
    out: Annotated[
        Path,
        typer.Option(
            "-o",
            "--out",
            help="Its feature store (genrekit extract).",
            parser=output_path,
            metavar="<path>",
        ),
    ],
    backbone: Annotated[str, typer.Option(help="Pretrained backbone.")] = "msd-musicnn",
    workers: Annotated[int | None, typer.Option("--workers", "-j", help=WORKERS_HELP)] = None,
    cluster: Annotated[
        str | None, typer.Option("--cluster", help=CLUSTER_HELP, metavar="ADDRESS")
    ] = None,
) -> None:
    """Add a pretrained backbone's clip embeddings to a feature store (resumable).

    Exit status: 0 all done, 1 some files failed (listed),
    2 usage error or nothing embedded, 130 interrupted (finished clips are kept).
    """
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    from genrekit.cluster import connect_if
    from genrekit.embed import embed_dataset

    progress = Progress(
        TextColumn(f"embed ({backbone})", style="bold", markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=errors,
    )
    task = progress.add_task("embed", total=None)

    def on_step(step: Step) -> None:
        clip: Embedded | None = step.item
        if clip is None:  # the clips to embed are known: the bar can start
            start()
            progress.update(task, total=step.total)
            return
        progress.update(task, completed=step.done)
        if clip.error:
            progress.console.print(
                Text.assemble(("failed", "red"), visible(f" {clip.rel}: {clip.error}")),
                soft_wrap=True,
            )

    with connect_if(cluster) as client, _shown_once_started(progress) as start:
        summary = embed_dataset(
            in_dir,
            out,
            backbone=backbone,
            workers=_workers(workers),
            progress=on_step,
            client=client,
        )
    console.print(
        f"{summary.done} clips embedded, {summary.cached} already done, "
        f"{len(summary.failures)} failed, {summary.not_in_store} files not in the store; "
        f"{summary.seconds:.1f} s",
        highlight=False,
    )
    if summary.interrupted:
        errors.print("interrupted: finished clips are saved; run the same command to resume")
        raise typer.Exit(EXIT_INTERRUPTED)
    if not summary.usable:
        raise fail(f"{in_dir}: no clip could be embedded (every one failed, see above)")
    if summary.failures:
        raise typer.Exit(EXIT_FAILURES)


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
    """PCA of genres, t-SNE, gallery, class balance and separation numbers in one HTML report.

    Exit status: 0 done, 2 usage error (not a store, no usable clip), 130 interrupted.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from genrekit.report import ExploreOptions, write_report

    options = ExploreOptions(
        per_genre=per_genre or None, min_seconds=min_seconds, seed=seed, gallery=gallery
    )
    progress = Progress(
        TextColumn("{task.description:<16}", style="bold", markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        console=errors,
    )
    task = progress.add_task("reading", total=None)

    def on_step(step: Step) -> None:
        start()
        progress.update(task, description=step.stage, completed=step.done, total=step.total)

    if out.exists() and not out.is_dir():
        raise ParameterError(f"{out}: is a file; give the report a folder (-o REPORT)")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ParameterError(
            f"{out}: cannot create the report folder ({exc.strerror or exc}); choose a folder "
            "you can write to"
        ) from exc
    with _shown_once_started(progress) as start:
        report = write_report(features, out, options, progress=on_step)
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
def figure(
    audio_file: Annotated[Path, typer.Argument(help="An audio file.")],
    out: Annotated[Path, typer.Option("-o", "--out", help="PNG (or PDF/SVG) to write.")],
    kind: Annotated[str, typer.Option(help="'mel' or 'mfcc'.")] = "mel",
    offset: Annotated[float, typer.Option(help="Start, in seconds.")] = 0.0,
    duration: Annotated[float, typer.Option(help="Length, in seconds.")] = 30.0,
) -> None:
    """Draw a labelled mel-spectrogram or MFCC figure of one file.

    Exit status: 0 done, 2 usage error (not audio, a name that cannot be written).
    """
    from genrekit.images import draw_figure

    # The library checks these too; here they are said as the command line spells them.
    if kind not in ("mel", "mfcc"):
        raise ParameterError(f"--kind {kind!r}: choose 'mel' or 'mfcc'")
    if not 0 < duration < float("inf"):
        raise ParameterError(f"--duration {duration:g}: give the seconds to draw, more than 0")
    if not 0 <= offset < float("inf"):
        raise ParameterError(f"--offset {offset:g}: give the start in seconds, 0 or more")
    draw_figure(audio_file, out, kind=kind, offset=offset, duration=duration)
    console.print(f"wrote {out}", highlight=False)
