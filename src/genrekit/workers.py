"""How many threads a batch runs, and one BLAS thread inside each.

Decoding, features and inference release the GIL, so batches run one thread per available core;
each thread then does its linear algebra on one BLAS thread, or the threads would oversubscribe
the cores BLAS already spreads over.
"""

from __future__ import annotations

import os
from contextlib import AbstractContextManager
from typing import Any


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
