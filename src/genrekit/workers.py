"""How many threads a batch runs, one BLAS thread inside each, and where its tasks run.

Decoding, features and inference release the GIL, so batches run one thread per available core;
each thread then does its linear algebra on one BLAS thread, or the threads would oversubscribe
the cores BLAS already spreads over. A batch may instead run on any ``concurrent.futures``
executor given as a :class:`Pool` (a Dask cluster's, :mod:`genrekit.cluster`); whatever the pool,
:func:`bounded_map` keeps a few tasks per slot in flight, never one future per input.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")

TASKS_PER_SLOT = 4
"""Tasks in flight per slot of a pool: enough to keep every slot busy, few enough that memory
stays bounded for any number of inputs."""


def default_workers() -> int:
    """One worker per available core."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def one_blas_thread() -> AbstractContextManager[Any]:
    """A context in which BLAS (numpy's, scipy's) uses one thread: our threads use every core."""
    from threadpoolctl import threadpool_limits

    limits: AbstractContextManager[Any] = threadpool_limits(limits=1, user_api="blas")
    return limits


@dataclass(frozen=True)
class Pool:
    """Where a batch's tasks run: an executor, how many tasks it runs at once (``slots``), and
    whether they leave this process (``remote``: ``work`` must then pickle, and carry no more
    than its file's task; files are hashed in chunks)."""

    executor: Executor
    slots: int
    remote: bool = False


def bounded_map(
    pool: Executor,
    fn: Callable[[T], R],
    items: Iterable[T],
    *,
    window: int,
    pending: list[Future[R]] | None = None,
) -> Iterator[R]:
    """``pool.map`` in order with at most ``window`` tasks in flight, so memory stays bounded.

    ``pending`` (if given) holds the tasks not yet yielded; when the caller stops early the queued
    ones are cancelled and the running ones stay there, so the caller can still collect them.
    """
    pending = [] if pending is None else pending
    iterator = iter(items)
    try:
        for item in iterator:
            pending.append(pool.submit(fn, item))
            if len(pending) >= window:
                result = pending[0].result()  # taken off only once it is in hand
                pending.pop(0)
                yield result
        while pending:
            result = pending[0].result()
            pending.pop(0)
            yield result
    finally:
        for future in pending:
            future.cancel()
