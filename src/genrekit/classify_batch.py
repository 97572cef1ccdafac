"""Many files at once for ``genrekit classify``: threads, one model, results in order.

Each thread runs decoding, features and inference for one track; all three release the GIL. The
model is loaded once with one inference thread per worker, so the workers do not fight over the
cores. A bad file is reported with its reason and the others go on.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from genrekit.constants import AUDIO_EXTENSIONS
from genrekit.errors import GenrekitError
from genrekit.extract import default_workers
from genrekit.predict import Prediction, classify, load_model


def find_audio(paths: Sequence[Path]) -> list[Path]:
    """Files given, and the audio files under folders given, in a stable order."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(
                p
                for p in path.rglob("*")
                if p.is_file()
                and p.suffix.lower() in AUDIO_EXTENSIONS
                and not p.name.startswith(".")
            )
        else:
            found.append(path)  # a missing file is reported by the loader, with the others
    return found


def classify_many(
    files: Sequence[Path],
    *,
    model: str | None = None,
    segments: bool = False,
    genres: list[str] | None = None,
    workers: int | None = None,
    tags: bool = False,
) -> tuple[list[Prediction], list[tuple[Path, str]]]:
    """Predictions for the files that worked, and (file, reason) for those that did not."""
    workers = max(1, min(workers or default_workers(), len(files) or 1))
    loaded = load_model(model, threads=1 if workers > 1 else None)

    def one(path: Path) -> Prediction | str:
        try:
            return classify(path, model=loaded, segments=segments, genres=genres, tags=tags)
        except GenrekitError as exc:
            return str(exc)

    results: list[Prediction] = []
    failures: list[tuple[Path, str]] = []
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for path, outcome in zip(files, pool.map(one, files), strict=True):
            if isinstance(outcome, str):
                failures.append((path, outcome))
            else:
                results.append(outcome)
    return results, failures


TOP_TAGS = 5
"""Tags shown per track with ``--tags``."""


def as_dict(prediction: Prediction, top_k: int, segments: bool, tags: bool) -> dict[str, Any]:
    data: dict[str, Any] = {
        "file": prediction.source,
        "genre": prediction.genre,
        "top": [{"genre": g, "probability": round(p, 4)} for g, p in prediction.top(top_k)],
        "seconds": round(prediction.duration or 0.0, 2),
    }
    if segments:
        data["segments"] = [
            {"start": round(s.start, 2), "end": round(s.end, 2), "genre": s.genre}
            for s in prediction.segments
        ]
    if tags:
        data["tags"] = [
            {"tag": t, "probability": round(p, 4)}
            for t, p in list(prediction.tags.items())[:TOP_TAGS]
        ]
    return data


def render(
    results: list[Prediction],
    failures: list[tuple[Path, str]],
    *,
    output: str,
    top_k: int,
    segments: bool,
    console: Console,
    tags: bool = False,
) -> None:
    if output == "json":
        payload = {
            "results": [as_dict(r, top_k, segments, tags) for r in results],
            "failed": [{"file": str(p), "reason": reason} for p, reason in failures],
        }
        console.print_json(json.dumps(payload))
        return
    if output == "csv":
        text = io.StringIO()
        writer = csv.writer(text)
        writer.writerow(
            ["file", "genre", *[f"top{i + 1}" for i in range(top_k)], *(["tags"] if tags else [])]
        )
        for r in results:
            row = [r.source, r.genre, *[f"{g}:{p:.4f}" for g, p in r.top(top_k)]]
            if tags:
                row.append(";".join(list(r.tags)[:TOP_TAGS]))
            writer.writerow(row)
        console.out(text.getvalue(), end="", highlight=False)
        return
    table = Table(show_edge=False)
    table.add_column("track")
    table.add_column("genre", style="bold")
    table.add_column(f"top {top_k}")
    if tags:
        table.add_column("tags (musicnn)")
    for r in results:
        name = Path(r.source or "").name
        top = ", ".join(f"{g} {100 * p:.0f} %" for g, p in r.top(top_k))
        extra = [", ".join(list(r.tags)[:TOP_TAGS])] if tags else []
        table.add_row(name, r.genre, top, *extra)
        if segments:
            line = " ".join(f"{s.start:.0f}s:{s.genre}" for s in r.segments)
            table.add_row("", "", Text(line, style="dim"))
    console.print(table)
