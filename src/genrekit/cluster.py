"""Where a batch runs when it leaves this machine: a Dask cluster (``dask.distributed``).

``--cluster tcp://host:8786`` names a running Dask scheduler (on a laptop, a SLURM allocation via
dask-jobqueue, Kubernetes via dask-kubernetes or a Helm chart); ``--cluster local:N`` starts a
local cluster of N worker processes of one thread each, for as long as the command runs. The
batch itself stays :func:`genrekit.store_batch.run_batch`: only its executor changes
(:func:`pool_of`). Workers read inputs by path (every worker sees the same files, a shared
filesystem) and write into the store themselves; the client keeps the store's index.

Needs the ``cluster`` extra; without it :func:`connect` says so in one line.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING

from genrekit import extras
from genrekit.errors import ClusterError, ParameterError
from genrekit.workers import Pool

if TYPE_CHECKING:
    from distributed import Client

CONNECT_SECONDS = 10.0
"""How long to try reaching a scheduler (and, for ``local:N``, starting one) before giving up."""

WORKERS_SECONDS = 30.0
"""How long to wait for a scheduler that has no worker yet to get one."""

MAX_LOCAL_WORKERS = 512
_LOCAL = re.compile(r"local:(?P<n>[0-9]{1,18})")
_REMOTE = re.compile(
    r"(?P<scheme>tcp|tls)://(?P<host>\[[0-9a-fA-F:]+\]|[^\s/:]+):(?P<port>[0-9]{1,5})"
)
HINT = "give tcp://HOST:PORT of a Dask scheduler, or local:N for N local worker processes"


@dataclass(frozen=True)
class ClusterAddress:
    """A parsed ``--cluster`` value: a scheduler's address, or a local cluster's worker count."""

    scheduler: str | None = None
    local_workers: int = 0

    def __str__(self) -> str:
        return self.scheduler or f"local:{self.local_workers}"


def parse_address(text: str) -> ClusterAddress:
    """``tcp://host:8786`` (or ``tls://``) or ``local:N``; anything else is a
    :class:`ParameterError` naming the value."""
    text = text.strip()
    local = _LOCAL.fullmatch(text)
    if local is not None:
        n = int(local["n"])
        if not 1 <= n <= MAX_LOCAL_WORKERS:
            raise ParameterError(
                f"a local cluster has 1 to {MAX_LOCAL_WORKERS} workers",
                option="cluster",
                value=text,
            )
        return ClusterAddress(local_workers=n)
    remote = _REMOTE.fullmatch(text)
    if remote is None or not 0 < int(remote["port"]) < 65536:
        raise ParameterError(HINT, option="cluster", value=text)
    return ClusterAddress(scheduler=text)


@contextmanager
def connect(address: str | ClusterAddress, *, timeout: float | None = None) -> Iterator[Client]:
    """A Dask client of ``address`` for the ``with`` block; a local cluster is started for it and
    stopped after. An unreachable scheduler is one :class:`ClusterError` line after ``timeout``
    seconds (default :data:`CONNECT_SECONDS`)."""
    where = address if isinstance(address, ClusterAddress) else parse_address(address)
    timeout = CONNECT_SECONDS if timeout is None else timeout
    extras.require("running on a Dask cluster", "distributed")
    from distributed import Client, LocalCluster

    if where.scheduler is None:
        with (
            LocalCluster(  # type: ignore[no-untyped-call]
                n_workers=where.local_workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=":0",  # a free port: 8787 may be taken
                silence_logs=logging.ERROR,
            ) as cluster,
            Client(cluster, timeout=timeout) as client,  # type: ignore[no-untyped-call]
        ):
            yield client
        return
    try:
        client = Client(where.scheduler, timeout=timeout)  # type: ignore[no-untyped-call]
    except (OSError, TimeoutError) as exc:
        raise ClusterError(
            f"{where}: cannot reach a Dask scheduler within {timeout:g} s ({_why(exc)}); "
            "start one (dask scheduler) or check the address"
        ) from exc
    with client:
        yield client


def _why(exc: BaseException) -> str:
    """The first line of the deepest OS error under ``exc`` ("Connection refused", not Dask's
    "Timed out trying to connect to ... after 10 s", which the message says already)."""
    why, inner = exc, exc.__cause__ or exc.__context__
    for _ in range(10):  # a chain, bounded
        if inner is None:
            break
        if isinstance(inner, OSError) and str(inner):
            why = inner
        inner = inner.__cause__ or inner.__context__
    text = str(why).splitlines()[0] if str(why) else ""
    if why is exc:
        return text or type(exc).__name__
    return f"{type(why).__name__}: {text}"


def connect_if(address: str | None) -> AbstractContextManager[Client | None]:
    """:func:`connect` to ``address``, or None for the ``with`` block when there is none."""
    return nullcontext() if address is None else connect(address)


def pool_of(client: Client, *, timeout: float | None = None) -> Pool:
    """The batch pool of ``client``: one slot per worker thread of the cluster now."""
    timeout = WORKERS_SECONDS if timeout is None else timeout
    try:
        client.wait_for_workers(1, timeout=timeout)
    except (OSError, TimeoutError) as exc:
        raise ClusterError(
            f"the Dask scheduler has had no worker for {timeout:g} s; start workers "
            "(dask worker SCHEDULER-ADDRESS)"
        ) from exc
    check_workers(client)
    from distributed import KilledWorker

    slots = sum(client.nthreads().values())  # type: ignore[no-untyped-call]
    executor = client.get_executor(pure=False)  # type: ignore[no-untyped-call]
    return Pool(executor, max(1, slots), remote=True, lost=(KilledWorker,))


def check_workers(client: Client) -> None:
    """A :class:`ClusterError` naming the first worker of ``client`` that cannot import genrekit
    or has another version of it than this machine (its results would differ from a local run).

    Without this a worker without genrekit dies on its first task (it cannot unpickle it) and
    the run waits for ever, or ends in a traceback."""
    from genrekit import __version__

    # eval, a builtin, unpickles on any worker: a function of genrekit would not.
    found = client.run(eval, "__import__('genrekit').__version__", on_error="return")
    install = f"install genrekit[cluster] {__version__} on every worker"
    for worker, result in sorted(found.items()):
        if isinstance(result, BaseException):
            detail = str(result).splitlines()[0] if str(result) else ""
            raise ClusterError(
                f"the Dask worker {worker} cannot import genrekit "
                f"({type(result).__name__}: {detail}); {install}"
            )
        if result != __version__:
            raise ClusterError(
                f"the Dask worker {worker} has genrekit {result}, this machine {__version__}; "
                f"{install}"
            )
