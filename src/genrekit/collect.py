"""``genrekit fetch``: labeled previews from a streaming service into a data set folder.

Two phases, both resumable. Listing pages through each ``--genre LABEL=KIND:VALUE`` query and adds
tracks to the catalog until the genre has ``per_genre`` of them (at most ``per_artist`` per artist,
so one artist cannot dominate a genre). Downloading fetches every pending track with a few
threads: into a temporary file, checked to decode, hashed, renamed to
``<genre>/<artist> - <title> [<source>-<id>].<ext>`` and marked done in the same step. A rerun of
the same command skips what is done and retries what failed for a reason that may pass.

One run at a time writes to a data set folder: ``fetch`` holds its lock (:mod:`genrekit.lock`),
and its temporary files carry its PID, so clean-up never deletes another live run's downloads. A
full disk or a read-only folder stops the run with one error naming the folder; no track is
blamed for it, so a rerun after freeing space resumes.

A failure belongs to its item: whatever goes wrong with one track (a bad link, an answer of the
wrong shape, a file name the disk refuses) is recorded on its catalog row with the reason and the
run goes on. A track given up is replaced by the next one listed, within the run (up to
``MAX_ROUNDS`` rounds of listing and downloading) and on a rerun, until the genre has
``per_genre`` tracks or its listing runs out.
"""

from __future__ import annotations

import os
import sqlite3
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from genrekit.audio import read
from genrekit.catalog import Catalog, CatalogRow, open_catalog
from genrekit.constants import CLIP_SECONDS, SAMPLE_RATE
from genrekit.errors import (
    AudioLoadError,
    BadLinkError,
    CatalogError,
    ExpiredLinkError,
    FetchError,
    HttpStatusError,
    ParameterError,
    ServiceUnreachableError,
)
from genrekit.http import HttpClient, RateLimit, short_url
from genrekit.naming import label_folder, path_inside, safe_id, safe_part, track_file_name
from genrekit.progress import Progress, Step
from genrekit.sources import GenreQuery, Skipped, Source, api_base, check_kind
from genrekit.storage import (
    finish_temp,
    new_temp,
    refused_write,
    remove_stale_temps,
    sha256_file,
    write_refused_message,
)

SOURCES = ("deezer", "itunes", "spotify")
LISTING_BUDGET = 20
"""A query stops after this many new listed tracks per wanted track (capped, no preview)."""
MAX_ROUNDS = 5
"""Rounds of listing and downloading in one run that replace the tracks given up in the last."""


@dataclass(frozen=True)
class FetchOptions:
    per_genre: int = 100
    per_artist: int | None = 3
    workers: int = 4

    def __post_init__(self) -> None:
        if self.per_genre < 1:
            raise ParameterError(f"per_genre={self.per_genre} must be at least 1")
        if self.per_artist is not None and self.per_artist < 1:
            raise ParameterError(f"per_artist={self.per_artist} must be at least 1 (or None)")
        if self.workers < 1:
            raise ParameterError(f"workers={self.workers} must be at least 1")


@dataclass
class FetchSummary:
    added: Counter[str] = field(default_factory=Counter)  # per genre, new in the catalog
    no_preview: int = 0
    capped: int = 0
    skipped: Counter[str] = field(default_factory=Counter)  # listing items of unexpected shapes
    waited: float = 0.0  # seconds spent waiting on the services' Retry-After and quotas
    conflicts: list[str] = field(default_factory=list)
    query_errors: list[str] = field(default_factory=list)
    downloaded: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    have: dict[str, int] = field(default_factory=dict)  # per genre, done after the run
    given_up: int = 0  # tracks of these genres that failed for good, in this run or before
    interrupted: bool = False

    @property
    def ok(self) -> bool:
        return not (self.failures or self.query_errors or self.interrupted)

    @property
    def nothing_fetched(self) -> NothingFetched | None:
        """Why the data set has no track of these genres after the run; None if it has some.

        ``"no preview"``: every track found lacked a preview; ``"failed"``: downloads or queries
        failed (listed in ``failures`` and ``query_errors``); ``"given up"``: the tracks found
        failed for good in earlier runs; ``"none found"``: the queries found no track.
        """
        if any(self.have.values()):
            return None
        if self.no_preview:
            return "no preview"
        if self.failures or self.query_errors:
            return "failed"
        if self.given_up:
            return "given up"
        return "none found"


NothingFetched = Literal["no preview", "failed", "given up", "none found"]


@dataclass(frozen=True)
class Listed:
    """A ``"list"`` step's item: the genre whose listing went on (``done`` of ``total`` wanted)."""

    genre: str


@dataclass(frozen=True)
class Round:
    """A ``"download"`` step's announcement: the tracks each genre downloads in this round."""

    per_genre: dict[str, int]


@dataclass(frozen=True)
class Downloaded:
    """A ``"download"`` step's item: a track tried, and why it failed (None: downloaded)."""

    genre: str
    name: str
    error: str | None


def open_source(name: str) -> Source:
    """A source by name, with its own HTTP client limited to the service's quota.

    Base URLs come from ``GENREKIT_DEEZER_API``, ``GENREKIT_ITUNES_API``, ``GENREKIT_SPOTIFY_API``
    and ``GENREKIT_SPOTIFY_ACCOUNTS`` when set (mirrors, test servers).
    """
    from urllib.parse import urlsplit

    from genrekit.sources import deezer, itunes, spotify

    def client(base: str, quota: RateLimit, *variables: str) -> HttpClient:
        # A message about an unreachable service names the variables that moved its address.
        moved = [f"{v}={os.environ[v]}" for v in variables if os.environ.get(v)]
        note = f"the address set in {', '.join(moved)}" if moved else None
        return HttpClient(name, limits={urlsplit(base).netloc: quota}, address_note=note)

    if name == "deezer":
        base = api_base("GENREKIT_DEEZER_API", deezer.DEFAULT_API)
        return deezer.Deezer(client(base, deezer.QUOTA, "GENREKIT_DEEZER_API"), base)
    if name == "itunes":
        base = api_base("GENREKIT_ITUNES_API", itunes.DEFAULT_API)
        return itunes.ITunes(client(base, itunes.QUOTA, "GENREKIT_ITUNES_API"), base)
    if name == "spotify":
        base = api_base("GENREKIT_SPOTIFY_API", spotify.DEFAULT_API)
        variables = ("GENREKIT_SPOTIFY_API", "GENREKIT_SPOTIFY_ACCOUNTS")
        return spotify.Spotify(client(base, spotify.QUOTA, *variables), base=base)
    raise ParameterError(f"unknown source {name!r}; choose one of: {', '.join(SOURCES)}")


def fetch(
    source: Source,
    queries: Sequence[GenreQuery],
    data_dir: str | os.PathLike[str],
    options: FetchOptions | None = None,
    *,
    progress: Progress | None = None,
) -> FetchSummary:
    """List and download the previews ``queries`` find on ``source`` into ``data_dir``.

    ``progress`` gets a :class:`~genrekit.progress.Step` ``"list"`` as a genre's listing goes
    on (a :class:`Listed`), and in each round of downloads ``"download"`` steps: the
    announcement (a :class:`Round`), then one per track tried (a :class:`Downloaded`).
    """
    options = options or FetchOptions()
    if not queries:
        raise ParameterError("give at least one genre query LABEL=KIND:VALUE")
    for query in queries:
        check_kind(source, query)  # every mistake in the command line before any request
    root = Path(data_dir)
    summary = FetchSummary()
    # A service that cannot be reached raises ServiceUnreachableError out of here; a first run
    # that listed nothing leaves no empty catalog behind.
    with open_catalog(root, command="fetch") as catalog:
        remove_stale_parts(root)
        genres = list(dict.fromkeys(q.genre for q in queries))
        try:
            tried: set[int] = set()
            listed: dict[GenreQuery, Counter[str]] = {}  # what each query skipped
            for _ in range(MAX_ROUNDS):
                for query in queries:
                    # A later round lists the same items again: count them once.
                    notes = _list(source, query, catalog, options, summary, progress)
                    listed[query] = listed.get(query, Counter()) | notes
                summary.skipped = sum(listed.values(), Counter())
                summary.capped = summary.skipped.pop(_CAPPED, 0)
                summary.no_preview = summary.skipped.pop(_NO_PREVIEW, 0)
                # Each round downloads what it has not tried: new candidates replace the tracks
                # given up; a failure that may pass is retried by the next run.
                rows = [r for r in catalog.to_download(source.name, genres) if r.id not in tried]
                if not rows:
                    break
                tried.update(r.id for r in rows)
                _download_all(source, catalog, rows, options, summary, progress)
                if all(catalog.selected(g) >= options.per_genre for g in genres):
                    break
        except KeyboardInterrupt:
            summary.interrupted = True
        except sqlite3.Error as exc:  # e.g. "database or disk is full"
            raise CatalogError(f"{catalog.path}: cannot update the catalog ({exc})") from exc
        finally:
            summary.waited = source.http.waited
            done = Counter(r.genre for r in catalog.rows(status="done") if r.source == source.name)
            summary.have = {genre: done[genre] for genre in genres}
            summary.given_up = sum(
                1
                for r in catalog.rows(status="failed")
                if r.source == source.name and r.genre in genres
            )
    return summary


_CAPPED = "\0capped"  # keys of _list's counts besides the reasons of skipped items
_NO_PREVIEW = "\0no preview"


def _list(
    source: Source,
    query: GenreQuery,
    catalog: Catalog,
    options: FetchOptions,
    summary: FetchSummary,
    progress: Progress | None,
) -> Counter[str]:
    """Add ``query``'s tracks to the catalog until its genre is full; count what was left out."""
    notes: Counter[str] = Counter()
    selected = catalog.selected(query.genre)
    if progress:
        progress(Step("list", selected, options.per_genre, Listed(query.genre)))
    if selected >= options.per_genre:
        return notes
    budget = LISTING_BUDGET * (options.per_genre - selected)
    seen = 0  # new to the catalog: a later round pages past the known tracks to new ones
    # Every item read counts here, known ones too: a service that lists the same tracks again
    # and again (or pages without end) is read no further than a listing could need.
    known = sum(n for genre, _, _, n in catalog.counts() if genre == query.genre)
    read_at_most = budget + known
    read = 0
    try:
        for track in source.tracks(query):
            read += 1
            if read > read_at_most:
                summary.query_errors.append(
                    f"{query.genre}={query.found_by}: listing stopped after {read_at_most} items "
                    "(the service kept listing tracks already seen)"
                )
                return notes
            if isinstance(track, Skipped):
                notes[track.reason] += 1
                seen += 1
            elif not track.preview_url and source.name == "spotify":
                seen += 1
                notes[_NO_PREVIEW] += 1  # the Nov 2024 change; Deezer resolves links later
            else:
                result = catalog.add(
                    track, query.genre, query.found_by, per_artist=options.per_artist
                )
                seen += result != "known"
                if result == "added":
                    summary.added[query.genre] += 1
                    selected += 1
                    if progress:
                        progress(Step("list", selected, options.per_genre, Listed(query.genre)))
                elif result == "capped":
                    notes[_CAPPED] += 1
                elif result == "conflict":
                    line = (
                        f"{track.artist} - {track.title} ({track.source}-{track.source_id}) "
                        f"also found as {query.genre!r} by {query.found_by}"
                    )
                    if line not in summary.conflicts:
                        summary.conflicts.append(line)
            if selected >= options.per_genre or seen >= budget:
                return notes
    except ServiceUnreachableError:
        raise  # no other query or download could do better
    except FetchError as exc:
        error = f"{query.genre}={query.found_by}: {exc}"
        if error not in summary.query_errors:
            summary.query_errors.append(error)
    return notes


def _download_all(
    source: Source,
    catalog: Catalog,
    rows: list[CatalogRow],
    options: FetchOptions,
    summary: FetchSummary,
    progress: Progress | None,
) -> None:
    if progress:
        progress(Step("download", 0, len(rows), Round(dict(Counter(row.genre for row in rows)))))
    pool = ThreadPoolExecutor(max_workers=options.workers)
    try:
        futures = {pool.submit(download_one, source, catalog, row): row for row in rows}
        for tried, future in enumerate(as_completed(futures), start=1):
            row, error = futures[future], future.result()
            name = f"{row.artist} - {row.title}"
            if error is None:
                summary.downloaded[row.genre] += 1
            else:
                summary.failures.append(
                    f"{row.genre}/{name} ({row.source}-{row.source_id}): {error}"
                )
            if progress:
                progress(Step("download", tried, len(rows), Downloaded(row.genre, name, error)))
    finally:
        # On Ctrl-C, queued downloads are dropped and running ones finish: nothing half-written.
        pool.shutdown(wait=True, cancel_futures=True)


def download_one(source: Source, catalog: Catalog, row: CatalogRow) -> str | None:
    """Download, check and file one track; return None on success or the reason it failed.

    Any failure of this one track is recorded on its row; only what no other track could do
    better (the service unreachable, a full or read-only disk) ends the run.
    """
    tmp: Path | None = None
    folder = catalog.data_dir
    try:
        name = track_file_name(
            row.artist, row.title, row.source, row.source_id, source.preview_suffix
        )
        label = label_folder(row.genre)
        rel = f"{label}/{name}"
        try:
            target = path_inside(catalog.data_dir, label, name)
        except ParameterError as exc:  # a link planted in the folder: the folder's fault
            raise CatalogError(str(exc)) from None
        folder = target.parent
        if target.is_file() and _decodes(target) is None:  # renamed before a crash, not marked
            catalog.mark_done(row.id, rel, sha256_file(target))
            return None
        target.parent.mkdir(parents=True, exist_ok=True)
        stem = f"{safe_part(row.source)}-{safe_id(row.source_id)}"
        tmp = new_temp(target.parent, stem, source.preview_suffix)
        url = source.preview_url(row.track())
        if url is None:
            return _fail(catalog, row, "the service has no preview for this track", final=True)
        try:
            size = source.http.download(url, tmp)
        except ExpiredLinkError:
            url = source.preview_url(row.track(), refresh=True)
            if url is None:
                return _fail(catalog, row, "preview withdrawn after its link expired", final=True)
            size = source.http.download(url, tmp)
        if size == 0:
            return _fail(catalog, row, f"empty preview (0 bytes) at {short_url(url)}", final=True)
        problem = _decodes(tmp)
        if problem is not None:
            problem = problem.replace(str(tmp), short_url(url))
            return _fail(catalog, row, problem, final=not problem.startswith("truncated"))
        sha = sha256_file(tmp)
        finish_temp(tmp, target)
        catalog.mark_done(row.id, rel, sha)
        return None
    except ServiceUnreachableError:
        raise  # not this track's fault: it keeps its attempts
    except HttpStatusError as exc:
        return _fail(catalog, row, str(exc), final=exc.status in (404, 410))
    except BadLinkError as exc:
        return _fail(catalog, row, str(exc), final=True)
    except FetchError as exc:
        return _fail(catalog, row, str(exc), final=False)
    except OSError as exc:
        if refused_write(exc):  # the folder's fault, not the track's: it keeps its attempts
            raise CatalogError(write_refused_message(folder, exc)) from exc
        return _fail(catalog, row, f"cannot write the preview ({exc})", final=False)
    except (CatalogError, sqlite3.Error):
        raise  # the catalog itself failed: the run stops with one line
    except Exception as exc:  # a bug or an odd item must not end the run nor poison the next
        return _fail(catalog, row, f"unexpected error ({type(exc).__name__}: {exc})", final=False)
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)


def _decodes(path: Path) -> str | None:
    """None if ``path`` holds a whole, decodable clip; else what is wrong with it."""
    try:
        audio = read(path, sr=SAMPLE_RATE, duration=CLIP_SECONDS)
    except AudioLoadError as exc:
        return f"not usable audio: {exc}"
    if audio.damage:
        return f"truncated or damaged preview: {audio.damage}"
    return None


def _fail(catalog: Catalog, row: CatalogRow, reason: str, *, final: bool) -> str:
    catalog.mark_failed(row.id, reason, final=final)
    return reason


def remove_stale_parts(root: Path) -> int:
    """Delete the temporary files killed runs left in the data set ``root`` (downloads, and
    ``import --copy``'s copies, in its genre folders); files of a live process, and anything
    behind a symbolic link, are kept. Return how many were removed."""
    return remove_stale_temps(root, depth=1)
