"""One writer per folder: a lock file that names its holder.

``fetch`` and ``import`` lock a data set folder, ``extract`` a feature store, so that a second
command writing to the same folder cannot delete the first one's files in flight or do its work
twice. The lock is an ``flock`` on ``<folder>/.genrekit.lock``: the operating system releases it
when its holder exits, however it exits (even SIGKILL), so a lock left by a dead process is simply
taken over. The file also holds the holder's command, PID, host and start time, for the message a
second writer gets. The lock file is opened without following links and must be a plain file
of its own: one planted as a symbolic or hard link to another file is refused, never written.
Readers (``catalog``, ``extract`` reading a data set) take no lock, so a read-only folder can
still be read.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from genrekit.errors import FolderLockedError, GenrekitError
from genrekit.storage import check_own_file, file_problem, not_own_file_message

LOCK_NAME = ".genrekit.lock"
_POLL = 0.1

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no flock; the lock is advisory only there
    fcntl = None  # type: ignore[assignment]


def describe_holder(path: Path) -> str:
    """Who holds the lock file ``path``, as it wrote it: 'fetch, PID 12 on host, since …'."""
    try:
        fd = _open(path, os.O_RDONLY)
        try:
            info = json.loads(os.read(fd, 4096).decode("utf-8"))
        finally:
            os.close(fd)
        command = str(info.get("command") or "genrekit")
        since = str(info.get("since", "?"))
        return f"{command}, PID {int(info['pid'])} on {info.get('host', '?')}, since {since}"
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return "another genrekit process (it has not said which yet)"


def _open(path: Path, mode: int = os.O_RDWR | os.O_CREAT) -> int:
    # Never through a link planted in the folder: the holder's note would overwrite its target.
    # Non-blocking: a FIFO planted there must not hang the open.
    flags = mode | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    return os.open(path, flags, 0o644)


def _try_lock(fd: int) -> bool:
    if fcntl is None:  # pragma: no cover
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError as exc:
        if exc.errno in (errno.EAGAIN, errno.EACCES):
            return False
        raise
    return True


class FolderLock:
    """An exclusive lock on a folder, held from :meth:`acquire` to :meth:`release`.

    Parameters
    ----------
    folder : the folder to lock (created if missing).
    command : what the holder does, for the message a second writer gets (e.g. ``"fetch"``).
    wait : seconds to wait for another holder to finish before refusing (0: refuse at once).
    what : how messages call the folder ("data set", "feature store").
    error : the error raised when the folder cannot be written at all.
    """

    def __init__(
        self,
        folder: Path,
        command: str,
        *,
        wait: float = 0.0,
        what: str = "folder",
        error: type[GenrekitError] = GenrekitError,
    ) -> None:
        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME
        self.command = command
        self.wait = wait
        self.what = what
        self.error = error
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock, waiting up to ``wait`` seconds; raise :class:`FolderLockedError` if
        another process holds it, or :class:`GenrekitError` if the folder cannot be written."""
        deadline = time.monotonic() + max(0.0, self.wait)
        while True:
            try:
                self.folder.mkdir(parents=True, exist_ok=True)
                fd = _open(self.path)
            except OSError as exc:
                check_own_file(self.path, self.error)  # a link or a folder: say that
                raise self.error(
                    f"{self.folder}: cannot lock the {self.what} for writing "
                    f"({exc.strerror or exc}); make the folder writable or choose another one"
                ) from exc
            problem = file_problem(os.fstat(fd))
            if problem is not None:
                os.close(fd)
                raise self.error(not_own_file_message(self.path, problem))
            try:
                got = _try_lock(fd)
            except OSError as exc:  # e.g. a network file system without locks
                os.close(fd)
                raise self.error(
                    f"{self.path}: cannot lock the {self.what} ({exc.strerror or exc}); "
                    "choose a folder on a local disk"
                ) from exc
            if got and self._still_linked(fd):
                self._fd = fd
                self._write_holder(fd)
                return
            os.close(fd)
            if time.monotonic() >= deadline:
                waited = f" after waiting {self.wait:g} s" if self.wait > 0 else ""
                raise FolderLockedError(
                    f"{self.folder}: another genrekit is writing to this {self.what} "
                    f"({describe_holder(self.path)}){waited}; wait for it to finish or stop it, "
                    "then run this command again"
                )
            time.sleep(_POLL)

    def _still_linked(self, fd: int) -> bool:
        """Whether the locked file is still the one at ``path``: a holder unlinks it on release,
        and a lock on the unlinked file would exclude nobody."""
        try:
            return self.path.lstat().st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            return False

    def _write_holder(self, fd: int) -> None:
        since = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        info = {
            "command": self.command,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "since": since,
        }
        data = (json.dumps(info) + "\n").encode("utf-8")
        with contextlib.suppress(OSError):  # a full disk: the lock holds, only its note is empty
            os.ftruncate(fd, 0)
            os.pwrite(fd, data, 0)

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            self.path.unlink()  # while still locked: a waiting process then sees a new file
        os.close(self._fd)
        self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def __enter__(self) -> FolderLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


@contextlib.contextmanager
def locked(
    folder: Path,
    command: str,
    *,
    wait: float = 0.0,
    what: str = "folder",
    error: type[GenrekitError] = GenrekitError,
) -> Iterator[FolderLock]:
    """``with locked(folder, "fetch"):`` hold ``folder``'s lock for the block."""
    with FolderLock(folder, command, wait=wait, what=what, error=error) as lock:
        yield lock
