"""genrekit fetch end to end: fake services on a real local server, real audio, real catalog."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from typer.testing import CliRunner
from werkzeug import Response

from genrekit.audio import load
from genrekit.catalog import Catalog
from genrekit.cli import app
from genrekit.collect import FetchOptions, fetch, open_source
from genrekit.dataset import FeatureStore
from genrekit.errors import ParameterError, SourceUnavailableError
from genrekit.extract import ExtractOptions, extract_dataset
from genrekit.http import HttpClient, RateLimit, RetryPolicy
from genrekit.sources import GenreQuery
from genrekit.sources.deezer import Deezer
from genrekit.sources.spotify import Spotify
from tests.services import FakeDeezer, FakeITunes, FakeSpotify, Song, m4a_bytes, mp3_bytes

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


def test_deezer_fetch_lists_caps_downloads_and_resumes(server: HTTPServer, tmp_path: Path) -> None:
    fake = FakeDeezer(server, MP3, page_size=3)
    fake.playlists["111"] = songs(1, ["Ann", "Ann", "Ann", "Ann", "Bo", "Cy"])
    fake.searches["heavy metal"] = songs(20, ["Dee", "Eve", "Fay/AC:DC?", "Gus"])
    fake.searches["heavy metal"].insert(0, fake.playlists["111"][4])  # Bo's song, already jazz
    queries = [GenreQuery.parse("jazz=playlist:111"), GenreQuery.parse("metal=search:heavy metal")]
    out = tmp_path / "data"

    summary = fetch(deezer(server), queries, out, FetchOptions(per_genre=4, per_artist=2))

    assert summary.ok, summary
    assert summary.have == {"jazz": 4, "metal": 4}
    assert summary.capped == 2  # Ann's 3rd and 4th songs
    assert len(summary.conflicts) == 1 and "also found as 'metal'" in summary.conflicts[0]
    files = sorted(p.relative_to(out).as_posix() for p in out.glob("*/*.mp3"))
    assert "jazz/Ann - Song 1 [deezer-1].mp3" in files
    assert "metal/Fay_AC_DC_ - Song 22 [deezer-22].mp3" in files
    assert len(files) == 8
    y, sr = load(out / "jazz/Ann - Song 1 [deezer-1].mp3")
    assert sr == 22050 and y.size > 2 * sr
    with sqlite3.connect(out / "catalog.sqlite") as db:
        rows = db.execute(
            "SELECT source, source_id, genre, found_by, artist, title, album, status, sha256 "
            "FROM tracks WHERE source_id = '1'"
        ).fetchone()
    assert rows[:8] == (
        "deezer",
        "1",
        "jazz",
        "playlist:111",
        "Ann",
        "Song 1",
        "Song 1 (single)",
        "done",
    )
    assert len(rows[8]) == 64
    assert sum(fake.downloads.values()) == 8

    again = fetch(deezer(server), queries, out, FetchOptions(per_genre=4, per_artist=2))
    assert again.ok and sum(again.downloaded.values()) == 0
    assert sum(fake.downloads.values()) == 8  # nothing downloaded twice


def test_expired_links_are_resolved_again(server: HTTPServer, tmp_path: Path) -> None:
    fake = FakeDeezer(server, MP3, link_lifetime=-10)  # every listed link has expired
    fake.playlists["7"] = songs(1, ["Ann", "Bo"])
    source = deezer(server)
    fake.link_lifetime = -10
    original = fake.track_json

    def fresh_on_lookup(song: Song, *, full: bool = False):  # /track/{id} signs a fresh link
        fake.link_lifetime = 900 if full else -10
        return original(song, full=full)

    fake.track_json = fresh_on_lookup  # type: ignore[method-assign]
    summary = fetch(
        source, [GenreQuery.parse("jazz=playlist:7")], tmp_path, FetchOptions(per_genre=2)
    )
    assert summary.ok, summary.failures
    assert fake.track_lookups == {1: 1, 2: 1}
    assert sum(fake.downloads.values()) == 2


def test_bad_previews_are_recorded_and_the_rest_survive(server: HTTPServer, tmp_path: Path) -> None:
    fake = FakeDeezer(server, MP3)
    fake.playlists["9"] = songs(1, ["A", "B", "C", "D", "E"])
    fake.playlists["9"][1].audio = b""  # zero bytes
    fake.playlists["9"][2].audio = b"<html>not found</html>" * 50  # not audio
    fake.playlists["9"][3].audio = MP3[: len(MP3) // 3]  # cut short
    fake.preview_override[5] = lambda: Response("gone", status=404)
    summary = fetch(
        deezer(server), [GenreQuery.parse("pop=playlist:9")], tmp_path, FetchOptions(per_genre=5)
    )
    reasons = "\n".join(summary.failures)
    assert summary.have == {"pop": 1} and len(summary.failures) == 4
    assert "empty preview (0 bytes)" in reasons
    assert "not usable audio" in reasons
    assert "truncated or damaged" in reasons
    assert "HTTP 404" in reasons
    assert not list(tmp_path.glob("*/.*part*"))  # no temporary file left behind
    with Catalog(tmp_path) as catalog:
        failed = catalog.rows(status="failed")
    assert {r.source_id for r in failed} == {"2", "3", "4", "5"}
    assert all(r.error for r in failed)


def test_wrong_playlist_id_is_a_clear_error_not_a_retry_loop(
    server: HTTPServer, tmp_path: Path
) -> None:
    FakeDeezer(server, MP3)
    summary = fetch(deezer(server), [GenreQuery.parse("x=playlist:404")], tmp_path)
    assert summary.query_errors == ["x=playlist:404: deezer: no such item (no data, code 800)"]
    assert not summary.ok
    assert len(server.log) == 1


def test_unsupported_kind_fails_before_any_request(server: HTTPServer, tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match="deezer cannot find tracks by 'category'"):
        fetch(deezer(server), [GenreQuery.parse("x=category:rock")], tmp_path)
    assert server.log == []


def test_genre_query_syntax_errors() -> None:
    assert GenreQuery.parse("metal=search:heavy metal: live") == GenreQuery(
        "metal", "search", "heavy metal: live"
    )
    for bad in ("jazz", "jazz=playlist", "=search:x", "jazz=:1"):
        with pytest.raises(ParameterError, match="LABEL=KIND:VALUE"):
            GenreQuery.parse(bad)


def test_itunes_fetch_through_the_cli(server: HTTPServer, tmp_path: Path, monkeypatch) -> None:
    fake = FakeITunes(server, m4a_bytes(tmp_path))
    fake.searches["bebop"] = songs(50, ["Bird", "Diz", "Monk"])
    monkeypatch.setenv("GENREKIT_ITUNES_API", server.url_for("/"))
    out = tmp_path / "data"
    result = CliRunner().invoke(
        app,
        ["fetch", "itunes", *genre_args("jazz=search:bebop"), "-o", str(out), "--per-genre", "3"],
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (out / "jazz").iterdir()) == [
        "Bird - Song 50 [itunes-50].m4a",
        "Diz - Song 51 [itunes-51].m4a",
        "Monk - Song 52 [itunes-52].m4a",
    ]
    assert "jazz" in result.output
    listing = CliRunner().invoke(app, ["catalog", str(out)])
    assert listing.exit_code == 0 and "itunes" in listing.output and "3" in listing.output
    csv_path = tmp_path / "catalog.csv"
    exported = CliRunner().invoke(app, ["catalog", str(out), "--csv", str(csv_path)])
    assert exported.exit_code == 0
    lines = csv_path.read_text().splitlines()
    assert lines[0].startswith("id,source,source_id,genre") and len(lines) == 4


def test_spotify_without_previews_says_why(server: HTTPServer, tmp_path: Path, monkeypatch) -> None:
    fake = FakeSpotify(server, MP3)
    fake.playlists["37i9dQZF1DX"] = songs(1, ["Ann", "Bo"])
    monkeypatch.setenv("GENREKIT_SPOTIFY_API", server.url_for("/"))
    monkeypatch.setenv("GENREKIT_SPOTIFY_ACCOUNTS", server.url_for("/"))
    monkeypatch.setenv("SPOTIFY_CLIENT_ID", fake.client_id)
    monkeypatch.setenv("SPOTIFY_CLIENT_SECRET", fake.client_secret)
    result = CliRunner().invoke(
        app, ["fetch", "spotify", *genre_args("pop=playlist:37i9dQZF1DX"), "-o", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert "27 Nov 2024" in result.output and "genrekit fetch deezer" in result.output
    assert fake.client_secret not in result.output


def test_spotify_category_refused_says_why(server: HTTPServer, tmp_path: Path) -> None:
    fake = FakeSpotify(server, MP3)
    http = HttpClient("spotify", retry=FAST)
    base = server.url_for("").rstrip("/")
    source = Spotify(
        http, base=base, accounts=base, client_id=fake.client_id, client_secret=fake.client_secret
    )
    summary = fetch(source, [GenreQuery.parse("party=category:party")], tmp_path)
    assert len(summary.query_errors) == 1 and "27 Nov 2024" in summary.query_errors[0]


def test_spotify_with_previews_renews_an_expired_token(server: HTTPServer, tmp_path: Path) -> None:
    fake = FakeSpotify(server, MP3, with_previews=True, expire_first_token=True)
    fake.categories["rock"] = ["pl1"]
    fake.playlists["pl1"] = songs(1, ["Ann", "Bo", "Cy"])
    base = server.url_for("").rstrip("/")
    http = HttpClient("spotify", retry=FAST)
    source = Spotify(
        http, base=base, accounts=base, client_id=fake.client_id, client_secret=fake.client_secret
    )
    summary = fetch(
        source, [GenreQuery.parse("rock=category:rock")], tmp_path, FetchOptions(per_genre=3)
    )
    assert summary.ok, summary
    assert summary.have == {"rock": 3} and fake.tokens_issued == 2
    with Catalog(tmp_path) as catalog:
        assert {r.isrc for r in catalog.rows()} == {"USXX00000001", "USXX00000002", "USXX00000003"}


def test_spotify_needs_credentials_from_the_environment(monkeypatch) -> None:
    monkeypatch.delenv("SPOTIFY_CLIENT_ID", raising=False)
    monkeypatch.delenv("SPOTIFY_CLIENT_SECRET", raising=False)
    with pytest.raises(SourceUnavailableError, match="SPOTIFY_CLIENT_ID"):
        open_source("spotify")


def test_fetched_data_set_extracts_with_artists(server: HTTPServer, tmp_path: Path) -> None:
    fake = FakeDeezer(server, MP3)
    fake.playlists["1"] = songs(1, ["Ann", "Bo"])
    fake.playlists["1"][1].audio = mp3_bytes(3.0, seed=1)  # same bytes would be a duplicate
    fetch(deezer(server), [GenreQuery.parse("jazz=playlist:1")], tmp_path / "data")
    summary = extract_dataset(
        tmp_path / "data", tmp_path / "features", ExtractOptions(clip_seconds=3.0)
    )
    assert summary.ok and summary.counts["done"] == 2
    store = FeatureStore(tmp_path / "features")
    assert sorted(str(t.artist) for t in store.tracks) == ["Ann", "Bo"]
    assert store.tracks[0].path.startswith("jazz/")


def test_deezer_chart_of_a_genre(server: HTTPServer, tmp_path: Path) -> None:
    fake = FakeDeezer(server, MP3)
    fake.charts["116"] = songs(70, ["MC A", "MC B"])
    summary = fetch(deezer(server), [GenreQuery.parse("hiphop=chart:116")], tmp_path)
    assert summary.ok and summary.have == {"hiphop": 2}


@pytest.mark.parametrize(("stop", "exit_code"), [(signal.SIGKILL, -9), (signal.SIGINT, 130)])
def test_stopped_fetch_resumes_without_downloading_twice(
    server: HTTPServer, tmp_path: Path, stop: signal.Signals, exit_code: int
) -> None:
    fake = FakeDeezer(server, MP3, hold_after=2)  # two downloads, then the CDN stalls
    fake.playlists["5"] = songs(1, ["A", "B", "C", "D", "E", "F"])
    out = tmp_path / "data"
    env = {**os.environ, "GENREKIT_DEEZER_API": server.url_for("/")}
    command = [
        sys.executable,
        "-m",
        "genrekit",
        "fetch",
        "deezer",
        "--genre",
        "rock=playlist:5",
        "-o",
        str(out),
        "--per-genre",
        "6",
        "--workers",
        "1",
    ]
    first = subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        # A shell starts background jobs with SIGINT ignored, and the child would inherit that:
        # restore the default so that SIGINT acts like Ctrl-C in a terminal.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 60
    done_before: set[str] = set()
    while time.monotonic() < deadline and len(done_before) < 2:
        time.sleep(0.1)
        if (out / "catalog.sqlite").exists():
            try:
                with sqlite3.connect(out / "catalog.sqlite") as db:
                    rows = db.execute("SELECT source_id FROM tracks WHERE status = 'done'")
                    done_before = {r[0] for r in rows}
            except sqlite3.OperationalError:  # the file exists, its tables not yet
                continue
    first.send_signal(stop)  # SIGKILL: no chance to clean up; SIGINT: Ctrl-C
    fake.release.set()  # lets a running download end, as Ctrl-C waits for it
    assert first.wait(timeout=60) == exit_code
    assert 2 <= len(done_before) < 6
    fake.hold_after = None
    second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert second.returncode == 0, second.stdout + second.stderr
    assert len(list((out / "rock").glob("*.mp3"))) == 6
    assert not list(out.glob("*/.*part*"))
    for song_id in done_before:
        assert fake.downloads[int(song_id)] == 1
    with Catalog(out) as catalog:
        assert len(catalog.rows(status="done")) == 6


def test_answers_without_the_expected_fields_are_reported(
    server: HTTPServer, tmp_path: Path
) -> None:
    server.expect_request("/playlist/3/tracks").respond_with_json({"tracks": []})
    summary = fetch(deezer(server), [GenreQuery.parse("x=playlist:3")], tmp_path)
    assert summary.query_errors == [
        "x=playlist:3: deezer: /playlist/3/tracks answered without a 'data' list"
    ]


def test_rate_limit_answers_during_listing_are_waited_out(
    server: HTTPServer, tmp_path: Path
) -> None:
    fake = FakeDeezer(server, MP3)
    fake.playlists["4"] = songs(1, ["Ann"])
    quota = {"error": {"type": "Exception", "message": "Quota limit exceeded", "code": 4}}
    server.expect_oneshot_request("/playlist/4/tracks").respond_with_data(
        "busy", status=429, headers={"Retry-After": "0"}
    )
    server.expect_oneshot_request("/playlist/4/tracks").respond_with_json(quota)
    slept: list[float] = []
    http = HttpClient("deezer", retry=RetryPolicy(attempts=3, base_delay=0.01), sleep=slept.append)
    source = Deezer(http, server.url_for("").rstrip("/"))
    summary = fetch(source, [GenreQuery.parse("x=playlist:4")], tmp_path, FetchOptions(per_genre=1))
    assert summary.ok and summary.have == {"x": 1}
    assert slept[:2] == [0.0, 5.0]  # Retry-After, then Deezer's quota pause
