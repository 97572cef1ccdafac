"""Deezer (genrekit.sources.deezer) against its fake: playlists, charts, its in-band errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from genrekit.collect import FetchOptions, fetch
from genrekit.errors import ParameterError
from genrekit.http import HttpClient, RetryPolicy
from genrekit.sources import GenreQuery
from genrekit.sources.deezer import Deezer
from tests.services import MP3, FakeDeezer, deezer, songs


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


def test_deezer_chart_of_a_genre(server: HTTPServer, tmp_path: Path) -> None:
    fake = FakeDeezer(server, MP3)
    fake.charts["116"] = songs(70, ["MC A", "MC B"])
    summary = fetch(deezer(server), [GenreQuery.parse("hiphop=chart:116")], tmp_path)
    assert summary.ok and summary.have == {"hiphop": 2}


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
