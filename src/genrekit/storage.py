"""Atomic file writes and content hashes: the small I/O helpers every writer shares.

A file is written under a temporary name in its own folder and renamed into place only when
complete, so a killed process leaves either the old file or the new one, never half of one.
Temporary names carry the writer's PID (``.<name>.<pid>.<random>.part``), so that clean-up
removes only what a dead process left behind, never another live run's file in flight, and
only such names, never through a symbolic link. Files a writer keeps in its folder (a lock, a
catalog, an index) are checked by :func:`check_own_file` before they are opened: a link planted
there must not lead a write outside.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import os
import re
import secrets
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import numpy.typing as npt

from genrekit.errors import GenrekitError

_HASH_CHUNK = 1 << 20
_TEMP_ATTEMPTS = 100


WRITE_REFUSED = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM})
"""Errors of a folder that cannot take more writes: the run stops, no item is blamed."""


def temp_prefix(stem: str) -> str:
    """The start of a temporary file's name: hidden, then ``stem``, then this process's PID."""
    return f".{stem}.{os.getpid()}."


# Every writer's temporary file is named by new_temp: ``.<stem>.<pid>.<8 random>.part[.ext]``.
# Clean-up removes nothing else.
_TEMP_NAME = re.compile(
    r"\.(?P<stem>.+)\.(?P<pid>[0-9]{1,10})\.[a-z0-9_]{8}\.part(\.[A-Za-z0-9]{1,8})?"
)


def new_temp(folder: Path, stem: str, suffix: str = "") -> Path:
    """Create an empty temporary file in ``folder`` for a file called ``stem`` (plus ``suffix``,
    e.g. ``".mp3"``, for tools that look at the extension); finish it with :func:`finish_temp`.

    Created with mode 0o666 less the umask, as any file the user writes (mkstemp's 0o600 would
    need the umask read back, which only changing it can do)."""
    for _ in range(_TEMP_ATTEMPTS):
        path = folder / f"{temp_prefix(stem)}{secrets.token_hex(4)}.part{suffix}"
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            continue
        return path
    raise FileExistsError(errno.EEXIST, "no free temporary name", str(folder))


def finish_temp(tmp: Path, target: Path) -> None:
    """Rename the finished ``tmp`` over ``target``."""
    tmp.replace(target)


def temp_owner(name: str) -> int | None:
    """The PID in a temporary file's name made by :func:`new_temp`; None for any other name."""
    found = _TEMP_NAME.fullmatch(name)
    return int(found["pid"]) if found else None


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, but another user's
        return True
    return True


def _temp_files(root: Path, depth: int | None) -> Iterator[Path]:
    """Regular files under ``root`` named like temporary files, down to ``depth`` folders deep
    (None: all), never through a symbolic link."""
    try:
        entries = list(os.scandir(root))
    except OSError:
        return
    for entry in entries:
        try:
            if entry.is_dir(follow_symlinks=False):
                if depth is None or depth > 0:
                    yield from _temp_files(Path(entry.path), None if depth is None else depth - 1)
            elif entry.is_file(follow_symlinks=False) and temp_owner(entry.name) is not None:
                yield Path(entry.path)
        except OSError:
            continue


def remove_stale_temps(root: Path, *, depth: int | None = None, any_owner: bool = False) -> int:
    """Delete the temporary files that dead processes left under ``root``; return how many.

    Only names made by :func:`new_temp` whose PID is no live process on this host are removed
    (a live one's file is some run's work in flight), found down to ``depth`` folders deep
    (None: all) without following symbolic links, so a link planted in the folder cannot lead
    the clean-up to anyone else's files. Call it while holding the folder's lock.
    ``any_owner``: whatever the PID, for a folder whose writers (a cluster's workers, on other
    hosts) are known to have ended.
    """
    removed = 0
    for path in _temp_files(root, depth):
        owner = temp_owner(path.name)
        if owner is None or (not any_owner and _alive(owner)):
            continue
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            removed += 1
    return removed


def file_problem(info: os.stat_result) -> str | None:
    """What makes a file unfit to be written as a writer's own file (from ``lstat``/``fstat``):
    a link would carry the write to another file, possibly outside the folder."""
    if stat.S_ISLNK(info.st_mode):
        return "is a symbolic link"
    if not stat.S_ISREG(info.st_mode):
        return "is not a regular file"
    if info.st_nlink > 1:
        return f"has {info.st_nlink} hard links (it is also a file elsewhere)"
    return None


def not_own_file_message(path: Path | str, problem: str) -> str:
    return (
        f"{path}: {problem}; genrekit writes only files of its own here, never through a "
        "link: remove it, then run the command again"
    )


def check_own_file(path: Path, error: type[GenrekitError], *, hard_links_ok: bool = False) -> None:
    """Raise ``error`` if ``path`` exists and is not a plain file of its own (a symbolic link, a
    pipe, a folder; a hard link unless ``hard_links_ok``): a writer is about to open it."""
    try:
        info = os.lstat(path)
    except OSError:  # missing: it will be created; unreadable: opening it says why
        return
    problem = file_problem(info)
    if problem is not None and not (hard_links_ok and stat.S_ISREG(info.st_mode)):
        raise error(not_own_file_message(path, problem))


def check_no_links(folder: Path, error: type[GenrekitError], *, depth: int) -> None:
    """Raise ``error`` if ``folder``, or a folder entry down to ``depth`` levels inside it, is a
    symbolic link: a writer is about to create files in those folders."""
    try:
        if folder.is_symlink():
            raise error(not_own_file_message(folder, "is a symbolic link"))
        entries = list(os.scandir(folder)) if depth > 0 else []
    except OSError:  # missing: it will be created; unreadable: writing there says why
        return
    for entry in entries:
        if entry.is_symlink():
            raise error(not_own_file_message(entry.path, "is a symbolic link"))
        if depth > 1 and entry.is_dir(follow_symlinks=False):
            check_no_links(Path(entry.path), error, depth=depth - 1)


def check_sqlite_files(path: Path, error: type[GenrekitError]) -> None:
    """:func:`check_own_file` for an SQLite database and the files SQLite writes beside it (a
    database with other hard links, as a ``cp -al`` backup makes, stays usable)."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        check_own_file(path.with_name(path.name + suffix), error, hard_links_ok=True)


def refused_write(exc: BaseException) -> bool:
    """Whether ``exc`` says the disk is full or the folder read-only (not one file's fault)."""
    return isinstance(exc, OSError) and exc.errno in WRITE_REFUSED


def write_refused_message(path: Path | str, exc: OSError) -> str:
    """One line naming ``path`` for a write the system refused, and what to do about it."""
    reason = exc.strerror or str(exc)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        advice = "free some space there, then run the same command again (finished work is kept)"
    else:
        advice = "make the folder writable or choose another one, then run the command again"
    return f"{path}: cannot write ({reason}); {advice}"


def connect_read_only(path: Path, probe: str) -> sqlite3.Connection:
    """Open the SQLite file ``path`` to read it, checked by running the query ``probe``.

    Nothing is written through the connection. Where SQLite may write beside the file it opens
    it read-write all the same: a WAL database's reader creates ``-wal`` and ``-shm`` files, and
    only a connection that could write removes them again when it closes, so a read-only one
    would leave them in the reader's input folder. Where it may not (a read-only disk or folder,
    another user's data), the file is opened read-only, or immutable if SQLite cannot even
    create its shared memory there, which is safe since no one can write it either.
    """
    uri = path.resolve().as_uri()
    first: sqlite3.Error | None = None
    for mode in ("mode=rw", "mode=ro", "immutable=1"):
        try:
            db = sqlite3.connect(f"{uri}?{mode}", uri=True, check_same_thread=False)
        except sqlite3.Error as exc:
            first = first or exc
            continue
        try:
            db.execute(probe).fetchone()
            return db
        except sqlite3.Error as exc:
            db.close()
            first = first or exc
    assert first is not None
    raise first


@contextlib.contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it over ``target`` if the block succeeds."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = new_temp(target.parent, target.name)
    try:
        yield tmp
        finish_temp(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes_atomic(target: Path, data: bytes) -> None:
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def save_npy_atomic(target: Path, array: npt.NDArray[np.generic]) -> None:
    """``np.save`` to ``target`` atomically; the result can be memory-mapped with ``np.load``."""
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
    write_bytes_atomic(target, buffer.getvalue())


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
