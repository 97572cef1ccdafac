"""Spotify (genrekit.sources.spotify) against its fake: previews, tokens, credentials."""

from __future__ import annotations

from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from typer.testing import CliRunner

from genrekit.catalog import Catalog
from genrekit.cli import app
from genrekit.collect import FetchOptions, fetch, open_source
from genrekit.errors import SourceUnavailableError
from genrekit.http import HttpClient
from genrekit.sources import GenreQuery
from genrekit.sources.spotify import Spotify
from tests.services import FAST, MP3, FakeSpotify, genre_args, songs


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
