"""The music sets' manifest (manifest.tsv): one row per 30 s clip, read and checked.

Pure logic, no I/O beyond reading the file: rebuild.py and check_set.py use it, and
tests/test_music_sets.py tests it without any audio.
"""

from __future__ import annotations

import csv
import io
import itertools
import re
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

COLUMNS = (
    "set",
    "genre",
    "package",
    "version",
    "path",
    "artist",
    "title",
    "licence",
    "start",
    "duration",
    "evidence",
)
SETS = ("check", "dev")
# GTZAN's ten names where they fit, then the newer genres a source may state.
GTZAN = (
    "blues",
    "classical",
    "country",
    "disco",
    "hiphop",
    "jazz",
    "metal",
    "pop",
    "reggae",
    "rock",
)
GENRES = frozenset(GTZAN) | {"electronic", "folk", "punk", "ambient", "soul", "funk", "rnb"}
CLIP_SECONDS = 30.0
MAX_TRACKS_PER_ARTIST = 8  # per set, so that no artist dominates a genre
MEMBER = "!"  # "outer.pk3!inner.ogg": a file inside an archive inside the package


class ManifestError(ValueError):
    """The manifest cannot be used: one line per problem, each naming its row."""


@dataclass(frozen=True)
class Clip:
    set: str
    genre: str
    package: str
    version: str
    path: str  # inside the package; "archive!member" for a file inside a zip/pk3
    artist: str
    title: str
    licence: str
    start: float  # seconds into the track
    duration: float  # the whole track's length in seconds, as measured when listed
    evidence: str
    line: int = 0

    @property
    def file(self) -> str:
        """The file inside the package (the archive, for a member of one)."""
        return self.path.split(MEMBER, 1)[0]

    @property
    def member(self) -> str | None:
        """The file inside ``file`` when that is an archive, else None."""
        parts = self.path.split(MEMBER, 1)
        return parts[1] if len(parts) == 2 else None

    @property
    def track(self) -> tuple[str, str]:
        return (self.package, self.path)


def parse(text: str, source: str = "manifest.tsv") -> list[Clip]:
    """The clips of a manifest's text; ManifestError lists every malformed row."""
    reader = csv.DictReader(io.StringIO(text), delimiter="\t", quoting=csv.QUOTE_NONE)
    if tuple(reader.fieldnames or ()) != COLUMNS:
        raise ManifestError(
            f"{source}: header must be the tab-separated columns {', '.join(COLUMNS)}; "
            f"found {', '.join(reader.fieldnames or ['nothing'])}"
        )
    clips: list[Clip] = []
    problems: list[str] = []
    for row in reader:
        line = reader.line_num
        if None in row or any(v is None for v in row.values()):
            problems.append(f"{source}:{line}: expected {len(COLUMNS)} tab-separated fields")
            continue
        empty = [c for c in COLUMNS if not row[c].strip()]
        if empty:
            problems.append(f"{source}:{line}: empty {', '.join(empty)}")
            continue
        try:
            start, duration = float(row["start"]), float(row["duration"])
        except ValueError:
            problems.append(
                f"{source}:{line}: start {row['start']!r} and duration {row['duration']!r} "
                "must be seconds"
            )
            continue
        fields = {c: row[c].strip() for c in COLUMNS if c not in ("start", "duration")}
        clips.append(Clip(**fields, start=start, duration=duration, line=line))
    if problems:
        raise ManifestError("\n".join(problems))
    return clips


def problems(clips: Iterable[Clip], source: str = "manifest.tsv") -> list[str]:
    """What makes these clips unfit as the two sets; empty when they are fine."""
    clips = list(clips)
    found: list[str] = []
    seen: set[tuple[str, str, float]] = set()
    for clip in clips:
        where = f"{source}:{clip.line}"
        if clip.set not in SETS:
            found.append(f"{where}: set {clip.set!r} is not one of {', '.join(SETS)}")
        if clip.genre not in GENRES:
            found.append(f"{where}: genre {clip.genre!r} is not one of {', '.join(sorted(GENRES))}")
        if clip.start < 0 or clip.start + CLIP_SECONDS > clip.duration + 0.5:
            found.append(
                f"{where}: a {CLIP_SECONDS:g} s clip from {clip.start:g} s does not fit in "
                f"the {clip.duration:g} s track"
            )
        if clip.path.startswith("/") or ".." in Path(clip.file).parts:
            found.append(f"{where}: path {clip.path!r} must be relative, inside the package")
        key = (clip.package, clip.path, clip.start)
        if key in seen:
            found.append(f"{where}: the same clip ({clip.path} at {clip.start:g} s) twice")
        seen.add(key)
    found += _overlaps(clips, source)
    found += _shared(clips, "package", lambda c: c.package)
    found += _shared(clips, "artist", lambda c: _fold(c.artist))
    found += _crowded(clips)
    return found


def read(path: Path) -> list[Clip]:
    """The checked clips of a manifest file; ManifestError says what is wrong."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{path}: cannot read the manifest: {exc}") from None
    clips = parse(text, path.name)
    found = problems(clips, path.name)
    if found:
        raise ManifestError("\n".join(found))
    return clips


def output_name(clip: Clip, several: bool) -> str:
    """``<artist> - <title>.ogg``, with the start second when the track gives several clips."""
    at = f" @{clip.start:g}s" if several else ""
    return f"{safe(clip.artist)} - {safe(clip.title)}{at}.ogg"


def output_names(clips: Iterable[Clip]) -> dict[Clip, str]:
    """Every clip's file name (relative to the output folder: set/genre/name)."""
    clips = list(clips)
    per_track: dict[tuple[str, str], int] = defaultdict(int)
    for clip in clips:
        per_track[clip.track] += 1
    return {c: f"{c.set}/{c.genre}/{output_name(c, per_track[c.track] > 1)}" for c in clips}


def safe(text: str, limit: int = 80) -> str:
    """Text from a tag as one file-name part: no separators, controls or leading dots."""
    text = unicodedata.normalize("NFC", text)
    text = re.sub(r'[\x00-\x1f\x7f/\\:*?"<>|]+', "_", text).strip(" ._")
    return text[:limit].rstrip(" ._") or "untitled"


def _fold(name: str) -> str:
    return unicodedata.normalize("NFKC", name).casefold().strip()


def _shared(clips: list[Clip], what: str, key: Callable[[Clip], str]) -> list[str]:
    """A package or an artist in both sets: the sets must be disjoint by both."""
    sets: dict[str, set[str]] = defaultdict(set)
    for clip in clips:
        sets[key(clip)].add(clip.set)
    return [
        f"{what} {name!r} is in both sets ({', '.join(sorted(s))}): the sets must not share one"
        for name, s in sorted(sets.items())
        if len(s) > 1
    ]


def _crowded(clips: list[Clip]) -> list[str]:
    tracks: dict[tuple[str, str], set[tuple[str, str]]] = defaultdict(set)
    for clip in clips:
        tracks[(clip.set, _fold(clip.artist))].add(clip.track)
    return [
        f"artist {artist!r} has {len(t)} tracks in the {s} set (at most {MAX_TRACKS_PER_ARTIST})"
        for (s, artist), t in sorted(tracks.items())
        if len(t) > MAX_TRACKS_PER_ARTIST
    ]


def _overlaps(clips: list[Clip], source: str) -> list[str]:
    """Two clips of one track that share audio."""
    by_track: dict[tuple[str, str], list[Clip]] = defaultdict(list)
    for clip in clips:
        by_track[clip.track].append(clip)
    found = []
    for group in by_track.values():
        group.sort(key=lambda c: c.start)
        for a, b in itertools.pairwise(group):
            if a.start != b.start and b.start < a.start + CLIP_SECONDS:
                found.append(
                    f"{source}:{b.line}: the clip at {b.start:g} s overlaps the one at "
                    f"{a.start:g} s ({source}:{a.line}) of the same track"
                )
    return found
