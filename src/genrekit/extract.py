"""Whole data sets: ``<genre>/<track files>`` in, a feature store out.

For each track the first ``clip_seconds`` are analysed (shorter tracks are zero-padded at the end
to that length, and the number of frames that hold real audio is recorded), giving a log-mel
spectrogram (dB re 1.0) and MFCCs, and with ``images=True`` two PNGs (the mel drawn re its
maximum, as the seed did). One bad file is recorded and skipped; results are keyed by the
content hash, so a rerun skips finished files even if they were renamed.

One ``extract`` at a time writes to a store: a second one is refused with the holder's name (see
:mod:`genrekit.lock`). A full disk or a read-only store stops the run with one error naming the
store, no input file is blamed for it, and a rerun after freeing space resumes.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import math
import os
import sqlite3
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import numpy.typing as npt

from genrekit import extras
from genrekit.audio import read
from genrekit.constants import CLIP_SECONDS, MIN_SECONDS, SILENCE_DB
from genrekit.dataset import StoreInfo, create_or_check, feature_path
from genrekit.errors import FeatureStoreError, GenrekitError, ParameterError, reason_about
from genrekit.features import FeatureParams, log_mel_and_mfcc
from genrekit.inputs import SourceFile, check_output, scan_input
from genrekit.lock import FolderLock
from genrekit.naming import (
    MAX_NAME_BYTES,
    NOT_UTF8,
    label_folder,
    path_inside,
    safe_name,
)
from genrekit.progress import Progress, Step
from genrekit.storage import (
    check_no_links,
    refused_write,
    remove_stale_temps,
    save_npy_atomic,
    write_refused_message,
)
from genrekit.store_batch import Hashed, Known, Stamp, run_batch
from genrekit.store_index import StoreIndex, TrackRow
from genrekit.workers import Pool, default_workers

if TYPE_CHECKING:
    from distributed import Client

Status = Literal["done", "cached", "failed", "silent", "duplicate"]
MAX_CLIP_SECONDS = 600.0
"""Longest ``clip_seconds`` accepted: every clip is stored zero-padded to this length, so a
larger value mostly stores zeros (10 minutes is already ~15 MB of features per track)."""


@dataclass(frozen=True)
class ExtractOptions:
    """How ``extract_dataset`` works; the defaults are the seed's settings."""

    params: FeatureParams = field(default_factory=FeatureParams)
    clip_seconds: float = CLIP_SECONDS
    images: bool = False
    workers: int = field(default_factory=default_workers)
    cmap: str = "magma"

    def __post_init__(self) -> None:
        seconds = self.clip_seconds
        if not (math.isfinite(seconds) and seconds >= MIN_SECONDS):
            raise ParameterError(
                f"clip_seconds={seconds:g} is out of range: choose {MIN_SECONDS:g} to "
                f"{MAX_CLIP_SECONDS:g} seconds"
            )
        if seconds > MAX_CLIP_SECONDS:
            # Every clip is padded to this length: 100000 s on 5 clips once wrote 12 GB.
            frames = self.params.n_frames(round(seconds * self.params.sr))
            megabytes = (self.params.n_mels + self.params.n_mfcc) * frames * 4 / 1e6
            raise ParameterError(
                f"clip_seconds={seconds:g} is more than {MAX_CLIP_SECONDS:g} seconds: every clip "
                f"is stored padded to this length ({megabytes:,.0f} MB of features per track); "
                f"choose {MAX_CLIP_SECONDS:g} or less"
            )
        if self.workers < 1:
            raise ParameterError(f"workers={self.workers} must be at least 1")


@dataclass(frozen=True)
class ClipOutcome:
    """What happened to one input file."""

    rel: str
    genre: str
    status: Status
    reason: str | None = None


@dataclass
class ExtractSummary:
    counts: Counter[Status] = field(default_factory=Counter)
    failures: list[ClipOutcome] = field(default_factory=list)
    skipped: list[ClipOutcome] = field(default_factory=list)  # silent and duplicate files
    ignored: int = 0
    unlabelled: list[str] = field(default_factory=list)
    seconds: float = 0.0
    interrupted: bool = False

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def ok(self) -> bool:
        return not self.failures and not self.interrupted

    @property
    def usable(self) -> int:
        """Clips of the input that the store now holds features of."""
        return self.counts["done"] + self.counts["cached"]


@dataclass(frozen=True)
class ClipFeatures:
    log_mel: npt.NDArray[np.float32]
    mfcc: npt.NDArray[np.float32]
    duration: float
    n_valid: int
    peak_db: float

    def numbers(self) -> ClipNumbers:
        return ClipNumbers(self.duration, self.log_mel.shape[1], self.n_valid, self.peak_db)


@dataclass(frozen=True)
class ClipNumbers:
    """What the index records of a clip whose features are stored: all a worker sends back."""

    duration: float
    n_frames: int
    n_valid: int
    peak_db: float


@dataclass(frozen=True)
class _Task:
    """One file's work: its features, or (``cached``) only the pictures it may lack."""

    src: SourceFile
    sha: str
    cached: bool


def clip_features(y: npt.NDArray[np.float32], options: ExtractOptions) -> ClipFeatures:
    """Features of one decoded clip: trimmed or zero-padded to the clip length."""
    params = options.params
    n_samples = round(options.clip_seconds * params.sr)
    real = y[:n_samples]
    _, log_mel, mfcc = log_mel_and_mfcc(real, params, pad_to=n_samples)
    return ClipFeatures(
        log_mel=log_mel,
        mfcc=mfcc,
        duration=real.size / params.sr,
        n_valid=min(params.n_frames(real.size), log_mel.shape[1]),
        peak_db=peak_rms_db(real, params.hop_length),
    )


def peak_rms_db(y: npt.NDArray[np.float32], frame: int) -> float:
    """Loudest RMS over non-overlapping frames, in dB re full scale (-inf for digital silence)."""
    usable = y[: max(frame, y.size // frame * frame)]
    if usable.size < frame:
        usable = np.pad(usable, (0, frame - usable.size))
    frames = usable.reshape(-1, frame)
    # einsum's row dot products: 3x faster than square-then-mean, and float32 is plenty for a
    # threshold in dB.
    peak = float(np.einsum("ij,ij->i", frames, frames).max()) / frame
    return 10.0 * float(np.log10(peak)) if peak > 0 else float("-inf")


def extract_dataset(
    in_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    options: ExtractOptions | None = None,
    *,
    progress: Progress | None = None,
    client: Client | None = None,
) -> ExtractSummary:
    """Extract features of every track under ``in_dir`` into the store ``out_dir``.

    ``progress`` gets a :class:`~genrekit.progress.Step` ("extract") once the input is scanned,
    then one after each file, its :class:`ClipOutcome` as ``item``. Ctrl-C stops cleanly:
    finished clips are kept, the summary says ``interrupted``, and a rerun resumes.

    With a Dask ``client`` (``cluster`` extra) the files are hashed and extracted on its
    workers (``options.workers`` is then unused), which must see ``in_dir`` and ``out_dir`` at
    the same paths; the store's index is written here only. The store ends up the same, byte
    for byte, as after a run on this machine.
    """
    options = options or ExtractOptions()
    if options.images:  # before any work, not once per file
        extras.require("drawing spectrogram pictures", "PIL", "matplotlib")
    source_root, root = Path(in_dir), Path(out_dir)
    started = time.perf_counter()
    scan = scan_input(source_root)
    files = scan.files
    check_output(source_root, root)
    summary = ExtractSummary(ignored=scan.ignored, unlabelled=scan.unlabelled)
    pool: Pool | None = None
    if client is not None:
        from genrekit.cluster import pool_of

        pool = pool_of(client)
    lock, index = _open_store(root, source_root, StoreInfo(options.params, options.clip_seconds))
    artists = {f.rel: f.artist for f in files}
    n_inputs = len(files) + len(scan.misnamed)
    done: set[str] = set()  # shas of the files being selected whose features the store holds
    known: dict[str, TrackRow] = {}  # the recorded rows of the files being selected
    fetched: dict[str, TrackRow] = {}  # the recorded rows of the files being hashed
    first_owner: dict[str, SourceFile] = {}
    sent: dict[str, Hashed] = {}  # the files sent to work, by hash

    def record(outcome: ClipOutcome, hashed: Hashed | None) -> None:
        summary.counts[outcome.status] += 1
        if outcome.status == "failed":
            summary.failures.append(outcome)
        elif outcome.status in ("silent", "duplicate"):
            summary.skipped.append(outcome)
        stored = "ok" if outcome.status in ("done", "cached") else outcome.status
        sha, size = (None, None) if hashed is None else (hashed.sha, hashed.size)
        stamp = None if hashed is None else hashed.stamp
        row: TrackRow = (
            *(outcome.genre, artists.get(outcome.rel), sha, size, stored, outcome.reason),
            *(
                (None, None, None)
                if stamp is None
                else (stamp.mtime_ns, stamp.ctime_ns, stamp.inode)
            ),
        )
        if known.pop(outcome.rel, None) != row:  # a resumed run's rows are mostly unchanged
            index.record_track(outcome.rel, *row)
        if progress is not None:
            finished = sum(summary.counts.values())
            progress(Step("extract", finished, n_inputs, outcome))

    def select(hashed: Hashed) -> _Task | None:
        src, sha = hashed.src, hashed.sha
        if sha is None:
            record(ClipOutcome(src.rel, src.genre, "failed", hashed.problem), None)
        elif sha in first_owner:
            owner = first_owner[sha]
            reason = f"same audio as {owner.rel}"
            if owner.genre != src.genre:
                reason += f" (labelled {owner.genre!r} there)"
            record(ClipOutcome(src.rel, src.genre, "duplicate", reason), hashed)
        else:
            first_owner[sha] = src
            if sha not in done or options.images:  # a cached clip may lack its pictures
                sent[sha] = hashed
                return _Task(src, sha, sha in done)
            # Done before: no task, no round trip to a worker (a resumed run is mostly these).
            record(ClipOutcome(src.rel, src.genre, "cached"), hashed)
        return None

    def screen(batch: Sequence[Hashed]) -> None:
        """Look the next files up in the index, all at once; forget the last ones'."""
        known.clear()  # each file's row was fetched before it was hashed: no second look-up
        known.update((h.src.rel, fetched.pop(h.src.rel)) for h in batch if h.src.rel in fetched)
        done.clear()
        for h in batch:  # an ok track's clip is in the store: no look-up of its hash
            row = known.get(h.src.rel)
            if h.sha is not None and row is not None and row[2] == h.sha and row[4] == "ok":
                done.add(h.sha)
        unsure = [h.sha for h in batch if h.sha is not None and h.sha not in done]
        done.update(index.done_among(unsure))

    def keep(result: tuple[ClipOutcome, ClipNumbers | None, str]) -> None:
        outcome, numbers, sha = result
        if numbers is not None:
            index.record_clip(
                sha, numbers.duration, numbers.n_frames, numbers.n_valid, numbers.peak_db
            )
        record(outcome, sent.pop(sha))

    finished = False
    try:  # from here on, whatever happens, the index is committed and the lock released
        if progress is not None:
            progress(Step("extract", 0, n_inputs))
        for src in scan.misnamed:
            record(ClipOutcome(src.rel, src.genre, "failed", NOT_UTF8), None)
        summary.interrupted = run_batch(
            files,
            select=select,
            work=functools.partial(_work, root, options),  # module-level: it pickles, small
            keep=keep,
            workers=options.workers,
            pool=pool,
            flush=index.commit,
            failed=_lost,
            screen=screen,
            known=functools.partial(_known, index, fetched),
        )
        if pool is not None and not summary.interrupted:
            # Every task has ended: a temporary file left now is a killed worker's (its PID,
            # from another host, says nothing here).
            remove_stale_temps(root, any_owner=True)
        if not summary.interrupted:
            # Forget files that have left the input folder, so the index mirrors it.
            index.keep_only([f.rel for f in files + scan.misnamed])
        finished = True
    except _StoreRefusedError as exc:
        raise FeatureStoreError(str(exc)) from exc.__cause__
    except sqlite3.Error as exc:  # e.g. "database or disk is full"
        raise FeatureStoreError(f"{index.path}: cannot update the index ({exc})") from exc
    except KeyboardInterrupt:  # before the batch began
        summary.interrupted = True
        finished = True
    finally:
        try:
            index.commit()
        except sqlite3.Error as exc:
            if finished:  # else an error is on its way out already; it says more
                message = f"{index.path}: cannot update the index ({exc})"
                raise FeatureStoreError(message) from exc
        finally:
            index.close()
            lock.release()
            summary.seconds = time.perf_counter() - started
    return summary


def _known(
    index: StoreIndex, fetched: dict[str, TrackRow], files: Sequence[SourceFile]
) -> list[Known | None]:
    """The stamp and hash each of ``files`` had when it was last hashed, if recorded; their
    rows go into ``fetched``."""
    rows = index.tracks_among([src.rel for src in files])
    fetched.update(rows)
    found: list[Known | None] = []
    for src in files:
        row = rows.get(src.rel)
        _, _, sha, size, _, _, mtime_ns, ctime_ns, inode = row if row else (None,) * 9
        if sha is None or size is None or mtime_ns is None or ctime_ns is None or inode is None:
            found.append(None)
        else:
            found.append((Stamp(size, mtime_ns, ctime_ns, inode), sha))
    return found


def _open_store(root: Path, source_root: Path, info: StoreInfo) -> tuple[FolderLock, StoreIndex]:
    """Lock the store ``root`` (made if missing), then make or check its ``store.json``, clean up
    after killed runs and open its index for ``source_root``; on error leave it as it was."""
    made_root = not root.exists()
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FeatureStoreError(
            f"{root}: cannot create the feature store ({exc.strerror or exc}); choose a folder "
            "you can write to"
        ) from exc
    lock = FolderLock(root, "extract", what="feature store", error=FeatureStoreError)
    try:
        # The lock first: another run must not write store.json between our check and our arrays.
        lock.acquire()
        try:
            create_or_check(root, info)
            # features/<kind>/<xx>/: no link planted there may carry our arrays out of the store
            check_no_links(root / "features", FeatureStoreError, depth=2)
            remove_stale_temps(root)  # left by a killed run; a live one's are kept
            index = StoreIndex(root, source_root)
        except BaseException:
            lock.release()
            raise
    except BaseException:
        if made_root:  # refused: leave no empty folder behind
            with contextlib.suppress(OSError):
                root.rmdir()
        raise
    return lock, index


def _work(
    root: Path, options: ExtractOptions, task: _Task
) -> tuple[ClipOutcome, ClipNumbers | None, str]:
    """One file's work, in a thread or on a cluster's worker; its failure is its result."""
    src, sha = task.src, task.sha
    try:
        if task.cached:
            if options.images:
                with _writing(root):
                    _render_cached_images(root, src, sha, options)
            return ClipOutcome(src.rel, src.genre, "cached"), None, sha
        outcome, feats = _extract_one(root, src, sha, options)
        return outcome, None if feats is None else feats.numbers(), sha
    except _StoreRefusedError:
        raise  # the store's fault, not this file's: the run stops
    except Exception as exc:  # whatever goes wrong with one file is that file's failure
        reason = f"{src.path}: {type(exc).__name__}: {exc}"
        return ClipOutcome(src.rel, src.genre, "failed", reason), None, sha


def _lost(task: _Task, reason: str) -> tuple[ClipOutcome, ClipNumbers | None, str]:
    """The result of a file whose task a cluster lost (it killed every worker that ran it)."""
    outcome = ClipOutcome(task.src.rel, task.src.genre, "failed", f"{task.src.path}: {reason}")
    return outcome, None, task.sha


class _StoreRefusedError(Exception):
    """A write to the store was refused (disk full, read-only): ends the run, blames no file."""


@contextlib.contextmanager
def _writing(root: Path) -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        if refused_write(exc):
            raise _StoreRefusedError(write_refused_message(root, exc)) from exc
        raise


def _extract_one(
    root: Path, src: SourceFile, sha: str, options: ExtractOptions
) -> tuple[ClipOutcome, ClipFeatures | None]:
    try:
        audio = read(src.path, sr=options.params.sr, duration=options.clip_seconds)
        feats = clip_features(audio.y, options)
    except GenrekitError as exc:
        return ClipOutcome(src.rel, src.genre, "failed", reason_about(src.path, exc)), None
    if feats.peak_db < SILENCE_DB:
        reason = f"silent: loudest frame at {feats.peak_db:.1f} dBFS (< {SILENCE_DB:g})"
        return ClipOutcome(src.rel, src.genre, "silent", reason), None
    with _writing(root):
        save_npy_atomic(feature_path(root, "logmel", sha), feats.log_mel)
        save_npy_atomic(feature_path(root, "mfcc", sha), feats.mfcc)
        if options.images:
            _save_images(root, src, feats.log_mel, feats.mfcc, options.cmap)
    note = f"partly decoded: {audio.damage}" if audio.damage else None
    return ClipOutcome(src.rel, src.genre, "done", note), feats


def image_paths(root: Path, src: SourceFile) -> tuple[Path, Path]:
    """Where the mel and MFCC pictures of a track go: ``images/<label folder>/<name>.mel.png``
    and ``.mfcc.png``.

    ``<name>`` is the track's file name with its extension (``song.mp3`` and ``song.wav`` are two
    tracks), or its path inside the genre folder made one name. Where the picture's place does not
    mirror the track's path exactly (the name had to be cleaned, ``x:y.mp3``; a subfolder,
    ``sub/z.mp3``; an absolute path from ``import``; a folder whose name is not its label's),
    ``~`` and a hash of the track's path follow, so no two tracks share a picture. Every part
    comes from :mod:`genrekit.naming`: a label such as ``../x`` is one folder inside
    ``images/``, never a path out of the store.
    """
    parts = src.rel.split("/")  # <genre folder>/<path inside it>, or an absolute path
    inside = "/".join(parts[1:]) if len(parts) > 1 and parts[0] else parts[-1]
    folder = label_folder(src.genre)
    room = MAX_NAME_BYTES - len(".mfcc.png")
    name = safe_name(inside, max_bytes=room)
    if src.rel != f"{folder}/{name}":
        tag = "~" + hashlib.sha256(src.rel.encode("utf-8")).hexdigest()[:8]
        name = safe_name(inside, max_bytes=room - len(tag)) + tag
    return (
        path_inside(root, "images", folder, f"{name}.mel.png"),
        path_inside(root, "images", folder, f"{name}.mfcc.png"),
    )


def _save_images(
    root: Path,
    src: SourceFile,
    log_mel: npt.NDArray[np.float32],
    mfcc: npt.NDArray[np.float32],
    cmap: str,
) -> None:
    from genrekit.images import save_png

    mel_png, mfcc_png = image_paths(root, src)
    # log_mel is dB re 1.0; minus its maximum it is exactly power_to_db(mel, ref=np.max).
    save_png(log_mel - log_mel.max(), mel_png, cmap=cmap)
    save_png(mfcc, mfcc_png, cmap=cmap)


def _render_cached_images(root: Path, src: SourceFile, sha: str, options: ExtractOptions) -> None:
    mel_png, mfcc_png = image_paths(root, src)
    if mel_png.exists() and mfcc_png.exists():
        return
    log_mel = np.load(feature_path(root, "logmel", sha))
    mfcc = np.load(feature_path(root, "mfcc", sha))
    _save_images(root, src, log_mel, mfcc, options.cmap)
