"""A feature store's index (genrekit.store_index): each input's outcome and each clip's numbers,
read back as the usable clips. Locks, full disks and foreign files: test_failures_store.py."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from genrekit.errors import FeatureStoreError
from genrekit.store_index import StoreIndex, read_usable


def test_only_ok_tracks_with_a_clip_are_usable_by_genre_then_path(tmp_path: Path) -> None:
    index = StoreIndex(tmp_path / "store", tmp_path)
    index.record_track("rock/b.wav", "rock", "Ann", "bb", 10, "ok", None)
    index.record_track("jazz/z.wav", "jazz", None, "zz", 10, "ok", None)
    index.record_track("rock/a.wav", "rock", None, "aa", 10, "ok", None)
    index.record_track("rock/copy.wav", "rock", None, "aa", 10, "duplicate", "same as rock/a.wav")
    index.record_track("rock/bad.wav", "rock", None, None, 3, "failed", "not audio")
    index.record_track("jazz/no-clip.wav", "jazz", None, "nn", 10, "ok", None)
    for sha in ("aa", "bb", "zz"):
        index.record_clip(sha, 2.0, 87, 80, -6.0)
    assert index.done_among(["aa", "nn", "bb", "zz", "xx"]) == {"aa", "bb", "zz"}
    assert index.tracks_among(["rock/b.wav", "rock/none.wav"]) == {
        "rock/b.wav": ("rock", "Ann", "bb", 10, "ok", None, None, None, None)
    }
    index.commit()
    index.close()
    rows = read_usable(tmp_path / "store" / "index.sqlite")
    assert [(path, genre, sha, artist) for path, genre, sha, *_, artist in rows] == [
        ("jazz/z.wav", "jazz", "zz", None),
        ("rock/a.wav", "rock", "aa", None),
        ("rock/b.wav", "rock", "bb", "Ann"),
    ]
    assert rows[0][3:6] == (2.0, 87, 80)


def test_a_track_recorded_again_is_updated_and_gone_files_are_forgotten(tmp_path: Path) -> None:
    index = StoreIndex(tmp_path / "store", tmp_path)
    index.record_track("rock/a.wav", "rock", None, None, 3, "failed", "truncated")
    index.record_track("rock/b.wav", "rock", None, "bb", 10, "ok", None)
    index.record_track("rock/a.wav", "rock", None, "aa", 10, "ok", None)  # mended since
    index.record_clip("aa", 2.0, 87, 87, -3.0)
    index.record_clip("bb", 2.0, 87, 87, -3.0)
    index.keep_only(["rock/a.wav"])  # b.wav left the input folder
    index.commit()
    index.close()
    assert [row[0] for row in read_usable(tmp_path / "store" / "index.sqlite")] == ["rock/a.wav"]


def test_an_index_of_genrekit_0_1_0_gets_the_artist_column(tmp_path: Path) -> None:
    (tmp_path / "store").mkdir()
    with sqlite3.connect(tmp_path / "store" / "index.sqlite") as db:
        db.execute(
            "CREATE TABLE tracks (path TEXT PRIMARY KEY, genre TEXT NOT NULL, sha256 TEXT, "
            "size INTEGER, status TEXT NOT NULL, reason TEXT, "
            "updated TEXT NOT NULL DEFAULT (datetime('now')))"
        )
        db.execute(
            "INSERT INTO tracks (path, genre, sha256, size, status) "
            "VALUES ('a.wav', 'rock', 'aa', 1, 'ok')"
        )
    index = StoreIndex(tmp_path / "store", tmp_path)
    index.record_clip("aa", 1.0, 44, 44, -3.0)
    index.commit()
    index.close()
    assert read_usable(tmp_path / "store" / "index.sqlite") == [
        ("a.wav", "rock", "aa", 1.0, 44, 44, None)
    ]


def test_an_index_that_is_not_sqlite_is_one_error(tmp_path: Path) -> None:
    (tmp_path / "index.sqlite").write_bytes(b"not a database" * 100)
    with pytest.raises(FeatureStoreError, match="cannot read the index"):
        read_usable(tmp_path / "index.sqlite")
