"""The iTunes Search API (no account needed).

``/search?term=&media=music&entity=song&limit=200`` answers ``{"resultCount": n, "results": [...]}``
(after a few blank lines); previews are 30 s AAC ``.m4a`` files. Apple asks for about 20 calls
per minute.
"""

from __future__ import annotations

from collections.abc import Iterator

from genrekit.errors import FetchError
from genrekit.http import HttpClient, RateLimit
from genrekit.sources import (
    Fields,
    GenreQuery,
    Skipped,
    TrackInfo,
    api_base,
    check_kind,
    parse_items,
)

DEFAULT_API = "https://itunes.apple.com"
MAX_RESULTS = 200  # the API's own maximum per search
QUOTA = RateLimit(calls=20, period=60.0)


class ITunes:
    name = "itunes"
    kinds: tuple[str, ...] = ("search", "artist", "album")
    preview_suffix = ".m4a"

    def __init__(self, http: HttpClient, base: str | None = None, country: str = "US"):
        self.http = http
        self.base = base or api_base("GENREKIT_ITUNES_API", DEFAULT_API)
        http.allow_addresses_of(self.base)
        self.country = country

    def tracks(self, query: GenreQuery) -> Iterator[TrackInfo | Skipped]:
        check_kind(self, query)
        if query.kind == "search":
            path = "/search"
            params: dict[str, str | int] = {
                "term": query.value,
                "media": "music",
                "entity": "song",
                "limit": MAX_RESULTS,
                "country": self.country,
            }
        else:  # an artist or album id: its songs
            path = "/lookup"
            params = {"id": query.value, "entity": "song", "limit": MAX_RESULTS}
        answer = self.http.get_json(self.base + path, params=params)
        results = answer.get("results") if isinstance(answer, dict) else None
        if not isinstance(results, list):
            raise FetchError(f"itunes: {path} answered without a 'results' list")
        yield from parse_items(results, parse_track)

    def preview_url(self, track: TrackInfo, *, refresh: bool = False) -> str | None:
        if track.preview_url and not refresh:
            return track.preview_url
        answer = self.http.get_json(self.base + "/lookup", params={"id": track.source_id})
        results = answer.get("results") if isinstance(answer, dict) else None
        for fresh in parse_items(results if isinstance(results, list) else [], parse_track):
            if isinstance(fresh, TrackInfo):
                return fresh.preview_url
        return None


def parse_track(item: object) -> TrackInfo | None:
    """A song of an iTunes answer; None for albums, artists and videos, ShapeError for items of
    an unexpected shape."""
    f = Fields(item, "result")
    if f.text("kind") != "song":
        return None
    source_id = f.ident("trackId")
    millis = f.number("trackTimeMillis")
    return TrackInfo(
        source="itunes",
        source_id=source_id,
        title=f.text("trackName") or source_id,
        artist=f.text("artistName") or "Unknown artist",
        artist_id=f.text("artistId"),
        album=f.text("collectionName"),
        duration=millis / 1000.0 if millis is not None else None,
        preview_url=f.text("previewUrl"),
    )
