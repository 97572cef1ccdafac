"""A bounded pool of classifying threads: a request waits a bounded time for one, or is refused.

Classification (decoding, features, inference) releases the GIL, so it runs in threads beside
the event loop, at most ``workers`` at once. A request that finds them all busy waits up to
``wait_seconds`` for one (at most ``max_waiting`` requests wait); past that it is refused with
503 and a ``Retry-After`` header, and the server goes on serving the others.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from genrekit.serve.problems import RequestError

T = TypeVar("T")
_POLL_SECONDS = 0.01  # how often a waiting request looks for a free worker


class Pool:
    """``workers`` threads; :meth:`run` waits a bounded time for one, else raises 503."""

    def __init__(self, workers: int, *, wait_seconds: float, max_waiting: int):
        self.workers, self.wait_seconds, self.max_waiting = workers, wait_seconds, max_waiting
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="genrekit-serve")
        # A thread-safe count, not an asyncio one: tests and servers may run several loops.
        self._free = threading.Semaphore(workers)
        self._lock = threading.Lock()
        self.busy = 0
        self.waiting = 0
        self._seconds = 1.0  # a running mean of one job's time, for Retry-After

    async def run(self, job: Callable[[], T]) -> T:
        """``job()`` on a worker thread, once one is free.

        Raises :class:`RequestError` 503 (with ``Retry-After``) when none frees up in time, or
        when too many requests are waiting already."""
        if not self._free.acquire(blocking=False):
            await self._wait()
        with self._lock:
            self.busy += 1

        def work() -> T:
            # The worker gives its place back when the job ends, even if the request that
            # waited for it was cancelled (its client gone): the job runs to its end anyway.
            started = time.monotonic()
            try:
                return job()
            finally:
                with self._lock:
                    self.busy -= 1
                    self._seconds = 0.8 * self._seconds + 0.2 * (time.monotonic() - started)
                self._free.release()

        return await asyncio.get_running_loop().run_in_executor(self._executor, work)

    async def _wait(self) -> None:
        with self._lock:
            if self.waiting >= self.max_waiting:
                raise self._refusal()
            self.waiting += 1
        try:
            deadline = time.monotonic() + self.wait_seconds
            while not self._free.acquire(blocking=False):
                if time.monotonic() >= deadline:
                    raise self._refusal()
                await asyncio.sleep(_POLL_SECONDS)
        finally:
            with self._lock:
                self.waiting -= 1

    def _refusal(self) -> RequestError:
        ahead = self.waiting + self.busy
        retry = max(1, math.ceil(self._seconds * ahead / self.workers))
        return RequestError(
            503,
            f"busy: {_count(self.workers, 'worker')} classifying and "
            f"{_count(self.waiting, 'request')} waiting; try again in {retry} s",
            headers={"Retry-After": str(retry)},
        )

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


def _count(n: int, thing: str) -> str:
    return f"{n} {thing}{'' if n == 1 else 's'}"
