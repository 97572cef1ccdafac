"""Deezer's public API (no account needed).

Pages are ``{"data": [...], "total": N, "next": url}``. Errors come in an HTTP 200 as
``{"error": {"code": 4, "message": "Quota limit exceeded"}}`` (code 4 is the quota of ~50 requests
per 5 s, so it is retried after a pause; code 800 means "no data"). Preview links are signed and
expire about 15 minutes after they are issued, so a link is re-resolved with ``/track/{id}`` when
its ``exp`` time is near or a download is refused.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

from genrekit.errors import FetchError
from genrekit.http import HttpClient, RateLimit, RetryLaterError
from genrekit.sources import (
    Fields,
    GenreQuery,
    Skipped,
    TrackInfo,
    api_base,
    check_kind,
    parse_answer,
    parse_items,
)

DEFAULT_API = "https://api.deezer.com"
PAGE_SIZE = 100
QUOTA = RateLimit(calls=40, period=5.0)  # Deezer allows ~50 per 5 s; keep a margin
QUOTA_PAUSE = 5.0  # seconds to wait after a quota error: one full window
_EXPIRY = re.compile(r"exp=(\d+)")
_EXPIRY_MARGIN = 60.0  # seconds; a link closer than this to expiry is re-resolved


def check_answer(payload: Any) -> None:
    """Raise on Deezer's in-band errors; a quota error asks the caller to retry later."""
    if not isinstance(payload, dict) or "error" not in payload:
        return
    error = payload["error"]
    if isinstance(error, dict):
        code, message = error.get("code"), error.get("message", "unknown error")
        if code == 4:
            raise RetryLaterError(f"Deezer quota exceeded ({message})", QUOTA_PAUSE)
        if code == 800:
            raise FetchError(f"deezer: no such item ({message}, code 800)")
        raise FetchError(f"deezer: {message} (code {code})")
    raise FetchError(f"deezer: {error}")


def link_expired(url: str, *, now: float | None = None) -> bool:
    """True if a signed link's ``exp`` time is past or within a minute; unsigned links never."""
    match = _EXPIRY.search(url)
    if match is None:
        return False
    return int(match.group(1)) - (time.time() if now is None else now) < _EXPIRY_MARGIN


class Deezer:
    name = "deezer"
    kinds: tuple[str, ...] = ("playlist", "search", "chart", "album")
    preview_suffix = ".mp3"

    def __init__(self, http: HttpClient, base: str | None = None):
        self.http = http
        self.base = base or api_base("GENREKIT_DEEZER_API", DEFAULT_API)
        http.allow_addresses_of(self.base)

    def _get(self, path: str, params: dict[str, str | int] | None = None) -> Any:
        return self.http.get_json(self.base + path, params=params, check=check_answer)

    def tracks(self, query: GenreQuery) -> Iterator[TrackInfo | Skipped]:
        check_kind(self, query)
        path, params = {
            "playlist": (f"/playlist/{query.value}/tracks", {}),
            "search": ("/search", {"q": query.value}),
            "chart": (f"/chart/{query.value}/tracks", {}),
            "album": (f"/album/{query.value}/tracks", {}),
        }[query.kind]
        index = 0
        while True:
            # Page with index/limit rather than following "next": its host is always Deezer's,
            # which would bypass a mirror set with GENREKIT_DEEZER_API.
            page = self._get(path, {**params, "index": index, "limit": PAGE_SIZE})
            items = page.get("data") if isinstance(page, dict) else None
            if not isinstance(items, list):
                raise FetchError(f"deezer: {path} answered without a 'data' list")
            yield from parse_items(items, parse_track)
            if not items or not page.get("next"):
                return
            index += len(items)

    def preview_url(self, track: TrackInfo, *, refresh: bool = False) -> str | None:
        if track.preview_url and not refresh and not link_expired(track.preview_url):
            return track.preview_url
        path = f"/track/{quote(track.source_id, safe='')}"
        fresh = self._get(path)
        return parse_answer("deezer", path, lambda: Fields(fresh, "track").text("preview"))


def parse_track(item: object) -> TrackInfo | None:
    """A track of a Deezer list; None for tracks that cannot be played, ShapeError for items of an
    unexpected shape."""
    f = Fields(item, "item")
    if f.flag("readable") is False:
        return None
    source_id = f.ident("id")
    artist = f.object("artist")
    album = f.object("album")
    return TrackInfo(
        source="deezer",
        source_id=source_id,
        title=f.text("title") or f.text("title_short") or source_id,
        artist=(artist.text("name") if artist else None) or "Unknown artist",
        artist_id=artist.text("id") if artist else None,
        album=album.text("title") if album else None,
        isrc=f.text("isrc"),
        duration=f.number("duration"),
        preview_url=f.text("preview"),
    )
