"""The catalog of a data set: where every clip came from, in one SQLite file.

``DATA_DIR/catalog.sqlite`` holds one row per track: source and source id, genre label, how it
was found, artist, title, album, ISRC, duration, file path, sha256 and download status. A track
is known once per ``(source, source_id)`` and, across sources, once per ISRC; finding it again
under another genre label is recorded in ``conflicts`` rather than kept twice. Every change is
one transaction, so a killed process leaves the catalog as it was before or after a track.
Writers (``fetch``, ``import``) hold the folder's lock (:mod:`genrekit.lock`) while the catalog is
open; readers take none and open it read-only, so a read-only data set can still be read.
"""

from __future__ import annotations

import contextlib
import csv
import os
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal

from genrekit.errors import CatalogError, ParameterError
from genrekit.lock import FolderLock
from genrekit.naming import normalize_label
from genrekit.storage import check_sqlite_files, connect_read_only
from genrekit.tracks import TrackInfo

CATALOG_NAME = "catalog.sqlite"
MAX_ATTEMPTS = 3
"""Downloads of a track tried across runs before it is given up; content errors count as all."""

Status = Literal["pending", "done", "failed"]
AddResult = Literal["added", "known", "conflict", "capped"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tracks (
    id          INTEGER PRIMARY KEY,
    source      TEXT NOT NULL,      -- deezer | itunes | spotify | local | fma
    source_id   TEXT NOT NULL,
    genre       TEXT NOT NULL,      -- the label this data set gives the track
    found_by    TEXT,               -- playlist:ID, search:QUERY, chart:ID, folder, ...
    artist_id   TEXT,
    artist      TEXT NOT NULL,
    title       TEXT NOT NULL,
    album       TEXT,
    isrc        TEXT,
    duration    REAL,               -- of the full track, seconds, as the source says
    preview_url TEXT,               -- as listed; may expire (Deezer)
    path        TEXT,               -- relative to the data set folder, or absolute
    sha256      TEXT,
    status      TEXT NOT NULL DEFAULT 'pending',  -- pending | done | failed
    error       TEXT,
    attempts    INTEGER NOT NULL DEFAULT 0,
    added       TEXT NOT NULL DEFAULT (datetime('now')),
    updated     TEXT NOT NULL DEFAULT (datetime('now')),
    UNIQUE (source, source_id)
);
CREATE INDEX IF NOT EXISTS tracks_isrc ON tracks (isrc);
CREATE INDEX IF NOT EXISTS tracks_genre ON tracks (genre, status);
CREATE TABLE IF NOT EXISTS conflicts (
    source      TEXT NOT NULL,
    source_id   TEXT NOT NULL,
    kept_genre  TEXT NOT NULL,      -- the label the track has in the data set
    other_genre TEXT NOT NULL,      -- the label it was also found under
    found_by    TEXT,
    noted       TEXT NOT NULL DEFAULT (datetime('now')),
    UNIQUE (source, source_id, other_genre)
);
"""

# What a genrekit catalog holds: a SQLite file made elsewhere (or damaged) is refused with the
# first thing that does not fit, never read into a traceback or written into.
_TEXT, _OPTIONAL = ("text",), ("text", "null")
_TRACK_TYPES = {
    "source": _TEXT,
    "source_id": _TEXT,
    "genre": _TEXT,
    "found_by": _OPTIONAL,
    "artist_id": _OPTIONAL,
    "artist": _TEXT,
    "title": _TEXT,
    "album": _OPTIONAL,
    "isrc": _OPTIONAL,
    "duration": ("real", "integer", "null"),
    "preview_url": _OPTIONAL,
    "path": _OPTIONAL,
    "sha256": _OPTIONAL,
    "status": _TEXT,
    "error": _OPTIONAL,
    "attempts": ("integer",),
}
_TABLES = {
    "tracks": {"id", "added", "updated", *_TRACK_TYPES},
    "conflicts": {"source", "source_id", "kept_genre", "other_genre", "found_by", "noted"},
}

# A track counts towards its genre's target while it is pending, done or may still be retried.
_COUNTS = f"(status IN ('pending', 'done') OR (status = 'failed' AND attempts < {MAX_ATTEMPTS}))"


@dataclass(frozen=True)
class CatalogRow:
    id: int
    source: str
    source_id: str
    genre: str
    artist: str
    title: str
    album: str | None
    isrc: str | None
    duration: float | None
    preview_url: str | None
    path: str | None
    sha256: str | None
    status: Status
    error: str | None
    attempts: int

    def track(self) -> TrackInfo:
        return TrackInfo(
            source=self.source,
            source_id=self.source_id,
            title=self.title,
            artist=self.artist,
            album=self.album,
            isrc=self.isrc,
            duration=self.duration,
            preview_url=self.preview_url,
        )


_ROW_COLUMNS = (
    "id, source, source_id, genre, artist, title, album, isrc, duration, preview_url, path, "
    "sha256, status, error, attempts"
)


class Catalog:
    """A data set's catalog; safe to share between threads (one connection, one lock)."""

    def __init__(self, data_dir: str | os.PathLike[str], *, read_only: bool = False):
        self.data_dir = Path(data_dir)
        self.path = self.data_dir / CATALOG_NAME
        self._lock = threading.Lock()
        if self.data_dir.exists() and not self.data_dir.is_dir():
            raise CatalogError(f"{self.data_dir}: is a file; give the data set a folder")
        if read_only:
            self._db = _connect_read_only(self.path)
            self._check(new=False)
            return
        check_sqlite_files(self.path, CatalogError)  # a planted link must not lead writes out
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise CatalogError(f"{self.path}: cannot open the catalog ({exc})") from exc
        self._check(new=True)  # before anything is written into a database of someone else's
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            # One transaction: a run killed while making the catalog leaves all of it or none.
            self._db.executescript(f"BEGIN;\n{_SCHEMA}COMMIT;\n")
        except sqlite3.Error as exc:
            self._db.close()
            raise CatalogError(f"{self.path}: cannot open the catalog ({exc})") from exc

    def _check(self, *, new: bool) -> None:
        """Refuse a SQLite file that is not a genrekit catalog: its tables, their columns and
        the type of every value (one scan; a BLOB genre would fail far from here). ``new``
        accepts a database without any table, which the schema then fills."""
        try:
            problem = _schema_problem(self._db, new=new)
        except sqlite3.Error as exc:
            problem = str(exc)
        if problem is not None:
            self._db.close()
            raise CatalogError(
                f"{self.path}: not a genrekit catalog ({problem}); give a data set folder made "
                "by genrekit fetch or import, or move the file away"
            )

    @classmethod
    def open_existing(cls, data_dir: str | os.PathLike[str]) -> Catalog:
        """Open an existing catalog to read it (no lock, nothing written: works read-only)."""
        root = Path(data_dir)
        make = "make a data set with 'genrekit fetch' or 'genrekit import'"
        if not root.exists():
            raise CatalogError(f"{root}: does not exist; give a data set folder, or {make}")
        if not root.is_dir():
            raise CatalogError(f"{root}: is a file; give a data set folder, or {make}")
        if not (root / CATALOG_NAME).is_file():
            raise CatalogError(f"{root}: not a data set (no {CATALOG_NAME}); {make}")
        return cls(root, read_only=True)

    def is_empty(self) -> bool:
        return self._count("SELECT count(*) FROM tracks") == 0

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _count(self, sql: str, args: tuple[object, ...] = ()) -> int:
        with self._lock:
            (n,) = self._db.execute(sql, args).fetchone()
        return int(n)

    def add(
        self,
        track: TrackInfo,
        genre: str,
        found_by: str,
        *,
        per_artist: int | None = None,
        status: Status = "pending",
        path: str | None = None,
        sha256: str | None = None,
    ) -> AddResult:
        """Add a track under ``genre`` unless it is known (by id, then ISRC) or its artist is full.

        A known track found under another genre is recorded as a conflict and keeps its label.
        The label is stored normalized (:func:`~genrekit.naming.normalize_label`).
        """
        genre = normalize_label(genre)
        if not genre:
            raise ParameterError(f"{track.source}-{track.source_id}: an empty genre label")
        with self._lock:
            db = self._db
            known = db.execute(
                "SELECT source, source_id, genre FROM tracks WHERE source = ? AND source_id = ?",
                (track.source, track.source_id),
            ).fetchone()
            if known is None and track.isrc:
                known = db.execute(
                    "SELECT source, source_id, genre FROM tracks WHERE isrc = ? LIMIT 1",
                    (track.isrc,),
                ).fetchone()
            if known is not None:
                if known[2] == genre:
                    return "known"
                db.execute(
                    "INSERT OR IGNORE INTO conflicts (source, source_id, kept_genre, other_genre, "
                    "found_by) VALUES (?, ?, ?, ?, ?)",
                    (known[0], known[1], known[2], genre, found_by),
                )
                return "conflict"
            if per_artist is not None:
                (n,) = db.execute(
                    f"SELECT count(*) FROM tracks WHERE genre = ? AND lower(artist) = lower(?) "
                    f"AND {_COUNTS}",
                    (genre, track.artist),
                ).fetchone()
                if n >= per_artist:
                    return "capped"
            db.execute(
                "INSERT INTO tracks (source, source_id, genre, found_by, artist_id, artist, title, "
                "album, isrc, duration, preview_url, status, path, sha256) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    track.source,
                    track.source_id,
                    genre,
                    found_by,
                    track.artist_id,
                    track.artist,
                    track.title,
                    track.album,
                    track.isrc,
                    track.duration,
                    track.preview_url,
                    status,
                    path,
                    sha256,
                ),
            )
            return "added"

    def selected(self, genre: str) -> int:
        """Tracks of ``genre`` that are downloaded or still to be downloaded."""
        return self._count(
            f"SELECT count(*) FROM tracks WHERE genre = ? AND {_COUNTS}", (normalize_label(genre),)
        )

    def to_download(self, source: str, genres: list[str]) -> list[CatalogRow]:
        """Pending tracks of ``source`` in ``genres``, and failed ones worth another try."""
        marks = ", ".join("?" * len(genres))
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_ROW_COLUMNS} FROM tracks WHERE source = ? AND genre IN ({marks}) "
                f"AND status != 'done' AND {_COUNTS} ORDER BY genre, id",
                (source, *map(normalize_label, genres)),
            ).fetchall()
        return [CatalogRow(*row) for row in rows]

    def mark_done(self, row_id: int, path: str, sha256: str) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE tracks SET status = 'done', path = ?, sha256 = ?, error = NULL, "
                "attempts = attempts + 1, updated = datetime('now') WHERE id = ?",
                (path, sha256, row_id),
            )

    def mark_failed(self, row_id: int, error: str, *, final: bool = False) -> None:
        """Record a failed download; ``final`` (not audio, no preview) stops further attempts."""
        with self._lock:
            self._db.execute(
                "UPDATE tracks SET status = 'failed', error = ?, updated = datetime('now'), "
                "attempts = CASE WHEN ? THEN ? ELSE attempts + 1 END WHERE id = ?",
                (error, final, MAX_ATTEMPTS, row_id),
            )

    def rows(self, *, status: Status | None = None) -> list[CatalogRow]:
        where = "WHERE status = ?" if status else ""
        with self._lock:
            found = self._db.execute(
                f"SELECT {_ROW_COLUMNS} FROM tracks {where} ORDER BY genre, id",
                (status,) if status else (),
            ).fetchall()
        return [CatalogRow(*row) for row in found]

    def counts(self) -> list[tuple[str, str, str, int]]:
        """``(genre, source, status, n)`` for every combination present."""
        with self._lock:
            found = self._db.execute(
                "SELECT genre, source, status, count(*) FROM tracks "
                "GROUP BY genre, source, status ORDER BY genre, source, status"
            ).fetchall()
        return [(str(g), str(s), str(st), int(n)) for g, s, st, n in found]

    def conflicts(self) -> list[tuple[str, str, str, str]]:
        """``(source, source_id, kept_genre, other_genre)`` of tracks found under two labels."""
        with self._lock:
            found = self._db.execute(
                "SELECT source, source_id, kept_genre, other_genre FROM conflicts ORDER BY noted"
            ).fetchall()
        return [(str(a), str(b), str(c), str(d)) for a, b, c, d in found]

    def write_csv(self, out: IO[str]) -> int:
        """Write every track as CSV (header first); return the number of rows."""
        with self._lock:
            cursor = self._db.execute("SELECT * FROM tracks ORDER BY genre, id")
            header = [column[0] for column in cursor.description]
            rows = cursor.fetchall()
        writer = csv.writer(out)
        writer.writerow(header)
        writer.writerows(rows)
        return len(rows)

    def resolve(self, row: CatalogRow) -> Path | None:
        """The file of a row: relative paths are inside the data set folder."""
        if row.path is None:
            return None
        path = Path(row.path)
        return path if path.is_absolute() else self.data_dir / path


def iter_done(data_dir: Path) -> Iterator[tuple[CatalogRow, Path]]:
    """Downloaded or imported tracks of a data set and their files, for ``genrekit extract``."""
    with Catalog.open_existing(data_dir) as catalog:
        for row in catalog.rows(status="done"):
            path = catalog.resolve(row)
            if path is not None:
                yield row, path


def _schema_problem(db: sqlite3.Connection, *, new: bool) -> str | None:
    """What makes ``db`` not a genrekit catalog, or None."""
    tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if new and not tables:
        return None
    # Some of genrekit's tables and nothing else: a catalog whose making was cut short (before
    # it was made in one transaction); the schema completes it.
    partial = new and tables < set(_TABLES)
    for table, columns in _TABLES.items():
        if table not in tables:
            if partial:
                continue
            return f"no table {table}"
        have = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
        if columns - have:
            return f"table {table} has no column {sorted(columns - have)[0]}"
    wrong = " OR ".join(
        f"typeof({name}) NOT IN ({', '.join(repr(t) for t in kinds)})"
        for name, kinds in _TRACK_TYPES.items()
    )
    names = list(_TRACK_TYPES)
    found = db.execute(
        f"SELECT id, {', '.join(f'typeof({n})' for n in names)}, status FROM tracks "
        f"WHERE {wrong} OR status NOT IN ('pending', 'done', 'failed') LIMIT 1"
    ).fetchone()
    if found is None:
        return None
    row_id, *kinds, status = found
    for name, kind in zip(names, kinds, strict=True):
        if kind not in _TRACK_TYPES[name]:
            return f"track {row_id}: {name} is {kind}, not {' or '.join(_TRACK_TYPES[name])}"
    return f"track {row_id}: status {status!r} is not pending, done or failed"


def _connect_read_only(path: Path) -> sqlite3.Connection:
    try:
        return connect_read_only(path, "SELECT count(*) FROM sqlite_master")
    except sqlite3.Error as exc:
        raise CatalogError(f"{path}: cannot read the catalog ({exc})") from exc


@contextlib.contextmanager
def open_catalog(
    data_dir: str | os.PathLike[str], *, command: str = "genrekit"
) -> Iterator[Catalog]:
    """Lock a data set folder and open its catalog, creating it if needed; close and unlock
    after the block.

    A second writer gets a :class:`~genrekit.errors.FolderLockedError` naming the holder. A
    catalog this call created is removed again (with the folder, if that was created too) when
    it is still empty at the end, error or not: a run that could not list anything leaves nothing
    behind that looks like a data set.
    """
    root = Path(data_dir)
    if root.exists() and not root.is_dir():
        raise CatalogError(f"{root}: is a file; give the data set a folder")
    made_root = not root.exists()
    lock = FolderLock(root, command, what="data set", error=CatalogError)
    try:
        lock.acquire()
    except BaseException:
        if made_root:
            with contextlib.suppress(OSError):
                root.rmdir()
        raise
    try:
        made = not (root / CATALOG_NAME).exists()
        catalog = Catalog(root)
        try:
            yield catalog
        finally:
            empty = made and catalog.is_empty()
            catalog.close()
            if empty:
                for name in (CATALOG_NAME, f"{CATALOG_NAME}-wal", f"{CATALOG_NAME}-shm"):
                    (root / name).unlink(missing_ok=True)
    finally:
        lock.release()
        if made_root:
            with contextlib.suppress(OSError):  # not empty: a data set, or something else
                root.rmdir()
