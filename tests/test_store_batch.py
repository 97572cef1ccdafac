"""store_batch: the skeleton of extract and embed (hash, select, work, keep, Ctrl-C)."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from genrekit import store_batch
from genrekit.inputs import SourceFile
from genrekit.store_batch import (
    WORK_CHUNK_REMOTE,
    Hashed,
    hash_chunk,
    hash_input,
    run_batch,
)
from genrekit.workers import TASKS_PER_SLOT, Pool, bounded_map


def _files(tmp_path: Path, contents: dict[str, bytes]) -> list[SourceFile]:
    files = []
    for name, data in contents.items():
        path = tmp_path / "rock" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        files.append(SourceFile(path, f"rock/{name}", "rock"))
    return files


def test_selected_files_are_worked_on_and_kept_in_input_order(tmp_path: Path) -> None:
    files = _files(tmp_path, {f"{c}.wav": c.encode() * 100 for c in "abcdefg"})
    seen: list[str] = []
    kept: list[str] = []

    def select(hashed: Hashed) -> str | None:
        seen.append(hashed.src.rel)
        assert hashed.sha == hashlib.sha256(hashed.src.path.read_bytes()).hexdigest()
        assert hashed.size == 100 and hashed.problem is None
        return None if hashed.src.path.stem == "c" else hashed.src.path.stem

    announced: list[int] = []
    interrupted = run_batch(
        files,
        select=select,
        work=str.upper,
        keep=kept.append,
        workers=2,
        before_work=announced.append,
    )
    assert not interrupted
    assert seen == [f.rel for f in files]
    assert announced == [6] and kept == ["A", "B", "D", "E", "F", "G"]


def test_an_unreadable_input_is_its_problem_not_the_batch_end(tmp_path: Path) -> None:
    _files(tmp_path, {"a.wav": b"x"})
    folder = SourceFile(tmp_path / "rock", "rock/sub.wav", "rock")  # a folder, not a file
    hashed = hash_input(folder)
    assert hashed.sha is None and "not an audio file" in (hashed.problem or "")


def test_ctrl_c_keeps_the_results_that_finished(tmp_path: Path) -> None:
    files = _files(tmp_path, {f"{c}.wav": c.encode() for c in "abcde"})
    b_done = threading.Event()
    kept: list[str] = []

    def work(name: str) -> str:
        if name == "a":  # a finishes after b: when Ctrl-C comes on a, b is done but not kept
            assert b_done.wait(10)
        if name == "b":
            b_done.set()
        return name

    def keep(name: str) -> None:
        kept.append(name)
        if name == "a":
            raise KeyboardInterrupt

    interrupted = run_batch(
        files, select=lambda h: h.src.path.stem, work=work, keep=keep, workers=2
    )
    assert interrupted
    assert kept[:2] == ["a", "b"]  # b finished: kept, though Ctrl-C came before its turn
    assert kept == sorted(set(kept))  # each at most once, in input order


def test_an_error_of_the_store_ends_the_batch(tmp_path: Path) -> None:
    files = _files(tmp_path, {"a.wav": b"a", "b.wav": b"b"})

    def work(name: str) -> str:
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        run_batch(files, select=lambda h: h.src.path.stem, work=work, keep=print, workers=1)


class _CountingExecutor(ThreadPoolExecutor):
    """Threads that count the tasks submitted."""

    def __init__(self) -> None:
        super().__init__(max_workers=2)
        self.submitted = 0

    def submit(self, fn, /, *args, **kwargs):
        self.submitted += 1  # called from the test's thread only
        return super().submit(fn, *args, **kwargs)


def test_many_inputs_never_mean_as_many_futures_at_once() -> None:
    taken = 0

    def items() -> Iterator[int]:
        nonlocal taken
        for i in range(5000):
            taken += 1
            yield i

    with _CountingExecutor() as executor:
        ahead = 0
        for n, result in enumerate(bounded_map(executor, lambda i: i * 2, items(), window=8)):
            assert result == 2 * n
            ahead = max(ahead, executor.submitted - n, taken - n)  # submitted, not yet yielded
    assert executor.submitted == 5000 and ahead <= 8


def test_a_remote_pool_gets_files_in_chunks_and_results_keep_input_order(tmp_path: Path) -> None:
    files = _files(tmp_path, {f"{i:03d}.wav": bytes([i]) * 10 for i in range(100)})
    hash_tasks = -(-len(files) // hash_chunk(len(files), 2))
    per_task = min(WORK_CHUNK_REMOTE, hash_chunk(len(files), 2))
    work_tasks = -(-len(files) // per_task)
    assert hash_tasks < len(files) and work_tasks < len(files)
    kept: list[str] = []
    ahead = 0

    def keep(result: str) -> None:
        nonlocal ahead  # files sent to work, not yet kept
        ahead = max(ahead, (executor.submitted - hash_tasks) * per_task - len(kept))
        kept.append(result)

    with _CountingExecutor() as executor:
        run_batch(
            files,
            select=lambda h: h.sha,
            work=str.upper,
            keep=keep,
            pool=Pool(executor, slots=2, remote=True),
        )
    assert executor.submitted == hash_tasks + work_tasks
    assert ahead <= TASKS_PER_SLOT * 2 * per_task
    assert kept == [hashlib.sha256(f.path.read_bytes()).hexdigest().upper() for f in files]


def test_ctrl_c_on_a_remote_pool_keeps_the_rest_of_a_finished_chunk(tmp_path: Path) -> None:
    files = _files(tmp_path, {f"{i:03d}.wav": bytes([i]) for i in range(64)})
    kept: list[str] = []

    def keep(name: str) -> None:
        kept.append(name)
        if name == "002":
            raise KeyboardInterrupt

    with ThreadPoolExecutor(max_workers=1) as executor:
        interrupted = run_batch(
            files,
            select=lambda h: h.src.path.stem,
            work=str,
            keep=keep,
            pool=Pool(executor, slots=1, remote=True),
        )
    assert interrupted
    assert kept[:WORK_CHUNK_REMOTE] == [f"{i:03d}" for i in range(WORK_CHUNK_REMOTE)]
    assert len(kept) == len(set(kept))  # each at most once


class _LostError(Exception):
    """Stands for Dask's KilledWorker: the task, not the batch, is lost."""


def test_a_task_the_pool_lost_fails_only_the_file_that_killed_it(tmp_path: Path) -> None:
    files = _files(tmp_path, {f"{i:03d}.wav": bytes([i]) for i in range(40)})

    def work(name: str) -> str:
        if name == "013":  # a file that kills every worker reading it
            raise _LostError("worker died")
        return name

    kept: list[str] = []
    with ThreadPoolExecutor(max_workers=2) as executor:
        pool = Pool(executor, slots=1, remote=True, lost=(_LostError,))
        interrupted = run_batch(
            files,
            select=lambda h: h.src.path.stem,
            work=work,
            keep=kept.append,
            pool=pool,
            failed=lambda name, reason: f"{name} failed: {reason}",
        )
        assert not interrupted
        assert min(WORK_CHUNK_REMOTE, hash_chunk(len(files), 1)) > 1  # 013 had task-mates
        assert kept == [  # they are run again alone, and done: only 013 fails
            "013 failed: lost: every worker that ran it died (_LostError: worker died)"
            if i == 13
            else f"{i:03d}"
            for i in range(40)
        ]
        with pytest.raises(_LostError):  # without a stand-in, the batch ends
            run_batch(files, select=lambda h: h.src.path.stem, work=work, keep=print, pool=pool)


def test_screen_sees_each_file_once_in_batches_before_select(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_batch, "SCREEN_BATCH", 3)
    files = _files(tmp_path, {f"{c}.wav": c.encode() for c in "abcdefg"})
    screened: list[list[str]] = []
    order: list[str] = []

    def screen(batch: Sequence[Hashed]) -> None:
        screened.append([h.src.path.stem for h in batch])
        order.append("screen")

    def select(hashed: Hashed) -> None:
        assert hashed.src.path.stem in screened[-1]  # its batch was screened just before
        order.append(hashed.src.path.stem)

    run_batch(files, select=select, work=str, keep=print, workers=2, screen=screen)
    assert [stem for batch in screened for stem in batch] == list("abcdefg")
    assert all(len(batch) >= 3 for batch in screened[:-1])
    assert order.index("screen") == 0 and len(order) == 7 + len(screened)
