"""Where labeled previews come from: one module per streaming service.

A source turns a :class:`GenreQuery` (``jazz=playlist:1615514485``) into :class:`TrackInfo` rows,
page by page, and gives a fresh preview link for a track right before it is downloaded.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar
from urllib.parse import urlsplit

from genrekit.errors import FetchError, ParameterError
from genrekit.naming import normalize_label, valid_text
from genrekit.tracks import TrackInfo as TrackInfo  # the sources' modules take it from here

if TYPE_CHECKING:
    from genrekit.http import HttpClient

T = TypeVar("T")


@dataclass(frozen=True)
class Skipped:
    """A listing item of an unexpected shape, left out; ``reason`` is counted in the summary."""

    reason: str


class ShapeError(Exception):
    """Raised by :class:`Fields` when an item's field has a type the parser cannot use."""


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


class Fields:
    """Typed reads from one JSON object of a service's answer: the one place where the sources
    check shapes. A field of the wrong type raises :class:`ShapeError` naming the field and what it
    was (never its value, so that reasons can be counted); a missing or null field is None. Text
    comes out valid (:func:`~genrekit.naming.valid_text`): a lone surrogate, valid in JSON, would
    make the catalog, a file name or the terminal refuse it."""

    def __init__(self, value: object, what: str):
        if not isinstance(value, dict):
            raise ShapeError(f"{what} is {_kind(value)}, not an object")
        self.what = what
        self._data: dict[str, Any] = value

    def _bad(self, key: str, wanted: str) -> ShapeError:
        return ShapeError(f"{self.what}.{key} is {_kind(self._data[key])}, not {wanted}")

    def _missing(self, key: str) -> ShapeError:
        return ShapeError(f"{self.what} has no {key}")

    def raw(self, key: str) -> object:
        """A field as it is, for a parser that checks it itself."""
        return self._data.get(key)

    def text(self, key: str, *, required: bool = False) -> str | None:
        """A string (a number is taken as its text); empty is None."""
        value = self._data.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = str(value)
        if value is not None and not isinstance(value, str):
            raise self._bad(key, "text")
        if required and not value:
            raise self._missing(key)
        return valid_text(value) if value else None

    def ident(self, key: str) -> str:
        """A required id: a string or an integer, as text."""
        value = self._data.get(key)
        if value is None or value == "":
            raise self._missing(key)
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise self._bad(key, "an id")
        return valid_text(str(value))

    def number(self, key: str) -> float | None:
        value = self._data.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self._bad(key, "a number")
        return float(value)

    def flag(self, key: str) -> bool | None:
        value = self._data.get(key)
        if value is not None and not isinstance(value, bool):
            raise self._bad(key, "true or false")
        return value

    def object(self, key: str) -> Fields | None:
        value = self._data.get(key)
        return None if value is None else Fields(value, f"{self.what}.{key}")

    def objects(self, key: str) -> list[Fields]:
        """A list of objects (e.g. a track's artists); every entry must be an object."""
        value = self._data.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self._bad(key, "a list")
        return [Fields(entry, f"{self.what}.{key}[]") for entry in value]


def parse_items(
    items: Iterable[object], parse: Callable[[object], TrackInfo | None]
) -> Iterator[TrackInfo | Skipped]:
    """Parse a page of listing items; an item of an unexpected shape becomes :class:`Skipped`."""
    for item in items:
        try:
            track = parse(item)
        except ShapeError as exc:
            yield Skipped(str(exc))
        else:
            if track is not None:
                yield track


def parse_answer(service: str, what: str, parse: Callable[[], T]) -> T:
    """Run ``parse`` on a single answer (a track lookup, a token); a bad shape is a FetchError."""
    try:
        return parse()
    except ShapeError as exc:
        raise FetchError(f"{service}: {what} answered an unexpected shape ({exc})") from None


@dataclass(frozen=True)
class GenreQuery:
    """``LABEL=KIND:VALUE``: tracks found by ``KIND:VALUE`` get the genre label ``LABEL``."""

    genre: str
    kind: str
    value: str

    @classmethod
    def parse(cls, text: str) -> GenreQuery:
        text = valid_text(text)  # a non-UTF-8 byte in an argument arrives as a lone surrogate
        label, sep, rest = text.partition("=")
        kind, sep2, value = rest.partition(":")
        if not (sep and sep2 and normalize_label(label) and kind.strip() and value.strip()):
            raise ParameterError(
                'expected LABEL=KIND:VALUE, e.g. jazz=playlist:1615514485 or metal=search:"heavy '
                'metal"',
                option="genre",
                value=text,
            )
        return cls(normalize_label(label), kind.strip().lower(), value.strip())

    @property
    def found_by(self) -> str:
        return f"{self.kind}:{self.value}"


class Source(Protocol):
    """What ``genrekit fetch`` needs from a service."""

    name: str
    kinds: tuple[str, ...]
    preview_suffix: str  # file ending of the previews it serves
    http: HttpClient  # also downloads the previews

    def tracks(self, query: GenreQuery) -> Iterator[TrackInfo | Skipped]:
        """The tracks ``query`` finds, lazily, page by page, and the items it had to skip."""
        ...

    def preview_url(self, track: TrackInfo, *, refresh: bool = False) -> str | None:
        """A link to download ``track``'s preview now, or None if it has none."""
        ...


def check_kind(source: Source, query: GenreQuery) -> None:
    if query.kind not in source.kinds:
        raise ParameterError(
            f"{source.name} cannot find tracks by {query.kind!r}; use one of: "
            f"{', '.join(source.kinds)}",
            option="genre",
            value=f"{query.genre}={query.found_by}",
        )


def api_base(variable: str, default: str) -> str:
    """A service's base URL; the environment variable points genrekit at a mirror or test server.

    Set and empty is unset; a value that is not an http(s) URL is a :class:`ParameterError`
    naming the variable.
    """
    value = os.environ.get(variable, "")
    if not value:
        return default.rstrip("/")
    problem: str | None = None
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 -- parsing the port is the check ("http://h:99999")
    except ValueError as exc:
        problem = f"not a valid URL ({exc})"
    else:
        if parts.scheme not in ("http", "https") or not parts.hostname:
            problem = "not an http(s) URL with a host"
    if problem is not None:
        raise ParameterError(
            f"{variable}={valid_text(value)!r}: {problem}; give e.g. {default}, or unset it"
        )
    return value.rstrip("/")
