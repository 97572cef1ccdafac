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
from werkzeug import Response

from genrekit.audio import load
from genrekit.catalog import Catalog
from genrekit.collect import FetchOptions, fetch
from genrekit.dataset import FeatureStore
from genrekit.extract import ExtractOptions, extract_dataset
from genrekit.sources import GenreQuery
from tests.services import MP3, FakeDeezer, Song, deezer, mp3_bytes, songs


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
