"""Benchmark: genrekit's stages per core, on a thread pool and on a Dask cluster, and a resumed
store of a million clips.

    OMP_NUM_THREADS=1 python bench/scale.py --data ../shared/data/gtzan-dev [--clips 48]
        [--rows 1000000] [--repeats 3] [--work /tmp/genrekit-scale] [--parts 1234]

1. Per-core throughput of each stage (one thread): hashing, embed (msd-musicnn) and classify
   (the default model), in clips/s, on the first ``--clips`` files of ``--data`` (copied
   to ``--work``, never into the repo).
2. extract on the same files with this process's threads (``workers`` 1 and 2), on ``local:1``
   and on ``local:2`` (Dask worker processes of one thread; the cluster's start is timed apart),
   side by side, the best of ``--repeats`` rounds (the ways take turns, so a busy moment of a
   shared machine hits them alike); the cluster path's overhead per clip is ``local:1`` minus
   one thread. Extract's per-core throughput is the one-thread row.
3. A resumed extract over a synthetic index of ``--rows`` done clips (built once with SQL, kept in
   ``--work``): the real ``extract_dataset`` with the folder scan and the file hashes replaced by
   their results, so what is timed is the index and the selection, not the disk (hashing is
   item 1's number, per file; a resume hashes no unchanged file). Run first, so that the peak
   memory it prints is its own, with what the scan's list of inputs alone takes.
4. The clean-up walk at the start of every run (``remove_stale_temps``) over a store of 100,000
   feature files in 256 folders, per file.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import resource
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from genrekit import extract, store_batch
from genrekit.classify_batch import classify_many
from genrekit.cluster import connect
from genrekit.dataset import StoreInfo, create_or_check
from genrekit.embed import embed_dataset
from genrekit.extract import ExtractOptions, extract_dataset
from genrekit.inputs import DatasetScan, SourceFile
from genrekit.storage import remove_stale_temps, sha256_file
from genrekit.store_batch import Hashed
from genrekit.store_index import open_index


def copy_clips(data: Path, n: int, work: Path) -> Path:
    """The first ``n`` audio files of ``data``'s genre folders, round robin, under ``work/in``."""
    target = work / "in"
    if target.is_dir() and sum(1 for _ in target.rglob("*.*")) == n:
        return target
    shutil.rmtree(target, ignore_errors=True)
    genres = sorted(p for p in data.iterdir() if p.is_dir())
    files = [sorted(f for f in g.iterdir() if f.is_file()) for g in genres]
    picked = [f for row in zip(*files, strict=False) for f in row][:n]
    for f in picked:
        (target / f.parent.name).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(f, target / f.parent.name / f.name)
    return target


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def per_core(source: Path, work: Path) -> dict[str, float]:
    """clips/s of hashing, embed and classify on one thread (extract's is item 2's)."""
    files = sorted(p for p in source.rglob("*.*") if p.is_file())
    n = len(files)
    seconds, _ = timed(lambda: [sha256_file(f) for f in files])
    megabytes = sum(f.stat().st_size for f in files) / 1e6
    rates = {"hash": n / seconds, "hash MB/s": megabytes / seconds}
    store = work / "store-1"
    shutil.rmtree(store, ignore_errors=True)
    assert extract_dataset(source, store, ExtractOptions(workers=1)).counts["done"] == n
    seconds, embedded = timed(lambda: embed_dataset(source, store, workers=1))
    assert embedded.done == n, embedded
    rates["embed"] = n / seconds
    seconds, (_, failed) = timed(lambda: classify_many(files, workers=1))
    assert not failed, failed
    rates["classify"] = n / seconds
    return rates


WAYS = ("threads, 1 worker", "threads, 2 workers", "local:1", "local:2")


def extract_ways(source: Path, work: Path, repeats: int) -> dict[str, float]:
    """The best of ``repeats`` times of extract (seconds, a new store each time) on threads and
    on local clusters; each cluster's start (``start local:N``) and first run, on workers that
    have yet to import genrekit (``cold local:N``), apart."""
    n = sum(1 for p in source.rglob("*.*") if p.is_file())
    best: dict[str, float] = {}

    def run(name: str, workers: int = 1, **kwargs: Any) -> float:
        store = work / f"store-{name.replace(':', '').replace(', ', '-').replace(' ', '')}"
        shutil.rmtree(store, ignore_errors=True)
        options = ExtractOptions(workers=workers)
        seconds, summary = timed(lambda: extract_dataset(source, store, options, **kwargs))
        assert summary.counts["done"] == n, summary
        best[name] = min(seconds, best.get(name, float("inf")))
        return seconds

    with contextlib.ExitStack() as stack:
        clients = {}
        for workers in (1, 2):
            start = time.perf_counter()
            clients[workers] = stack.enter_context(connect(f"local:{workers}"))
            best[f"start local:{workers}"] = time.perf_counter() - start
            best[f"cold local:{workers}"] = run(f"local:{workers}", client=clients[workers])
            del best[f"local:{workers}"]
        for _ in range(repeats):  # round robin: a busy moment of the machine hits each way alike
            run(WAYS[0], workers=1)
            run(WAYS[1], workers=2)
            run(WAYS[2], client=clients[1])
            run(WAYS[3], client=clients[2])
    return best


def _sha(rel: str) -> str:
    return hashlib.sha256(rel.encode()).hexdigest()


def _rel(i: int) -> str:
    return f"g{i % 10}/track{i:07d}.mp3"


def synthetic_store(work: Path, rows: int) -> tuple[Path, Path]:
    """A store whose index holds ``rows`` done clips of an (empty) input folder."""
    store, source = work / f"resume-{rows}", work / "resume-in"
    source.mkdir(parents=True, exist_ok=True)
    index = store / "index.sqlite"
    if index.exists():
        return store, source
    store.mkdir(parents=True)
    options = ExtractOptions()
    create_or_check(store, StoreInfo(options.params, options.clip_seconds))
    db = open_index(store)
    tracks = "INSERT INTO tracks (path, genre, sha256, size, status) VALUES (?, ?, ?, ?, 'ok')"
    db.executemany(tracks, ((_rel(i), f"g{i % 10}", _sha(_rel(i)), 480_000) for i in range(rows)))
    clips = (
        "INSERT INTO clips (sha256, duration, n_frames, n_valid, peak_db) "
        "VALUES (?, 30, 1292, 1292, -3)"
    )
    db.executemany(clips, ((_sha(_rel(i)),) for i in range(rows)))
    db.commit()
    db.close()
    return store, source


def peak_mb() -> float:
    """This process's peak resident memory so far, MB (Linux: ru_maxrss is in KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def resume(work: Path, rows: int) -> tuple[float, float, float]:
    """Seconds of a resumed extract over ``rows`` done clips (scan and hashes given), and of
    building the synthetic index (0 when it was kept from a former run), and the peak memory
    (MB) with the scan's list of inputs in hand, before the resume."""
    start = time.perf_counter()
    existed = (work / f"resume-{rows}" / "index.sqlite").exists()
    store, source = synthetic_store(work, rows)
    built = 0.0 if existed else time.perf_counter() - start
    files = [SourceFile(source / _rel(i), _rel(i), f"g{i % 10}") for i in range(rows)]
    scanned = peak_mb()
    real_scan, real_hash = extract.scan_input, store_batch.hash_input  # type: ignore[attr-defined]
    extract.scan_input = lambda _: DatasetScan(files=files)  # type: ignore[attr-defined,assignment]
    store_batch.hash_input = lambda src, known=None: Hashed(src, _sha(src.rel), 480_000, None)
    try:
        seconds, summary = timed(lambda: extract_dataset(source, store, ExtractOptions(workers=2)))
    finally:
        extract.scan_input = real_scan  # type: ignore[attr-defined]
        store_batch.hash_input = real_hash
    assert summary.counts["cached"] == rows and summary.total == rows, summary.counts
    return seconds, built, scanned


def walk(work: Path, n: int = 100_000) -> float:
    """Microseconds per feature file of the clean-up walk at the start of a run."""
    store = work / "walk"
    if not store.is_dir():
        for i in range(n):
            sha = _sha(str(i))
            folder = store / "features" / "logmel" / sha[:2]
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{sha}.npy").touch()
    seconds, _ = timed(lambda: remove_stale_temps(store))
    return seconds / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="<genre>/<audio> folders (parts 1 and 2)")
    parser.add_argument("--clips", type=int, default=48)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--work", type=Path, default=Path("/tmp/genrekit-scale"))
    parser.add_argument(
        "--parts", default="1234", help="which of the parts 1-4 to run (default: all, 1234)"
    )
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    if "3" in args.parts:  # first, so that its peak memory is its own
        print(f"\n3. resumed extract over {args.rows:,} done clips (index + selection, no disk):")
        seconds, built, scanned = resume(args.work, args.rows)
        if built:
            print(f"   built the synthetic index in {built:.1f} s")
        print(f"   resume: {seconds:.1f} s ({seconds / args.rows * 1e6:.1f} us per clip)")
        print(f"   peak memory: {peak_mb():.0f} MB ({scanned:.0f} MB with the scan's list in hand)")
    if "1" in args.parts or "2" in args.parts:
        if args.data is None:
            parser.error("parts 1 and 2 need --data")
        source = copy_clips(args.data, args.clips, args.work)
        n = sum(1 for p in source.rglob("*.*") if p.is_file())
    if "1" in args.parts:
        print(f"\n1. per core (one thread), {n} clips of {args.data}:")
        for stage, rate in per_core(source, args.work).items():
            unit = "" if stage.endswith("MB/s") else " clips/s"
            print(f"   {stage:<12} {rate:8.1f}{unit}")
    if "2" in args.parts:
        print(f"\n2. extract, the same {n} clips, best of {args.repeats}:")
        ways = extract_ways(source, args.work, args.repeats)
        base = ways[WAYS[0]]
        for name in WAYS:
            sec = ways[name]
            print(f"   {name:<20} {sec:6.2f} s {n / sec:7.1f} clips/s  x{base / sec:.2f}")
        for workers in (1, 2):
            started, cold = ways[f"start local:{workers}"], ways[f"cold local:{workers}"]
            print(f"   (local:{workers}: {started:.2f} s to start, {cold:.2f} s for its first run)")
        overhead = (ways["local:1"] - ways[WAYS[0]]) / n
        print(f"   cluster overhead per clip (local:1 - 1 thread): {overhead * 1000:.1f} ms")
    if "4" in args.parts:
        print(f"\n4. start-of-run clean-up walk: {walk(args.work):.2f} us per feature file")
    print(f"\nload average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
