"""Hostile and faulty sources for ``genrekit fetch``: every answer bounded, every odd item one item.

Each test runs a local server (loopback only) that misbehaves in one way: a gzip bomb, an endless
or dripping answer, endless Retry-After, links to local addresses or that redirect forever, listing
items of the wrong shape, ids that are not file names, previews that fail among the first listed.
Every server loop is bounded in count and time.
"""

from __future__ import annotations

import datetime
import email.utils
import os
import sqlite3
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from typer.testing import CliRunner
from werkzeug import Request, Response

from genrekit import http as http_module
from genrekit.catalog import Catalog
from genrekit.cli import app
from genrekit.collect import FetchOptions, fetch
from genrekit.errors import BadLinkError, FetchError, ServiceBusyError
from genrekit.http import HttpClient, RateLimit, RetryPolicy
from genrekit.naming import safe_id
from genrekit.sources import GenreQuery, Skipped, TrackInfo, parse_items
from genrekit.sources import itunes as itunes_source
from genrekit.sources import spotify as spotify_source
from genrekit.sources.deezer import Deezer
from tests.conftest import Cli
from tests.services import DripServer, FakeDeezer, Song, json_response, mp3_bytes

FAST = RetryPolicy(attempts=2, base_delay=0.01, timeout=5.0)
MP3 = mp3_bytes(3.0)


def client(retry: RetryPolicy = FAST, **kwargs: Any) -> HttpClient:
    return HttpClient("svc", retry=retry, default_limit=RateLimit(1000, 1.0), **kwargs)


def deezer(server: HTTPServer, retry: RetryPolicy = FAST) -> Deezer:
    http = HttpClient("deezer", retry=retry, default_limit=RateLimit(1000, 1.0))
    return Deezer(http, server.url_for("").rstrip("/"))


def songs(first: int, n: int) -> list[Song]:
    return [Song(first + i, f"Song {first + i}", f"Artist {first + i}", 500 + i) for i in range(n)]


def gzip_of_zeros(mib: int) -> bytes:
    pack = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = b"0" * 2**20
    body = [pack.compress(b'{"data": "')]
    body += [pack.compress(block) for _ in range(mib)]
    return b"".join([*body, pack.compress(b'"}'), pack.flush()])


@pytest.fixture
def drip() -> Iterator[list[DripServer]]:
    servers: list[DripServer] = []
    yield servers
    for server in servers:
        server.close()


# -- answers are bounded in size and time ----------------------------------------------------


def test_a_gzip_bomb_json_answer_is_stopped_at_the_cap(server: HTTPServer) -> None:
    bomb = gzip_of_zeros(64)  # 64 MiB of JSON in about 64 KB on the wire
    server.expect_request("/x").respond_with_data(
        bomb, headers={"Content-Encoding": "gzip"}, content_type="application/json"
    )
    with client(allow_private=True) as http, pytest.raises(BadLinkError, match="more than 8 MiB"):
        http.get_json(server.url_for("/x"))
    assert len(server.log) == 1  # a bomb is not retried


def test_an_endless_json_answer_is_stopped_at_the_cap(server: HTTPServer) -> None:
    def endless(request: Request) -> Response:
        chunk = b"[" + b"0," * 32767
        return Response((chunk for _ in range(512)), content_type="application/json")  # 32 MiB

    server.expect_request("/x").respond_with_handler(endless)
    with client(allow_private=True) as http, pytest.raises(BadLinkError, match="more than 8 MiB"):
        http.get_json(server.url_for("/x"))


def test_a_gzip_bomb_preview_is_stopped_at_the_cap(server: HTTPServer, tmp_path: Path) -> None:
    server.expect_request("/p.mp3").respond_with_data(
        gzip_of_zeros(8), headers={"Content-Encoding": "gzip"}, content_type="audio/mpeg"
    )
    with client(allow_private=True) as http, pytest.raises(BadLinkError, match="larger than 1 MiB"):
        http.download(server.url_for("/p.mp3"), tmp_path / "p.mp3", max_bytes=2**20)


def test_a_body_sent_one_byte_at_a_time_ends_at_the_deadline(drip: list[DripServer]) -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
    drip.append(DripServer(head, b" " * 100, interval=0.2))  # 20 s if nothing stops it
    retry = RetryPolicy(attempts=3, base_delay=0.01, timeout=2.0, json_deadline=1.0)
    with client(retry, allow_private=True) as http, pytest.raises(FetchError, match="deadline"):
        http.get_json(drip[0].url + "/x")
    assert drip[0].connections == 1  # the deadline covers the retries: none after it


def test_headers_sent_one_byte_at_a_time_end_at_the_deadline(drip: list[DripServer]) -> None:
    drip.append(DripServer(b"HTTP/1.1 200 OK\r\n", b"X-Slow: " + b"a" * 92, interval=0.2))
    retry = RetryPolicy(attempts=3, base_delay=0.01, timeout=2.0, json_deadline=1.0)
    with client(retry, allow_private=True) as http, pytest.raises(FetchError, match="deadline"):
        http.get_json(drip[0].url + "/x")


def test_retry_after_waits_share_one_budget(server: HTTPServer) -> None:
    server.expect_request("/x").respond_with_data("slow down", 429, {"Retry-After": "60"})
    slept: list[float] = []
    retry = RetryPolicy(attempts=5, base_delay=0.01, max_total_wait=100.0)
    with client(retry, allow_private=True, sleep=slept.append) as http:
        with pytest.raises(ServiceBusyError, match="limit 100 s"):
            http.get_json(server.url_for("/x"))
        assert slept == [60.0] and http.waited == 60.0
        with pytest.raises(ServiceBusyError):  # the budget is the client's, not one request's
            http.get_json(server.url_for("/x"))
    assert slept == [60.0]


def test_a_retry_after_beyond_the_budget_ends_at_once(server: HTTPServer) -> None:
    server.expect_request("/x").respond_with_data("slow down", 429, {"Retry-After": "100000"})
    slept: list[float] = []
    http = client(RetryPolicy(attempts=5), allow_private=True, sleep=slept.append)
    with http, pytest.raises(ServiceBusyError, match=r"asks to wait 28 h .* limit 300 s"):
        http.get_json(server.url_for("/x"))
    assert slept == [] and len(server.log) == 1  # no wait shorter than asked, no second request


def test_a_preview_host_asking_for_a_long_wait_fails_that_preview_only(
    server: HTTPServer, tmp_path: Path
) -> None:
    server.expect_request("/p.mp3").respond_with_data("later", 429, {"Retry-After": "99999999"})
    slept: list[float] = []
    http = client(RetryPolicy(attempts=3), allow_private=True, sleep=slept.append)
    with http, pytest.raises(FetchError, match="asks to wait") as caught:
        http.download(server.url_for("/p.mp3"), tmp_path / "p.mp3")
    assert not isinstance(caught.value, ServiceBusyError) and "p.mp3" in str(caught.value)
    assert slept == []


@pytest.mark.parametrize(("ahead", "gives_up"), [(3600.0, True), (20.0, False)])
def test_a_retry_after_date_counts_like_seconds(
    server: HTTPServer, ahead: float, gives_up: bool
) -> None:
    when = email.utils.format_datetime(
        datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=ahead),
        usegmt=True,
    )
    server.expect_request("/x").respond_with_data("slow down", 503, {"Retry-After": when})
    slept: list[float] = []
    retry = RetryPolicy(attempts=2, base_delay=0.01, max_total_wait=60.0)
    http = client(retry, allow_private=True, sleep=slept.append)
    with http, pytest.raises(ServiceBusyError if gives_up else FetchError):
        http.get_json(server.url_for("/x"))
    if gives_up:
        assert slept == []
    else:
        assert len(slept) == 1 and ahead - 5 <= slept[0] <= ahead  # the date's distance, once


# -- links go only where they should ----------------------------------------------------------


def test_a_preview_on_a_local_address_is_refused(server: HTTPServer, tmp_path: Path) -> None:
    server.expect_request("/p.mp3").respond_with_data(MP3)
    with client() as http, pytest.raises(BadLinkError, match=r"private or local address \(127"):
        http.download(server.url_for("/p.mp3"), tmp_path / "p.mp3")
    assert server.log == []  # not even asked


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("file:///etc/passwd", "not an http"),
        ("ftp://127.0.0.1/p.mp3", "not an http"),
        ("http://exa mple.test/p.mp3", "exa mple"),
        ("http://[::1/p.mp3", "p.mp3"),
        ("not a link", "not a link"),
    ],
)
def test_links_that_are_not_http_urls_are_refused(tmp_path: Path, url: str, reason: str) -> None:
    with client(allow_private=True) as http, pytest.raises(BadLinkError, match=reason):
        http.download(url, tmp_path / "p.mp3")


def test_a_redirect_loop_is_a_bad_link(server: HTTPServer, tmp_path: Path) -> None:
    server.expect_request("/loop").respond_with_data("", 302, {"Location": "/loop"})
    with client(allow_private=True) as http, pytest.raises(BadLinkError, match="redirects"):
        http.download(server.url_for("/loop"), tmp_path / "p.mp3")
    assert len(server.log) <= 21  # httpx's limit, not retried


def test_a_redirect_to_a_local_address_is_refused(
    server: HTTPServer, httpserver: HTTPServer, tmp_path: Path, monkeypatch
) -> None:
    # `server` plays a CDN on a public address; `httpserver` a box on the private network.
    public_port = server.port
    real = http_module._addresses
    monkeypatch.setattr(
        http_module,
        "_addresses",
        lambda host, port: ["93.184.215.14"] if port == public_port else real(host, port),
    )
    monkeypatch.setattr(HttpClient, "_check_peer", lambda self, address: None)  # "public"
    server.expect_request("/p.mp3").respond_with_data(
        "", 302, {"Location": httpserver.url_for("/admin")}
    )
    httpserver.expect_request("/admin").respond_with_data("secret")
    with client() as http, pytest.raises(BadLinkError, match="private or local address"):
        http.download(server.url_for("/p.mp3"), tmp_path / "p.mp3")
    assert len(server.log) == 1 and httpserver.log == []


def test_a_name_that_resolves_anew_to_a_local_address_is_refused_at_connect(
    server: HTTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for proxy in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.delenv(proxy, raising=False)
    # The check sees a public address; the connection, resolving again, reaches loopback.
    monkeypatch.setattr(http_module, "_addresses", lambda host, port: ["93.184.215.14"])
    server.expect_request("/p.mp3").respond_with_data(MP3)
    with client() as http, pytest.raises(BadLinkError, match=r"reached a private or local"):
        http.download(server.url_for("/p.mp3"), tmp_path / "p.mp3")
    assert server.log == []  # refused before the request was sent


def test_a_service_configured_on_loopback_may_use_it_and_only_it(tmp_path: Path) -> None:
    with client() as local, client() as public:
        Deezer(local, "http://127.0.0.1:8080")
        Deezer(public, "http://93.184.215.14")
        assert local.allowed_kinds == {"loopback"} and not public.allowed_kinds
        for metadata in ["http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/x.mp3"]:
            with pytest.raises(BadLinkError, match="private or local address"):
                local.download(metadata, tmp_path / "x")  # refused before any connection


# -- one odd item is one skipped or failed item ----------------------------------------------


def odd_deezer_items(fake: FakeDeezer, good: list[Song]) -> list[Any]:
    def item(song: Song, **changes: Any) -> dict[str, Any]:
        return {**fake.track_json(song), **changes}

    return [
        item(good[0]),
        item(good[1], artist="Miles Davis"),  # a string, not an object
        item(good[2], isrc=["USAT21000001", "USAT21000002"]),
        item(good[3], title={"text": "So What"}),
        "just text",
        item(good[4], id=None),
        item(good[5], duration="3:35"),
        item(good[6]),
    ]


def test_listing_items_of_unexpected_shapes_are_skipped_and_counted(
    server: HTTPServer, tmp_path: Path
) -> None:
    server.expect_request("/playlist/66/tracks").respond_with_handler(  # before the fake's own
        lambda request: json_response({"data": odd_deezer_items(fake, good), "total": 8})
    )
    fake = FakeDeezer(server, MP3)
    good = songs(1, 7)
    fake.playlists["0"] = good  # makes the fake know them, for their previews
    summary = fetch(
        deezer(server), [GenreQuery.parse("jazz=playlist:66")], tmp_path, FetchOptions(10)
    )
    assert summary.have == {"jazz": 2} and summary.ok, summary
    assert summary.skipped == {
        "item.artist is text, not an object": 1,
        "item.isrc is a list, not text": 1,
        "item.title is an object, not text": 1,
        "item is text, not an object": 1,
        "item has no id": 1,
        "item.duration is text, not a number": 1,
    }


def test_the_fetch_summary_shows_the_skipped_items(
    server: HTTPServer, tmp_path: Path, monkeypatch
) -> None:
    server.expect_request("/playlist/66/tracks").respond_with_handler(
        lambda request: json_response({"data": odd_deezer_items(fake, good), "total": 8})
    )
    fake = FakeDeezer(server, MP3)
    good = songs(1, 7)
    fake.playlists["0"] = good
    monkeypatch.setenv("GENREKIT_DEEZER_API", server.url_for("/"))
    result = CliRunner().invoke(
        app, ["fetch", "deezer", "-g", "jazz=playlist:66", "-o", str(tmp_path / "d")]
    )
    assert result.exit_code == 0, result.output
    assert "6 listed items skipped as unexpected" in " ".join(result.output.split())


@pytest.mark.parametrize(
    ("item", "reason"),
    [
        ({"kind": "song", "trackId": 1, "trackName": {"a": 1}}, "result.trackName is an object"),
        ({"kind": "song", "trackId": [1]}, "result.trackId is a list"),
        ({"kind": "song", "trackId": 1, "previewUrl": 5.5}, None),  # a number is text: kept
        ({"kind": "song", "trackId": 1, "artistName": ["A", "B"]}, "result.artistName is a list"),
        ({"kind": "song", "trackId": 1, "trackTimeMillis": "185000"}, "is text, not a number"),
        ({"wrapperType": "artist", "kind": None}, "none"),  # not a song: left out, not counted
    ],
)
def test_itunes_items_are_checked(item: dict[str, Any], reason: str | None) -> None:
    parsed = list(parse_items([item], itunes_source.parse_track))
    if reason == "none":
        assert parsed == []
    elif reason is None:
        assert isinstance(parsed[0], TrackInfo) and parsed[0].preview_url == "5.5"
    else:
        assert isinstance(parsed[0], Skipped) and reason in parsed[0].reason


@pytest.mark.parametrize(
    ("track", "reason"),
    [
        ({"id": "t1", "artists": "Miles Davis"}, "track.artists is text, not a list"),
        ({"id": "t1", "artists": ["Miles Davis"]}, "track.artists[] is text, not an object"),
        ({"id": "t1", "external_ids": ["US1"]}, "track.external_ids is a list, not an object"),
        ({"id": "t1", "name": {"x": 1}}, "track.name is an object, not text"),
        ({"id": {"x": 1}}, "track.id is an object, not an id"),
        ({"id": "t1", "preview_url": ["http://x"]}, "track.preview_url is a list, not text"),
    ],
)
def test_spotify_items_are_checked(track: dict[str, Any], reason: str) -> None:
    parsed = list(parse_items([{"track": track}, {"track": None}], spotify_source.parse_item))
    assert parsed == [Skipped(reason)]  # a removed track (null) is left out, not counted


def test_odd_preview_links_and_ids_fail_one_item_each_and_reruns_go_on(
    server: HTTPServer, tmp_path: Path
) -> None:
    def listing(request: Request) -> Response:
        items = [fake.track_json(s) for s in good]
        items[0]["id"] = "1/../../escape"  # an id that is not a file name
        items[1]["id"] = "2\u0000nul"
        items[3]["preview"] = "http://exa mple.test/4.mp3"  # not a valid URL
        items[4]["preview"] = "file:///etc/passwd"
        return json_response({"data": items, "total": len(items)})

    server.expect_request("/playlist/67/tracks").respond_with_handler(listing)
    fake = FakeDeezer(server, MP3)
    good = songs(1, 6)
    fake.playlists["0"] = good
    fake.preview_override[3] = lambda: Response("", 302, {"Location": fake.preview_link(good[2])})
    out = tmp_path / "data"
    query = [GenreQuery.parse("rock=playlist:67")]
    first = fetch(deezer(server), query, out, FetchOptions(per_genre=6))
    assert first.have == {"rock": 3}, first.failures
    reasons = "\n".join(first.failures)
    assert "redirects" in reasons and "exa mple" in reasons and "not an http" in reasons
    assert sorted(p.name for p in out.rglob("*.mp3")) == [
        # An id that had to change keeps a hash of the original: "1/2" never takes "1_2"'s name.
        f"Artist 1 - Song 1 [deezer-{safe_id('1/../../escape')}].mp3",
        f"Artist 2 - Song 2 [deezer-{safe_id('2' + chr(0) + 'nul')}].mp3",
        "Artist 6 - Song 6 [deezer-6].mp3",
    ]
    assert not list(tmp_path.glob("escape*")) and not list(out.rglob(".*part*"))
    with Catalog(out) as catalog:
        failed = {r.source_id: r for r in catalog.rows(status="failed")}
    assert set(failed) == {"3", "4", "5"}
    assert all(r.error and r.attempts == 3 for r in failed.values())  # given up: not retried
    again = fetch(deezer(server), query, out, FetchOptions(per_genre=6))
    assert again.have == {"rock": 3} and again.failures == [] and not again.interrupted
    with sqlite3.connect(out / "catalog.sqlite") as db:
        assert db.execute("SELECT count(*) FROM tracks WHERE status = 'pending'").fetchone() == (0,)


def test_a_preview_host_that_cannot_be_reached_fails_that_item_only(
    server: HTTPServer, tmp_path: Path
) -> None:
    def listing(request: Request) -> Response:
        items = [fake.track_json(s) for s in good]
        items[1]["preview"] = "http://127.0.0.1:1/2.mp3"  # nothing listens on port 1
        return json_response({"data": items, "total": len(items)})

    server.expect_request("/playlist/68/tracks").respond_with_handler(listing)
    fake = FakeDeezer(server, MP3)
    good = songs(1, 3)
    fake.playlists["0"] = good
    out = tmp_path / "data"
    query = [GenreQuery.parse("rock=playlist:68")]
    first = fetch(deezer(server), query, out, FetchOptions(per_genre=3))
    assert first.have == {"rock": 2}
    assert len(first.failures) == 1 and "127.0.0.1:1" in first.failures[0]
    with Catalog(out) as catalog:
        (row,) = [r for r in catalog.rows() if r.source_id == "2"]
    assert row.attempts == 1 and row.status != "done"  # tried, counted, not given up
    again = fetch(deezer(server), query, out, FetchOptions(per_genre=3))  # a rerun goes on
    assert again.have == {"rock": 2} and len(again.failures) == 1


def test_a_listing_that_repeats_itself_without_end_is_read_only_so_far(
    server: HTTPServer, tmp_path: Path
) -> None:
    def same_page(request: Request) -> Response:  # the same known track, "next" forever
        return json_response({"data": [fake.track_json(good[0])], "total": 9, "next": "x"})

    server.expect_request("/playlist/69/tracks").respond_with_handler(same_page)
    fake = FakeDeezer(server, MP3)
    good = songs(1, 1)
    fake.playlists["0"] = good
    summary = fetch(
        deezer(server), [GenreQuery.parse("rock=playlist:69")], tmp_path, FetchOptions(per_genre=2)
    )
    assert summary.have == {"rock": 1}
    assert any("listing stopped after" in e for e in summary.query_errors)
    listed = [r for r in server.log if r[0].path == "/playlist/69/tracks"]
    assert len(listed) < 100  # the listing budget (20 per wanted track) and a few rounds


# -- exactly what was asked -------------------------------------------------------------------


def test_failed_previews_are_replaced_by_the_next_listed(
    server: HTTPServer, tmp_path: Path
) -> None:
    fake = FakeDeezer(server, MP3, page_size=10)
    fake.playlists["20"] = songs(1, 28)
    fake.playlists["20"][4].audio = b"<html>not found</html>" * 50  # not audio
    fake.preview_override[12] = lambda: Response("gone", status=404)
    summary = fetch(
        deezer(server), [GenreQuery.parse("pop=playlist:20")], tmp_path, FetchOptions(per_genre=20)
    )
    assert summary.have == {"pop": 20} and len(summary.failures) == 2
    assert fake.downloads[21] == 1 and fake.downloads[22] == 1 and fake.downloads[23] == 0


def test_a_track_failing_on_every_run_is_replaced_once_given_up(
    server: HTTPServer, tmp_path: Path
) -> None:
    fake = FakeDeezer(server, MP3)
    fake.playlists["3"] = songs(1, 4)
    fake.preview_override[2] = lambda: Response("busy", status=503)  # may pass: retried by reruns
    query = [GenreQuery.parse("pop=playlist:3")]
    haves = [fetch(deezer(server), query, tmp_path, FetchOptions(per_genre=3)).have["pop"]]
    haves += [fetch(deezer(server), query, tmp_path, FetchOptions(per_genre=3)).have["pop"]]
    haves += [fetch(deezer(server), query, tmp_path, FetchOptions(per_genre=3)).have["pop"]]
    assert haves == [2, 2, 3]  # the third run gives song 2 up and takes song 4 instead
    with Catalog(tmp_path) as catalog:
        (failed,) = catalog.rows(status="failed")
    assert failed.source_id == "2" and failed.attempts == 3 and "HTTP 503" in (failed.error or "")


def test_fetched_previews_get_the_usual_file_mode(server: HTTPServer, tmp_path: Path) -> None:
    fake = FakeDeezer(server, MP3)
    fake.playlists["1"] = songs(1, 2)
    assert fetch(deezer(server), [GenreQuery.parse("rock=playlist:1")], tmp_path).ok
    umask = os.umask(0o022)
    os.umask(umask)
    modes = {p.stat().st_mode & 0o777 for p in (tmp_path / "rock").iterdir()}
    assert modes == {0o666 & ~umask}  # as any file the user writes, not mkstemp's 0o600


# -- text that is not valid Unicode, JSON nested without end ----------------------------------


def test_lone_surrogates_in_a_listing_are_replaced_and_the_run_goes_on(
    server: HTTPServer, tmp_path: Path
) -> None:
    fake = FakeDeezer(server, MP3)
    fake.playlists["5"] = [
        Song(1, "\ud800bad", "Art\udfffist", 7),  # json.dumps spells them "\ud800": valid JSON
        Song(2, "Fine", "Bo", 8),
    ]
    query = [GenreQuery.parse("jazz=playlist:5")]
    for _ in range(2):  # a rerun reads the catalog the first run wrote
        summary = fetch(deezer(server), query, tmp_path, FetchOptions(per_genre=2))
        assert summary.have == {"jazz": 2} and summary.ok, summary
    with Catalog(tmp_path) as catalog:
        rows = {r.source_id: r for r in catalog.rows()}
    assert (rows["1"].title, rows["1"].artist) == ("\ufffdbad", "Art\ufffdist")
    assert rows["1"].album == "\ufffdbad (single)"
    assert (tmp_path / "jazz" / "Art\ufffdist - \ufffdbad [deezer-1].mp3").is_file()


def test_every_string_of_an_answer_is_valid_text(server: HTTPServer) -> None:
    body = '{"data": [{"x\\udc00": ["\\ud800", {"y": "a\\udfffb"}]}], "ok": "\\ud83d\\ude00"}'
    server.expect_request("/x").respond_with_data(body, content_type="application/json")
    with client(allow_private=True) as http:
        payload = http.get_json(server.url_for("/x"))
    assert payload == {"data": [{"x\ufffd": ["\ufffd", {"y": "a\ufffdb"}]}], "ok": "\U0001f600"}


def test_a_genre_label_that_is_not_utf8_is_made_valid(tmp_path: Path) -> None:
    query = GenreQuery.parse("g\udcffx=search:y\udcff")  # how Python passes the byte 0xff in argv
    assert (query.genre, query.value) == ("g\ufffdx", "y\ufffd")
    with Catalog(tmp_path) as catalog:  # a surrogate here made SQLite raise UnicodeEncodeError
        catalog.add(TrackInfo("local", "1", "t", "a"), query.genre, query.found_by)
        assert catalog.selected(query.genre) == 1


def test_json_nested_without_end_is_one_query_error(server: HTTPServer, tmp_path: Path) -> None:
    deep = b'{"data": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    server.expect_request("/search").respond_with_data(deep, content_type="application/json")
    summary = fetch(
        deezer(server), [GenreQuery.parse("rock=search:deep")], tmp_path, FetchOptions(2)
    )
    (error,) = summary.query_errors
    assert "/search answered JSON nested too deeply" in error and "rock=search:deep" in error
    assert not summary.failures and summary.have == {"rock": 0}


@pytest.mark.parametrize("value", ["http://[::1", "http://host:99999", "ftp://host/", "host:80"])
def test_an_api_address_that_is_not_a_url_is_one_line_naming_it(
    value: str, cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GENREKIT_DEEZER_API", value)
    run = cli("fetch", "deezer", "-g", "rock=search:x", "-o", tmp_path / "data")
    assert run.code == 2
    assert run.error_line.startswith(f"error: GENREKIT_DEEZER_API={value!r}: not a")
    assert run.error_line.endswith("give e.g. https://api.deezer.com, or unset it")
    assert not (tmp_path / "data").exists()
