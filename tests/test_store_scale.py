"""A resumed extract does only what is missing: no task for a done clip, no unchanged row
rewritten (bench/scale.py measures a million rows; these check the behaviour on a few)."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Sequence
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from genrekit import extract, storage
from genrekit.dataset import FeatureStore
from genrekit.extract import ExtractOptions, extract_dataset
from genrekit.store_index import StoreIndex
from tests.dask_cluster import write_clips

OPTIONS = ExtractOptions(clip_seconds=2.0, workers=2)


def test_a_resumed_run_sends_no_task_for_a_done_clip(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = write_clips(tmp_path / "in", 6, seconds=2.0)
    assert extract_dataset(source, tmp_path / "store", OPTIONS).counts["done"] == 6
    write_clips(tmp_path / "more", 8, seconds=2.0)  # the same 6 and two new ones
    for new in ("a/clip006.wav", "b/clip007.wav"):
        (source / new).write_bytes((tmp_path / "more" / new).read_bytes())
    tasks: list[str] = []
    work = extract._work

    def counted(root: Path, options: ExtractOptions, task: Any) -> Any:
        tasks.append(task.src.rel)
        return work(root, options, task)

    monkeypatch.setattr(extract, "_work", counted)
    again = extract_dataset(source, tmp_path / "store", OPTIONS)
    assert again.counts["cached"] == 6 and again.counts["done"] == 2
    assert sorted(tasks) == ["a/clip006.wav", "b/clip007.wav"]


def test_a_resumed_run_rewrites_no_unchanged_row(tmp_path: Path) -> None:
    source = write_clips(tmp_path / "in", 4, seconds=2.0)
    store = tmp_path / "store"
    extract_dataset(source, store, OPTIONS)
    with closing(sqlite3.connect(store / "index.sqlite")) as db:
        db.execute("UPDATE tracks SET updated = '2000-01-01 00:00:00'")
        db.commit()
    (source / "a" / "clip000.wav").write_bytes(b"no longer audio")
    extract_dataset(source, store, OPTIONS)
    with closing(sqlite3.connect(store / "index.sqlite")) as db:
        rows = dict(db.execute("SELECT path, updated FROM tracks"))
    changed = {path for path, updated in rows.items() if updated != "2000-01-01 00:00:00"}
    assert changed == {"a/clip000.wav"}  # now failed: its row changed, the others were kept


def test_a_resumed_run_looks_up_its_files_a_batch_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Never every done hash, nor an upsert per unchanged file: per batch, one look-up of the
    tracks and one of the hashes those do not vouch for (a renamed file, here)."""
    source = write_clips(tmp_path / "in", 6, seconds=2.0)
    store = tmp_path / "store"
    extract_dataset(source, store, OPTIONS)
    (source / "a" / "clip000.wav").rename(source / "a" / "renamed.wav")

    def everything(self: StoreIndex) -> set[str]:
        raise AssertionError("a resume loaded every done hash")

    asked: list[list[str]] = []
    among = StoreIndex.done_among
    recorded: list[str] = []
    record = StoreIndex.record_track

    def done_among(self: StoreIndex, shas: Sequence[str]) -> set[str]:
        asked.append(list(shas))
        return among(self, shas)

    def record_track(self: StoreIndex, path: str, *row: Any) -> None:
        recorded.append(path)
        record(self, path, *row)

    monkeypatch.setattr(StoreIndex, "done_hashes", everything, raising=False)
    monkeypatch.setattr(StoreIndex, "done_among", done_among)
    monkeypatch.setattr(StoreIndex, "record_track", record_track)
    again = extract_dataset(source, store, OPTIONS)
    assert again.counts["cached"] == 6 and again.counts["done"] == 0
    assert recorded == ["a/renamed.wav"]  # the only row that is new
    assert [len(shas) for shas in asked] == [1]  # the renamed file's: no track vouched for it
    assert [t.path for t in FeatureStore(store)].count("a/renamed.wav") == 1


def test_files_that_left_are_forgotten_and_a_new_one_recorded(tmp_path: Path) -> None:
    """The same number of tracks as before, but not the same ones: the count is no shortcut."""
    source = write_clips(tmp_path / "in", 4, seconds=2.0)
    store = tmp_path / "store"
    extract_dataset(source, store, OPTIONS)
    (source / "a" / "clip000.wav").rename(source / "a" / "moved.wav")
    extract_dataset(source, store, OPTIONS)
    assert sorted(t.path for t in FeatureStore(store)) == [
        "a/clip002.wav",
        "a/moved.wav",
        "b/clip001.wav",
        "b/clip003.wav",
    ]


def _hashing(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the files hashed from now on."""
    hashed: list[str] = []
    sha256_file = storage.sha256_file

    def counted(path: Path) -> str:
        hashed.append(path.name)
        return sha256_file(path)

    monkeypatch.setattr("genrekit.store_batch.sha256_file", counted)
    return hashed


def test_a_resumed_run_reads_no_unchanged_file_and_redoes_a_changed_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = write_clips(tmp_path / "in", 4, seconds=2.0)
    store = tmp_path / "store"
    extract_dataset(source, store, OPTIONS)
    hashed = _hashing(monkeypatch)
    again = extract_dataset(source, store, OPTIONS)
    assert again.counts["cached"] == 4 and hashed == []  # size, mtime, ctime, inode unchanged
    # Other audio of the same size, its mtime set back: ctime still tells.
    changed = source / "a" / "clip000.wav"
    before = changed.stat()
    changed.write_bytes((source / "b" / "clip001.wav").read_bytes())
    os.utime(changed, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert changed.stat().st_size == before.st_size
    third = extract_dataset(source, store, OPTIONS)
    assert hashed == ["clip000.wav"]
    assert third.counts["duplicate"] == 1 and third.counts["cached"] == 3  # now b/clip001's audio


def test_an_index_without_stamps_is_hashed_once_then_stamped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = write_clips(tmp_path / "in", 4, seconds=2.0)
    store = tmp_path / "store"
    extract_dataset(source, store, OPTIONS)
    with closing(sqlite3.connect(store / "index.sqlite")) as db:  # as an older genrekit left it
        for column in ("mtime_ns", "ctime_ns", "inode"):
            db.execute(f"ALTER TABLE tracks DROP COLUMN {column}")
        db.commit()
    hashed = _hashing(monkeypatch)
    assert extract_dataset(source, store, OPTIONS).counts["cached"] == 4
    assert sorted(hashed) == ["clip000.wav", "clip001.wav", "clip002.wav", "clip003.wav"]
    hashed.clear()
    assert extract_dataset(source, store, OPTIONS).counts["cached"] == 4
    assert hashed == []


def test_embed_reads_no_input_extract_stamped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from genrekit.embed import embed_dataset

    source = write_clips(tmp_path / "in", 2, seconds=2.0)
    store = tmp_path / "store"
    extract_dataset(source, store, OPTIONS)
    (source / "b" / "clip001.wav").write_bytes((source / "a" / "clip000.wav").read_bytes())
    hashed = _hashing(monkeypatch)
    summary = embed_dataset(source, store, workers=1)
    assert hashed == ["clip001.wav"]  # changed since extract: read; the other was not
    assert summary.done == 1 and summary.ok  # both files are now the one clip
