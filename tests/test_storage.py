"""storage: temporary files are made and finished without touching process-wide state."""

from __future__ import annotations

import importlib
import os
from pathlib import Path

import pytest

from genrekit import storage


def test_importing_storage_leaves_the_umask_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_umask(mask: int) -> int:
        raise AssertionError("os.umask changes the whole process's umask, for every thread")

    monkeypatch.setattr(os, "umask", no_umask)
    importlib.reload(storage)


def test_a_finished_file_has_the_mode_the_umask_gives(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        tmp = storage.new_temp(tmp_path, "song", ".mp3")
        assert storage.temp_owner(tmp.name) == os.getpid()
        assert tmp.name.endswith(".part.mp3")
        tmp.write_bytes(b"x")
        storage.finish_temp(tmp, tmp_path / "song.mp3")
    finally:
        os.umask(old)
    assert (tmp_path / "song.mp3").stat().st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["song.mp3"]


def test_temporary_names_never_repeat(tmp_path: Path) -> None:
    names = {storage.new_temp(tmp_path, "a").name for _ in range(200)}
    assert len(names) == 200
