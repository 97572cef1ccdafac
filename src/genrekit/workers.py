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
    lost: tuple[type[BaseException], ...] = ()
    """Errors that mean a task itself was lost, not the batch (Dask's ``KilledWorker``: every
    worker that ran it died); the files of such a task fail, the others go on."""


def bounded_map(
    pool: Executor,
    fn: Callable[[T], R],
    items: Iterable[T],
    *,
    window: int,
    pending: list[Future[R]] | None = None,
    lost: tuple[tuple[type[BaseException], ...], Callable[[T, BaseException], R]] | None = None,
) -> Iterator[R]:
    """``pool.map`` in order with at most ``window`` tasks in flight, so memory stays bounded.

    ``pending`` (if given) holds the tasks not yet yielded; when the caller stops early the queued
    ones are cancelled and the running ones stay there, so the caller can still collect them.
    ``lost`` is (errors, stand-in): a task whose future raises one of these errors yields
    ``stand-in(item, error)`` instead, and the others go on.
    """
    pending = [] if pending is None else pending
    errors, stand_in = lost if lost is not None else ((), None)
    inputs: list[T] = []  # the item of each pending task

    def take() -> R:
        try:
            result = pending[0].result()  # taken off only once it is in hand
        except errors as exc:
            assert stand_in is not None
            result = stand_in(inputs[0], exc)
        pending.pop(0)
        inputs.pop(0)
        return result

    iterator = iter(items)
    try:
        for item in iterator:
            pending.append(pool.submit(fn, item))
            inputs.append(item)
            if len(pending) >= window:
                yield take()
        while pending:
            yield take()
    finally:
        for future in pending:
            future.cancel()
