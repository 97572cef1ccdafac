"""``genrekit embed``: a pretrained backbone's clip embeddings, written into a feature store.

The store must exist (``genrekit extract IN_DIR -o STORE``): embeddings are kept for the clips
it holds, keyed by the same content hash, so they line up with its labels and splits. Each clip
is decoded again at the backbone's own rate (16 kHz for musicnn), over the same first
``clip_seconds`` as the store. A rerun skips clips already embedded; one bad file is recorded and
the others go on; every file is written atomically.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from genrekit.audio import not_a_file, read
from genrekit.backbones import BACKBONE_SAMPLE_RATE, Backbone, default_precision, load_backbone
from genrekit.dataset import FeatureStore, embedding_kind, feature_path
from genrekit.errors import FeatureStoreError, GenrekitError, ParameterError, reason_about
from genrekit.inputs import SourceFile, scan_dataset
from genrekit.lock import FolderLock
from genrekit.progress import Progress, Step
from genrekit.storage import check_no_links, remove_stale_temps, save_npy_atomic
from genrekit.store_batch import Hashed, Known, known_of, run_batch
from genrekit.store_index import StampReader
from genrekit.workers import Pool, default_workers

if TYPE_CHECKING:
    from distributed import Client


@dataclass
class EmbedSummary:
    done: int = 0
    cached: int = 0
    not_in_store: int = 0  # audio files the store has no clip for (failed, silent, new)
    failures: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    interrupted: bool = False

    @property
    def ok(self) -> bool:
        return not self.failures and not self.interrupted

    @property
    def usable(self) -> int:
        """Clips that have an embedding now."""
        return self.done + self.cached


def clip_embedding(path: Path, backbone: Backbone, clip_seconds: float) -> npt.NDArray[np.float32]:
    """The embedding of a file's first ``clip_seconds``, as the store's features see it."""
    y = read(path, sr=BACKBONE_SAMPLE_RATE, duration=clip_seconds).y
    return backbone.outputs_of(y).embedding()


@dataclass(frozen=True)
class Embedded:
    """One clip's turn: its path in the input folder, and why it failed (None: embedded)."""

    rel: str
    error: str | None


@dataclass(frozen=True)
class _EmbedJob:
    """Embed one clip into the store, in a thread or on a cluster's worker: small, it pickles;
    the backbone is loaded once per process (:func:`load_backbone` keeps it)."""

    root: Path
    kind: str
    backbone: str
    precision: str
    threads: int | None
    clip_seconds: float

    def __call__(self, item: tuple[str, Path, str]) -> Embedded:
        rel, path, sha = item
        try:
            model = load_backbone(self.backbone, precision=self.precision, threads=self.threads)
            embedding = clip_embedding(path, model, self.clip_seconds)
            save_npy_atomic(feature_path(self.root, self.kind, sha), embedding)
        except GenrekitError as exc:
            return Embedded(rel, reason_about(path, exc))
        except Exception as exc:  # whatever goes wrong with one file is that file's failure
            return Embedded(rel, f"{path}: {type(exc).__name__}: {exc}")
        return Embedded(rel, None)


def embed_dataset(
    in_dir: str | os.PathLike[str],
    store_dir: str | os.PathLike[str],
    *,
    backbone: str = "msd-musicnn",
    workers: int | None = None,
    progress: Progress | None = None,
    client: Client | None = None,
) -> EmbedSummary:
    """Embed every clip of the store ``store_dir`` whose audio is under ``in_dir``.

    ``progress`` gets a :class:`~genrekit.progress.Step` ("embed") with the number of clips to
    embed, then one after each, an :class:`Embedded` (its path, and its error or None) as
    ``item``.

    With a Dask ``client`` (``cluster`` extra) the files are hashed and embedded on its workers
    (``workers`` is then unused; each loads the backbone once), which must see ``in_dir`` and
    the store at the same paths. The embeddings are the same, byte for byte, as a local run's.
    """
    started = time.perf_counter()
    store = FeatureStore(store_dir)
    if not store.tracks:
        raise FeatureStoreError(
            f"{store.root}: the store holds no usable clip to embed; extract a folder with "
            "audible tracks into it first"
        )
    files, _ = scan_dataset(Path(in_dir))
    workers = workers or default_workers()
    if workers < 1:
        raise ParameterError(f"workers={workers} must be at least 1 (or None: one per core)")
    pool: Pool | None = None
    if client is not None:
        from genrekit.cluster import pool_of

        pool = pool_of(client)
    threads = 1 if workers > 1 or pool is not None else None
    precision = default_precision()
    load_backbone(backbone, precision=precision, threads=threads)  # a missing one fails here
    kind = embedding_kind(backbone)
    summary = EmbedSummary()

    def target(sha: str) -> Path:
        return feature_path(store.root, kind, sha)

    todo: set[str] = set()
    done = total = 0  # clips reported so far, and to report

    def report(clip: Embedded | None) -> None:
        if progress is not None:
            progress(Step("embed", done, total, clip))

    def select(hashed: Hashed) -> tuple[str, Path, str] | None:
        src, sha = hashed.src, hashed.sha
        problem = not_a_file(src.path) if sha is None else None
        if problem is not None:
            summary.failures.append((src.rel, problem))
        elif sha is None or sha not in wanted:
            summary.not_in_store += 1
        elif target(sha).is_file():
            summary.cached += 1
        elif sha not in todo:
            todo.add(sha)
            return src.rel, src.path, sha
        return None

    def before_work(n_todo: int) -> None:
        nonlocal done, total
        if summary.not_in_store == len(files):
            raise FeatureStoreError(
                f"{in_dir}: none of its {len(files)} audio files has a clip in the store "
                f"{store.root}; give the folder the store was extracted from"
            )
        total = n_todo + len(summary.failures)
        report(None)
        for rel, problem in summary.failures:  # pipes, devices: listed as they are skipped
            done += 1
            report(Embedded(rel, problem))

    def keep(clip: Embedded) -> None:
        nonlocal done
        if clip.error is None:
            summary.done += 1
        else:
            summary.failures.append((clip.rel, clip.error))
        done += 1
        report(clip)

    # One writer per store, as extract: a second embed (or an extract) waits its turn.
    lock = FolderLock(store.root, "embed", what="feature store", error=FeatureStoreError)
    lock.acquire()
    stamps: StampReader | None = None
    try:
        store = FeatureStore(store.root)  # again, locked: as the last writer left it
        wanted = {t.sha256 for t in store.tracks}
        check_no_links(store.root / "features", FeatureStoreError, depth=2)
        remove_stale_temps(store.root)  # left by a killed run; a live one's are kept
        work = _EmbedJob(store.root, kind, backbone, precision, threads, store.info.clip_seconds)
        # An input unchanged since extract hashed it is not read again (its stamp says so).
        stamps = StampReader(store.root / "index.sqlite")
        summary.interrupted = run_batch(
            files,
            known=functools.partial(_known, stamps),
            select=select,
            work=work,
            keep=keep,
            workers=workers,
            pool=pool,
            before_work=before_work,
            failed=lambda item, reason: Embedded(item[0], f"{item[1]}: {reason}"),
        )
        if pool is not None and not summary.interrupted:
            # Every task has ended: a temporary file left now is a killed worker's.
            remove_stale_temps(store.root, any_owner=True)
    except KeyboardInterrupt:  # before the batch began
        summary.interrupted = True
    finally:
        if stamps is not None:
            stamps.close()
        lock.release()
    summary.seconds = time.perf_counter() - started
    return summary


def _known(stamps: StampReader, files: Sequence[SourceFile]) -> list[Known | None]:
    return known_of(stamps.stamped([src.rel for src in files]), files)
