"""``genrekit import``: audio you already have into a data set's catalog.

A folder tree ``<genre>/<track files>`` (the seed's and GTZAN's layout) or the Free Music
Archive's ``fma_metadata/tracks.csv`` with its audio folder. Files stay where they are (the
catalog records their absolute paths) unless ``copy=True``, which copies them into
``DATA_DIR/<genre>/``. Files are identified by content, so importing twice adds nothing.
"""

from __future__ import annotations

import csv
import os
import shutil
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from genrekit.catalog import open_catalog
from genrekit.errors import CatalogError
from genrekit.naming import safe_part
from genrekit.sources import TrackInfo
from genrekit.storage import atomic_path, sha256_file


@dataclass
class ImportSummary:
    added: Counter[str] = field(default_factory=Counter)
    known: int = 0
    conflicts: list[str] = field(default_factory=list)
    missing: int = 0  # rows of a metadata file whose audio is not there
    failures: list[str] = field(default_factory=list)


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
    summary = ImportSummary()
    with open_catalog(data_dir) as catalog:
        for local in tracks:
            try:
                sha = sha256_file(local.path)
            except OSError as exc:
                summary.failures.append(f"{local.path}: cannot read ({exc.strerror or exc})")
                continue
            info = local.info or TrackInfo(
                source=source, source_id=sha[:16], title=local.path.stem, artist=""
            )
            genre = local.genre
            path = str(local.path.resolve())
            if copy:
                rel = f"{safe_part(genre)}/{local.path.name}"
                target = catalog.data_dir / rel
                if not target.exists():
                    with atomic_path(target) as tmp:
                        shutil.copyfile(local.path, tmp)
                path = rel
            result = catalog.add(info, genre, found_by, status="done", path=path, sha256=sha)
            if result == "added":
                summary.added[genre] += 1
            elif result == "conflict":
                summary.conflicts.append(f"{local.path} is already labelled otherwise")
            else:
                summary.known += 1
    return summary


def folder_tracks(folder: Path) -> list[LocalTrack]:
    """Audio files of a ``<genre>/<files>`` tree, each labelled by its top folder.

    A folder without any (a missing folder, audio not sorted into genre folders) is an error
    that says what it holds and what layout is expected.
    """
    from genrekit.extract import scan_dataset

    files, _ = scan_dataset(folder)
    return [LocalTrack(src.path, src.genre) for src in files]


def fma_tracks(tracks_csv: Path, audio_dir: Path, summary: ImportSummary) -> list[LocalTrack]:
    """Tracks of FMA's ``tracks.csv`` that have a top-level genre and audio in ``audio_dir``.

    FMA stores track 2 as ``000/000002.mp3``; ``tracks.csv`` has two header rows
    (``track,genre_top`` ...) and a third naming the index column ``track_id``. Rows without
    audio are counted in ``summary.missing``; none with audio at all is a :class:`CatalogError`.
    """
    if not audio_dir.is_dir():
        raise CatalogError(
            f"{audio_dir}: {'is not a folder' if audio_dir.exists() else 'does not exist'}; "
            "give FMA's audio folder (with 000/000002.mp3 ...)"
        )
    found = list(_fma_rows(tracks_csv, audio_dir, summary))
    if not found:
        raise CatalogError(
            f"{audio_dir}: none of the {summary.missing} tracks with a genre in {tracks_csv} has "
            f"its audio here (expected e.g. {audio_dir / '000' / '000002.mp3'}); give the audio "
            "folder that goes with this tracks.csv"
        )
    return found


def _fma_rows(tracks_csv: Path, audio_dir: Path, summary: ImportSummary) -> Iterator[LocalTrack]:
    try:
        handle = tracks_csv.open(newline="", encoding="utf-8")
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

        for row in reader:
            if not row or not row[0].isdigit() or not cell(row, "track", "genre_top"):
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
                duration=float(duration) if duration.replace(".", "", 1).isdigit() else None,
            )
            yield LocalTrack(path, cell(row, "track", "genre_top"), info)
