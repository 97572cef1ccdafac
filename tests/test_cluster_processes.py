"""--cluster on a real cluster: a scheduler and two workers as processes on loopback.

The store an extract or embed on the cluster leaves is the one a local run leaves, byte for byte
(index rows apart from their timestamps), even when a worker or the client is killed mid-run
(SIGKILL): the killed worker's tasks run again on the other one, no partial file remains, no row
is written twice, and the same command run again after a killed client does only what is
missing. classify on the cluster prints what it prints locally, each worker loading the model
once.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import genrekit
from genrekit.extract import ExtractOptions, extract_dataset
from tests.conftest import EXAMPLES, Cli
from tests.dask_cluster import (
    ENV,
    NO_GENREKIT_WORKER,
    DaskProcesses,
    clips_indexed,
    dask_processes,
    partial_files,
    sigkill,
    store_contents,
    wait_for,
    write_clips,
)

pytestmark = pytest.mark.cluster

N_CLIPS = 80  # on workers 40 ms slower per clip: a run lasts a few seconds, killed in its midst
CLIP_SECONDS = 4.0
RUN_SECONDS = 240  # a bound, not an expectation


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_clips(tmp_path_factory.mktemp("cluster") / "in", N_CLIPS, seconds=CLIP_SECONDS)


@pytest.fixture(scope="module")
def local_store(source: Path) -> Path:
    """The reference: the same inputs extracted by this process's threads."""
    store = source.parent / "local-store"
    assert extract_dataset(source, store, ExtractOptions(clip_seconds=CLIP_SECONDS, workers=2)).ok
    return store


@pytest.fixture(scope="module")
def dask(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaskProcesses]:
    """A cluster the tests share; a test that kills a worker starts its own."""
    with dask_processes(2, tmp_path_factory.mktemp("dask-logs"), slow=True) as procs:
        yield procs


@pytest.fixture
def own_dask(tmp_path: Path) -> Iterator[DaskProcesses]:
    with dask_processes(2, tmp_path / "logs", slow=True) as procs:
        yield procs


def _extract(source: Path, store: Path, address: str) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "genrekit", "extract", str(source), "-o", str(store)]
    return subprocess.Popen(
        [*command, "--clip-seconds", str(CLIP_SECONDS), "--cluster", address],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=ENV,
    )


def _finish(proc: subprocess.Popen[bytes]) -> tuple[int, str]:
    out, err = proc.communicate(timeout=RUN_SECONDS)
    return proc.returncode, out.decode() + err.decode()


def _features(store: Path) -> int:
    return sum(1 for _ in (store / "features" / "logmel").rglob("*.npy"))


def test_a_cluster_run_is_byte_identical_to_a_local_run(
    source: Path, local_store: Path, dask: DaskProcesses, tmp_path: Path
) -> None:
    code, text = _finish(_extract(source, tmp_path / "store", dask.address))
    assert code == 0, text
    assert f"{N_CLIPS} files in" in text
    assert store_contents(tmp_path / "store") == store_contents(local_store)


def test_a_worker_killed_mid_run_loses_nothing(
    source: Path, local_store: Path, own_dask: DaskProcesses, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    run = _extract(source, store, own_dask.address)
    assert wait_for(lambda: _features(store) >= 4, run), _finish(run)
    sigkill(own_dask.workers[0])
    mid_run = run.poll() is None and _features(store) < N_CLIPS
    code, text = _finish(run)
    assert mid_run, "the run ended before the worker was killed: nothing was tested"
    assert code == 0, text
    assert store_contents(store) == store_contents(local_store)  # no row twice, none missing
    assert partial_files(store) == []


def test_a_client_killed_mid_run_resumes_with_what_is_missing(
    source: Path, local_store: Path, dask: DaskProcesses, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    run = _extract(source, store, dask.address)
    assert wait_for(lambda: clips_indexed(store) >= 2, run), _finish(run)
    sigkill(run)
    kept = clips_indexed(store)
    assert 2 <= kept < N_CLIPS, "the run ended before the client was killed: nothing was tested"
    code, text = _finish(_extract(source, store, dask.address))
    assert code == 0, text
    assert f"already done (skipped) │ {kept:>5}" in text  # done before the kill: not redone
    assert store_contents(store) == store_contents(local_store)
    assert partial_files(store) == []


def test_embed_on_the_cluster_is_byte_identical_to_a_local_run(
    dask: DaskProcesses, tmp_path: Path, cli: Cli
) -> None:
    assert extract_dataset(EXAMPLES, tmp_path / "here", ExtractOptions(workers=1)).ok
    shutil.copytree(tmp_path / "here", tmp_path / "there")
    assert cli("embed", EXAMPLES, "-o", tmp_path / "here", "-j", "1").code == 0
    run = cli("embed", EXAMPLES, "-o", tmp_path / "there", "--cluster", dask.address)
    assert run.code == 0, run.err
    assert "5 clips embedded, 0 already done, 0 failed" in run.out
    embedded = sorted((tmp_path / "there" / "features" / "emb-msd-musicnn").rglob("*.npy"))
    assert len(embedded) == 5
    assert store_contents(tmp_path / "there") == store_contents(tmp_path / "here")
    assert partial_files(tmp_path / "there") == []


@pytest.mark.parametrize("output", ["json", "csv"])
def test_classify_on_the_cluster_prints_the_local_answers(
    dask: DaskProcesses, cli: Cli, output: str
) -> None:
    from distributed import Client

    from genrekit import classify_batch

    here = cli("classify", EXAMPLES, "--format", output, "--tags", "-j", "1")
    there = cli("classify", EXAMPLES, "--format", output, "--tags", "--cluster", dask.address)
    assert here.code == there.code == 0, there.err
    assert there.out == here.out and there.out.count("classified") == 5
    with Client(dask.address, timeout=30) as client:  # the model, once per worker
        loads = client.run(lambda: classify_batch._worker_model.cache_info().misses)
    assert sorted(loads.values()) == [1, 1]


def test_classify_many_takes_a_client(dask: DaskProcesses) -> None:
    from distributed import Client

    from genrekit.classify_batch import classify_many, find_audio

    files = find_audio([EXAMPLES])
    here, _ = classify_many(files, workers=1)
    with Client(dask.address, timeout=30) as client:
        there, failed = classify_many(files, client=client)
    assert not failed and len(there) == len(files) == 5
    assert [(p.source, p.probabilities) for p in there] == [
        (p.source, p.probabilities) for p in here
    ]


def test_a_worker_without_genrekit_is_one_line_and_exit_2(source: Path, tmp_path: Path) -> None:
    """It used to die on its first task (it cannot unpickle it) and the run waited for ever."""
    with dask_processes(1, tmp_path / "logs", preload=NO_GENREKIT_WORKER) as procs:
        code, output = _finish(_extract(source, tmp_path / "store", procs.address))
    assert code == 2
    lines = output.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in output
    assert lines[0].startswith("error: the Dask worker tcp://127.0.0.1:")
    assert lines[0].endswith(
        "cannot import genrekit (ModuleNotFoundError: No module named 'genrekit'); "
        f"install genrekit[cluster] {genrekit.__version__} on every worker"
    )
