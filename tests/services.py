"""Local stand-ins for Deezer, iTunes and Spotify: real HTTP, the services' real JSON shapes.

Each fake registers its endpoints on a pytest-httpserver ``HTTPServer`` and serves previews made
from generated audio. Field names, nesting, pagination (``next``), in-band errors (Deezer's
HTTP-200 errors) and quirks (iTunes' leading blank lines, Deezer's signed ``exp`` links, Spotify's
null ``preview_url``) follow recorded answers of the real services.
"""

from __future__ import annotations

import io
import json
import re
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import soundfile as sf
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from genrekit.http import HttpClient, RateLimit, RetryPolicy
from genrekit.sources.deezer import Deezer
from tests.conftest import music_like, write_m4a


def mp3_bytes(seconds: float = 3.0, seed: int = 0) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, music_like(seconds, 44100, channels=2, seed=seed), 44100, format="MP3")
    return buffer.getvalue()


def m4a_bytes(tmp: Path, seconds: float = 3.0, seed: int = 0) -> bytes:
    return write_m4a(
        tmp / f"preview{seed}.m4a", music_like(seconds, 44100, 2, seed), 44100
    ).read_bytes()


def json_response(payload: Any, status: int = 200, prefix: str = "") -> Response:
    return Response(prefix + json.dumps(payload), status=status, content_type="application/json")


@dataclass
class Song:
    """One track as the fakes know it."""

    id: int
    title: str
    artist: str
    artist_id: int
    isrc: str | None = None
    audio: bytes | None = None  # None: served as the fake's default audio


@dataclass
class FakeDeezer:
    server: HTTPServer
    audio: bytes
    playlists: dict[str, list[Song]] = field(default_factory=dict)
    searches: dict[str, list[Song]] = field(default_factory=dict)
    charts: dict[str, list[Song]] = field(default_factory=dict)
    downloads: Counter[int] = field(default_factory=Counter)
    track_lookups: Counter[int] = field(default_factory=Counter)
    page_size: int | None = None  # serve smaller pages than asked, to exercise paging
    link_lifetime: float = 900.0  # seconds until a signed preview link expires
    preview_override: dict[int, Callable[[], Response]] = field(default_factory=dict)
    delay: float = 0.0  # seconds each preview takes to serve
    hold_after: int | None = None  # previews past this many wait for `release` (a stalled CDN)
    release: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        s = self.server
        s.expect_request(re.compile(r"^/playlist/(\w+)/tracks$")).respond_with_handler(
            self._playlist
        )
        s.expect_request("/search").respond_with_handler(self._search)
        s.expect_request(re.compile(r"^/chart/(\d+)/tracks$")).respond_with_handler(
            lambda request: self._page(
                request, self.charts[request.path.split("/")[2]], request.path
            )
        )
        s.expect_request(re.compile(r"^/track/(-?\d+)$")).respond_with_handler(self._track)
        s.expect_request(re.compile(r"^/preview/(\d+)\.mp3$")).respond_with_handler(self._preview)

    @property
    def songs(self) -> dict[int, Song]:
        lists = (*self.playlists.values(), *self.searches.values(), *self.charts.values())
        every = [s for lst in lists for s in lst]
        return {s.id: s for s in every}

    def preview_link(self, song: Song) -> str:
        exp = int(time.time() + self.link_lifetime)
        token = f"exp={exp}~acl=/preview/{song.id}.mp3*~data=user_id=0,application_id=42~hmac=ab12"
        return self.server.url_for(f"/preview/{song.id}.mp3") + f"?hdnea={token}"

    def track_json(self, song: Song, *, full: bool = False) -> dict[str, Any]:
        item: dict[str, Any] = {
            "id": song.id,
            "readable": True,
            "title": song.title,
            "title_short": song.title,
            "title_version": "",
            "link": f"https://www.deezer.com/track/{song.id}",
            "duration": 215,
            "rank": 512345,
            "explicit_lyrics": False,
            "explicit_content_lyrics": 0,
            "explicit_content_cover": 0,
            "preview": self.preview_link(song),
            "md5_image": "4bd5903f4ce8f2601916bfadb44efe8a",
            "artist": {
                "id": song.artist_id,
                "name": song.artist,
                "link": f"https://www.deezer.com/artist/{song.artist_id}",
                "tracklist": f"https://api.deezer.com/artist/{song.artist_id}/top?limit=50",
                "type": "artist",
            },
            "album": {
                "id": 9000 + song.id,
                "title": f"{song.title} (single)",
                "cover": f"https://api.deezer.com/album/{9000 + song.id}/image",
                "md5_image": "4bd5903f4ce8f2601916bfadb44efe8a",
                "tracklist": f"https://api.deezer.com/album/{9000 + song.id}/tracks",
                "type": "album",
            },
            "type": "track",
        }
        if full:
            item.update({"isrc": song.isrc or "", "track_position": 1, "disk_number": 1, "bpm": 0})
        elif song.isrc:
            item["isrc"] = song.isrc
        return item

    def _page(self, request: Request, songs: list[Song], path: str) -> Response:
        index = int(request.args.get("index", 0))
        limit = int(request.args.get("limit", 25))
        if self.page_size:
            limit = min(limit, self.page_size)
        chunk = songs[index : index + limit]
        page: dict[str, Any] = {"data": [self.track_json(s) for s in chunk], "total": len(songs)}
        if index + limit < len(songs):
            page["next"] = f"https://api.deezer.com{path}?index={index + limit}"
        return json_response(page)

    def _playlist(self, request: Request) -> Response:
        playlist = request.path.split("/")[2]
        if playlist not in self.playlists:
            return json_response(
                {"error": {"type": "DataException", "message": "no data", "code": 800}}
            )
        return self._page(request, self.playlists[playlist], request.path)

    def _search(self, request: Request) -> Response:
        return self._page(request, self.searches.get(request.args["q"], []), "/search")

    def _track(self, request: Request) -> Response:
        song_id = int(request.path.rsplit("/", 1)[1])
        self.track_lookups[song_id] += 1
        song = self.songs.get(song_id)
        if song is None:
            return json_response(
                {"error": {"type": "DataException", "message": "no data", "code": 800}}
            )
        return json_response(self.track_json(song, full=True))

    def _preview(self, request: Request) -> Response:
        song_id = int(request.path.rsplit("/", 1)[1].split(".")[0])
        match = re.search(r"exp=(\d+)", request.args.get("hdnea", ""))
        if match is None or int(match.group(1)) < time.time():
            return Response("expired", status=403)  # what the CDN answers to a stale link
        if song_id in self.preview_override:
            return self.preview_override[song_id]()
        time.sleep(self.delay)
        if self.hold_after is not None and sum(self.downloads.values()) >= self.hold_after:
            self.release.wait(30)
        self.downloads[song_id] += 1
        song = self.songs[song_id]
        return Response(
            song.audio if song.audio is not None else self.audio, content_type="audio/mpeg"
        )


@dataclass
class FakeITunes:
    server: HTTPServer
    audio: bytes
    searches: dict[str, list[Song]] = field(default_factory=dict)
    downloads: Counter[int] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self.server.expect_request("/search").respond_with_handler(self._search)
        self.server.expect_request(re.compile(r"^/preview/(\d+)\.m4a$")).respond_with_handler(
            self._preview
        )

    def song_json(self, song: Song) -> dict[str, Any]:
        return {
            "wrapperType": "track",
            "kind": "song",
            "artistId": song.artist_id,
            "collectionId": 5000 + song.id,
            "trackId": song.id,
            "artistName": song.artist,
            "collectionName": f"{song.title} - Single",
            "trackName": song.title,
            "collectionCensoredName": f"{song.title} - Single",
            "trackCensoredName": song.title,
            "previewUrl": self.server.url_for(f"/preview/{song.id}.m4a"),
            "trackPrice": 1.29,
            "releaseDate": "2019-06-28T07:00:00Z",
            "trackTimeMillis": 185000,
            "country": "USA",
            "currency": "USD",
            "primaryGenreName": "Jazz",
            "isStreamable": True,
        }

    def _search(self, request: Request) -> Response:
        songs = self.searches.get(request.args["term"], [])[: int(request.args.get("limit", 50))]
        results = [self.song_json(s) for s in songs]
        # iTunes really answers with three blank lines before the JSON.
        return json_response({"resultCount": len(results), "results": results}, prefix="\n\n\n")

    def _preview(self, request: Request) -> Response:
        song_id = int(request.path.rsplit("/", 1)[1].split(".")[0])
        self.downloads[song_id] += 1
        return Response(self.audio, content_type="audio/x-m4a")


@dataclass
class FakeSpotify:
    server: HTTPServer
    audio: bytes
    playlists: dict[str, list[Song]] = field(default_factory=dict)
    categories: dict[str, list[str]] = field(default_factory=dict)
    with_previews: bool = False  # since Nov 2024: null for apps without extended access
    client_id: str = "test-client-id"
    client_secret: str = "test-client-secret-do-not-log"
    tokens_issued: int = 0
    expire_first_token: bool = False

    def __post_init__(self) -> None:
        s = self.server
        s.expect_request("/api/token", method="POST").respond_with_handler(self._token)
        s.expect_request(
            re.compile(r"^/v1/browse/categories/(\w+)/playlists$")
        ).respond_with_handler(self._category)
        s.expect_request(re.compile(r"^/v1/playlists/(\w+)/tracks$")).respond_with_handler(
            self._playlist
        )
        s.expect_request(re.compile(r"^/mp3-preview/(\w+)$")).respond_with_handler(
            lambda request: Response(self.audio, content_type="audio/mpeg")
        )

    def _authorized(self, request: Request) -> bool:
        expected = f"Bearer token-{self.tokens_issued}"
        if self.expire_first_token and self.tokens_issued == 1:
            return False
        return request.headers.get("Authorization") == expected

    def _token(self, request: Request) -> Response:
        auth = request.authorization
        if auth is None or (auth.username, auth.password) != (self.client_id, self.client_secret):
            return json_response({"error": "invalid_client"}, status=400)
        self.tokens_issued += 1
        return json_response(
            {
                "access_token": f"token-{self.tokens_issued}",
                "token_type": "Bearer",
                "expires_in": 3600,
                "scope": "",
            }
        )

    def _unauthorized(self) -> Response:
        return json_response(
            {"error": {"status": 401, "message": "The access token expired"}}, status=401
        )

    def _category(self, request: Request) -> Response:
        if not self._authorized(request):
            return self._unauthorized()
        name = request.path.split("/")[4]
        if name not in self.categories:
            return json_response(
                {"error": {"status": 404, "message": "Specified id doesn't exist"}}, status=404
            )
        items = [
            {
                "collaborative": False,
                "id": pid,
                "name": f"Playlist {pid}",
                "public": None,
                "tracks": {
                    "href": f"https://api.spotify.com/v1/playlists/{pid}/tracks",
                    "total": 3,
                },
                "type": "playlist",
                "uri": f"spotify:playlist:{pid}",
            }
            for pid in self.categories[name]
        ]
        return json_response(
            {
                "playlists": {
                    "href": request.url,
                    "items": [*items, None],
                    "limit": 50,
                    "next": None,
                    "offset": 0,
                    "previous": None,
                    "total": len(items),
                }
            }
        )

    def _playlist(self, request: Request) -> Response:
        if not self._authorized(request):
            return self._unauthorized()
        songs = self.playlists[request.path.split("/")[3]]
        items = []
        for song in songs:
            preview = (
                self.server.url_for(f"/mp3-preview/{song.id:040x}") if self.with_previews else None
            )
            items.append(
                {
                    "added_at": "2019-01-16T10:00:00Z",
                    "is_local": False,
                    "primary_color": None,
                    "track": {
                        "album": {
                            "album_type": "single",
                            "id": f"alb{song.id}",
                            "name": f"{song.title} EP",
                            "type": "album",
                        },
                        "artists": [
                            {"id": f"art{song.artist_id}", "name": song.artist, "type": "artist"}
                        ],
                        "disc_number": 1,
                        "duration_ms": 201000,
                        "explicit": False,
                        "external_ids": {"isrc": song.isrc or f"USXX{song.id:08d}"},
                        "id": f"{song.id:022d}",
                        "is_local": False,
                        "name": song.title,
                        "popularity": 40,
                        "preview_url": preview,
                        "track_number": 1,
                        "type": "track",
                        "uri": f"spotify:track:{song.id:022d}",
                    },
                }
            )
        return json_response(
            {
                "href": request.url,
                "items": items,
                "limit": 100,
                "next": None,
                "offset": 0,
                "previous": None,
                "total": len(items),
            }
        )


class DripServer:
    """A loopback server that sends ``head`` and then one byte of ``tail`` every ``interval``
    seconds: a service that holds a request forever while never timing out one read.

    Bounded: it stops after ``len(tail)`` bytes or when :meth:`close` is called.
    """

    def __init__(self, head: bytes, tail: bytes, interval: float):
        self.head, self.tail, self.interval = head, tail, interval
        self.stop = threading.Event()
        self.connections = 0
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(4)
        self._listener.settimeout(0.2)
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                continue
            self.connections += 1
            threading.Thread(target=self._drip, args=(conn,), daemon=True).start()

    def _drip(self, conn: socket.socket) -> None:
        with conn:
            try:
                conn.recv(65536)
                conn.sendall(self.head)
                for i in range(len(self.tail)):
                    if self.stop.wait(self.interval):
                        return
                    conn.sendall(self.tail[i : i + 1])
            except OSError:
                return  # the client gave up

    def close(self) -> None:
        self.stop.set()
        self._thread.join(5)
        self._listener.close()


# --- for the fetch tests: a fast retry policy, a preview, a client of the fake Deezer, songs ---

FAST = RetryPolicy(attempts=2, base_delay=0.01, timeout=5.0)
MP3 = mp3_bytes(3.0)


def deezer(server: HTTPServer) -> Deezer:
    http = HttpClient("deezer", retry=FAST, default_limit=RateLimit(1000, 1.0))
    return Deezer(http, server.url_for("").rstrip("/"))


def songs(first: int, artists: list[str]) -> list[Song]:
    return [
        Song(first + i, f"Song {first + i}", a, 100 + hash(a) % 1000) for i, a in enumerate(artists)
    ]


def genre_args(*specs: str) -> list[str]:
    return [arg for spec in specs for arg in ("--genre", spec)]
