"""iTunes (genrekit.sources.itunes) against its fake, through genrekit fetch and catalog."""

from __future__ import annotations

from pathlib import Path

from pytest_httpserver import HTTPServer
from typer.testing import CliRunner

from genrekit.cli import app
from tests.services import FakeITunes, genre_args, m4a_bytes, songs


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
