"""genrekit classify's output (genrekit.cli.classify_output): table, CSV and JSON."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from typer.testing import CliRunner

from genrekit.cli import app
from genrekit.cli.classify_output import TOP_TAGS
from genrekit.predict import TAGGERS


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
