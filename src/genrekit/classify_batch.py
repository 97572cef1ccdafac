"""Many files at once for ``genrekit classify``: threads, one model, results in order as they come.

Each thread runs decoding, features and inference for one track; all three release the GIL. The
model is loaded once with one inference thread per worker, so the workers do not fight over the
cores. A bad file is reported with its reason and the others go on. :func:`classify_each`
yields each outcome as soon as it (and those before it) are done, so a caller can print as it
goes and stop at any moment (Ctrl-C) keeping what was done.

On a Dask cluster (a :class:`~genrekit.workers.Pool` from :mod:`genrekit.cluster`) each worker
loads the model once and classifies the files it is sent by path; outcomes come back in the same
order, a few tasks per worker in flight, so memory stays bounded for any number of tracks.
"""

from __future__ import annotations

import functools
import os
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from genrekit.constants import AUDIO_EXTENSIONS
from genrekit.errors import AudioLoadError, GenrekitError, ParameterError, reason_about
from genrekit.predict import (
    _PRETRAINED,
    Model,
    Prediction,
    check_confidence,
    check_genres,
    classify,
    load_model,
)
from genrekit.workers import TASKS_PER_SLOT, Pool, bounded_map, default_workers

if TYPE_CHECKING:
    from distributed import Client


@dataclass(frozen=True)
class AudioFile:
    """A file to classify and its name as shown: its path relative to the folder given."""

    path: Path
    name: str


@dataclass(frozen=True)
class Outcome:
    """What became of one file: a prediction, or the one-line reason it failed."""

    file: AudioFile
    prediction: Prediction | None = None
    error: str | None = None


def find_tracks(paths: Sequence[Path]) -> list[AudioFile]:
    """Files given, and the audio files under folders given (at any depth), in a stable order.

    A file under a folder is named by its path relative to that folder (with the folder in
    front when several paths are given), so ``metal/a/song.ogg`` and ``rock/b/song.ogg`` stay
    apart. Raises :class:`AudioLoadError` for a path that does not exist and
    :class:`ParameterError` for a folder that holds no audio file.
    """
    found: list[AudioFile] = []
    for path in paths:
        if path.is_dir():
            inside = sorted(
                p
                for p in path.rglob("*")
                # Not is_file(): a pipe or device named .mp3 is listed and fails with its reason.
                if not p.is_dir()
                and p.suffix.lower() in AUDIO_EXTENSIONS
                and not p.name.startswith(".")
            )
            if not inside:
                raise ParameterError(
                    f"{path}: no audio files in this folder or below (looked for "
                    f"{', '.join(sorted(AUDIO_EXTENSIONS))})"
                )
            prefix = path if len(paths) > 1 else Path()
            found += [AudioFile(p, (prefix / p.relative_to(path)).as_posix()) for p in inside]
        elif path.exists():
            found.append(AudioFile(path, str(path)))
        else:
            raise AudioLoadError(f"{path}: no such file or folder")
    return found


def find_audio(paths: Sequence[Path]) -> list[Path]:
    """The paths of :func:`find_tracks`."""
    return [f.path for f in find_tracks(paths)]


def batch_workers(workers: int | None, n_files: int) -> int:
    """Threads for ``n_files``: ``workers`` (default: one per core), at most one per file."""
    if workers is not None and workers < 1:
        raise ParameterError(f"workers={workers}: give 1 or more (or none for one per core)")
    return max(1, min(workers or default_workers(), n_files or 1))


def load_for_batch(model: Model | str | os.PathLike[str] | None, workers: int) -> Model:
    """The model once, with one inference thread per worker when there are several."""
    if isinstance(model, Model):
        return model
    return load_model(model, threads=1 if workers > 1 else None)


def classify_each(
    files: Sequence[AudioFile],
    model: Model,
    *,
    segments: bool = False,
    genres: list[str] | None = None,
    tags: bool = False,
    workers: int = 1,
    min_confidence: float | None = None,
    check_music: bool = True,
    pool: Pool | None = None,
) -> Iterator[Outcome]:
    """An :class:`Outcome` per file, in the order of ``files``, each as soon as it is ready.

    At most two files per worker are in flight: when the caller stops (``break``, or
    ``KeyboardInterrupt`` while waiting), files not started are never started and the few in
    flight finish first. ``genres`` are checked before any file is read. ``min_confidence`` and
    ``check_music`` are :func:`~genrekit.predict.classify`'s: a track that gets no genre is an
    outcome with a prediction (its ``reason`` says why), not a failure. With a remote ``pool``
    (a cluster's) ``workers`` is unused and each of its workers loads ``model`` itself.
    """
    genres = check_genres(model, genres) if genres else None
    check_confidence(min_confidence)
    job = _ClassifyJob(
        *_model_ref(model),
        segments=segments,
        genres=tuple(genres) if genres else None,
        tags=tags,
        min_confidence=min_confidence,
        check_music=check_music,
    )
    if pool is not None:
        window = TASKS_PER_SLOT * pool.slots
        yield from bounded_map(pool.executor, job, files, window=window, lost=(pool.lost, _lost))
        return

    def one(file: AudioFile) -> Outcome:
        return job.run(file, model)

    pending: deque[Future[Outcome]] = deque()
    queue = iter(files)
    with ThreadPoolExecutor(max_workers=max(1, workers)) as threads:
        try:
            for file in queue:
                pending.append(threads.submit(one, file))
                if len(pending) >= 2 * workers:
                    break
            while pending:
                outcome = pending.popleft().result()
                following = next(queue, None)
                if following is not None:
                    pending.append(threads.submit(one, following))
                yield outcome
        finally:
            for future in pending:
                future.cancel()


def _lost(file: AudioFile, exc: BaseException) -> Outcome:
    """A file whose task the cluster gave up on (every worker that ran it died)."""
    return Outcome(file, error=f"lost: every worker that ran it died ({type(exc).__name__}: {exc})")


@dataclass(frozen=True)
class _ClassifyJob:
    """Classify one file, here or on a cluster's worker: small, it pickles; a worker loads the
    model named by ``ref`` once (:func:`_worker_model`)."""

    kind: str  # "shipped" (``ref`` is its name) or "file" (``ref`` is its path)
    ref: str
    name: str
    segments: bool
    genres: tuple[str, ...] | None
    tags: bool
    min_confidence: float | None
    check_music: bool

    def __call__(self, file: AudioFile) -> Outcome:
        try:
            model = _worker_model(self.kind, self.ref, self.name)
        except GenrekitError as exc:
            return Outcome(file, error=f"this worker cannot load the model: {exc}")
        return self.run(file, model)

    def run(self, file: AudioFile, model: Model) -> Outcome:
        try:
            found = classify(
                file.path,
                model=model,
                segments=self.segments,
                genres=list(self.genres) if self.genres else None,
                tags=self.tags,
                min_confidence=self.min_confidence,
                check_music=self.check_music,
            )
        except GenrekitError as exc:
            return Outcome(file, error=reason_about(file.path, exc))
        except Exception as exc:  # a decoder's surprise must not end the batch
            return Outcome(file, error=f"unexpected {type(exc).__name__}: {exc}")
        return Outcome(file, prediction=found)


def _model_ref(model: Model) -> tuple[str, str, str]:
    """How a worker finds ``model``: a shipped one by name (the package may sit elsewhere on
    the worker's machine), any other by its path (which every worker must see)."""
    if model.path.parent == Path(str(resources.files(_PRETRAINED))):
        return "shipped", model.name, model.name
    return "file", str(model.path), model.name


@functools.lru_cache(maxsize=4)
def _worker_model(kind: str, ref: str, name: str) -> Model:
    """The model of a cluster's worker, loaded once per process (one inference thread: a worker
    runs one task per thread)."""
    if kind == "shipped":
        return load_model(ref, threads=1)
    return Model(Path(ref), name=name, threads=1)


def classify_many(
    files: Sequence[Path | AudioFile],
    *,
    model: str | None = None,
    segments: bool = False,
    genres: list[str] | None = None,
    workers: int | None = None,
    tags: bool = False,
    min_confidence: float | None = None,
    check_music: bool = True,
    client: Client | None = None,
) -> tuple[list[Prediction], list[tuple[Path, str]]]:
    """Predictions for the files that worked (some perhaps with no genre, and a ``reason``), and
    (file, reason) for those that did not. With a Dask ``client`` (``cluster`` extra) the files
    are classified on its workers, which must see them (and a model file) at the same paths."""
    pool = None
    if client is not None:
        from genrekit.cluster import pool_of

        pool = pool_of(client)
    threads = batch_workers(workers, len(files))
    loaded = load_for_batch(model, threads)
    results: list[Prediction] = []
    failures: list[tuple[Path, str]] = []
    named = [f if isinstance(f, AudioFile) else AudioFile(Path(f), str(f)) for f in files]
    for outcome in classify_each(
        named,
        loaded,
        segments=segments,
        genres=genres,
        tags=tags,
        workers=threads,
        min_confidence=min_confidence,
        check_music=check_music,
        pool=pool,
    ):
        if outcome.prediction is not None:
            results.append(outcome.prediction)
        else:
            failures.append((outcome.file.path, outcome.error or "failed"))
    return results, failures
