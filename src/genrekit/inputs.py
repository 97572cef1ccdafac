"""What a labelled input folder holds: ``<genre>/<track files>``, or a data set's catalog.

``extract``, ``embed`` and ``import`` read their tracks through :func:`scan_input`; a folder
without any track is one error that says what it holds and which layout is expected.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from genrekit.catalog import CATALOG_NAME, iter_done
from genrekit.constants import AUDIO_EXTENSIONS
from genrekit.errors import FeatureStoreError
from genrekit.naming import is_utf8, normalize_label, shown

LAYOUT = "<genre>/<track files>"


@dataclass(frozen=True)
class SourceFile:
    path: Path
    rel: str  # relative to the input folder, '/'-separated (absolute for catalogued files)
    genre: str
    artist: str | None = None  # known when the input is a catalogued data set


@dataclass(frozen=True)
class DatasetScan:
    """What an input folder holds: its tracks and the files that are not used."""

    files: list[SourceFile]
    ignored: int = 0  # files that are not audio
    unlabelled: list[str] = field(default_factory=list)  # audio outside a <genre>/ folder
    misnamed: list[SourceFile] = field(default_factory=list)  # audio whose path is not UTF-8


def scan_dataset(in_dir: Path) -> tuple[list[SourceFile], int]:
    """Audio files under ``in_dir/<genre>/`` (any depth), and how many other files were ignored.

    Files whose names are not UTF-8 are listed too (last); the caller skips them with a reason.
    """
    scan = scan_input(in_dir)
    return scan.files + scan.misnamed, scan.ignored + len(scan.unlabelled)


def scan_input(in_dir: Path) -> DatasetScan:
    """The tracks of an input folder: audio under ``in_dir/<genre>/`` (any depth).

    A data set made by ``genrekit fetch`` or ``import`` (it has a catalog) is read from its
    catalog instead: its finished tracks, wherever they are, with their artists. A folder without
    any track is a :class:`FeatureStoreError` that says what it holds and what layout is expected.
    Audio whose path inside ``in_dir`` is not UTF-8 goes to ``misnamed``, its ``rel`` shown with
    ``\\xNN`` (:func:`~genrekit.naming.shown`): no index or catalog can store such a name.
    """
    if not in_dir.exists():
        raise FeatureStoreError(f"{in_dir}: does not exist; give the folder that holds {LAYOUT}")
    if not in_dir.is_dir():
        raise FeatureStoreError(
            f"{in_dir}: is a file, not a folder; give the folder that holds {LAYOUT}"
        )
    if (in_dir / CATALOG_NAME).is_file():
        return DatasetScan(_catalogued(in_dir))
    files: list[SourceFile] = []
    misnamed: list[SourceFile] = []
    others: list[Path] = []
    unlabelled: list[Path] = []
    for genre_dir in sorted(p for p in in_dir.iterdir() if p.is_dir()):
        if genre_dir.name.startswith("."):
            continue
        if not normalize_label(genre_dir.name):  # a blank name: its audio has no label
            found = sorted(genre_dir.rglob("*"))
            unlabelled += [p for p in found if p.suffix.lower() in AUDIO_EXTENSIONS]
            continue
        for path in sorted(genre_dir.rglob("*")):
            # Not is_file(): a pipe or device named .mp3 is listed, so it fails with its reason.
            if path.is_dir() or any(part.startswith(".") for part in path.parts[-2:]):
                continue
            if path.suffix.lower() in AUDIO_EXTENSIONS:
                rel = path.relative_to(in_dir).as_posix()
                track = SourceFile(path, shown(rel), normalize_label(genre_dir.name))
                (files if is_utf8(rel) else misnamed).append(track)
            else:
                others.append(path)
    loose = sorted(p for p in in_dir.iterdir() if not p.is_dir() and not p.name.startswith("."))
    unlabelled += [p for p in loose if p.suffix.lower() in AUDIO_EXTENSIONS]
    others += [p for p in loose if p.suffix.lower() not in AUDIO_EXTENSIONS]
    if not files and not misnamed:
        raise FeatureStoreError(_no_tracks_message(in_dir, unlabelled, others))
    return DatasetScan(files, len(others), [shown(p.name) for p in unlabelled], misnamed)


def _no_tracks_message(in_dir: Path, unlabelled: list[Path], others: list[Path]) -> str:
    if unlabelled:
        first = shown(unlabelled[0].name)
        return (
            f"{in_dir}: {len(unlabelled)} audio files lie directly in this folder (e.g. {first}), "
            f"but tracks are read from {in_dir}/{LAYOUT}: move each file into a folder named "
            f"after its genre, e.g. {in_dir}/jazz/{first}"
        )
    if others:
        example = shown(others[0].relative_to(in_dir).as_posix())
        return (
            f"{in_dir}: no audio file in {in_dir}/{LAYOUT} ({len(others)} other "
            f"file{'s' if len(others) > 1 else ''}, e.g. "
            f"{example}); audio files end in {', '.join(sorted(AUDIO_EXTENSIONS))}"
        )
    return f"{in_dir}: the folder is empty; put the tracks in {in_dir}/{LAYOUT}"


def check_output(in_dir: Path, out_dir: Path) -> None:
    """Refuse a store folder that is a file, or inside the input (it would be read as a genre)."""
    if out_dir.exists() and not out_dir.is_dir():
        raise FeatureStoreError(
            f"{out_dir}: is a file; give the feature store a folder (new, or made by extract)"
        )
    source, target = in_dir.resolve(), out_dir.resolve()
    if target == source or source in target.parents:
        raise FeatureStoreError(
            f"{out_dir}: the feature store cannot be inside the input folder {in_dir}; "
            f"choose a folder outside it, e.g. {source.parent / (source.name + '-features')}"
        )


def _catalogued(data_dir: Path) -> list[SourceFile]:
    files = [
        SourceFile(path, row.path or str(path), normalize_label(row.genre), row.artist or None)
        for row, path in iter_done(data_dir)
    ]
    if not files:
        raise FeatureStoreError(
            f"{data_dir}: the catalog lists no downloaded track yet; run genrekit fetch first"
        )
    return files
