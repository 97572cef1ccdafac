"""A track's record as a source lists it: the one data type collecting, the catalog and the
importer share (a leaf module, so the catalog needs none of the sources' code)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TrackInfo:
    """One track as a service lists it."""

    source: str
    source_id: str
    title: str
    artist: str
    artist_id: str | None = None
    album: str | None = None
    isrc: str | None = None
    duration: float | None = None  # of the full track, in seconds
    preview_url: str | None = None
