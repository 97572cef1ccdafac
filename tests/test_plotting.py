"""Figures written to files (genrekit.plotting): no display, saved whole or not at all, closed."""

from __future__ import annotations

from pathlib import Path

import pytest

from genrekit import plotting


def test_a_saved_figure_is_a_whole_file_and_is_closed(tmp_path: Path) -> None:
    plt = plotting.pyplot()
    assert plt.get_backend().lower() == "agg"
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    out = plotting.save(fig, tmp_path / "deep" / "line.png", dpi=20)
    assert out == tmp_path / "deep" / "line.png"
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not plt.fignum_exists(fig.number)
    assert [p.name for p in out.parent.iterdir()] == ["line.png"]  # no temporary left


def test_a_figure_that_cannot_be_saved_leaves_no_file_and_is_closed(tmp_path: Path) -> None:
    plt = plotting.pyplot()
    fig, _ = plt.subplots()
    with pytest.raises(ValueError, match="nosuchformat"):
        plotting.save(fig, tmp_path / "figure.nosuchformat")
    assert not plt.fignum_exists(fig.number)
    assert list(tmp_path.iterdir()) == []


def test_a_dollar_in_a_label_is_a_dollar() -> None:
    assert plotting.literal("Ca$h $$ Money") == r"Ca\$h \$\$ Money"
    assert plotting.literal("no money") == "no money"
