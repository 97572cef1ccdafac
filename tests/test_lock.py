"""One writer per folder (genrekit.lock): the lock names its holder, waits a bounded time, and
is taken over from a killed process."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from genrekit import lock
from genrekit.errors import CatalogError, FolderLockedError
from genrekit.lock import LOCK_NAME, FolderLock
from tests.conftest import DEADLINE


def test_second_lock_is_refused_naming_the_holder(tmp_path: Path) -> None:
    with FolderLock(tmp_path, "fetch", what="data set"), pytest.raises(FolderLockedError) as caught:
        FolderLock(tmp_path, "import", what="data set").acquire()
    message = str(caught.value)
    assert message.startswith(f"{tmp_path}: another genrekit is writing to this data set (fetch, ")
    assert f"PID {os.getpid()} on " in message and "since " in message
    assert not (tmp_path / LOCK_NAME).exists()  # released: the holder removes its file
    with FolderLock(tmp_path, "import"):  # and the next writer gets it
        pass


def test_a_waiting_writer_waits_a_bounded_time(tmp_path: Path) -> None:
    first = FolderLock(tmp_path, "extract")
    first.acquire()
    started = time.monotonic()
    with pytest.raises(FolderLockedError, match=r"after waiting 0\.3 s"):
        FolderLock(tmp_path, "extract", wait=0.3).acquire()
    assert time.monotonic() - started < DEADLINE
    first.release()
    with FolderLock(tmp_path, "extract", wait=5):
        pass


def test_the_lock_of_a_killed_process_is_taken_over(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; from genrekit.lock import FolderLock;"
            "FolderLock(Path(sys.argv[1]), 'fetch').acquire(); print('held', flush=True);"
            "time.sleep(60)",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        with pytest.raises(FolderLockedError, match=f"PID {holder.pid} on "):
            FolderLock(tmp_path, "fetch").acquire()
    finally:
        holder.kill()
        holder.wait(timeout=DEADLINE)
    assert (tmp_path / LOCK_NAME).exists()  # SIGKILL: no chance to remove it
    with FolderLock(tmp_path, "fetch") as taken:  # the OS released it with the process
        assert taken.held
        assert json.loads((tmp_path / LOCK_NAME).read_text())["pid"] == os.getpid()


def test_a_folder_that_cannot_be_written_is_one_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(path: Path) -> int:
        raise PermissionError(errno.EACCES, "Permission denied", str(path))

    monkeypatch.setattr(lock, "_open", refuse)
    with pytest.raises(CatalogError, match=rf"^{tmp_path}: cannot lock the data set .*Permission"):
        FolderLock(tmp_path, "fetch", what="data set", error=CatalogError).acquire()
