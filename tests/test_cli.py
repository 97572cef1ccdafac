"""The command line's conventions, shared by every command."""

from __future__ import annotations

import errno
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from genrekit.cli import app, main


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
