"""What ``genrekit classify`` prints for every kind of input, in every format, and on a terminal.

Each input (a song, a damaged file, a file that is not audio, silence, a song under
``--min-confidence``) gets exactly one row or object in input order in each format, with the same
facts; a narrow terminal never cuts the answer; a control character in a file name reaches no
terminal. The shipped default model (no PyTorch) on the bundled examples and generated files.
"""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from rich.cells import cell_len
from rich.console import Console

from genrekit.classify_batch import AudioFile, Outcome
from genrekit.cli.app import visible
from genrekit.cli.classify_output import Writer
from genrekit.predict import Prediction, percent, percent_under
from tests.conftest import EXAMPLES, Cli

ORDER = ["a song.mp3", "b cut.mp3", "c notes.mp3", "d silent.wav", "e electronic.m4a"]
STATUS = ["classified", "classified", "failed", "unknown", "classified"]
NOT_AUDIO = "cannot be decoded as audio"


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("inputs")
    shutil.copy(EXAMPLES / "metal" / "Muldjord - Armygeddon.mp3", folder / ORDER[0])
    classical = (EXAMPLES / "classical" / "Jeremy Nicoll - Nunc Dimittis.mp3").read_bytes()
    (folder / ORDER[1]).write_bytes(classical[:200_000])  # ~10 s of 30 decode
    (folder / ORDER[2]).write_text("a text file named .mp3")
    sf.write(folder / ORDER[3], np.zeros(3 * 22050, np.float32), 22050)
    shutil.copy(EXAMPLES / "electronic" / "Parapraxis - Digital Pursuit.m4a", folder / ORDER[4])
    return folder


def failure_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("x ")]


def test_json_has_an_object_per_input_with_the_same_keys(cli: Cli, inputs: Path) -> None:
    run = cli("classify", inputs, "--format", "json", "--tags", "--segments", "-j", "1")
    assert run.code == 1, run.err  # one failed; silence is an answer, not a failure
    rows = [json.loads(line) for line in run.out.splitlines()]
    assert [r["file"] for r in rows] == ORDER
    assert [r["status"] for r in rows] == STATUS
    assert all(r.keys() == rows[0].keys() for r in rows)
    song, cut, notes, silent, _ = rows
    assert (song["genre"], song["reason"], song["damage"]) == ("metal", None, None)
    assert cut["genre"] is not None and "could not be decoded" in cut["damage"]
    assert cut["seconds"] < 15
    assert notes["genre"] is None and notes["reason"].startswith(NOT_AUDIO)
    assert (notes["probabilities"], notes["segments"], notes["seconds"]) == ({}, [], None)
    assert notes["tags"] == {"msd-musicnn": [], "mtt-musicnn": []}
    assert silent["genre"] is None and silent["reason"].startswith("silent")
    # The failure on stderr too, in one line; the summary counts as the statuses say.
    assert failure_lines(run.err) == [f"x c notes.mp3: {notes['reason']}"]
    assert "classified 3 of 5 tracks in" in run.err
    assert "; 1 with no genre (unknown, reason given); 1 failed" in run.err


def test_csv_has_a_row_per_input_with_its_status_reason_and_damage(cli: Cli, inputs: Path) -> None:
    run = cli("classify", inputs, "--format", "csv", "--tags", "-j", "1")
    assert run.code == 1, run.err
    rows = list(csv.DictReader(io.StringIO(run.out)))
    assert [r["file"] for r in rows] == ORDER
    assert [r["status"] for r in rows] == STATUS
    song, cut, notes, silent, _ = rows
    assert (song["genre"], song["reason"], song["damage"]) == ("metal", "", "")
    assert "could not be decoded" in cut["damage"] and float(cut["seconds"]) < 15
    assert notes["genre"] == "" and notes["reason"].startswith(NOT_AUDIO)
    assert failure_lines(run.err) == [f"x c notes.mp3: {notes['reason']}"]
    assert silent["genre"] == "" and silent["reason"].startswith("silent")
    # Tags carry their probabilities, as JSON's do; none for a failure.
    tags = re.compile(r"[^:;]+:[01]\.\d{4}(;[^:;]+:[01]\.\d{4}){4}")
    for tagger in ("tags_msd-musicnn", "tags_mtt-musicnn"):
        assert tags.fullmatch(song[tagger]), song[tagger]
        assert notes[tagger] == ""
    assert song["tags_msd-musicnn"].startswith("metal:0.")


def test_table_has_a_row_per_input_and_shows_damage(cli: Cli, inputs: Path) -> None:
    run = cli("classify", inputs, "-j", "1")
    assert run.code == 1, run.err
    lines = run.out.splitlines()
    rows = {line.split("  ")[0]: line for line in lines[1:] if not line.startswith(" ")}
    assert list(rows) == ORDER
    assert rows["c notes.mp3"].split()[2:6] == ["failed", "cannot", "be", "decoded"]
    assert rows["d silent.wav"].split()[2:4] == ["unknown", "silent:"]
    under_cut = lines[lines.index(rows["b cut.mp3"]) + 1]
    assert under_cut.startswith("  damaged (") and "could not be decoded" in under_cut


def test_an_answer_with_no_genre_is_no_failure_and_all_failed_exits_2(
    cli: Cli, inputs: Path
) -> None:
    run = cli("classify", inputs / ORDER[0], inputs / ORDER[3], "--min-confidence", "0.999")
    assert run.code == 0, run.err
    assert "2 with no genre" in run.err and not failure_lines(run.err)
    run = cli("classify", inputs / ORDER[2], inputs / ORDER[2], "--format", "json")
    assert run.code == 2
    assert [json.loads(line)["status"] for line in run.out.splitlines()] == ["failed"] * 2
    assert len(failure_lines(run.err)) == 2


def test_the_reason_of_min_confidence_rounds_as_the_list_beside_it(cli: Cli, inputs: Path) -> None:
    song = inputs / "e electronic.m4a"  # electronic 67.9 %: 68 % rounded, 67 % cut
    run = cli("classify", song, "--format", "json", "--min-confidence", "0.9")
    answer = json.loads(run.out)
    top = answer["probabilities"]["electronic"]
    assert answer["reason"] == f"unsure: top genre electronic {percent(top)} < 90 %"
    run = cli("classify", song, "--min-confidence", "0.9")
    said = re.search(r"electronic (\d+ %) < 90 % \(electronic (\d+ %)", run.out)
    assert said is not None and said[1] == said[2], run.out


@pytest.mark.parametrize(
    ("p", "least", "said"),
    [
        (0.487, 0.6, "49 % < 60 %"),
        (0.5996, 0.6, "59.96 % < 60 %"),  # never "60 % < 60 %"
        (0.59999999, 0.6, "just under 60 %"),
        (0.995, 1.0, "99.5 % < 100 %"),
        (0.3329, 1 / 3, "33 % < 33.3333 %"),
    ],
)
def test_a_probability_under_the_limit_reads_under_it(p: float, least: float, said: str) -> None:
    assert percent_under(p, least) == said


GENRES = ["blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae"]
GENRES += ["rock", "electronic", "folk", "punk", "ambient"]
TOP = {"electronic": 0.6792, "rock": 0.16, "hiphop": 0.1151, "pop": 0.0157}
LONG = "Miles Davis - So What (Live at the Plugged Nickel, 1965) [deezer-123456].mp3"
REASON = f"{NOT_AUDIO} (tried libsndfile: format not recognised; ffmpeg: Invalid data found)"


@pytest.mark.parametrize("width", [80, 40])
def test_a_narrow_terminal_shortens_the_name_never_the_answer(width: int) -> None:
    files = [AudioFile(Path(LONG), LONG), AudioFile(Path("b.mp3"), "b.mp3")]
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=width, color_system=None)
    writer = Writer(
        console, "table", files=files, genres=GENRES, top_k=3, segments=False, tags=False
    )
    writer.header()
    writer.write(Outcome(files[0], Prediction("electronic", TOP)))
    writer.write(Outcome(files[1], error=REASON))
    lines = screen.getvalue().splitlines()
    assert all(cell_len(line) <= width for line in lines), lines
    said = " ".join(" ".join(lines).split())
    assert "electronic electronic 68 %, rock 16 %, hiphop 12 %" in said  # whole, in order
    assert f"failed {REASON}" in said
    if width == 80:  # room for a shortened name beside the answer, on one line
        assert lines[1].startswith("Miles") and "123456].mp3" in lines[1]
        assert lines[1].endswith("electronic 68 %, rock 16 %, hiphop 12 %")
    else:  # the name on a line of its own, above its answer
        assert lines[2] == "Miles Davis -… 1965) [deezer-123456].mp3"  # cut in its middle
        assert lines[3].split()[:2] == ["electronic", "electronic"]


NASTY = "esc\x1b[31mred\x07 cr\r nl\n bidi\u202e.mp3"
SHOWN = "esc\\x1b[31mred\\x07 cr\\r nl\\n bidi\\u202e.mp3"


def test_control_characters_in_names_are_shown_not_sent(cli: Cli, tmp_path: Path) -> None:
    shutil.copy(EXAMPLES / "metal" / "Muldjord - Armygeddon.mp3", tmp_path / f"a {NASTY}")
    (tmp_path / f"b {NASTY}").write_text("not audio")
    run = cli("classify", tmp_path, "-j", "1", "--tags")
    assert run.code == 1, run.err
    for text in (run.out, run.err):
        assert not set("\x1b\x07\r\u202e") & set(text), text
    assert run.out.splitlines()[1].startswith(f"a {SHOWN}  metal")
    failed = failure_lines(run.err)
    assert len(failed) == 1 and failed[0].startswith(f"x b {SHOWN}: {NOT_AUDIO}")
    # CSV and JSON keep the true names: JSON escapes them itself, CSV quotes them.
    run = cli("classify", tmp_path, "-j", "1", "--format", "json")
    assert run.out.count("\n") == 2 and not set("\x1b\x07\r\u202e") & set(run.out)
    assert [json.loads(line)["file"] for line in run.out.splitlines()] == [
        f"a {NASTY}",
        f"b {NASTY}",
    ]
    run = cli("classify", tmp_path, "-j", "1", "--format", "csv")
    rows = list(csv.reader(io.StringIO(run.out, newline="")))
    assert [r[0] for r in rows[1:]] == [f"a {NASTY}", f"b {NASTY}"]


def test_an_error_line_shows_a_name_s_control_characters(cli: Cli, tmp_path: Path) -> None:
    run = cli("classify", tmp_path / "no\x1b[2Jwhere\n.mp3")
    assert run.code == 2
    assert run.error_line.endswith("no\\x1b[2Jwhere\\n.mp3: no such file or folder")


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("plain [b] :x: ünï ♫ 音楽", "plain [b] :x: ünï ♫ 音楽"),
        ("tab\tbell\x07del\x7fcsi\x9b", "tab\\tbell\\x07del\\x7fcsi\\x9b"),
        ("rtl\u202eltr zero\u200bwidth", "rtl\\u202eltr zero\\u200bwidth"),
        ("not utf-8: \udcff\udce9", "not utf-8: \\xff\\xe9"),
        ("line\u2028sep no\u00a0break", "line\\u2028sep no\u00a0break"),
    ],
)
def test_visible_escapes_what_a_terminal_would_act_on(text: str, shown: str) -> None:
    assert visible(text) == shown
    assert visible(shown) == shown  # once is enough: already visible text is left alone


def test_both_consoles_show_control_characters_whatever_they_print() -> None:
    from rich.text import Text

    from genrekit.cli.app import console

    with console.capture() as captured:
        console.print(f"models/{NASTY}: unusable")
        console.print(Text(f"models/{NASTY}"), style="red")
    out = captured.get()
    assert not set("\x1b\x07\r\u202e") & set(out)
    assert "esc\\x1b[31mred\\x07" in out


def test_models_lists_names_that_classify_takes(cli: Cli, tmp_path: Path) -> None:
    from genrekit.predict import available_models

    run = cli("models", tmp_path)
    assert run.code == 0, run.err
    listed = [line for line in run.out.splitlines() if re.match(r"[\w-]+( \(default\))?: ", line)]
    names = [line.split(":")[0].removesuffix(" (default)") for line in listed]
    assert names == available_models()
    assert all(re.match(r"[\w-]+( \(default\))?: \d+ genres: ", line) for line in listed), listed
    # The architecture is said to be one, on a line of its own under its model.
    assert "  a linear head on musicnn's MSD embedding, with genres read from musicnn's tags " in (
        run.out
    )
    assert "(architecture vocabulary-msd-musicnn)" in run.out


def test_extract_shows_control_characters_of_bad_files(cli: Cli, tmp_path: Path) -> None:
    from tests.conftest import music_like

    genre = tmp_path / "in" / "metal"
    genre.mkdir(parents=True)
    sf.write(genre / "good.flac", music_like(4.0, 22050), 22050)
    (genre / NASTY).write_text("not audio")
    run = cli("extract", tmp_path / "in", "-o", tmp_path / "out", "--clip-seconds", "3")
    assert run.code == 1, run.err
    said = run.out + run.err
    assert not set("\x1b\x07\r\u202e") & set(said)
    assert f"metal/{SHOWN}: {NOT_AUDIO}" in said
