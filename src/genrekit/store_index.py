"""The feature store's index (``index.sqlite``): which input file is which clip, and how it went.

One writer at a time (the store's lock): ``extract`` records each track's outcome and each clip's
numbers here; :class:`genrekit.dataset.FeatureStore` reads it. All of the index's SQL lives in
this module.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

from genrekit.errors import FeatureStoreError
from genrekit.storage import check_sqlite_files, connect_read_only

LOOKUP_KEYS = 500
"""Most keys per ``IN (...)`` look-up (SQLite allows 999 parameters before 3.32)."""

STAMP_COLUMNS = ("mtime_ns", "ctime_ns", "inode")

TrackRow = tuple[
    str, str | None, str | None, int | None, str, str | None, int | None, int | None, int | None
]
"""A track's recorded (genre, artist, sha256, size, status, reason, mtime_ns, ctime_ns, inode)."""

SCHEMA = """
CREATE TABLE IF NOT EXISTS tracks (
    path      TEXT PRIMARY KEY,   -- relative to the input folder, '/'-separated
    genre     TEXT NOT NULL,
    artist    TEXT,               -- when the input's catalog knows it
    sha256    TEXT,
    size      INTEGER,
    status    TEXT NOT NULL,      -- ok | failed | silent | duplicate
    reason    TEXT,
    updated   TEXT NOT NULL DEFAULT (datetime('now')),  -- when the row last changed
    mtime_ns  INTEGER,            -- the file's stat when sha256 was taken: while size, mtime_ns,
    ctime_ns  INTEGER,            -- ctime_ns and inode are the same, so is sha256 (it is not
    inode     INTEGER             -- read again); NULL: unknown (hashed again)
);
CREATE TABLE IF NOT EXISTS clips (
    sha256    TEXT PRIMARY KEY,   -- features/<kind>/<sha[:2]>/<sha>.npy exist for this row
    duration  REAL NOT NULL,      -- seconds of real audio analysed (before padding)
    n_frames  INTEGER NOT NULL,   -- frames stored (the clip length, after padding)
    n_valid   INTEGER NOT NULL,   -- frames that cover real audio
    peak_db   REAL NOT NULL,      -- loudest frame RMS, dB re full scale
    created   TEXT NOT NULL DEFAULT (datetime('now'))
);
"""


def open_index(root: Path) -> sqlite3.Connection:
    """Open (creating if needed) the store's SQLite index."""
    root.mkdir(parents=True, exist_ok=True)
    check_sqlite_files(root / "index.sqlite", FeatureStoreError)  # no write through a link
    db = sqlite3.connect(root / "index.sqlite")
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.executescript(SCHEMA)
    columns = {row[1] for row in db.execute("PRAGMA table_info(tracks)")}
    if "artist" not in columns:  # stores written by genrekit 0.1.0
        db.execute("ALTER TABLE tracks ADD COLUMN artist TEXT")
    for column in STAMP_COLUMNS:  # stores written before files were stamped
        if column not in columns:
            db.execute(f"ALTER TABLE tracks ADD COLUMN {column} INTEGER")
    return db


def claim_input(db: sqlite3.Connection, root: Path, in_dir: Path) -> None:
    """Record ``in_dir`` as the input folder the index mirrors.

    A store whose index holds the tracks of another folder that still exists is refused: the
    index keeps one folder's files, so extracting a second one would drop the first one's rows.
    A recorded folder that no longer exists counts as moved (or deleted) and is replaced.
    """
    db.execute("CREATE TABLE IF NOT EXISTS store_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    here = str(in_dir.resolve())
    found = db.execute("SELECT value FROM store_meta WHERE key = 'input'").fetchone()
    if found is not None and found[0] != here:
        old = Path(found[0])
        (n,) = db.execute("SELECT count(*) FROM tracks").fetchone()
        if n and old.exists() and not _same_folder(old, in_dir):
            raise FeatureStoreError(
                f"{root}: this feature store holds the tracks of {old}, not of {in_dir}; "
                f"extracting {in_dir} here would drop them from its index: give {in_dir} "
                "a feature store of its own"
            )
    db.execute("INSERT OR REPLACE INTO store_meta (key, value) VALUES ('input', ?)", (here,))
    db.commit()


def _same_folder(a: Path, b: Path) -> bool:
    try:
        return a.samefile(b)
    except OSError:
        return False


class StoreIndex:
    """The index of the store ``root``, open for writing by the run holding its lock."""

    def __init__(self, root: Path, in_dir: Path) -> None:
        """Open (making it if needed) the index of ``root`` and claim it for ``in_dir``."""
        self.path = root / "index.sqlite"
        try:
            self._db = open_index(root)
        except sqlite3.Error as exc:
            raise FeatureStoreError(f"{self.path}: cannot open the index ({exc})") from exc
        try:
            claim_input(self._db, root, in_dir)
        except BaseException:
            self._db.close()
            raise

    def record_track(
        self,
        path: str,
        genre: str,
        artist: str | None,
        sha256: str | None,
        size: int | None,
        status: str,
        reason: str | None,
        mtime_ns: int | None = None,
        ctime_ns: int | None = None,
        inode: int | None = None,
    ) -> None:
        """What became of one input file (``status`` ok, failed, silent or duplicate), and the
        file's stat when it was hashed, if known."""
        self._db.execute(
            "INSERT INTO tracks (path, genre, artist, sha256, size, status, reason, mtime_ns, "
            "ctime_ns, inode, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, datetime('now')) "
            "ON CONFLICT(path) DO UPDATE SET "
            "genre=excluded.genre, artist=excluded.artist, sha256=excluded.sha256, "
            "size=excluded.size, status=excluded.status, reason=excluded.reason, "
            "mtime_ns=excluded.mtime_ns, ctime_ns=excluded.ctime_ns, inode=excluded.inode, "
            "updated=excluded.updated "
            # A resumed run meets mostly unchanged rows: rewriting them cost 9 s per million.
            "WHERE (genre, artist, sha256, size, status, reason, mtime_ns, ctime_ns, inode) "
            "IS NOT (excluded.genre, excluded.artist, excluded.sha256, excluded.size, "
            "excluded.status, excluded.reason, excluded.mtime_ns, excluded.ctime_ns, "
            "excluded.inode)",
            (path, genre, artist, sha256, size, status, reason, mtime_ns, ctime_ns, inode),
        )

    def record_clip(
        self, sha256: str, duration: float, n_frames: int, n_valid: int, peak_db: float
    ) -> None:
        """A clip whose features are in the store."""
        self._db.execute(
            "INSERT OR REPLACE INTO clips (sha256, duration, n_frames, n_valid, peak_db) "
            "VALUES (?, ?, ?, ?, ?)",
            (sha256, duration, n_frames, n_valid, peak_db),
        )

    def done_among(self, shas: Sequence[str]) -> set[str]:
        """Those of ``shas`` whose features the store holds: indexed look-ups, so a resumed run
        never holds every done hash at once (a million took 1 GB with the rest of the run)."""
        return {sha for (sha,) in self._select("SELECT sha256 FROM clips WHERE sha256", shas)}

    def tracks_among(self, paths: Sequence[str]) -> dict[str, TrackRow]:
        """The recorded rows of those of ``paths`` the index has, by path."""
        query = (
            "SELECT path, genre, artist, sha256, size, status, reason, mtime_ns, ctime_ns, inode "
            "FROM tracks WHERE path"
        )
        return {row[0]: row[1:] for row in self._select(query, paths)}

    def _select(self, query: str, keys: Sequence[str]) -> list[tuple[Any, ...]]:
        return _select_in(self._db, query, keys)

    def keep_only(self, paths: Collection[str]) -> None:
        """Forget the tracks not in ``paths`` (files that left the input folder), which are all
        recorded: when the index holds as many tracks as there are ``paths``, none has left."""
        (n,) = self._db.execute("SELECT count(*) FROM tracks").fetchone()
        if n == len(paths):  # a resumed run of an unchanged folder: 0.5 s per million saved
            return
        self._db.execute("CREATE TEMP TABLE IF NOT EXISTS present (path TEXT PRIMARY KEY)")
        self._db.execute("DELETE FROM present")
        self._db.executemany("INSERT INTO present VALUES (?)", ((p,) for p in paths))
        self._db.execute("DELETE FROM tracks WHERE path NOT IN (SELECT path FROM present)")

    def commit(self) -> None:
        self._db.commit()

    def close(self) -> None:
        self._db.close()


def read_usable(index: Path) -> list[tuple[str, str, str, float, int, int, str | None]]:
    """The usable clips' rows (path, genre, sha256, duration, n_frames, n_valid, artist), by
    genre and path; read-only, so a store on a read-only disk or another user's can be read."""
    try:
        db = connect_read_only(index, "SELECT count(*) FROM tracks")
    except sqlite3.Error as exc:
        raise FeatureStoreError(f"{index}: cannot read the index ({exc})") from exc
    with contextlib.closing(db):
        has_artist = any(row[1] == "artist" for row in db.execute("PRAGMA table_info(tracks)"))
        rows: list[tuple[str, str, str, float, int, int, str | None]] = db.execute(
            "SELECT t.path, t.genre, t.sha256, c.duration, c.n_frames, c.n_valid, "
            f"{'t.artist' if has_artist else 'NULL'} "
            "FROM tracks t JOIN clips c USING (sha256) WHERE t.status = 'ok' "
            "ORDER BY t.genre, t.path"
        ).fetchall()
    return rows


def read_input(index: Path) -> Path | None:
    """The input folder the index mirrors (as ``extract`` recorded it), or None if none is."""
    try:
        db = connect_read_only(index, "SELECT count(*) FROM tracks")
    except sqlite3.Error as exc:
        raise FeatureStoreError(f"{index}: cannot read the index ({exc})") from exc
    with contextlib.closing(db):
        try:
            found = db.execute("SELECT value FROM store_meta WHERE key = 'input'").fetchone()
        except sqlite3.OperationalError:  # a store written before the input was recorded
            return None
    return Path(found[0]) if found else None


def _select_in(db: sqlite3.Connection, query: str, keys: Sequence[str]) -> list[tuple[Any, ...]]:
    """The rows of ``query`` ending in a column name, ``IN`` ``keys``, a few hundred at a time."""
    rows: list[tuple[Any, ...]] = []
    for i in range(0, len(keys), LOOKUP_KEYS):
        part = keys[i : i + LOOKUP_KEYS]
        marks = ",".join("?" * len(part))
        rows += db.execute(f"{query} IN ({marks})", part).fetchall()
    return rows


Stamped = tuple[str, int, int, int, int]
"""A file's recorded (sha256, size, mtime_ns, ctime_ns, inode) when it was hashed."""


class StampReader:
    """The recorded stamps of an index's input files, read-only: for a run (``embed``) that
    hashes the same inputs as ``extract`` but does not write the index."""

    def __init__(self, index: Path) -> None:
        try:
            self._db = connect_read_only(index, "SELECT count(*) FROM tracks")
        except sqlite3.Error as exc:
            raise FeatureStoreError(f"{index}: cannot read the index ({exc})") from exc
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(tracks)")}
        self.has_stamps = set(STAMP_COLUMNS) <= columns  # not in an index of an older genrekit

    def stamped(self, paths: Sequence[str]) -> dict[str, Stamped]:
        """The recorded stamps of those of ``paths`` that have one, by path."""
        if not self.has_stamps:
            return {}
        query = (
            "SELECT path, sha256, size, mtime_ns, ctime_ns, inode FROM tracks WHERE sha256 "
            "IS NOT NULL AND size IS NOT NULL AND mtime_ns IS NOT NULL AND ctime_ns IS NOT NULL "
            "AND inode IS NOT NULL AND path"
        )
        return {row[0]: row[1:] for row in _select_in(self._db, query, paths)}

    def close(self) -> None:
        self._db.close()
