"""Benchmark: genrekit serve under load, on loopback, bounded in count and time.

    python bench/serve.py                        # 50 uploads from 10 clients, then 60 at once
    python bench/serve.py --uploads 100 --clients 20 --overload 60

Starts the real server (``python -m genrekit serve --port 0``, a subprocess on a free loopback
port, its default pool: one worker per core, 32 requests waiting at most 10 s), then:

- **steady**: ``--uploads`` uploads of the bundled examples (in turn) from ``--clients``
  concurrent clients, each asking what the Classify page asks (segments, tags, spectrogram);
- **overload**: ``--overload`` uploads sent at once, more than the pool's workers and waiting
  room take, so that some are refused with 503 (``Retry-After``) instead of queueing forever.

For each run: wall time, latency percentiles (p50/p90/p99/max) of the answers and of the 200s,
and the count of each status. It fails (exit 1) on any 5xx other than 503, a 503 without
``Retry-After``, an overload run with no 503 (the pool was never full), or a server that is not
up at the end (``GET /api/health``). Prints the machine's load average before and after: the
numbers mean little without it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
REQUEST_SECONDS = 120.0  # one request's deadline (upload, wait, classify, answer)
RUN_SECONDS = 600.0  # one run's deadline
FIELDS = {"segments": "true", "tags": "true", "spectrogram": "true"}  # what the page asks


@dataclass(frozen=True)
class Answer:
    status: int  # 0: no answer (a connection error or the deadline)
    seconds: float
    retry_after: str | None = None
    error: str = ""


def start_server() -> tuple[subprocess.Popen[str], str]:
    """The real ``genrekit serve`` on a free loopback port, and its URL."""
    server = subprocess.Popen(
        [sys.executable, "-m", "genrekit", "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = threading.Timer(180, server.kill)  # a server that never says its URL ends
    deadline.start()
    assert server.stdout is not None
    line = server.stdout.readline()  # "genrekit serve: http://127.0.0.1:PORT/ (Ctrl-C stops it)"
    deadline.cancel()
    if "http://127.0.0.1:" not in line:
        server.kill()
        raise SystemExit(f"the server did not start: {line!r}")
    return server, line.split()[2]


async def upload(client: httpx.AsyncClient, url: str, name: str, data: bytes) -> Answer:
    started = time.perf_counter()
    try:
        response = await client.post(
            url + "api/classify", files={"file": (name, data)}, data=FIELDS
        )
    except httpx.HTTPError as exc:
        return Answer(0, time.perf_counter() - started, error=f"{type(exc).__name__}: {exc}")
    return Answer(
        response.status_code, time.perf_counter() - started, response.headers.get("retry-after")
    )


async def run(url: str, files: list[tuple[str, bytes]], count: int, clients: int) -> list[Answer]:
    """``count`` uploads (the files in turn) from ``clients`` clients, each one at a time."""
    jobs: asyncio.Queue[int] = asyncio.Queue()
    for i in range(count):
        jobs.put_nowait(i)
    answers: list[Answer] = []
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    timeout = httpx.Timeout(REQUEST_SECONDS)
    async with httpx.AsyncClient(limits=limits, timeout=timeout) as client:

        async def one_client() -> None:
            while not jobs.empty():
                name, data = files[jobs.get_nowait() % len(files)]
                answers.append(await upload(client, url, name, data))

        await asyncio.wait_for(asyncio.gather(*(one_client() for _ in range(clients))), RUN_SECONDS)
    return answers


def report(title: str, answers: list[Answer], wall: float) -> list[str]:
    """Prints a run's numbers; returns what went wrong in it."""
    statuses = Counter(a.status for a in answers)
    print(f"\n{title}: {len(answers)} requests in {wall:.1f} s ({len(answers) / wall:.1f}/s)")
    print("  status  " + ", ".join(f"{s or 'no answer'}: {n}" for s, n in sorted(statuses.items())))
    kinds = [("all", answers)] + [
        (str(s), [a for a in answers if a.status == s]) for s in (200, 503)
    ]
    for label, chosen in kinds:
        if chosen:
            seconds = np.array([a.seconds for a in chosen])
            p50, p90, p99 = np.percentile(seconds, [50, 90, 99])
            print(
                f"  latency of {label:>3} (s)  p50 {p50:.2f}  p90 {p90:.2f}  p99 {p99:.2f}  "
                f"max {seconds.max():.2f}"
            )
    problems = [f"{title}: HTTP {a.status}" for a in answers if a.status >= 500 and a.status != 503]
    problems += [f"{title}: no answer ({a.error})" for a in answers if a.status == 0]
    problems += [
        f"{title}: a 503 without Retry-After"
        for a in answers
        if a.status == 503 and not a.retry_after
    ]
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--uploads", type=int, default=50, help="steady run: uploads (1-1000)")
    parser.add_argument("--clients", type=int, default=10, help="steady run: clients (1-60)")
    parser.add_argument("--overload", type=int, default=60, help="uploads at once (0-60)")
    args = parser.parse_args()
    if not (1 <= args.uploads <= 1000 and 1 <= args.clients <= 60 and 0 <= args.overload <= 60):
        parser.error("bounded: --uploads 1-1000, --clients 1-60, --overload 0-60")
    # Under uvicorn's 64 connections: what is refused is refused by the pool, with a reason.
    files = [
        (p.name, p.read_bytes())
        for p in sorted(EXAMPLES.rglob("*"))
        if p.suffix in {".mp3", ".ogg", ".m4a"}
    ]
    cores = len(os.sched_getaffinity(0))
    print(f"{len(files)} example files; {cores} cores; load average before: {_load()}")
    started = time.perf_counter()
    server, url = start_server()
    print(f"server {url} up in {time.perf_counter() - started:.1f} s (model loaded, warmed up)")
    problems: list[str] = []
    try:
        with httpx.Client(timeout=10) as client:
            health = client.get(url + "api/health").json()
        print(f"model {health['model']}, {health['workers']} workers")
        began = time.perf_counter()
        answers = asyncio.run(run(url, files, args.uploads, args.clients))
        title = f"steady: {args.uploads} uploads from {args.clients} clients"
        problems += report(title, answers, time.perf_counter() - began)
        if args.overload:
            began = time.perf_counter()
            answers = asyncio.run(run(url, files, args.overload, args.overload))
            title = f"overload: {args.overload} uploads at once"
            problems += report(title, answers, time.perf_counter() - began)
            if not any(a.status == 503 for a in answers):
                problems.append(f"{title}: no 503, the pool was never full")
        with httpx.Client(timeout=10) as client:
            after = client.get(url + "api/health")
        up = after.status_code == 200 and server.poll() is None
        print(f"\nserver still up at the end: {'yes' if up else 'NO'} (GET /api/health", end="")
        print(f" {after.status_code}, busy {after.json().get('busy')})")
        if not up:
            problems.append("the server is not up at the end")
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=30)
        finally:
            server.kill()
    print(f"load average after: {_load()}")
    for problem in problems:
        print(f"FAIL {problem}")
    print("ok: no 5xx but 503, every 503 with Retry-After" if not problems else "")
    return 1 if problems else 0


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


if __name__ == "__main__":
    sys.exit(main())
