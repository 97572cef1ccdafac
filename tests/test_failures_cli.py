"""Bad input to the data-set commands (extract, embed, figure, explore, fetch, import, catalog).

Each case runs the real console entry point, ``genrekit.cli.app.main``, as a user's shell would,
and checks the exit code (0 all done, 1 some inputs failed, 2 usage error or nothing could be
done, 130 interrupted) and the message: one line on stderr that names the file or value.
"""

from __future__ import annotations

import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from pytest_httpserver import HTTPServer
from werkzeug import Response

from genrekit.catalog import Catalog
from genrekit.extract import ExtractOptions, extract_dataset
from genrekit.sources import TrackInfo
from tests.conftest import EXAMPLES, Cli, music_like
from tests.services import FakeDeezer, Song, mp3_bytes


def write(path: Path, y: np.ndarray, sr: int = 22050) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, y, sr)
    return path


@pytest.fixture
def music(tmp_path: Path) -> Path:
    """Two genres of one short clip each."""
    root = tmp_path / "music"
    write(root / "jazz" / "a.wav", music_like(2.0, 22050, seed=1))
    write(root / "metal" / "b.wav", music_like(2.0, 22050, seed=2))
    return root


# --- extract ---------------------------------------------------------------------------------


def test_extract_names_silent_and_duplicate_files(cli: Cli, music: Path, tmp_path: Path) -> None:
    write(music / "jazz" / "quiet [live].wav", np.zeros(22050 * 2, np.float32))
    shutil.copy(music / "jazz" / "a.wav", music / "metal" / "copy of a.wav")
    run = cli("extract", music, "-o", tmp_path / "store", "--clip-seconds", "2")
    assert run.code == 0, run.err
    assert "jazz/quiet [live].wav: silent" in run.out
    assert "metal/copy of a.wav: same audio as jazz/a.wav" in run.out
    with sqlite3.connect(tmp_path / "store" / "index.sqlite") as db:
        rows = dict(db.execute("SELECT path, status FROM tracks WHERE status != 'ok'"))
    assert rows == {"jazz/quiet [live].wav": "silent", "metal/copy of a.wav": "duplicate"}


def test_extract_with_no_usable_clip_says_so(cli: Cli, tmp_path: Path) -> None:
    write(tmp_path / "in" / "jazz" / "quiet.wav", np.zeros(22050 * 2, np.float32))
    run = cli("extract", tmp_path / "in", "-o", tmp_path / "store", "--clip-seconds", "2")
    assert run.code == 2
    assert "jazz/quiet.wav: silent" in run.out
    assert "no usable clip" in run.err.splitlines()[-1]


def test_extract_audio_directly_in_the_input_folder(cli: Cli, tmp_path: Path) -> None:
    write(tmp_path / "in" / "song one.wav", music_like(2.0, 22050))
    write(tmp_path / "in" / "song two.wav", music_like(2.0, 22050, seed=1))
    run = cli("extract", tmp_path / "in", "-o", tmp_path / "store")
    assert run.code == 2
    line = run.error_line
    assert "2 audio files lie directly in this folder" in line
    assert f"{tmp_path / 'in'}/<genre>/<track files>" in line and "song one.wav" in line
    assert not (tmp_path / "store").exists()


def test_extract_lists_audio_beside_the_genre_folders(
    cli: Cli, music: Path, tmp_path: Path
) -> None:
    write(music / "loose.wav", music_like(2.0, 22050, seed=5))
    run = cli("extract", music, "-o", tmp_path / "store", "--clip-seconds", "2")
    assert run.code == 0, run.err
    assert "audio outside a <genre>/ folder (ignored)" in run.out
    assert "without a label: loose.wav" in run.out


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        ("missing", "does not exist; give the folder that holds <genre>/<track files>"),
        ("empty", "the folder is empty; put the tracks in"),
        ("text", "no audio file in"),
        ("file", "is a file, not a folder"),
    ],
)
def test_extract_input_without_tracks(cli: Cli, tmp_path: Path, make: str, expected: str) -> None:
    source = tmp_path / "in"
    if make == "empty":
        source.mkdir()
    elif make == "text":
        (source / "jazz").mkdir(parents=True)
        (source / "jazz" / "notes.txt").write_text("not audio")
    elif make == "file":
        source.write_text("not a folder")
    run = cli("extract", source, "-o", tmp_path / "store")
    assert run.code == 2
    line = run.error_line
    assert str(source) in line and expected in line
    assert not (tmp_path / "store").exists()


def test_extract_refuses_a_huge_clip_length(cli: Cli, music: Path, tmp_path: Path) -> None:
    # Every clip is padded to --clip-seconds: 100000 s on 5 clips once wrote 12 GB of zeros.
    run = cli("extract", music, "-o", tmp_path / "store", "--clip-seconds", "100000")
    assert run.code == 2
    assert "clip_seconds=100000" in run.error_line and "600" in run.error_line
    assert not (tmp_path / "store").exists()
    tiny = cli("extract", music, "-o", tmp_path / "store", "--clip-seconds", "0.1")
    assert tiny.code == 2 and "clip_seconds=0.1" in tiny.error_line


@pytest.mark.parametrize("where", ["file", "inside", "same", "other files"])
def test_extract_refuses_a_bad_output_folder(
    cli: Cli, music: Path, tmp_path: Path, where: str
) -> None:
    out = {
        "file": tmp_path / "store.txt",
        "inside": music / "features",
        "same": music,
        "other files": tmp_path / "documents",
    }[where]
    if where == "file":
        out.write_text("a file")
    if where == "other files":
        (out / "letters").mkdir(parents=True)
        (out / "thesis.odt").write_text("keep me")
    run = cli("extract", music, "-o", out)
    assert run.code == 2
    assert run.error_line.startswith(f"error: {out}: ")
    if where == "file":
        below = cli("extract", music, "-o", out / "store")
        assert below.code == 2 and "cannot create the feature store" in below.error_line
    assert sorted(p.name for p in music.iterdir()) == ["jazz", "metal"]
    if where == "other files":
        assert sorted(p.name for p in out.iterdir()) == ["letters", "thesis.odt"]


def test_extract_workers(cli: Cli, music: Path, tmp_path: Path) -> None:
    run = cli("extract", music, "-o", tmp_path / "store", "--workers", "-2")
    assert run.code == 2 and "--workers -2" in run.error_line
    every_core = cli(
        "extract", music, "-o", tmp_path / "store", "--workers", "0", "--clip-seconds", "2"
    )
    assert every_core.code == 0, every_core.err
    assert "extracted now" in every_core.out


# --- embed, figure, explore ------------------------------------------------------------------


@pytest.fixture
def store(cli: Cli, music: Path, tmp_path: Path) -> Path:
    out = tmp_path / "store"
    assert cli("extract", music, "-o", out, "--clip-seconds", "2").code == 0
    return out


@pytest.fixture
def silent_store(cli: Cli, tmp_path: Path) -> tuple[Path, Path]:
    source = tmp_path / "quiet"
    write(source / "jazz" / "quiet.wav", np.zeros(22050 * 2, np.float32))
    out = tmp_path / "quiet-store"
    assert cli("extract", source, "-o", out, "--clip-seconds", "2").code == 2
    return source, out


def test_embed_bad_input(
    cli: Cli, music: Path, store: Path, silent_store: tuple[Path, Path], tmp_path: Path
) -> None:
    quiet, quiet_store = silent_store
    cases = {
        "not a feature store": ("embed", music, "-o", tmp_path / "nowhere"),
        "does not exist": ("embed", tmp_path / "nowhere", "-o", store),
        "holds no usable clip": ("embed", quiet, "-o", quiet_store),
        "none of its 1 audio files has a clip in the store": ("embed", quiet, "-o", store),
        "--workers -1": ("embed", music, "-o", store, "--workers", "-1"),
        "unknown backbone 'nope'": ("embed", music, "-o", store, "--backbone", "nope"),
    }
    for expected, args in cases.items():
        run = cli(*args)
        assert run.code == 2, (args, run)
        assert expected in run.error_line


def test_figure_bad_input(cli: Cli, tmp_path: Path) -> None:
    clip = EXAMPLES / "metal" / "Muldjord - Armygeddon.mp3"
    (tmp_path / "folder").mkdir()
    cases = {
        "no such file": (tmp_path / "missing.mp3", tmp_path / "a.png"),
        "cannot be decoded as audio": (EXAMPLES / "CREDITS.md", tmp_path / "a.png"),
        "cannot draw a .txt file": (clip, tmp_path / "a.txt"),
        "is a folder; give the figure a file name": (clip, tmp_path / "folder"),
        "cannot write the figure": (clip, tmp_path / "no" / "such" / "dir" / "a.png"),
    }
    assert (
        "--kind 'spectrum'" in cli("figure", clip, "-o", "a.png", "--kind", "spectrum").error_line
    )
    (tmp_path / "no").write_text("a file where a folder should be")
    for expected, (audio, out) in cases.items():
        run = cli("figure", audio, "-o", out, "--duration", "2")
        assert run.code == 2, (expected, run)
        named = audio if expected in ("no such file", "cannot be decoded as audio") else out
        assert expected in run.error_line and str(named) in run.error_line
    assert not list(tmp_path.glob("*.png"))


def test_explore_bad_input(
    cli: Cli, store: Path, silent_store: tuple[Path, Path], tmp_path: Path
) -> None:
    (tmp_path / "report.html").write_text("a file")
    cases = {
        "not a feature store": (tmp_path / "nowhere", tmp_path / "report"),
        "holds no usable clip": (silent_store[1], tmp_path / "report"),
        "is a file": (store, tmp_path / "report.html"),
        "cannot create the report folder": (store, tmp_path / "report.html" / "report"),
    }
    for expected, (features, out) in cases.items():
        run = cli("explore", features, "-o", out)
        assert run.code == 2, (expected, run)
        assert expected in run.error_line


# --- fetch, import, catalog ------------------------------------------------------------------


def closed_port() -> int:
    """A loopback port that nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("source", ["deezer", "itunes"])
@pytest.mark.parametrize("out_exists", [False, True])
def test_fetch_without_network_fails_fast_and_leaves_no_catalog(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str, out_exists: bool
) -> None:
    port = closed_port()
    monkeypatch.setenv(f"GENREKIT_{source.upper()}_API", f"http://127.0.0.1:{port}")
    out = tmp_path / "data"
    if out_exists:
        out.mkdir()
    run = cli("fetch", source, "-g", "jazz=search:bebop", "-g", "rock=search:rock", "-o", out)
    assert run.code == 2
    assert f"{source}: cannot connect to 127.0.0.1:{port}" in run.error_line
    assert "check the network connection and the address set in " in run.error_line
    assert f"GENREKIT_{source.upper()}_API=http://127.0.0.1:{port}" in run.error_line
    assert out.exists() == out_exists
    assert not out.exists() or list(out.iterdir()) == []


def test_fetch_without_network_keeps_listed_tracks_pending(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "data"
    with Catalog(out) as catalog:
        catalog.add(TrackInfo("deezer", "7", "Song", "Ann"), "jazz", "search:x")
    monkeypatch.setenv("GENREKIT_DEEZER_API", f"http://127.0.0.1:{closed_port()}")
    run = cli("fetch", "deezer", "-g", "jazz=search:x", "-o", out, "--per-genre", "1")
    assert run.code == 2 and "cannot connect" in run.error_line
    with Catalog(out) as catalog:
        (row,) = catalog.rows()
    assert (row.status, row.attempts, row.error) == ("pending", 0, None)  # not the track's fault


def test_fetch_where_every_query_fails_is_nothing_fetched(
    cli: Cli, httpserver: HTTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    FakeDeezer(httpserver, b"")
    monkeypatch.setenv("GENREKIT_DEEZER_API", httpserver.url_for("/"))
    out = tmp_path / "data"
    run = cli("fetch", "deezer", "-g", "jazz=playlist:404", "-o", out)
    assert run.code == 2
    assert "--genre jazz=playlist:404: deezer: no such item" in run.out
    assert run.err.splitlines()[-1].startswith(f"error: nothing was fetched into {out}")
    assert not out.exists()


def test_a_rerun_that_finds_only_given_up_tracks_says_so(
    cli: Cli, httpserver: HTTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeDeezer(httpserver, b"")
    fake.playlists["5"] = [Song(1, "Gone", "Ann", 500)]
    fake.preview_override[1] = lambda: Response("gone", status=404)  # fails for good
    monkeypatch.setenv("GENREKIT_DEEZER_API", httpserver.url_for("/"))
    out = tmp_path / "data"
    first = cli("fetch", "deezer", "-g", "jazz=playlist:5", "-o", out, "--per-genre", "1")
    assert first.code == 2 and "HTTP 404" in first.out
    assert "(see above)" in first.err.splitlines()[-1]
    again = cli("fetch", "deezer", "-g", "jazz=playlist:5", "-o", out, "--per-genre", "1")
    assert again.code == 2 and "HTTP 404" not in again.out
    assert "the one track these queries found failed for good in earlier runs" in again.err


def test_fetch_exit_codes_all_done_and_some_failed(
    cli: Cli, httpserver: HTTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeDeezer(httpserver, mp3_bytes(3.0))
    fake.playlists["9"] = [Song(1, "One", "Ann", 10), Song(2, "Two", "Bo", 11)]
    fake.preview_override[2] = lambda: Response("gone", status=404)
    monkeypatch.setenv("GENREKIT_DEEZER_API", httpserver.url_for("/"))
    out = tmp_path / "data"
    some = cli("fetch", "deezer", "-g", "pop=playlist:9", "-o", out, "--per-genre", "2")
    assert some.code == 1, some.err
    assert "pop/Bo - Two (deezer-2): deezer: HTTP 404" in some.out
    del fake.playlists["9"][1]
    done = cli(
        "fetch", "deezer", "-g", "pop=playlist:9", "-o", tmp_path / "new", "--per-genre", "1"
    )
    assert done.code == 0, done.err


def test_import_bad_input_leaves_no_catalog(cli: Cli, tmp_path: Path) -> None:
    write(tmp_path / "flat" / "song.wav", music_like(1.0, 22050))
    (tmp_path / "fma_audio").mkdir()
    tracks_csv = tmp_path / "tracks.csv"
    tracks_csv.write_text(
        ",track,track,artist\n,genre_top,title,name\ntrack_id,,,\n2,Hip-Hop,Food,AWOL\n"
    )
    cases = {
        "does not exist": ("import", tmp_path / "nowhere"),
        "1 audio files lie directly in this folder": ("import", tmp_path / "flat"),
        "none of the 1 tracks with a genre": (
            "import",
            tmp_path / "fma_audio",
            "--fma-metadata",
            tracks_csv,
        ),
        "give FMA's fma_metadata/tracks.csv": (
            "import",
            tmp_path / "fma_audio",
            "--fma-metadata",
            tmp_path / "no.csv",
        ),
    }
    for expected, args in cases.items():
        run = cli(*args, "-o", tmp_path / "data")
        assert run.code == 2, (args, run)
        assert expected in run.error_line
        assert not (tmp_path / "data").exists()
    write(tmp_path / "music" / "jazz" / "a.wav", music_like(1.0, 22050))
    run = cli("import", tmp_path / "music", "-o", tmp_path / "fma_audio" / ".." / "tracks.csv")
    assert run.code == 2 and "tracks.csv: is a file; give the data set a folder" in run.error_line


def test_catalog_bad_input(cli: Cli, music: Path, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")
    assert cli("import", music, "-o", tmp_path / "data").code == 0
    cases = {
        "does not exist": ("catalog", tmp_path / "nowhere"),
        "is a file": ("catalog", tmp_path / "file"),
        "not a data set (no catalog.sqlite)": ("catalog", music),
        "cannot write the CSV": ("catalog", tmp_path / "data", "--csv", tmp_path / "file" / "x"),
    }
    for expected, args in cases.items():
        run = cli(*args)
        assert run.code == 2, (args, run)
        assert expected in run.error_line


# --- Ctrl-C ----------------------------------------------------------------------------------


def many_tracks(root: Path, n: int) -> Path:
    """``n`` distinct 30 s tracks (8 kHz, so they are quick to write but still take real work)."""
    y = music_like(30.0, 8000)
    for i in range(n):
        y[0] = i / n  # one sample apart: other bytes, so no track is a duplicate of another
        write(root / ("jazz" if i % 2 else "metal") / f"{i:03d}.wav", y, 8000)
    return root


def interrupt_when(
    command: list[str], ready: Callable[[], bool]
) -> subprocess.CompletedProcess[str]:
    """Run ``command``, send it SIGINT (Ctrl-C) once ``ready()``, and wait for it to end."""
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # A background job starts with SIGINT ignored; restore the default, as in a terminal.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 120
    while not ready() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=120)
    return subprocess.CompletedProcess(command, process.returncode, out, err)


def saved(store: Path, kind: str) -> int:
    return len(list((store / "features" / kind).rglob("*.npy")))


def test_extract_interrupted_keeps_finished_clips_and_exits_130(tmp_path: Path) -> None:
    source, store = many_tracks(tmp_path / "in", 80), tmp_path / "store"
    command = [
        sys.executable,
        "-m",
        "genrekit",
        "extract",
        str(source),
        "-o",
        str(store),
        "-j",
        "1",
    ]
    result = interrupt_when(command, lambda: saved(store, "logmel") >= 2)
    assert result.returncode == 130, result.stderr
    assert "interrupted: finished clips are saved" in result.stderr
    assert "Traceback" not in result.stderr
    with sqlite3.connect(store / "index.sqlite") as db:
        (kept,) = db.execute("SELECT count(*) FROM clips").fetchone()
    # Every clip whose features were written is in the index, also those still running at Ctrl-C.
    assert 2 <= kept < 80 and kept == saved(store, "logmel")
    summary = extract_dataset(source, store, ExtractOptions(workers=2))
    assert summary.ok and summary.counts["cached"] >= kept
    assert summary.counts["cached"] + summary.counts["done"] == 80


def test_embed_interrupted_keeps_finished_embeddings_and_exits_130(tmp_path: Path) -> None:
    source, store = many_tracks(tmp_path / "in", 12), tmp_path / "store"
    assert extract_dataset(source, store, ExtractOptions(workers=2)).ok
    command = [sys.executable, "-m", "genrekit", "embed", str(source), "-o", str(store), "-j", "1"]
    kind = "emb-msd-musicnn"
    result = interrupt_when(command, lambda: saved(store, kind) >= 1)
    assert result.returncode == 130, result.stderr
    assert "interrupted: finished clips are saved" in result.stderr
    assert "Traceback" not in result.stderr
    assert 1 <= saved(store, kind) < 12
