"""The command line's conventions, shared by every command."""

from __future__ import annotations

from typer.testing import CliRunner

from genrekit.cli import app


def test_help_states_the_exit_codes() -> None:
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    meanings = ("0 everything done", "1 some inputs failed", "2 usage error", "130 interrupted")
    assert all(meaning in text for meaning in meanings), text
