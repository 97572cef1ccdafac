"""The Spotify Web API, the seed's source, for apps that still get previews.

Client-credentials flow: ``SPOTIFY_CLIENT_ID`` and ``SPOTIFY_CLIENT_SECRET`` come from the
environment only, never from the command line, and are never printed. Since 27 November 2024
Spotify no longer returns ``preview_url`` (it is null) nor category playlists to apps created or
without extended access after that date; genrekit says so in one line instead of producing an
empty data set.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

from genrekit.errors import FetchError, HttpStatusError, SourceUnavailableError
from genrekit.http import HttpClient, RateLimit
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

DEFAULT_API = "https://api.spotify.com"
DEFAULT_ACCOUNTS = "https://accounts.spotify.com"
QUOTA = RateLimit(calls=10, period=1.0)  # Spotify's window is 30 s; it is not published
PAGE_SIZE = 100
NO_PREVIEWS = (
    "Spotify gives no 30-second previews and no category playlists to apps without extended "
    "access since 27 Nov 2024; use 'genrekit fetch deezer' or 'genrekit fetch itunes' instead"
)


class Spotify:
    name = "spotify"
    kinds: tuple[str, ...] = ("playlist", "category")
    preview_suffix = ".mp3"

    def __init__(
        self,
        http: HttpClient,
        *,
        base: str | None = None,
        accounts: str | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
    ):
        self.http = http
        self.base = base or api_base("GENREKIT_SPOTIFY_API", DEFAULT_API)
        self.accounts = accounts or api_base("GENREKIT_SPOTIFY_ACCOUNTS", DEFAULT_ACCOUNTS)
        http.allow_addresses_of(self.base)
        self._id = client_id or os.environ.get("SPOTIFY_CLIENT_ID", "")
        self._secret = client_secret or os.environ.get("SPOTIFY_CLIENT_SECRET", "")
        if not (self._id and self._secret):
            raise SourceUnavailableError(
                "spotify: set SPOTIFY_CLIENT_ID and SPOTIFY_CLIENT_SECRET in the environment "
                "(from https://developer.spotify.com/dashboard); they are never read from the "
                "command line"
            )
        self._token: tuple[str, float] | None = None
        self._lock = threading.Lock()

    def _access_token(self, *, renew: bool = False) -> str:
        with self._lock:
            if renew or self._token is None or time.monotonic() > self._token[1]:
                try:
                    answer = self.http.request_json(
                        "POST",
                        self.accounts + "/api/token",
                        data={"grant_type": "client_credentials"},
                        auth=(self._id, self._secret),
                    )
                except HttpStatusError as exc:
                    raise SourceUnavailableError(
                        f"spotify: the client id and secret were refused (HTTP {exc.status})"
                    ) from None
                fields = parse_answer("spotify", "/api/token", lambda: Fields(answer, "token"))
                token, lifetime = parse_answer(
                    "spotify",
                    "/api/token",
                    lambda: (fields.text("access_token"), fields.number("expires_in") or 3600.0),
                )
                if token is None:
                    raise FetchError("spotify: the token answer holds no access_token")
                self._token = (token, time.monotonic() + lifetime - 60)
            return self._token[0]

    def _get(self, path: str, params: dict[str, str | int] | None = None) -> Any:
        for renew in (False, True):
            headers = {"Authorization": f"Bearer {self._access_token(renew=renew)}"}
            try:
                return self.http.get_json(self.base + path, params=params, headers=headers)
            except HttpStatusError as exc:
                if exc.status != 401 or renew:  # 401: the token expired; renew it once
                    raise
        raise AssertionError("unreachable")

    def _playlist_ids(self, category: str) -> Iterator[str]:
        offset = 0
        while True:
            try:
                page = self._get(
                    f"/v1/browse/categories/{category}/playlists",
                    {"limit": 50, "offset": offset},
                )
            except HttpStatusError as exc:
                if exc.status in (403, 404):
                    raise SourceUnavailableError(
                        f"spotify: category {category!r} refused (HTTP {exc.status}). "
                        + NO_PREVIEWS
                    ) from None
                raise
            playlists = page.get("playlists") if isinstance(page, dict) else None
            if not isinstance(playlists, dict) or not isinstance(playlists.get("items"), list):
                raise FetchError(f"spotify: category {category!r} answered without playlists")
            items = playlists["items"]
            for item in items:
                if isinstance(item, dict) and isinstance(item.get("id"), str):  # items can be null
                    yield item["id"]
            if not items or not playlists.get("next"):
                return
            offset += len(items)

    def _playlist_tracks(self, playlist: str) -> Iterator[TrackInfo | Skipped]:
        offset = 0
        while True:
            page = self._get(
                f"/v1/playlists/{quote(playlist, safe='')}/tracks",
                {"limit": PAGE_SIZE, "offset": offset},
            )
            items = page.get("items") if isinstance(page, dict) else None
            if not isinstance(items, list):
                raise FetchError(f"spotify: playlist {playlist} answered without 'items'")
            yield from parse_items(items, parse_item)
            if not items or not page.get("next"):
                return
            offset += len(items)

    def tracks(self, query: GenreQuery) -> Iterator[TrackInfo | Skipped]:
        check_kind(self, query)
        if query.kind == "playlist":
            yield from self._playlist_tracks(query.value)
            return
        for playlist in self._playlist_ids(query.value):
            yield from self._playlist_tracks(playlist)

    def preview_url(self, track: TrackInfo, *, refresh: bool = False) -> str | None:
        if track.preview_url and not refresh:
            return track.preview_url
        path = f"/v1/tracks/{quote(track.source_id, safe='')}"
        answer = self._get(path)
        fresh = parse_answer("spotify", path, lambda: parse_track(answer))
        return fresh.preview_url if fresh else None


def parse_item(item: object) -> TrackInfo | None:
    """An entry of a playlist's ``items``: its ``track`` (null for removed tracks)."""
    return parse_track(Fields(item, "item").raw("track"))


def parse_track(item: object) -> TrackInfo | None:
    """A Spotify track object; None for removed entries, local files and episodes, ShapeError for
    items of an unexpected shape."""
    if item is None:
        return None
    f = Fields(item, "track")
    if f.flag("is_local") or f.text("type") == "episode":
        return None
    source_id = f.ident("id")
    artists = f.objects("artists")
    album = f.object("album")
    external = f.object("external_ids")
    millis = f.number("duration_ms")
    return TrackInfo(
        source="spotify",
        source_id=source_id,
        title=f.text("name") or source_id,
        artist=(artists[0].text("name") if artists else None) or "Unknown artist",
        artist_id=artists[0].text("id") if artists else None,
        album=album.text("name") if album else None,
        isrc=external.text("isrc") if external else None,
        duration=millis / 1000.0 if millis is not None else None,
        preview_url=f.text("preview_url"),
    )
