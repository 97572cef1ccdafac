"""``genrekit import``: audio you already have into a data set's catalog.

A folder tree ``<genre>/<track files>`` (the seed's and GTZAN's layout) or the Free Music
Archive's ``fma_metadata/tracks.csv`` with its audio folder. Files stay where they are (the
catalog records their absolute paths) unless ``copy=True``, which copies them into
``DATA_DIR/<genre>/``. Files are identified by content, so importing twice adds nothing.
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import sqlite3
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from genrekit.audio import undecodable
from genrekit.catalog import open_catalog
from genrekit.constants import AUDIO_EXTENSIONS
from genrekit.errors import CatalogError
from genrekit.naming import (
    MAX_NAME_BYTES,
    NOT_UTF8,
    is_utf8,
    label_folder,
    normalize_label,
    path_inside,
    safe_name,
    shown,
)
from genrekit.storage import (
    atomic_path,
    refused_write,
    remove_stale_temps,
    sha256_file,
    write_refused_message,
)
from genrekit.tracks import TrackInfo


@dataclass
class ImportSummary:
    added: Counter[str] = field(default_factory=Counter)
    known: int = 0
    conflicts: list[str] = field(default_factory=list)
    missing: int = 0  # rows of a metadata file whose audio is not there
    bad_rows: list[str] = field(default_factory=list)  # damaged rows of a metadata file, skipped
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.failures or self.bad_rows)

    @property
    def nothing_imported(self) -> bool:
        """Files failed and none was imported or already in the catalog."""
        return bool(self.failures) and not (self.added or self.known)


@dataclass(frozen=True)
class LocalTrack:
    path: Path
    genre: str
    info: TrackInfo | None = None  # metadata, when a metadata file gives it


def import_tracks(
    tracks: Iterable[LocalTrack],
    data_dir: str | os.PathLike[str],
    *,
    source: str,
    found_by: str,
    copy: bool = False,
) -> ImportSummary:
    """Add ``tracks`` to the catalog of ``data_dir`` as downloaded (``done``).

    A file that does not decode (a short read) is not added: it is listed in
    ``summary.failures`` with the reason, so a rerun tries it again. With ``copy`` the file goes
    to ``<label folder>/<name>`` (names from :mod:`genrekit.naming`); a different file already
    there under that name keeps it, and this one gets its content hash in its name.
    """
    summary = ImportSummary()
    with open_catalog(data_dir, command="import") as catalog:
        remove_stale_temps(catalog.data_dir, depth=1)  # copies a killed import left behind
        for local in tracks:
            if not is_utf8(local.path):  # the catalog could not store its path
                summary.failures.append(f"{shown(local.path)}: {NOT_UTF8}")
                continue
            problem = undecodable(local.path)
            if problem is not None:
                summary.failures.append(f"{local.path}: {problem}")
                continue
            try:
                sha = sha256_file(local.path)
            except OSError as exc:
                summary.failures.append(f"{local.path}: cannot read ({exc.strerror or exc})")
                continue
            info = local.info or TrackInfo(
                source=source, source_id=sha[:16], title=local.path.stem, artist=""
            )
            genre = normalize_label(local.genre)
            if not genre:
                summary.failures.append(f"{local.path}: no genre label")
                continue
            path = str(local.path.resolve())
            made: Path | None = None
            if copy:
                try:
                    path, made = _copy_into(catalog.data_dir, local.path, genre, sha)
                except OSError as exc:  # not the disk's fault (that raised): this file's
                    summary.failures.append(f"{local.path}: cannot copy ({exc.strerror or exc})")
                    continue
            try:
                result = catalog.add(info, genre, found_by, status="done", path=path, sha256=sha)
            except sqlite3.Error as exc:  # e.g. "database or disk is full": the run stops
                if made is not None:
                    made.unlink(missing_ok=True)  # no copy the catalog does not list
                raise CatalogError(f"{catalog.path}: cannot update the catalog ({exc})") from exc
            if made is not None and result != "added":
                made.unlink(missing_ok=True)  # the catalog keeps its own copy; no orphan file
            if result == "added":
                summary.added[genre] += 1
            elif result == "conflict":
                summary.conflicts.append(f"{local.path} is already labelled otherwise")
            else:
                summary.known += 1
    return summary


def _copy_into(data_dir: Path, src: Path, genre: str, sha: str) -> tuple[str, Path | None]:
    """Copy ``src`` into ``data_dir/<label folder>/``; return its catalog path and the file made
    (None when the same content was already there)."""
    folder = label_folder(genre)
    suffix = src.suffix.lower() if src.suffix.lower() in AUDIO_EXTENSIONS else ""
    room = MAX_NAME_BYTES - len(suffix)
    for stem in (src.stem, f"{src.stem} ({sha[:12]})"):
        name = safe_name(stem, max_bytes=room) + suffix
        target = path_inside(data_dir, folder, name)
        if not target.exists():
            try:
                with atomic_path(target) as tmp:
                    shutil.copyfile(src, tmp)
            except OSError as exc:
                if refused_write(exc):  # a full disk, a read-only folder: the run stops
                    raise CatalogError(write_refused_message(target.parent, exc)) from exc
                raise
            return f"{folder}/{name}", target
        if target.is_file() and sha256_file(target) == sha:
            return f"{folder}/{name}", None
    raise CatalogError(
        f"{target}: already exists and is not a copy of {src}; move it away and import again"
    )


def folder_tracks(folder: Path) -> list[LocalTrack]:
    """Audio files of a ``<genre>/<files>`` tree, each labelled by its top folder.

    A folder without any (a missing folder, audio not sorted into genre folders) is an error
    that says what it holds and what layout is expected.
    """
    from genrekit.inputs import scan_dataset

    files, _ = scan_dataset(folder)
    return [LocalTrack(src.path, src.genre) for src in files]


def fma_tracks(tracks_csv: Path, audio_dir: Path, summary: ImportSummary) -> list[LocalTrack]:
    """Tracks of FMA's ``tracks.csv`` that have a top-level genre and audio in ``audio_dir``.

    FMA stores track 2 as ``000/000002.mp3``; ``tracks.csv`` has two header rows
    (``track,genre_top`` ...) and a third naming the index column ``track_id``. Rows without
    audio are counted in ``summary.missing``; a damaged row (an id that is not a number, text
    that is not UTF-8, a field too large for a CSV reader) is skipped and listed in
    ``summary.bad_rows`` with its line. None with audio at all is a :class:`CatalogError`.
    """
    if not audio_dir.is_dir():
        raise CatalogError(
            f"{audio_dir}: {'is not a folder' if audio_dir.exists() else 'does not exist'}; "
            "give FMA's audio folder (with 000/000002.mp3 ...)"
        )
    found = list(_fma_rows(tracks_csv, audio_dir, summary))
    if found:
        return found
    if summary.missing:
        raise CatalogError(
            f"{audio_dir}: none of the {summary.missing} tracks with a genre in {tracks_csv} "
            f"has its audio here (expected e.g. {audio_dir / '000' / '000002.mp3'}); give the "
            "audio folder that goes with this tracks.csv"
        )
    if summary.bad_rows:
        raise CatalogError(
            f"{summary.bad_rows[0]}; no track of the file could be read "
            f"({len(summary.bad_rows)} damaged rows); give FMA's fma_metadata/tracks.csv"
        )
    raise CatalogError(f"{tracks_csv}: no track has a top-level genre (track/genre_top)")


_TRACK_ID = re.compile(r"[0-9]{1,12}")
_SECONDS = re.compile(r"[0-9]{1,12}(\.[0-9]*)?")


def _fma_rows(tracks_csv: Path, audio_dir: Path, summary: ImportSummary) -> Iterator[LocalTrack]:
    try:
        # surrogateescape: a byte that is not UTF-8 spoils its row only, not the file.
        handle = tracks_csv.open(newline="", encoding="utf-8-sig", errors="surrogateescape")
    except OSError as exc:
        raise CatalogError(
            f"{tracks_csv}: cannot read ({exc.strerror or exc}); give FMA's fma_metadata/tracks.csv"
        ) from exc
    with handle:
        reader = csv.reader(handle)
        try:
            groups, names = next(reader), next(reader)
            next(reader)
        except StopIteration:
            raise CatalogError(f"{tracks_csv}: too short to be FMA's tracks.csv") from None
        except csv.Error as exc:
            raise CatalogError(
                f"{shown(tracks_csv)} line {reader.line_num}: {exc}; not FMA's tracks.csv"
            ) from None
        columns = {(g, n): i for i, (g, n) in enumerate(zip(groups, names, strict=False))}
        needed = [("track", "genre_top"), ("track", "title"), ("artist", "name")]
        if any(key not in columns for key in needed):
            raise CatalogError(
                f"{tracks_csv}: not FMA's tracks.csv (no track/genre_top, track/title or "
                "artist/name columns)"
            )

        def cell(row: list[str], group: str, name: str) -> str:
            i = columns.get((group, name))
            return row[i] if i is not None and i < len(row) else ""

        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:  # e.g. a field over the reader's limit (128 KiB)
                summary.bad_rows.append(f"{shown(tracks_csv)} line {reader.line_num}: {exc}")
                continue
            if not row or not row[0] or not cell(row, "track", "genre_top"):
                continue  # a blank line; a track without a top-level genre
            fields = [row[0], *(cell(row, *key) for key in _FMA_TEXT)]
            problem = None
            if not all(map(is_utf8, fields)):
                problem = "not valid UTF-8; save the file as UTF-8"
            elif not _TRACK_ID.fullmatch(row[0]):
                problem = f"the track id {row[0][:20]!r} is not a number of 1 to 12 digits"
            if problem is not None:
                summary.bad_rows.append(f"{shown(tracks_csv)} line {reader.line_num}: {problem}")
                continue
            tid = f"{int(row[0]):06d}"
            path = audio_dir / tid[:3] / f"{tid}.mp3"
            if not path.is_file():
                summary.missing += 1
                continue
            duration = cell(row, "track", "duration")
            info = TrackInfo(
                source="fma",
                source_id=str(int(row[0])),
                title=cell(row, "track", "title") or tid,
                artist=cell(row, "artist", "name"),
                artist_id=cell(row, "artist", "id") or None,
                album=cell(row, "album", "title") or None,
                duration=float(duration) if _SECONDS.fullmatch(duration) else None,
            )
            yield LocalTrack(path, cell(row, "track", "genre_top"), info)


_FMA_TEXT = [
    ("track", "genre_top"),
    ("track", "title"),
    ("track", "duration"),
    ("artist", "name"),
    ("artist", "id"),
    ("album", "title"),
]
"""The columns read from each row of FMA's tracks.csv, besides the id."""


def import_folder(
    folder: str | os.PathLike[str],
    data_dir: str | os.PathLike[str],
    *,
    copy: bool = False,
    fma_metadata: str | os.PathLike[str] | None = None,
) -> ImportSummary:
    """Import a ``<genre>/<files>`` tree, or with ``fma_metadata`` (FMA's ``tracks.csv``) FMA's
    audio folder labelled by each track's top-level genre, into the data set ``data_dir``."""
    folder = Path(folder)
    if fma_metadata is None:
        tracks = folder_tracks(folder)
        return import_tracks(tracks, data_dir, source="local", found_by="folder", copy=copy)
    scan = ImportSummary()
    tracks = fma_tracks(Path(fma_metadata), folder, scan)
    summary = import_tracks(tracks, data_dir, source="fma", found_by="fma:genre_top", copy=copy)
    summary.missing, summary.bad_rows = scan.missing, scan.bad_rows
    return summary
