"""Threads per batch (genrekit.workers): one per core, each on one BLAS thread."""

from __future__ import annotations

import os

import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from genrekit.workers import default_workers, one_blas_thread


def blas_threads() -> set[int]:
    return {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"}


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity"), reason="Linux only")
def test_one_worker_per_core_this_process_may_use() -> None:
    assert default_workers() == len(os.sched_getaffinity(0))


def test_one_blas_thread_inside_and_the_callers_limit_after() -> None:
    with threadpool_limits(limits=2, user_api="blas"):  # whatever OMP_NUM_THREADS says
        assert blas_threads() == {2}
        with one_blas_thread():
            assert blas_threads() == {1}
        assert blas_threads() == {2}
