"""genrekit classify's output (genrekit.cli.classify_output): table, CSV and JSON."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from typer.testing import CliRunner

from genrekit.cli import app
from genrekit.predict import TAGGERS
from genrekit.track_record import TOP_TAGS


def test_tags_are_labelled_by_tagger_in_csv_and_table(example_clip: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["classify", str(example_clip), "--tags", "--format", "csv"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == 1 and list(rows[0])[-2:] == ["tags_msd-musicnn", "tags_mtt-musicnn"]
    tags = {t: [tag.split(":")[0] for tag in rows[0][f"tags_{t}"].split(";")] for t in TAGGERS}
    assert "metal" in tags["msd-musicnn"]
    assert {"rock", "metal"} <= set(tags["mtt-musicnn"])
    assert len(tags["mtt-musicnn"]) == TOP_TAGS

    result = runner.invoke(app, ["classify", str(example_clip), "--tags"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["track", "genre", "top", "3"]
    assert lines[1].startswith(str(example_clip)) and " metal " in lines[1]
    assert lines[2].startswith("  tags msd-musicnn: metal ") and "%" in lines[2]
    assert lines[3].startswith("  tags mtt-musicnn: ") and "rock" in lines[3]
    assert len(lines) == 4
    plain = runner.invoke(app, ["classify", str(example_clip)])
    assert "tags" not in plain.stdout and len(plain.stdout.splitlines()) == 2


def test_progress_is_drawn_on_a_terminal_only() -> None:
    from rich.console import Console

    from genrekit.cli.classify_output import Status

    screen = io.StringIO()
    status = Status(Console(file=screen, force_terminal=True), total=3)
    status.advance(failed=False)
    status.advance(failed=True)
    status.clear()
    assert "classify 2/3" in screen.getvalue() and "1 failed" in screen.getvalue()
    assert screen.getvalue().endswith("\r\x1b[K")
    piped = io.StringIO()
    Status(Console(file=piped), total=3).advance(failed=False)
    assert piped.getvalue() == ""


@pytest.mark.parametrize("width", [80, 120])
def test_table_on_a_terminal_keeps_each_track_to_one_line(width: int) -> None:
    from rich.console import Console

    from genrekit.classify_batch import AudioFile, Outcome
    from genrekit.cli.classify_output import Writer
    from genrekit.predict import Prediction

    genres = ["classical", "country", "hiphop", "jazz", "metal", "reggae"]
    name = "classical/Jeremy Nicoll - Nunc Dimittis [deezer-12345].mp3"
    files = [AudioFile(Path(name), name)]
    probabilities = {g: p for g, p in zip(genres, (0.7, 0.1, 0.1, 0.05, 0.03, 0.02), strict=True)}
    msd = {t: 0.5 for t in ("instrumental", "rock", "ambient", "Progressive rock", "electronic")}
    mtt = {t: 0.25 for t in ("classical", "strings", "violin", "slow", "female vocal")}
    prediction = Prediction(
        "classical", probabilities, tags={"msd-musicnn": msd, "mtt-musicnn": mtt}
    )
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=width, color_system=None)
    writer = Writer(
        console, "table", files=files, genres=genres, top_k=3, segments=False, tags=True
    )
    writer.header()
    writer.write(Outcome(files[0], prediction))
    lines = screen.getvalue().splitlines()
    assert len(lines) == 4, lines  # the header, one line for the track, one per tagger
    assert all(len(line) <= width for line in lines), lines
    assert lines[1].startswith("class")
    assert "12345].mp3" in lines[1]  # a long name is cut in its middle: its file name stays
    assert lines[2].startswith("  tags msd-musicnn: instrumental 50 %, rock 50 %")
    assert lines[3].startswith("  tags mtt-musicnn: classical 25 %, strings 25 %")
    assert lines[2].endswith("…") == (width < 100)  # cut to the terminal, never wrapped
