"""Commands that build data sets: ``fetch``, ``import``, ``catalog``."""

from __future__ import annotations

import sys
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
    styled,
)

if TYPE_CHECKING:
    from rich.progress import TaskID

    from genrekit.collect import FetchOptions, FetchSummary
    from genrekit.progress import Step


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
    out: Annotated[
        Path,
        typer.Option("-o", "--out", help="Data set folder.", parser=output_path, metavar="<path>"),
    ],
    per_genre: Annotated[int, typer.Option(help="Tracks wanted per genre.")] = 100,
    per_artist: Annotated[
        int, typer.Option(help="At most this many tracks of one artist per genre (0: no cap).")
    ] = 3,
    workers: Annotated[int, typer.Option("--workers", "-j", help="Parallel downloads.")] = 4,
) -> None:
    """Download labeled 30-second previews into OUT/<genre>/ with a catalog (resumable).

    One run at a time writes to OUT: a second fetch or import is refused, naming the first.

    Exit status: 0 all done, 1 some tracks or queries failed (listed),
    2 usage error, service unreachable, nothing fetched, another run writing to OUT,
    or OUT full or read-only, 130 interrupted (finished downloads are kept).
    """
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
    nothing = summary.nothing_fetched
    if nothing == "no preview":
        from genrekit.sources.spotify import NO_PREVIEWS

        raise fail(f"no track had a preview. {NO_PREVIEWS}")
    if nothing == "failed":
        raise fail(
            f"nothing was fetched into {out} (see above); check the --genre queries, or run "
            "the same command again later"
        )
    if nothing == "given up":
        found = "one track" if summary.given_up == 1 else f"{summary.given_up} tracks"
        raise fail(
            f"nothing was fetched into {out}: the {found} these queries found failed for good "
            f"in earlier runs (genrekit catalog {out} says why); try other --genre queries"
        )
    if nothing == "none found":
        raise fail(
            f"nothing was fetched into {out}: the queries found no track to download; "
            "check the --genre queries"
        )
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
            TextColumn("{task.fields[phase]:>11}", markup=False),
            TextColumn("{task.description}", style="bold", markup=False),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=errors,
        )
        self.tasks: dict[str, TaskID] = {}

    def __enter__(self) -> _FetchDisplay:
        self.progress.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, *exc: object) -> None:
        if kind is not None:  # a fatal error is one line; a half-drawn bar would only hide it
            self.progress.live.transient = True
            self.progress.live.stop()
        else:
            self.progress.stop()

    def _task(self, genre: str) -> TaskID:
        if genre not in self.tasks:
            self.tasks[genre] = self.progress.add_task(genre, total=None, phase="listing")
        return self.tasks[genre]

    def __call__(self, step: Step) -> None:
        from genrekit.collect import Downloaded, Listed, Round

        item = step.item
        if isinstance(item, Listed):
            self.progress.update(self._task(item.genre), completed=step.done, total=step.total)
        elif isinstance(item, Round):  # a round of downloads: every bar starts again
            for genre in self.tasks | item.per_genre:
                total = item.per_genre.get(genre, 0)
                task = self._task(genre)
                self.progress.update(task, completed=0, total=total, phase="downloading")
        elif isinstance(item, Downloaded):
            self.progress.advance(self._task(item.genre))
            if item.error is not None:
                message = f"{item.genre}/{item.name}: {item.error}"
                self.progress.console.print(styled("failed", "red", message))


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
    if summary.skipped:
        reasons = ", ".join(f"{r}: {n}" for r, n in summary.skipped.most_common(3))
        more = ", ..." if len(summary.skipped) > 3 else ""
        notes.append(
            f"{summary.skipped.total()} listed items skipped as unexpected ({reasons}{more})"
        )
    if summary.waited:
        notes.append(f"waited {summary.waited:.0f} s on the services' rate limits")
    table.caption = "; ".join(notes) or None
    console.print(table)
    for line in summary.conflicts[:10]:
        console.print(styled("  !", "yellow", line))
    for line in summary.query_errors:  # each names its query as given: the --genre
        console.print(styled("  x", "red", f"--genre {line}"))
    for line in summary.failures[:20]:
        console.print(styled("  x", "red", line))
    if len(summary.failures) > 20:
        console.print(f"  ... and {len(summary.failures) - 20} more (genrekit catalog {out} --csv)")
    if summary.no_preview and source == "spotify":
        from genrekit.sources.spotify import NO_PREVIEWS

        console.print(styled("note:", "yellow", NO_PREVIEWS))


@app.command("import")
def import_(
    folder: Annotated[Path, typer.Argument(help="<genre>/<files> tree, or FMA's audio folder.")],
    out: Annotated[
        Path,
        typer.Option("-o", "--out", help="Data set folder.", parser=output_path, metavar="<path>"),
    ],
    copy: Annotated[bool, typer.Option("--copy", help="Copy the audio into OUT/<genre>/.")] = False,
    fma_metadata: Annotated[
        Path | None,
        typer.Option(help="FMA's tracks.csv: label FOLDER's tracks by their top-level genre."),
    ] = None,
) -> None:
    """Add audio you already have to a data set's catalog (files stay put unless --copy).

    Exit status: 0 all done, 1 some files or tracks.csv rows could not be read (listed),
    2 usage error or nothing imported.
    """
    from genrekit.importer import import_folder

    summary = import_folder(folder, out, copy=copy, fma_metadata=fma_metadata)
    for genre, n in sorted(summary.added.items()):
        console.print(f"{genre}: {n} added")
    console.print(
        f"{sum(summary.added.values())} added, {summary.known} already in the catalog"
        + (f", {summary.missing} listed without audio" if summary.missing else "")
    )
    for line in summary.conflicts[:10] + summary.bad_rows[:10] + summary.failures:
        console.print(styled("  !", "yellow", line))
    if len(summary.bad_rows) > 10:
        console.print(f"  ... and {len(summary.bad_rows) - 10} more damaged rows skipped")
    if summary.nothing_imported:
        raise fail(f"{folder}: no file could be imported (see above)")
    if not summary.ok:
        raise typer.Exit(EXIT_FAILURES)


@app.command()
def catalog(
    data_dir: Annotated[Path, typer.Argument(help="Data set folder.")],
    csv_out: Annotated[
        Path | None, typer.Option("--csv", help="Export every track to this CSV ('-': stdout).")
    ] = None,
) -> None:
    """Count a data set's tracks per genre and source, or export its catalog as CSV.

    Exit status: 0 done, 2 not a data set or the CSV cannot be written.
    """
    from rich.table import Table

    from genrekit.catalog import Catalog

    with Catalog.open_existing(data_dir) as cat:
        if csv_out is not None:
            if str(csv_out) == "-":
                cat.write_csv(sys.stdout)
                return
            from genrekit.errors import CatalogError
            from genrekit.storage import atomic_path

            try:
                with atomic_path(csv_out) as tmp, tmp.open("w", newline="", encoding="utf-8") as f:
                    n = cat.write_csv(f)
            except OSError as exc:
                raise CatalogError(
                    f"{csv_out}: cannot write the CSV ({exc.strerror or exc}); choose a file in a "
                    "folder you can write to, or '-' for the terminal"
                ) from exc
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
