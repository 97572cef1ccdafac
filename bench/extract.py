"""Benchmark: genrekit extract beside librosa's chain and the decode-only ceiling.

    python bench/extract.py                          # 24 generated 30 s mp3 previews
    python bench/extract.py ../shared/data/gtzan-dev # a <genre>/<files> folder, re-encoded

All three are measured in one run, on the same files, with the same number of worker threads:

- genrekit: ``extract_dataset`` into a fresh store (hashing, decoding, features, .npy, SQLite);
- librosa: ``librosa.load`` + ``melspectrogram`` + ``mfcc(y=...)`` per file, the reference chain;
- ceiling: ``genrekit.audio.load`` alone (decode + down-mix + resample), nothing else.

Input files are first encoded as 128 kbps, 44.1 kHz stereo mp3, like streaming previews. Each
method runs ``--repeats`` times, interleaved, and the best time is reported (the least disturbed
by other load on the machine). Numerics of the store are checked against librosa at the end.
"""

from __future__ import annotations

import argparse
import itertools
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import av
import numpy as np
from threadpoolctl import threadpool_limits

from genrekit.audio import load
from genrekit.constants import AUDIO_EXTENSIONS, CLIP_SECONDS, SAMPLE_RATE
from genrekit.dataset import FeatureStore
from genrekit.extract import ExtractOptions, extract_dataset

PREVIEW_SR = 44100
PREVIEW_BITRATE = 128_000


def encode_preview(y: np.ndarray, target: Path) -> None:
    """Write mono 44.1 kHz ``y`` as a 128 kbps stereo mp3, the shape of a streaming preview."""
    stereo = np.stack([y, y])
    with av.open(str(target), "w", format="mp3") as out:
        stream = out.add_stream("libmp3lame", rate=PREVIEW_SR, layout="stereo")
        stream.bit_rate = PREVIEW_BITRATE
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(stereo, dtype=np.float32), format="fltp", layout="stereo"
        )
        frame.sample_rate = PREVIEW_SR
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


def generated_inputs(root: Path, n: int) -> None:
    rng = np.random.default_rng(0)
    t = np.arange(int(CLIP_SECONDS * PREVIEW_SR)) / PREVIEW_SR
    for i in range(n):
        notes = rng.uniform(110, 880, size=4)
        y = sum(0.1 * np.sin(2 * np.pi * f * t) * (1 + np.sin(2 * np.pi * 2 * t)) for f in notes)
        y = (y + 0.05 * rng.standard_normal(t.size)).astype(np.float32)
        target = root / f"genre{i % 4}" / f"clip{i:03d}.mp3"
        target.parent.mkdir(parents=True, exist_ok=True)
        encode_preview(y, target)


def folder_inputs(source: Path, root: Path, limit: int | None) -> None:
    files = sorted(p for p in source.glob("*/*") if p.suffix.lower() in AUDIO_EXTENSIONS)
    for path in files[:limit]:
        y, _ = load(path, sr=PREVIEW_SR, duration=CLIP_SECONDS)
        target = root / path.parent.name / (path.stem + ".mp3")
        target.parent.mkdir(parents=True, exist_ok=True)
        encode_preview(y, target)


def librosa_chain(path: Path) -> None:
    import librosa

    y, sr = librosa.load(path, sr=SAMPLE_RATE, duration=CLIP_SECONDS)
    librosa.feature.melspectrogram(y=y, sr=sr)
    librosa.feature.mfcc(y=y, sr=sr)


def decode_only(path: Path) -> None:
    load(path, sr=SAMPLE_RATE, duration=CLIP_SECONDS)


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder", nargs="?", type=Path, help="<genre>/<files> input folder")
    parser.add_argument("--clips", type=int, default=24, help="generated clips (no folder)")
    parser.add_argument("--limit", type=int, default=None, help="use at most N files of folder")
    parser.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import librosa  # imported before timing: its start-up is not what we measure

    work = Path(tempfile.mkdtemp(prefix="genrekit-bench-"))
    try:
        inputs = work / "in"
        if args.folder:
            folder_inputs(args.folder, inputs, args.limit)
        else:
            generated_inputs(inputs, args.clips)
        files = sorted(inputs.rglob("*.mp3"))
        n = len(files)
        print(f"{n} mp3 previews (128 kbps, 44.1 kHz stereo), {args.workers} worker threads")

        def run_pool(fn: Callable[[Path], None]) -> None:
            # The same one-BLAS-thread-per-worker rule genrekit extract applies to itself.
            with (
                threadpool_limits(limits=1, user_api="blas"),
                ThreadPoolExecutor(args.workers) as pool,
            ):
                list(pool.map(fn, files))

        run_number = itertools.count()

        def run_genrekit() -> None:
            out = work / f"out{next(run_number)}"
            summary = extract_dataset(inputs, out, ExtractOptions(workers=args.workers))
            if not summary.ok or summary.counts["done"] != n:
                sys.exit(f"extract failed: {summary.counts}")

        methods: dict[str, Callable[[], None]] = {
            "genrekit extract": run_genrekit,
            "librosa chain": lambda: run_pool(librosa_chain),
            "decode-only ceiling": lambda: run_pool(decode_only),
        }
        librosa_chain(files[0])  # warm caches (librosa's mel basis, numba) for every method
        best = {name: float("inf") for name in methods}
        for _ in range(args.repeats):
            for name, method in methods.items():
                best[name] = min(best[name], timed(method))

        rate = {name: n / seconds for name, seconds in best.items()}
        print()
        print("| method | clips/s | x librosa chain | % of decode ceiling |")
        print("| --- | ---: | ---: | ---: |")
        for name in methods:
            print(
                f"| {name} | {rate[name]:.1f} | {rate[name] / rate['librosa chain']:.2f} | "
                f"{100 * rate[name] / rate['decode-only ceiling']:.0f} % |"
            )

        store = FeatureStore(work / "out0")
        worst_db = worst_mfcc = 0.0
        for i in range(min(4, len(store))):
            y, sr = librosa.load(inputs / store.tracks[i].path, sr=SAMPLE_RATE, duration=30.0)
            ref_db = librosa.power_to_db(librosa.feature.melspectrogram(y=y, sr=sr))
            n_frames = ref_db.shape[1]
            got_db = store.array("logmel", i)[:, :n_frames]
            worst_db = max(worst_db, float(np.abs(got_db - ref_db).max()))
            got_mfcc = store.array("mfcc", i)[:, :n_frames]
            worst_mfcc = max(
                worst_mfcc, float(np.abs(got_mfcc - librosa.feature.mfcc(y=y, sr=sr)).max())
            )
        print(f"\nnumerics vs librosa: log-mel max |diff| {worst_db:.2e} dB, MFCC {worst_mfcc:.2e}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
