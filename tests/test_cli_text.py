"""Text is text: names from users and services print exactly as written, never as rich markup.

Every name below holds something rich would read as markup or an emoji code: a fetched file's
``[deezer-123]``, a closing tag ``[/red]`` that crashed the old output with ``MarkupError``, and
``:x:`` that rich turned into an emoji.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf
from pytest_httpserver import HTTPServer
from typer.testing import CliRunner
from werkzeug import Response

from genrekit.cli import app
from tests.conftest import music_like
from tests.services import FakeDeezer, Song, mp3_bytes

NASTY = "Miles [b] - So What [deezer-123] :x:"
"""A file name: brackets, a tag and an emoji code."""


def test_extract_names_bad_files_exactly(tmp_path: Path) -> None:
    genre = tmp_path / "in" / "metal [live]"
    genre.mkdir(parents=True)
    sf.write(genre / "good.flac", music_like(4.0, 22050), 22050)
    (genre / f"{NASTY}.mp3").write_text("not audio")
    result = CliRunner().invoke(
        app, ["extract", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--clip-seconds", "3"]
    )
    assert result.exit_code == 1, result.output
    assert f"metal [live]/{NASTY}.mp3: cannot be decoded" in result.output  # named once
    assert "❌" not in result.output


def test_classify_names_bad_files_exactly(tmp_path: Path) -> None:
    bad = tmp_path / "my [/red] music" / f"{NASTY}.mp3"  # a closing tag in the path
    bad.parent.mkdir(parents=True)
    bad.write_text("not audio")
    result = CliRunner().invoke(app, ["classify", str(bad)])
    assert result.exit_code == 2, result.output  # its only track failed: nothing was done
    assert NASTY in result.output
    assert "MarkupError" not in result.output
    assert "❌" not in result.output


def test_fatal_error_line_keeps_brackets(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere [deezer-1] [/red]"
    result = subprocess.run(
        [sys.executable, "-m", "genrekit", "extract", str(missing), "-o", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert str(missing) in result.stderr
    assert "Traceback" not in result.stderr and "MarkupError" not in result.stderr


def test_fetch_shows_titles_labels_and_queries_exactly(
    server: HTTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeDeezer(server, mp3_bytes(3.0))
    fake.searches["x"] = [Song(1, "So What [Live]", "Miles [/red]", 7), Song(2, "Ok", "Bo", 8)]
    fake.preview_override[1] = lambda: Response("gone", status=404)
    monkeypatch.setenv("GENREKIT_DEEZER_API", server.url_for("").rstrip("/"))
    out = tmp_path / "data"
    result = CliRunner().invoke(
        app,
        [
            *("fetch", "deezer", "--genre", "jazz=search:x", "--genre", "jazz=playlist:404"),
            *("-o", str(out), "--per-genre", "3"),
        ],
    )
    assert result.exit_code == 1, result.output
    assert "MarkupError" not in result.output
    assert "jazz/Miles [/red] - So What [Live]" in result.output  # the failed preview
    failure_lines = [line for line in result.output.splitlines() if "HTTP 404" in line]
    assert all("preview/1.mp3" in line for line in failure_lines)  # one error, one line
    assert "jazz=playlist:404" in result.output  # the failed query, not "jazz=playlist❌"
    assert (out / "jazz" / "Bo - Ok [deezer-2].mp3").is_file()


def test_figure_titles_take_dollars_literally(tmp_path: Path) -> None:
    # Two "$" made matplotlib parse the name as maths: "\\bad" is no command, so it crashed.
    song = tmp_path / "Cash - $\\bad$ [deezer-9].flac"
    sf.write(song, music_like(3.0, 22050), 22050)
    out = tmp_path / "fig.png"
    result = CliRunner().invoke(app, ["figure", str(song), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
