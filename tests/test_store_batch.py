"""store_batch: the skeleton of extract and embed (hash, select, work, keep, Ctrl-C)."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import pytest

from genrekit.inputs import SourceFile
from genrekit.store_batch import Hashed, hash_input, run_batch


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
