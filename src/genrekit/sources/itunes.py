"""The iTunes Search API (no account needed).

``/search?term=&media=music&entity=song&limit=200`` answers ``{"resultCount": n, "results": [...]}``
(after a few blank lines); previews are 30 s AAC ``.m4a`` files. Apple asks for about 20 calls
per minute.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from genrekit.errors import FetchError
from genrekit.http import HttpClient, RateLimit
from genrekit.sources import GenreQuery, TrackInfo, api_base, check_kind

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

    def tracks(self, query: GenreQuery) -> Iterator[TrackInfo]:
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
        for item in results:
            track = parse_track(item)
            if track is not None:
                yield track

    def preview_url(self, track: TrackInfo, *, refresh: bool = False) -> str | None:
        if track.preview_url and not refresh:
            return track.preview_url
        answer = self.http.get_json(self.base + "/lookup", params={"id": track.source_id})
        for item in answer.get("results", []) if isinstance(answer, dict) else []:
            fresh = parse_track(item)
            if fresh is not None:
                return fresh.preview_url
        return None


def parse_track(item: Any) -> TrackInfo | None:
    """A song of an iTunes answer; None for albums, artists and videos."""
    if not isinstance(item, dict) or item.get("kind") != "song" or "trackId" not in item:
        return None
    millis = item.get("trackTimeMillis")
    return TrackInfo(
        source="itunes",
        source_id=str(item["trackId"]),
        title=str(item.get("trackName") or item["trackId"]),
        artist=str(item.get("artistName") or "Unknown artist"),
        artist_id=str(item["artistId"]) if "artistId" in item else None,
        album=item.get("collectionName"),
        duration=millis / 1000.0 if isinstance(millis, int | float) else None,
        preview_url=item.get("previewUrl") or None,
    )
