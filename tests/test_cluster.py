"""--cluster: extract on a Dask cluster gives the store a local run gives, byte for byte.

The address is checked before anything starts, an unreachable scheduler is one line (exit 2), a
missing extra is named. The process tests (tests/test_cluster_processes.py) run a real scheduler
and workers and kill them mid-run.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import genrekit
from genrekit import cluster
from genrekit.cluster import ClusterAddress, connect, parse_address
from genrekit.errors import ClusterError, MissingExtraError, ParameterError
from genrekit.extract import ExtractOptions, extract_dataset
from tests.conftest import Cli
from tests.dask_cluster import free_port, partial_files, store_contents, write_clips

pytestmark = pytest.mark.cluster


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("local:2", ClusterAddress(local_workers=2)),
        ("tcp://127.0.0.1:8786", ClusterAddress(scheduler="tcp://127.0.0.1:8786")),
        ("tcp://scheduler.example.org:8786", ClusterAddress("tcp://scheduler.example.org:8786")),
        ("tls://[::1]:8786", ClusterAddress(scheduler="tls://[::1]:8786")),
    ],
)
def test_an_address_is_a_scheduler_or_a_local_cluster(text: str, parsed: ClusterAddress) -> None:
    assert parse_address(text) == parsed
    assert str(parsed) == text


@pytest.mark.parametrize(
    "text", ["local:0", "local:", "local:99999", "127.0.0.1:8786", "http://h:8786", "tcp://h", ""]
)
def test_a_bad_address_names_itself(text: str) -> None:
    with pytest.raises(ParameterError) as caught:
        parse_address(text)
    assert caught.value.option == "cluster" and caught.value.value == text.strip()


@pytest.mark.parametrize("text", ["local:0", "local:513", "local:99999"])
def test_too_many_or_no_local_workers_says_how_many_may_be(text: str) -> None:
    with pytest.raises(ParameterError, match=r": a local cluster has 1 to 512 workers$"):
        parse_address(text)


def test_an_unreachable_scheduler_is_one_line_and_exit_2(
    tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cluster, "CONNECT_SECONDS", 1.0)
    address = f"tcp://127.0.0.1:{free_port()}"  # nothing listens there
    write_clips(tmp_path / "in", 2)
    run = cli("extract", tmp_path / "in", "-o", tmp_path / "store", "--cluster", address)
    assert run.code == 2
    assert run.error_line.startswith(
        f"error: {address}: cannot reach a Dask scheduler within 1 s ("
    )  # the cause: "ConnectionRefusedError: ..." when Dask tried before its second ran out
    assert run.error_line.endswith("); start one (dask scheduler) or check the address")
    assert not (tmp_path / "store").exists()  # nothing was started


def test_the_cause_is_the_os_error_under_dask_s_timeout() -> None:
    """Why it could not connect, not Dask's "Timed out ... after 10 s" that the line says."""
    try:
        try:
            raise ConnectionRefusedError(111, "Connection refused")
        except OSError as refused:
            raise TimeoutError("Timed out trying to connect to tcp://h:1 after 10 s") from refused
    except TimeoutError as timeout:
        assert cluster._why(timeout) == "ConnectionRefusedError: [Errno 111] Connection refused"
        assert cluster._why(TimeoutError("Timed out after 1 s")) == "Timed out after 1 s"


def test_a_bad_address_is_a_usage_error(tmp_path: Path, cli: Cli) -> None:
    write_clips(tmp_path / "in", 2)
    run = cli("extract", tmp_path / "in", "-o", tmp_path / "s", "--cluster", "host:8786")
    assert run.code == 2
    assert run.error_line == (
        "error: --cluster host:8786: give tcp://HOST:PORT of a Dask scheduler, or local:N for N "
        "local worker processes"
    )


def test_without_the_extra_the_message_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed fails
    with (
        pytest.raises(MissingExtraError, match=r"pip install 'genrekit\[cluster\]'"),
        connect("local:1"),
    ):
        pass


def test_a_scheduler_without_workers_is_one_error() -> None:
    from distributed import Client, LocalCluster

    with (
        LocalCluster(n_workers=0, processes=False, dashboard_address=None) as empty,
        Client(empty) as client,
        pytest.raises(ClusterError, match=r"no worker for 0\.2 s"),
    ):
        cluster.pool_of(client, timeout=0.2)


def test_extract_on_a_local_cluster_is_byte_identical_to_a_local_run(tmp_path: Path) -> None:
    source = write_clips(tmp_path / "in", 8)
    (source / "a" / "broken.wav").write_bytes(b"RIFF not really")  # a failure, on a worker
    options = ExtractOptions(clip_seconds=3.0, workers=1)
    here = extract_dataset(source, tmp_path / "here", options)
    with connect("local:2") as client:
        there = extract_dataset(source, tmp_path / "there", options, client=client)
        again = extract_dataset(source, tmp_path / "there", options, client=client)
    assert here.counts == there.counts and here.counts["done"] == 8
    assert [f.rel for f in there.failures] == ["a/broken.wav"]
    assert store_contents(tmp_path / "there") == store_contents(tmp_path / "here")
    assert again.counts["cached"] == 8 and again.counts["done"] == 0  # resumes: nothing to do
    assert partial_files(tmp_path / "there") == []


class _Workers:
    """A client whose workers answer ``found`` to ``client.run``."""

    def __init__(self, found: dict[str, object]) -> None:
        self.found = found

    def run(self, *args: object, **kwargs: object) -> dict[str, object]:
        return self.found


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (
            ModuleNotFoundError("No module named 'genrekit'"),
            "the Dask worker tcp://10.0.0.9:4000 cannot import genrekit (ModuleNotFoundError: "
            "No module named 'genrekit'); install genrekit[cluster] {v} on every worker",
        ),
        (
            "0.0.1",
            "the Dask worker tcp://10.0.0.9:4000 has genrekit 0.0.1, this machine {v}; "
            "install genrekit[cluster] {v} on every worker",
        ),
    ],
)
def test_a_worker_without_this_genrekit_is_one_error(answer: object, message: str) -> None:
    client = _Workers({"tcp://10.0.0.1:4000": genrekit.__version__, "tcp://10.0.0.9:4000": answer})
    with pytest.raises(ClusterError) as caught:
        cluster.check_workers(client)  # type: ignore[arg-type]
    assert str(caught.value) == message.format(v=genrekit.__version__)


class _LostError(Exception):
    """Stands for Dask's KilledWorker: every worker that ran the task died."""


def test_a_file_the_cluster_lost_is_its_failure_not_the_end_of_classify(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from genrekit import classify_batch
    from genrekit.classify_batch import AudioFile, Outcome, classify_each
    from genrekit.workers import Pool

    def job(self: object, file: AudioFile) -> Outcome:
        if file.name == "killer.wav":  # a file that kills every worker decoding it
            raise _LostError("worker died")
        return Outcome(file, error="classified")

    monkeypatch.setattr(classify_batch._ClassifyJob, "__call__", job)
    model = type("Stub", (), {"path": tmp_path / "m.onnx", "name": "stub"})()
    files = [AudioFile(tmp_path / name, name) for name in ("a.wav", "killer.wav", "b.wav")]
    with ThreadPoolExecutor(max_workers=2) as executor:
        pool = Pool(executor, slots=1, remote=True, lost=(_LostError,))
        outcomes = list(classify_each(files, model, pool=pool))
    assert [(o.file.name, o.error) for o in outcomes] == [
        ("a.wav", "classified"),
        ("killer.wav", "lost: every worker that ran it died (_LostError: worker died)"),
        ("b.wav", "classified"),
    ]
