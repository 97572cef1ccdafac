"""A real Dask cluster for tests: a scheduler and workers as separate processes on loopback.

Every process is started with a bounded wait for it to come up and is always stopped (SIGTERM,
then SIGKILL) when the ``with`` block ends, whatever happened inside.
"""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

START_SECONDS = 60.0
"""Longest wait for the scheduler and its workers to come up (a loaded 2-core machine)."""

SLOW_WORKER = Path(__file__).resolve().parent / "slow_worker.py"
NO_GENREKIT_WORKER = Path(__file__).resolve().parent / "no_genrekit_worker.py"
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def free_port() -> int:
    with closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class DaskProcesses:
    address: str
    scheduler: subprocess.Popen[bytes]
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@contextmanager
def dask_processes(
    n_workers: int, log_dir: Path, *, slow: bool = False, preload: Path | None = None
) -> Iterator[DaskProcesses]:
    """``dask scheduler`` and ``n_workers`` ``dask worker`` processes (one thread each, no
    nanny: a killed worker stays dead) on 127.0.0.1; stopped when the block ends. ``slow``:
    the workers take 40 ms more per clip extracted (tests/slow_worker.py); ``preload``: the
    workers preload that file instead."""
    preload = SLOW_WORKER if slow else preload
    from distributed import Client

    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    log_dir.mkdir(parents=True, exist_ok=True)

    def start(name: str, *args: str) -> subprocess.Popen[bytes]:
        log = (log_dir / f"{name}.log").open("wb")
        return subprocess.Popen(
            [sys.executable, "-m", *args], stdout=log, stderr=subprocess.STDOUT, env=ENV
        )

    procs = DaskProcesses(
        address,
        start(
            "scheduler",
            "distributed.cli.dask_scheduler",
            *("--host", "127.0.0.1", "--port", str(port), "--no-dashboard"),
        ),
    )
    try:
        for i in range(n_workers):
            procs.workers.append(
                start(
                    f"worker{i}",
                    "distributed.cli.dask_worker",
                    address,
                    *("--host", "127.0.0.1", "--nthreads", "1", "--no-nanny", "--no-dashboard"),
                    *("--death-timeout", "60"),
                    *(("--preload", str(preload)) if preload is not None else ()),
                )
            )
        with Client(address, timeout=START_SECONDS) as client:
            client.wait_for_workers(n_workers, timeout=START_SECONDS)
        yield procs
    finally:
        for proc in [*procs.workers, procs.scheduler]:
            _stop(proc)


def write_clips(folder: Path, n: int, seconds: float = 3.0, sr: int = 22050) -> Path:
    """``n`` different generated clips in two genre folders (``a/``, ``b/``) under ``folder``."""
    rng = np.random.default_rng(7)
    t = np.arange(int(seconds * sr)) / sr
    for i in range(n):
        y = 0.3 * np.sin(2 * np.pi * rng.uniform(150, 900) * t) + 0.05 * rng.standard_normal(t.size)
        path = folder / "ab"[i % 2] / f"clip{i:03d}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, y.astype(np.float32), sr)
    return folder


def store_contents(root: Path) -> tuple[dict[str, bytes], list[tuple[object, ...]]]:
    """Every file under ``features/`` (path: bytes), and the index's rows without timestamps."""
    files = {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted((root / "features").rglob("*"))
        if p.is_file()
    }
    with closing(sqlite3.connect(root / "index.sqlite")) as db:
        rows = db.execute(
            "SELECT path, genre, artist, sha256, size, status, reason FROM tracks ORDER BY path"
        ).fetchall()
        rows += db.execute(
            "SELECT sha256, duration, n_frames, n_valid, peak_db FROM clips ORDER BY sha256"
        ).fetchall()
    return files, rows


def partial_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if ".part" in p.name]


def clips_indexed(root: Path) -> int:
    """Clip rows committed to the index so far (0 while there is no index)."""
    try:
        with closing(sqlite3.connect(f"file:{root / 'index.sqlite'}?mode=ro", uri=True)) as db:
            (n,) = db.execute("SELECT count(*) FROM clips").fetchone()
            return int(n)
    except sqlite3.Error:
        return 0


def wait_for(
    condition: Callable[[], object], proc: subprocess.Popen[bytes], seconds: float = 60.0
) -> bool:
    """Poll ``condition()`` every 20 ms until true (True) or ``proc`` ended or time ran out."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and proc.poll() is None:
        if condition():
            return True
        time.sleep(0.02)
    return False


def sigkill(proc: subprocess.Popen[bytes]) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
