"""A resumed extract does only what is missing: no task for a done clip, no unchanged row
rewritten (bench/scale.py measures a million rows; these check the behaviour on a few)."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from genrekit import extract
from genrekit.extract import ExtractOptions, extract_dataset
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
