"""Where labeled previews come from: one module per streaming service.

A source turns a :class:`GenreQuery` (``jazz=playlist:1615514485``) into :class:`TrackInfo` rows,
page by page, and gives a fresh preview link for a track right before it is downloaded.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from genrekit.errors import ParameterError

if TYPE_CHECKING:
    from genrekit.http import HttpClient


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


@dataclass(frozen=True)
class GenreQuery:
    """``LABEL=KIND:VALUE``: tracks found by ``KIND:VALUE`` get the genre label ``LABEL``."""

    genre: str
    kind: str
    value: str

    @classmethod
    def parse(cls, text: str) -> GenreQuery:
        label, sep, rest = text.partition("=")
        kind, sep2, value = rest.partition(":")
        if not (sep and sep2 and label.strip() and kind.strip() and value.strip()):
            raise ParameterError(
                f"--genre {text!r}: expected LABEL=KIND:VALUE, e.g. jazz=playlist:1615514485 "
                'or metal=search:"heavy metal"'
            )
        return cls(label.strip(), kind.strip().lower(), value.strip())

    @property
    def found_by(self) -> str:
        return f"{self.kind}:{self.value}"


class Source(Protocol):
    """What ``genrekit fetch`` needs from a service."""

    name: str
    kinds: tuple[str, ...]
    preview_suffix: str  # file ending of the previews it serves
    http: HttpClient  # also downloads the previews

    def tracks(self, query: GenreQuery) -> Iterator[TrackInfo]:
        """The tracks ``query`` finds, lazily, page by page."""
        ...

    def preview_url(self, track: TrackInfo, *, refresh: bool = False) -> str | None:
        """A link to download ``track``'s preview now, or None if it has none."""
        ...


def check_kind(source: Source, query: GenreQuery) -> None:
    if query.kind not in source.kinds:
        raise ParameterError(
            f"{source.name} cannot find tracks by {query.kind!r} (in --genre "
            f"{query.genre}={query.found_by}); use one of: {', '.join(source.kinds)}"
        )


def api_base(variable: str, default: str) -> str:
    """A service's base URL; the environment variable points genrekit at a mirror or test server."""
    return os.environ.get(variable, default).rstrip("/")
