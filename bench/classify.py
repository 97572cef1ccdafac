"""Benchmark: genrekit classify, cold start and batch throughput.

    python bench/classify.py                 # the shipped model, 24 generated 30 s mp3 previews
    python bench/classify.py --model DIR     # another model (a folder with model.onnx, or .onnx)

- cold start: wall time of ``genrekit classify one.mp3`` in a fresh process (imports, model load,
  decode, features, inference, output), beside ``python -c "import numpy"`` in the same run;
- batch: tracks per second of ``classify_many`` over a folder of 30 s previews with one thread
  per core, beside the decode-only ceiling (``genrekit.audio.load`` on the same threads).
Best of ``--repeats`` runs each.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from genrekit.audio import load
from genrekit.classify_batch import classify_many, find_audio

sys.path.insert(0, str(Path(__file__).resolve().parent))
from extract import generated_inputs  # the same generated previews


def best_of(repeats: int, fn: Callable[[], object]) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--clips", type=int, default=24)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    workers = len(os.sched_getaffinity(0))
    with tempfile.TemporaryDirectory(prefix="genrekit-classify-bench-") as tmp:
        root = Path(tmp)
        generated_inputs(root, args.clips)
        files = find_audio([root])
        one = str(files[0])
        model_args = ["--model", args.model] if args.model else []

        def run(command: list[str]) -> None:
            subprocess.run(command, check=True, capture_output=True)

        numpy_s = best_of(args.repeats, lambda: run([sys.executable, "-c", "import numpy"]))
        cold_s = best_of(
            args.repeats,
            lambda: run([sys.executable, "-m", "genrekit", "classify", one, *model_args]),
        )
        classify_many(files[:2], model=args.model, workers=workers)  # warm the page cache
        batch_s = best_of(
            args.repeats, lambda: classify_many(files, model=args.model, workers=workers)
        )

        def decode_all() -> None:
            with ThreadPoolExecutor(workers) as pool:
                list(pool.map(lambda f: load(f, duration=30.0), files))

        decode_s = best_of(args.repeats, decode_all)

    print(
        f"{len(files)} generated 30 s mp3 previews (128 kbps, 44.1 kHz stereo), {workers} threads\n"
    )
    print("| measure | time | ratio |")
    print("| --- | ---: | ---: |")
    print(f'| `python -c "import numpy"` | {numpy_s:.2f} s | 1.0 |')
    print(f"| `genrekit classify one.mp3`, cold | {cold_s:.2f} s | {cold_s / numpy_s:.1f}x numpy |")
    share = 100 * decode_s / batch_s
    print(f"| batch classify | {len(files) / batch_s:.1f} tracks/s | {share:.0f} % of decode |")
    print(f"| decode-only ceiling | {len(files) / decode_s:.1f} tracks/s | 100 % |")


if __name__ == "__main__":
    main()
