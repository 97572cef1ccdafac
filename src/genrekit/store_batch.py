"""One skeleton for the batch jobs that fill a feature store (``extract``, ``embed``).

Each input file is hashed in a pool (results are keyed by content), the caller says in input
order which files still need work, the work runs in the same pool with a bounded number of tasks
in flight, and each result is handed back in input order to be recorded. Ctrl-C stops the batch
cleanly: queued work is dropped, running work finishes, and the results that finished are
recorded too, so a rerun resumes where this one stopped.

The pool is this process's threads, or any ``concurrent.futures`` executor given as a
:class:`Pool`: a Dask cluster's (:mod:`genrekit.cluster`). Hashing and work then run on its
workers, which read the inputs by path and write into the store themselves; only small records
come back, and only this thread records them. Whatever the pool, at most a few tasks per slot
are submitted at once, so a million inputs never mean a million futures.

The caller keeps its own job: what one file's work is (it returns that file's failure as its
result rather than raising), what "already done" means, how a result is recorded, and the
store's lock and index around the batch.
"""

from __future__ import annotations

import contextlib
import functools
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from genrekit.audio import not_a_file, undecodable
from genrekit.inputs import SourceFile
from genrekit.storage import sha256_file
from genrekit.workers import TASKS_PER_SLOT, Pool, bounded_map, one_blas_thread

T = TypeVar("T")
R = TypeVar("R")

HASH_AFTER_CHECK_BYTES = 256 * 2**20
"""A file larger than this must decode at its start before it is read whole for its hash: a
20 GB file of zeros named .mp3 took 71 s to hash before failing to decode."""

HASH_CHUNK = 32
"""Most files hashed per task: a task costs tens of microseconds in a thread pool and about a
millisecond on a cluster, as much as hashing a preview, and a resumed run of a million files
is mostly hashing."""

WORK_CHUNK_REMOTE = 8
"""Most files per task on a remote pool: a Dask task costs milliseconds of client, scheduler and
worker time (measured ~17 ms per clip on a loaded 2-core machine with one per task), as much as
extracting a clip. In a thread pool each file is its own task."""

SCREEN_BATCH = 500
"""Hashed files handed to ``screen`` at once: one index look-up per this many on a resume."""

FLUSH_SECONDS = 1.0
"""``flush`` is called at most this often while results come in (the index is committed)."""


@dataclass(frozen=True)
class Hashed:
    """An input file's content hash and size, or why it could not be read (``sha`` None), and
    its :class:`Stamp` when it was hashed (or vouched for by one)."""

    src: SourceFile
    sha: str | None
    size: int | None
    problem: str | None
    stamp: Stamp | None = None


@dataclass(frozen=True)
class Stamp:
    """What ``stat`` says of a file: while all of it is unchanged, so is its content (``ctime``
    changes on every write and cannot be set back, unlike ``mtime``)."""

    size: int
    mtime_ns: int
    ctime_ns: int
    inode: int

    @classmethod
    def of(cls, st: os.stat_result) -> Stamp:
        return cls(st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


Known = tuple[Stamp, str]
"""A file's stamp and content hash when it was last hashed (from the store's index)."""


def known_of(
    stamped: dict[str, tuple[str, int, int, int, int]], files: Sequence[SourceFile]
) -> list[Known | None]:
    """What ``stamped`` (sha256, size, mtime_ns, ctime_ns, inode by path) says of ``files``."""
    found: list[Known | None] = []
    for src in files:
        row = stamped.get(src.rel)
        found.append(None if row is None else (Stamp(*row[1:]), row[0]))
    return found


def hash_input(src: SourceFile, known: Known | None = None) -> Hashed:
    """Hash one input file; a pipe, a device, an unreadable or a huge undecodable file is its
    ``problem`` instead. A file whose stamp is still ``known``'s is not read: its hash is
    ``known``'s (a resumed run of a million previews read 0.5 TB to hash them)."""
    problem = not_a_file(src.path)  # a pipe or device would block the hash forever
    if problem is not None:
        return Hashed(src, None, None, problem)
    try:
        stamp = Stamp.of(src.path.stat())
        if known is not None and known[0] == stamp:
            return Hashed(src, known[1], stamp.size, None, stamp)
        if stamp.size > HASH_AFTER_CHECK_BYTES:  # hashing takes a minute per 20 GB: audio first?
            problem = undecodable(src.path)
            if problem is not None:
                return Hashed(src, None, None, problem)
        sha = sha256_file(src.path)
        # Changed while it was read? Then its stamp vouches for nothing: record none.
        same = Stamp.of(src.path.stat()) == stamp
        return Hashed(src, sha, stamp.size, None, stamp if same else None)
    except OSError as exc:
        return Hashed(src, None, None, f"{src.path}: cannot read file ({exc.strerror or exc})")


def hash_inputs(job: tuple[Sequence[SourceFile], Sequence[Known | None]]) -> list[Hashed]:
    """:func:`hash_input` of each file (with what is known of it), as one task."""
    files, known = job
    return [hash_input(src, k) for src, k in zip(files, known, strict=True)]


def hash_chunk(n_files: int, slots: int) -> int:
    """Files per hashing task: up to :data:`HASH_CHUNK`, fewer when there are few files, so that
    every slot still gets some."""
    return max(1, min(HASH_CHUNK, n_files // (TASKS_PER_SLOT * slots)))


def _each(work: Callable[[T], R], tasks: Sequence[T]) -> list[R]:
    """``work`` on each of ``tasks``, as one task of the pool."""
    return [work(task) for task in tasks]


def _hash_jobs(
    files: Sequence[SourceFile],
    chunk: int,
    known: Callable[[Sequence[SourceFile]], list[Known | None]] | None,
) -> Iterator[tuple[Sequence[SourceFile], Sequence[Known | None]]]:
    """``files`` in tasks of ``chunk``, each with what is ``known`` of its files (asked for
    :data:`SCREEN_BATCH` files at once: one index look-up, not one per task)."""
    step = max(chunk, SCREEN_BATCH // chunk * chunk)
    for start in range(0, len(files), step):
        block = files[start : start + step]
        knowns = [None] * len(block) if known is None else known(block)
        for i in range(0, len(block), chunk):
            yield block[i : i + chunk], knowns[i : i + chunk]


def _batches(
    parts: Iterable[list[Hashed]], screen: Callable[[Sequence[Hashed]], None] | None
) -> Iterator[list[Hashed]]:
    """``parts`` again, joined into batches of :data:`SCREEN_BATCH` that ``screen`` saw first."""
    if screen is None:
        yield from parts
        return
    batch: list[Hashed] = []
    for part in parts:
        batch += part
        if len(batch) >= SCREEN_BATCH:
            screen(batch)
            yield batch
            batch = []
    if batch:
        screen(batch)
        yield batch


def run_batch(
    files: Sequence[SourceFile],
    *,
    select: Callable[[Hashed], T | None],
    work: Callable[[T], R],
    keep: Callable[[R], None],
    workers: int = 1,
    pool: Pool | None = None,
    before_work: Callable[[int], None] | None = None,
    flush: Callable[[], None] | None = None,
    failed: Callable[[T, str], R] | None = None,
    screen: Callable[[Sequence[Hashed]], None] | None = None,
    known: Callable[[Sequence[SourceFile]], list[Known | None]] | None = None,
) -> bool:
    """Hash ``files``, work on those ``select`` picks, ``keep`` each result; True if interrupted.

    ``select`` sees every file's :class:`Hashed` in input order in this thread and returns the
    task to run for it, or None when the file needs no work (it records why itself: unreadable,
    a duplicate, already done). ``before_work`` gets the number of tasks once all are selected.
    ``work`` runs in the pool and returns the file's result, failures included; ``keep`` records
    it in this thread, in input order. ``flush`` is called at most once a second between results.
    ``known``, if given, says in this thread what is known of a few files at a time (their
    stamp and hash when last hashed): those unchanged since are not read again.
    ``screen``, if given, sees up to :data:`SCREEN_BATCH` files at once, in input order, before
    ``select`` sees each of them (to look them all up in the index at once).
    The pool is ``pool``, or else ``workers`` threads of this process. Errors other than Ctrl-C
    (the store refusing a write, a full index) propagate, except a task the pool lost (a file
    that kills every worker that reads it): each of its files is then run again alone, and
    ``failed(task, reason)`` is the result of a file lost again.
    """
    pending: list[Future[list[R]]] = []
    unkept: list[R] = []  # results in hand, not yet kept
    try:
        with contextlib.ExitStack() as stack:
            if pool is None:
                # Our worker threads already fill the cores; BLAS threads inside each would only
                # oversubscribe them (measured: 2x slower features with 2 workers).
                stack.enter_context(one_blas_thread())
                pool = Pool(stack.enter_context(ThreadPoolExecutor(max_workers=workers)), workers)
            window = TASKS_PER_SLOT * pool.slots
            chunk = hash_chunk(len(files), pool.slots)
            jobs = _hash_jobs(files, chunk, known)
            hashed = bounded_map(pool.executor, hash_inputs, jobs, window=window)
            selected = (map(select, batch) for batch in _batches(hashed, screen))
            tasks = [task for part in selected for task in part if task is not None]
            if before_work is not None:
                before_work(len(tasks))
            last_flush = time.monotonic()
            chunk = min(WORK_CHUNK_REMOTE, hash_chunk(len(tasks), pool.slots)) if pool.remote else 1
            parts = (tasks[i : i + chunk] for i in range(0, len(tasks), chunk))
            each = functools.partial(_each, work)

            def lost(part: Sequence[T], exc: BaseException) -> list[R]:
                if failed is None:
                    raise exc
                if len(part) == 1:
                    reason = f"lost: every worker that ran it died ({type(exc).__name__}: {exc})"
                    return [failed(part[0], reason)]
                # Which of the task's files killed the workers? Each again, on its own, so that
                # the others are not failed with it.
                alone = [pool.executor.submit(each, [task]) for task in part]
                pairs = zip(part, alone, strict=True)
                return [result for task, future in pairs for result in retried(task, future)]

            def retried(task: T, future: Future[list[R]]) -> list[R]:
                try:
                    return future.result()
                except pool.lost as exc:
                    return lost([task], exc)

            mapped = bounded_map(
                pool.executor, each, parts, window=window, pending=pending, lost=(pool.lost, lost)
            )
            for results in mapped:
                unkept[:] = results
                while unkept:
                    keep(unkept.pop(0))
                    if flush is not None and time.monotonic() - last_flush > FLUSH_SECONDS:
                        flush()
                        last_flush = time.monotonic()
    except KeyboardInterrupt:
        # A thread pool has let its running tasks finish: keep what they computed, not only
        # what this thread had taken from them when Ctrl-C came.
        for result in unkept:
            keep(result)
        for future in pending:
            if future.done() and not future.cancelled() and future.exception() is None:
                for result in future.result():
                    keep(result)
        return True
    return False
