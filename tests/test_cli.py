"""The command line's conventions, shared by every command."""

from __future__ import annotations

import errno
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from genrekit.cli import app, main
from genrekit.predict import DEFAULT_MODEL
from tests.conftest import EXAMPLES


def test_help_states_the_exit_codes() -> None:
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    meanings = ("0 everything done", "1 some inputs failed", "2 usage error", "130 interrupted")
    assert all(meaning in text for meaning in meanings), text


def test_an_unforeseen_os_error_is_one_line_and_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def full_disk(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "x [1].npy"))

    monkeypatch.setattr(sys.modules["genrekit.cli.app"], "app", full_disk)
    with pytest.raises(SystemExit) as stop:
        main()
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.strip() == f"error: {tmp_path / 'x [1].npy'}: No space left on device"


def run_genrekit(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "genrekit", *args], capture_output=True, text=True, check=False
    )


def test_usage_errors_are_one_plain_line() -> None:
    done = run_genrekit("classify", str(EXAMPLES), "--segments", "--format", "csv")
    assert done.returncode == 2
    error_lines = [line for line in done.stderr.splitlines() if line.startswith("Error:")]
    assert error_lines == [
        "Error: Invalid value for --segments: a timeline does not fit CSV's one row per track; "
        "use --format json or table"
    ]
    assert "╭" not in done.stderr  # no framed box whose text wraps


def test_genrekit_warnings_are_one_line(tmp_path: Path) -> None:
    cut = tmp_path / "cut [1].mp3"
    whole = (EXAMPLES / "metal" / "Muldjord - Armygeddon.mp3").read_bytes()
    cut.write_bytes(whole[: len(whole) // 3])
    done = run_genrekit("figure", str(cut), "-o", str(tmp_path / "f.png"))
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"warning: {cut}: file is damaged"), lines


def test_classify_refuses_an_empty_or_unknown_genre_list() -> None:
    empty = run_genrekit("classify", str(EXAMPLES / "metal"), "--genres", ",,")
    assert empty.returncode == 2
    assert "Error: Invalid value for --genres: ',,': name one genre or more" in empty.stderr
    unknown = run_genrekit("classify", str(EXAMPLES / "metal"), "--genres", "polka,Jazz,[x]")
    assert unknown.returncode == 2
    assert f"error: genres 'polka', '[x]' are not known to model {DEFAULT_MODEL}" in unknown.stderr


def test_figure_refuses_a_span_it_cannot_draw(tmp_path: Path) -> None:
    song = EXAMPLES / "metal" / "Muldjord - Armygeddon.mp3"
    for option, value, message in (
        ("--duration", "0", "error: --duration 0: give the seconds to draw, more than 0"),
        ("--offset", "-1", "error: --offset -1: give the start in seconds, 0 or more"),
    ):
        done = run_genrekit("figure", str(song), "-o", str(tmp_path / "f.png"), option, value)
        assert done.returncode == 2 and done.stderr.strip() == message
