"""The feature store: what ``genrekit extract`` writes and what training reads.

Layout of a store folder::

    store.json                      feature parameters and clip length (a mismatch is an error)
    index.sqlite                    one row per input file: genre, sha256, status, reason
    features/logmel/ab/<sha>.npy    (n_mels, n_frames) float32 log-mel, dB re 1.0
    features/mfcc/ab/<sha>.npy      (n_mfcc, n_frames) float32 MFCCs
    features/emb-<backbone>/ab/<sha>.npy  a pretrained model's clip embedding (``genrekit embed``)
    images/<genre>/<name>.mel.png   optional pictures (``--images``)

Features are keyed by the SHA-256 of the input file's bytes, so a renamed or moved file is not
computed again, and each ``.npy`` can be memory-mapped, so a data set larger than RAM can be read.

The index mirrors one input folder, recorded in its ``store_meta`` table: ``extract`` of another
folder into the store is refused rather than dropping the first folder's rows. One ``extract`` at
a time writes to a store (it holds the store's lock, :mod:`genrekit.lock`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from genrekit.errors import FeatureStoreError
from genrekit.features import FeatureParams
from genrekit.naming import normalize_label
from genrekit.storage import (
    check_own_file,
    write_bytes_atomic,
)
from genrekit.store_index import read_input, read_usable

STORE_FORMAT = "genrekit-features"
STORE_VERSION = 1
FeatureKind = Literal["logmel", "mfcc"]
FEATURE_KINDS: tuple[FeatureKind, ...] = ("logmel", "mfcc")


@dataclass(frozen=True)
class StoreInfo:
    """What ``store.json`` records: how every array in the store was made."""

    params: FeatureParams
    clip_seconds: float

    def to_json(self) -> str:
        return json.dumps(
            {
                "format": STORE_FORMAT,
                "version": STORE_VERSION,
                "clip_seconds": self.clip_seconds,
                "params": self.params.to_dict(),
            },
            indent=2,
        )


@dataclass(frozen=True)
class Track:
    """One usable clip of the store."""

    path: str
    genre: str
    sha256: str
    duration: float
    n_frames: int
    n_valid: int
    artist: str | None = None


def feature_path(root: Path, kind: str, sha256: str) -> Path:
    return root / "features" / kind / sha256[:2] / f"{sha256}.npy"


def embedding_kind(backbone: str) -> str:
    """The store folder of a backbone's clip embeddings."""
    return f"emb-{backbone}"


def read_info(root: Path) -> StoreInfo:
    meta = root / "store.json"
    if not meta.is_file():
        raise FeatureStoreError(
            f"{root}: not a feature store (no store.json); create one with "
            f"'genrekit extract IN_DIR -o {root}'"
        )
    try:
        data = json.loads(meta.read_text(encoding="utf-8"))
        if data.get("format") != STORE_FORMAT:
            raise ValueError(f"format is {data.get('format')!r}, not {STORE_FORMAT!r}")
        if int(data.get("version", 0)) > STORE_VERSION:
            raise ValueError(f"version {data['version']} is newer than this genrekit reads")
        return StoreInfo(FeatureParams.from_dict(data["params"]), float(data["clip_seconds"]))
    except (ValueError, KeyError, TypeError) as exc:
        raise FeatureStoreError(f"{meta}: damaged store description ({exc})") from exc


def describe_mismatch(found: StoreInfo, wanted: StoreInfo) -> str:
    """Human-readable list of the settings in which two stores differ ('' if none)."""
    diffs = [
        f"{name}={value!r} (wanted {wanted.params.to_dict()[name]!r})"
        for name, value in found.params.to_dict().items()
        if wanted.params.to_dict()[name] != value
    ]
    if found.clip_seconds != wanted.clip_seconds:
        diffs.append(f"clip_seconds={found.clip_seconds:g} (wanted {wanted.clip_seconds:g})")
    return ", ".join(diffs)


def create_or_check(root: Path, info: StoreInfo) -> None:
    """Make ``root`` a store for ``info``, or check an existing one was made with the same.

    Call it holding the store's lock: two runs must not both find no ``store.json`` and each
    write its own.
    """
    check_own_file(root / "store.json", FeatureStoreError, hard_links_ok=True)
    if (root / "store.json").exists():
        found = read_info(root)
        diff = describe_mismatch(found, info)
        if diff:
            raise FeatureStoreError(
                f"{root}: this store was made with other settings: {diff}; "
                "use another output folder or the store's own settings"
            )
        return
    if root.exists() and not root.is_dir():
        raise FeatureStoreError(
            f"{root}: is a file; give the feature store a folder (new, or made by extract)"
        )
    if root.is_dir() and any(not p.name.startswith(".") for p in root.iterdir()):
        raise FeatureStoreError(
            f"{root}: this folder holds other files and is not a feature store (no store.json); "
            "give a new or empty folder, or a store made by genrekit extract"
        )
    try:
        root.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(root / "store.json", info.to_json().encode("utf-8"))
    except OSError as exc:
        raise FeatureStoreError(
            f"{root}: cannot create the feature store ({exc.strerror or exc}); choose a folder "
            "you can write to"
        ) from exc


class FeatureStore:
    """Read a feature store: arrays, genre labels and file names.

    Parameters
    ----------
    root : the folder ``genrekit extract -o`` wrote.
    expect : feature parameters the caller needs; a store made with others raises
        :class:`FeatureStoreError` instead of silently mixing features.

    Examples
    --------
    >>> store = FeatureStore("features/")                     # doctest: +SKIP
    >>> x = store.stack("mfcc")      # (n_clips, n_mfcc, n_frames), labels in store.labels
    """

    def __init__(self, root: str | os.PathLike[str], *, expect: FeatureParams | None = None):
        self.root = Path(root)
        self.info = read_info(self.root)
        if expect is not None:
            diff = describe_mismatch(self.info, StoreInfo(expect, self.info.clip_seconds))
            if diff:
                raise FeatureStoreError(
                    f"{self.root}: features were extracted with other parameters: {diff}"
                )
        index = self.root / "index.sqlite"
        if not index.is_file():
            raise FeatureStoreError(f"{self.root}: index.sqlite is missing; rerun genrekit extract")
        rows = read_usable(index)
        # Stores written before labels were normalized may spell one label two ways (NFC, NFD).
        self.tracks: list[Track] = [
            Track(path, normalize_label(genre), sha, duration, n_frames, n_valid, artist)
            for path, genre, sha, duration, n_frames, n_valid, artist in rows
        ]
        self.genres: list[str] = sorted({t.genre for t in self.tracks})
        lookup = {genre: i for i, genre in enumerate(self.genres)}
        self.labels: npt.NDArray[np.int64] = np.array(
            [lookup[t.genre] for t in self.tracks], dtype=np.int64
        )

    def input_folder(self) -> Path | None:
        """The folder ``extract`` read (its tracks' paths are relative to it), as recorded."""
        return read_input(self.root / "index.sqlite")

    @property
    def params(self) -> FeatureParams:
        return self.info.params

    def __len__(self) -> int:
        return len(self.tracks)

    def __iter__(self) -> Iterator[Track]:
        return iter(self.tracks)

    def array(self, kind: FeatureKind, i: int, *, mmap: bool = True) -> npt.NDArray[np.float32]:
        """The ``kind`` features of clip ``i``; memory-mapped unless ``mmap=False``."""
        if kind not in FEATURE_KINDS:
            raise FeatureStoreError(f"kind={kind!r} must be one of {FEATURE_KINDS}")
        path = feature_path(self.root, kind, self.tracks[i].sha256)
        try:
            loaded: Any = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise FeatureStoreError(f"{path}: cannot read features ({exc}); rerun extract") from exc
        return loaded  # type: ignore[no-any-return]

    def embedding(self, i: int, backbone: str) -> npt.NDArray[np.float32]:
        """Clip ``i``'s embedding by ``backbone`` (written by ``genrekit embed``)."""
        path = feature_path(self.root, embedding_kind(backbone), self.tracks[i].sha256)
        try:
            loaded: npt.NDArray[np.float32] = np.load(path, allow_pickle=False)
        except FileNotFoundError:
            raise FeatureStoreError(
                f"{self.root}: {self.tracks[i].path} has no {backbone} embedding; run "
                f"'genrekit embed IN_DIR -o {self.root}' first"
            ) from None
        except (OSError, ValueError) as exc:
            raise FeatureStoreError(f"{path}: cannot read the embedding ({exc})") from exc
        return loaded

    def has_embedding(self, i: int, backbone: str) -> bool:
        """Whether clip ``i`` has an embedding by ``backbone``."""
        return feature_path(self.root, embedding_kind(backbone), self.tracks[i].sha256).is_file()

    def has_embeddings(self, backbone: str) -> bool:
        """Whether every clip has an embedding by ``backbone``."""
        return bool(self.tracks) and all(self.has_embedding(i, backbone) for i in range(len(self)))

    def stack(self, kind: FeatureKind) -> npt.NDArray[np.float32]:
        """All clips' ``kind`` features in one array, shape (n_clips, n_bins, n_frames)."""
        if not self.tracks:
            raise FeatureStoreError(f"{self.root}: the store holds no usable clip")
        first = self.array(kind, 0)
        out = np.empty((len(self), *first.shape), dtype=np.float32)
        for i in range(len(self)):
            out[i] = self.array(kind, i)
        return out
