"""Hostile names: labels, ids and file names from outside never make a path outside the output.

Every writer (fetch, import --copy, extract --images) is run with labels such as
``../../../../tmp/x``, ``/abs/path`` and FMA's real ``Old-Time / Historic``, NFC and NFD spellings
of one label, labels longer than a file name may be, and ids such as ``1/2`` or one holding a NUL;
afterwards the whole temporary folder is walked to check that nothing was written anywhere else.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest
import soundfile as sf
from pytest_httpserver import HTTPServer
from typer.testing import CliRunner

from genrekit.catalog import Catalog
from genrekit.cli import app
from genrekit.collect import FetchOptions, fetch
from genrekit.dataset import FeatureStore
from genrekit.errors import CatalogError, ParameterError
from genrekit.extract import ExtractOptions, extract_dataset
from genrekit.http import HttpClient, RateLimit, RetryPolicy
from genrekit.inputs import scan_input
from genrekit.naming import (
    MAX_NAME_BYTES,
    NOT_UTF8,
    label_folder,
    normalize_label,
    path_inside,
    safe_id,
    safe_name,
    track_file_name,
)
from genrekit.sources import GenreQuery, TrackInfo
from genrekit.sources.deezer import Deezer
from genrekit.storage import sha256_file
from tests.conftest import Cli, music_like
from tests.services import FakeDeezer, Song, mp3_bytes

NFC = unicodedata.normalize("NFC", "café")
NFD = unicodedata.normalize("NFD", "café")
LONG = "Progressive " * 40  # 480 bytes: more than any file name may hold
HOSTILE = ["../../../../tmp/x", "/abs/path", "Old-Time / Historic", "..", LONG, "a\x00b"]


def files_under(top: Path) -> set[Path]:
    return {Path(d) / f for d, _, names in os.walk(top) for f in names}


def assert_only_inside(top: Path, allowed: list[Path]) -> None:
    """Every file under ``top`` lies in one of ``allowed`` (or was there before, in ``in``)."""
    for path in files_under(top):
        assert any(a == path or a in path.parents for a in allowed), f"written outside: {path}"


def wav(path: Path, seed: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, music_like(1.0, 22050, seed=seed), 22050)
    return path


def digest(label: str) -> str:
    return hashlib.sha256(label.encode()).hexdigest()[:8]


# --- the sanitizer itself ---------------------------------------------------------------


@pytest.mark.parametrize("label", [*HOSTILE, NFD, ".", "CON", "a\\b", "x\ny"])
def test_a_label_folder_is_one_safe_name(label: str) -> None:
    folder = label_folder(label)
    assert folder not in ("", ".", "..")
    assert "/" not in folder and "\\" not in folder and "\x00" not in folder
    assert len(folder.encode()) <= MAX_NAME_BYTES
    assert path_inside("/store", folder) == Path("/store", folder)


def test_long_names_keep_a_stable_hash_and_stay_distinct() -> None:
    a, b = LONG + "rock", LONG + "metal"
    assert label_folder(a) == label_folder(a)
    assert label_folder(a) != label_folder(b)
    assert len(label_folder(a).encode()) <= MAX_NAME_BYTES
    assert len(safe_name("é" * 300).encode()) <= MAX_NAME_BYTES  # cut on a character boundary


def test_labels_that_clean_to_one_name_get_two_folders() -> None:
    assert label_folder("a_b") == "a_b" and label_folder("rock") == "rock"
    assert label_folder("a:b") == f"a_b~{digest('a:b')}"
    assert label_folder("unlabelled") == "unlabelled"
    for blank in ["", " ", "\t\n", "\x01"]:
        with pytest.raises(ParameterError, match="empty genre label"):
            label_folder(blank)


def test_nfc_and_nfd_labels_are_one() -> None:
    assert NFC != NFD
    assert normalize_label(NFD) == normalize_label(NFC) == NFC
    assert label_folder(NFD) == label_folder(NFC)


def test_changed_ids_cannot_take_another_ids_name() -> None:
    names = {track_file_name("A", "T", "deezer", i, ".mp3") for i in ["1/2", "1_2", "1\x002"]}
    assert len(names) == 3
    assert all("/" not in n and "\x00" not in n for n in names)
    assert track_file_name("A", "T", "deezer", "123", ".mp3") == "A - T [deezer-123].mp3"
    assert len(track_file_name("A" * 300, "T", "x", "9" * 300, ".mp3").encode()) <= MAX_NAME_BYTES
    assert safe_id("..") not in ("..", ".")


def test_path_inside_refuses_unsafe_parts_and_links_out(tmp_path: Path) -> None:
    for part in ["..", "a/b", "", "/etc"]:
        with pytest.raises(ParameterError, match="not a safe file name"):
            path_inside(tmp_path, part)
    (tmp_path / "outside").mkdir()
    (tmp_path / "store").mkdir()
    (tmp_path / "store" / "images").symlink_to(tmp_path / "outside")
    with pytest.raises(ParameterError, match="leads outside"):
        path_inside(tmp_path / "store", "images", "jazz")


# --- extract --images -------------------------------------------------------------------


def catalogued(tmp_path: Path, labels: list[str]) -> Path:
    """A data set whose catalog gives ``labels`` (as fetch --genre or an FMA tracks.csv can)."""
    data = tmp_path / "data"
    with Catalog(data) as catalog:
        for i, label in enumerate(labels):
            path = wav(tmp_path / "audio" / f"song{i}.wav", seed=i)
            info = TrackInfo(source="local", source_id=str(i), title=f"song{i}", artist="A")
            catalog.add(info, label, "test", status="done", path=str(path), sha256=None)
    return data


def test_extract_images_of_hostile_labels_stay_in_the_store(tmp_path: Path) -> None:
    data = catalogued(tmp_path, HOSTILE)
    store = tmp_path / "deep" / "er" / "store"
    before = files_under(tmp_path)

    summary = extract_dataset(data, store, ExtractOptions(clip_seconds=1.0, images=True))

    assert summary.ok and summary.counts["done"] == len(HOSTILE), summary.failures
    assert_only_inside(tmp_path, [store, *before])
    folders = sorted(p.name for p in (store / "images").iterdir())
    assert len(folders) == len(HOSTILE)  # one folder per label, none nested
    # A label changed to be a name keeps a hash of itself: it cannot share another's folder.
    assert f"Old-Time _ Historic~{digest('Old-Time / Historic')}" in folders
    assert all(p.is_dir() and len(list(p.iterdir())) == 2 for p in (store / "images").iterdir())
    assert f"_abs_path~{digest('/abs/path')}" in folders  # not /abs/path, outside every folder


def test_labels_that_clean_alike_keep_their_own_pictures(tmp_path: Path) -> None:
    data = catalogued(tmp_path, ["a:b", "a_b", "a/b"])
    store = tmp_path / "store"
    summary = extract_dataset(data, store, ExtractOptions(clip_seconds=1.0, images=True))
    assert summary.ok and summary.counts["done"] == 3, summary.failures
    folders = {p.name: len(list(p.iterdir())) for p in (store / "images").iterdir()}
    assert len(folders) == 3 and set(folders.values()) == {2}  # nothing overwritten


def test_tracks_whose_names_clean_alike_keep_their_own_pictures(tmp_path: Path) -> None:
    names = ["song.mp3", "song.wav", "x:y.wav", "x_y.wav", "sub/z.wav", "sub__z.wav", "q.wav"]
    for i, name in enumerate(names):
        (tmp_path / "in" / "rock" / "sub").mkdir(parents=True, exist_ok=True)
        wav(tmp_path / "in" / "rock" / f"{i}.wav", seed=i).rename(tmp_path / "in" / "rock" / name)
    (tmp_path / "in" / "rock" / "q.wav").rename(tmp_path / "in" / "rock" / ("q" * 250 + ".wav"))
    store = tmp_path / "store"
    summary = extract_dataset(tmp_path / "in", store, ExtractOptions(clip_seconds=1.0, images=True))
    assert summary.counts["done"] == len(names), summary.failures
    pictures = sorted(p.name for p in (store / "images" / "rock").iterdir())
    assert len(pictures) == 2 * len(names)  # nothing overwritten
    assert {"song.mp3.mel.png", "song.wav.mfcc.png", "x_y.wav.mel.png"} <= set(pictures)
    assert all(len(p.encode()) <= MAX_NAME_BYTES for p in pictures)


def test_imported_tracks_of_one_name_keep_their_own_pictures(tmp_path: Path) -> None:
    data = tmp_path / "data"
    songs = [tmp_path / "a" / "s.mp3", tmp_path / "b" / "s.mp3", tmp_path / "s.MP3"]
    with Catalog(data) as catalog:  # as import without --copy: absolute paths
        for i, path in enumerate(songs):
            wav(path.with_suffix(".wav"), seed=i).rename(path)
            info = TrackInfo(source="local", source_id=str(i), title="s", artist="A")
            catalog.add(info, "rock", "folder", status="done", path=str(path), sha256=None)
    store = tmp_path / "store"
    summary = extract_dataset(data, store, ExtractOptions(clip_seconds=1.0, images=True))
    assert summary.counts["done"] == 3, summary.failures
    pictures = sorted(p.name for p in (store / "images" / "rock").iterdir())
    assert len(pictures) == 6 and all(p.startswith(("s.mp3~", "s.MP3~")) for p in pictures)


def test_a_blank_label_is_refused_where_labels_enter(tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match="expected LABEL=KIND:VALUE"):
        GenreQuery.parse("\x01=search:x")
    with Catalog(tmp_path / "data") as catalog, pytest.raises(ParameterError, match="empty genre"):
        catalog.add(TrackInfo("local", "1", "t", "a"), " ", "test", status="pending")
    wav(tmp_path / "in" / " " / "song.wav", seed=1)  # a folder with a blank name
    wav(tmp_path / "in" / "rock" / "song.wav", seed=2)
    scan = scan_input(tmp_path / "in")
    assert [f.genre for f in scan.files] == ["rock"]
    assert scan.unlabelled == ["song.wav"]


def test_nfc_and_nfd_labels_are_one_class_in_the_store(tmp_path: Path) -> None:
    data = catalogued(tmp_path, [NFC, NFD])
    store = tmp_path / "store"
    summary = extract_dataset(data, store, ExtractOptions(clip_seconds=1.0, images=True))
    assert summary.ok
    assert FeatureStore(store).genres == [NFC]
    assert [p.name for p in (store / "images").iterdir()] == [NFC]


def test_nfd_folder_names_are_one_class_with_nfc(tmp_path: Path) -> None:
    wav(tmp_path / "in" / NFC / "a.wav", seed=1)
    wav(tmp_path / "in" / "cafe2" / "b.wav", seed=2)
    (tmp_path / "in" / "cafe2").rename(tmp_path / "in" / NFD)
    summary = extract_dataset(tmp_path / "in", tmp_path / "store", ExtractOptions(clip_seconds=1.0))
    assert summary.ok
    assert FeatureStore(tmp_path / "store").genres == [NFC]


# --- import --copy ----------------------------------------------------------------------


def fma(tmp_path: Path, genres: list[str]) -> tuple[Path, Path]:
    audio = tmp_path / "fma_small"
    lines = [",track,track,artist", ",genre_top,title,name", "track_id,,,"]
    for i, genre in enumerate(genres, start=2):
        tid = f"{i:06d}"
        wav(audio / tid[:3] / f"{tid}.mp3.wav", seed=i).rename(audio / tid[:3] / f"{tid}.mp3")
        quoted = '"' + genre.replace('"', '""') + '"'
        lines.append(f"{i},{quoted},Song {i},Artist {i}")
    csv = tmp_path / "tracks.csv"
    csv.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return csv, audio


def test_import_copy_of_hostile_fma_genres_stays_in_the_data_set(tmp_path: Path) -> None:
    genres = ["../../../../tmp/x", "/abs/path", "Old-Time / Historic", LONG, NFD]
    csv, audio = fma(tmp_path, genres)
    out = tmp_path / "deep" / "data"
    before = files_under(tmp_path)

    result = CliRunner().invoke(
        app, ["import", str(audio), "-o", str(out), "--copy", "--fma-metadata", str(csv)]
    )

    assert result.exit_code == 0, result.output
    assert_only_inside(tmp_path, [out, *before])
    with Catalog(out) as catalog:
        rows = catalog.rows(status="done")
        assert sorted(r.genre for r in rows) == sorted(normalize_label(g) for g in genres)
        for row in rows:
            path = catalog.resolve(row)
            assert path is not None and path.is_file()
            assert path.parent.parent == out  # <data>/<one folder>/<file>
            assert path.parent.name == label_folder(row.genre)


# --- fetch ------------------------------------------------------------------------------


def test_fetch_with_hostile_labels_and_ids_stays_in_the_data_set(
    server: HTTPServer, tmp_path: Path
) -> None:
    fake = FakeDeezer(server, mp3_bytes(3.0))
    fake.playlists["1"] = [Song(11, "Up", "A/B", 5), Song(12, "../../x", "..", 6)]
    fake.playlists["2"] = [Song(13, "T" * 300, "B" * 300, 7)]
    retry = RetryPolicy(attempts=2, base_delay=0.01, timeout=5.0)
    http = HttpClient("deezer", retry=retry, default_limit=RateLimit(1000, 1.0))
    source = Deezer(http, server.url_for("").rstrip("/"))
    queries = [
        GenreQuery.parse("../../../../tmp/x=playlist:1"),
        GenreQuery.parse(f"{LONG}=playlist:2"),
    ]
    out = tmp_path / "data"
    before = files_under(tmp_path)

    summary = fetch(source, queries, out, FetchOptions(per_genre=5))

    assert summary.ok, summary
    assert_only_inside(tmp_path, [out, *before])
    got = [p for p in files_under(out) if p.suffix == ".mp3"]
    assert len(got) == 3
    assert all(p.parent.parent == out for p in got)


def test_fetch_into_a_genre_folder_linked_outside_stops_with_one_line(
    server: HTTPServer, tmp_path: Path
) -> None:
    fake = FakeDeezer(server, mp3_bytes(3.0))
    fake.playlists["1"] = [Song(11, "Up", "A", 5), Song(12, "Down", "B", 6)]
    http = HttpClient("deezer", retry=RetryPolicy(attempts=2), default_limit=RateLimit(1000, 1.0))
    source = Deezer(http, server.url_for("").rstrip("/"))
    out, outside = tmp_path / "data", tmp_path / "outside"
    outside.mkdir()
    out.mkdir()
    (out / "rock").symlink_to(outside)
    with pytest.raises(CatalogError, match="leads outside"):
        fetch(source, [GenreQuery.parse("rock=playlist:1")], out, FetchOptions(per_genre=2))
    assert list(outside.iterdir()) == []
    with Catalog(out) as catalog:  # the folder's fault, not the tracks': no attempt counted
        assert {(r.status, r.attempts) for r in catalog.rows()} == {("pending", 0)}


# --- files that are not files -----------------------------------------------------------

EXAMPLE = Path(__file__).parent.parent / "examples" / "rock" / "Sectoid - Escape from chaosland.ogg"
PIPE = "not a regular file: a named pipe (FIFO); give an audio file"
DEVICE = "not a regular file: a device, through a link to /dev/zero; give an audio file"


def genrekit(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The real command; a hang (the old behaviour) ends the test after 60 s, not the suite."""
    return subprocess.run(
        [sys.executable, "-m", "genrekit", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture
def specials(tmp_path: Path) -> Path:
    """in/jazz/good.ogg, in/jazz/fifo.mp3 (a named pipe), in/rock/zero.mp3 -> /dev/zero."""
    root = tmp_path / "in"
    (root / "jazz").mkdir(parents=True)
    (root / "rock").mkdir()
    shutil.copyfile(EXAMPLE, root / "jazz" / "good.ogg")
    os.mkfifo(root / "jazz" / "fifo.mp3")
    (root / "rock" / "zero.mp3").symlink_to("/dev/zero")
    return root


@pytest.mark.parametrize(("name", "reason"), [("jazz/fifo.mp3", PIPE), ("rock/zero.mp3", DEVICE)])
def test_classify_a_pipe_or_device_fails_at_once(specials: Path, name: str, reason: str) -> None:
    result = genrekit("classify", f"in/{name}", cwd=specials.parent)
    assert result.returncode == 2, result.stderr  # nothing could be done: one line says why
    assert result.stderr.strip() == f"x in/{name}: {reason}"


def test_pipes_and_devices_in_folders_are_listed_and_skipped(specials: Path) -> None:
    top = specials.parent
    classify = genrekit("classify", "in", cwd=top)
    assert classify.returncode == 1, classify.stderr
    text = classify.stdout + classify.stderr
    assert f"jazz/fifo.mp3: {PIPE}" in text and f"rock/zero.mp3: {DEVICE}" in text
    assert "classified 1 of 3 tracks" in text

    extract = genrekit("extract", "in", "-o", "store", cwd=top)
    assert extract.returncode == 1, extract.stderr
    text = extract.stdout + extract.stderr
    assert f"jazz/fifo.mp3: {PIPE}" in text and f"rock/zero.mp3: {DEVICE}" in text
    assert FeatureStore(top / "store").genres == ["jazz"]

    embed = genrekit("embed", "in", "-o", "store", cwd=top)
    assert embed.returncode == 1, embed.stderr
    text = embed.stdout + embed.stderr
    assert f"jazz/fifo.mp3: {PIPE}" in text and f"rock/zero.mp3: {DEVICE}" in text
    assert "1 clips embedded" in text

    imported = genrekit("import", "in", "-o", "data", cwd=top)
    assert imported.returncode == 1, imported.stderr
    text = imported.stdout + imported.stderr
    assert "1 added" in text and f"fifo.mp3: {PIPE}" in text and f"zero.mp3: {DEVICE}" in text


def test_catalogued_pipe_is_a_failed_clip(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo.mp3")
    with Catalog(tmp_path / "data") as catalog:
        info = TrackInfo(source="local", source_id="1", title="t", artist="a")
        catalog.add(info, "jazz", "test", status="done", path=str(tmp_path / "fifo.mp3"))
        wav_path = wav(tmp_path / "good.wav", seed=3)
        info = TrackInfo(source="local", source_id="2", title="u", artist="a")
        catalog.add(info, "jazz", "test", status="done", path=str(wav_path))
    result = genrekit("extract", "data", "-o", "store", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert PIPE in result.stdout + result.stderr


# --- import --copy: one file per song, only audio --------------------------------------


def test_import_copy_keeps_two_songs_of_one_name(tmp_path: Path) -> None:
    first = wav(tmp_path / "in" / "jazz" / "a" / "song.wav", seed=1)
    second = wav(tmp_path / "in" / "jazz" / "b" / "song.wav", seed=2)
    out = tmp_path / "data"
    args = ["import", str(tmp_path / "in"), "-o", str(out), "--copy"]

    result = CliRunner().invoke(app, args)

    assert result.exit_code == 0, result.output
    with Catalog(out) as catalog:
        rows = catalog.rows(status="done")
        copies = {catalog.resolve(r): r.sha256 for r in rows}
    assert len(rows) == 2 and len(copies) == 2  # two rows, two files
    assert {sha256_file(p) for p in copies if p is not None} == {
        sha256_file(first),
        sha256_file(second),
    }
    assert all(p is not None and sha256_file(p) == sha for p, sha in copies.items())

    again = CliRunner().invoke(app, args)
    assert "0 added, 2 already in the catalog" in again.output
    assert len(list((out / "jazz").iterdir())) == 2  # a rerun copies nothing more


def test_import_does_not_take_undecodable_files(tmp_path: Path) -> None:
    wav(tmp_path / "in" / "jazz" / "good.wav", seed=1)
    (tmp_path / "in" / "jazz" / "bad.mp3").write_bytes(b"\x00not audio at all" * 100)
    out = tmp_path / "data"

    result = CliRunner().invoke(app, ["import", str(tmp_path / "in"), "-o", str(out), "--copy"])

    assert result.exit_code == 1, result.output
    assert "bad.mp3: cannot be decoded as audio" in result.output
    assert "1 added" in result.output
    with Catalog(out) as catalog:
        assert [r.title for r in catalog.rows()] == ["good"]
    assert sorted(p.name for p in (out / "jazz").iterdir()) == ["good.wav"]


def test_a_genre_query_label_is_normalized_as_the_catalog_stores_it() -> None:
    from genrekit.sources import GenreQuery

    nfd, nfc = GenreQuery.parse(f"{NFD}=search:x"), GenreQuery.parse(f"{NFC}=search:x")
    assert nfd.genre == nfc.genre == NFC  # one key in the fetch summary, as in the catalog


@pytest.mark.parametrize("label", ["\u200b", "\ufeff \u200d", " \u2060\t"])
def test_a_label_of_invisible_characters_is_blank(label: str, cli: Cli, tmp_path: Path) -> None:
    assert normalize_label(label) == ""
    assert normalize_label(f"\ufeff{label}rock\u200bmetal{label}") == "rock\u200bmetal"
    with pytest.raises(ParameterError, match="empty genre label"):
        label_folder(label)
    run = cli("fetch", "deezer", "-g", f"{label}=search:x", "-o", tmp_path / "data")
    assert run.code == 2 and "expected LABEL=KIND:VALUE" in run.error_line
    assert not (tmp_path / "data").exists()


def test_text_that_is_not_utf8_makes_valid_names() -> None:
    assert normalize_label("g\udcffx") == label_folder("g\udcffx") == "g\ufffdx"
    assert safe_name("a\ud800b") == "a\ufffdb"
    assert normalize_label("\ud83d\ude00") == "\U0001f600"  # the halves of one pair are joined
    with pytest.raises(ParameterError, match="not a safe file name"):
        path_inside("/store", "a\ud800b")


# --- names that are not UTF-8 -----------------------------------------------------------

LATIN1 = os.fsdecode(b"caf\xe9")  # a Latin-1 name from an old zip, as Python reads it


@pytest.fixture
def latin1_names(tmp_path: Path) -> Path:
    """in/rock/good.wav, in/rock/caf<E9>.wav and in/caf<E9>/x.wav (a folder of that name)."""
    root = tmp_path / "in"
    wav(root / "rock" / "good.wav", seed=1)
    try:  # soundfile cannot open such a name itself
        wav(root / "rock" / "2.wav", seed=2).rename(root / "rock" / f"{LATIN1}.wav")
        wav(root / "3" / "x.wav", seed=3).parent.rename(root / LATIN1)
    except (OSError, UnicodeError):
        pytest.skip("this file system takes only UTF-8 names")
    return root


@pytest.mark.parametrize("copy", [[], ["--copy"]])
def test_import_skips_names_that_are_not_utf8(
    latin1_names: Path, tmp_path: Path, cli: Cli, copy: list[str]
) -> None:
    out = tmp_path / "data"
    for added in ["1 added, 0 already", "0 added, 1 already"]:  # a rerun goes on the same way
        run = cli("import", latin1_names, "-o", out, *copy)
        assert run.code == 1, run.err
        assert added in run.out
        assert f"in/rock/caf\\xe9.wav: {NOT_UTF8}" in run.out
        assert f"in/caf\\xe9/x.wav: {NOT_UTF8}" in run.out
    with Catalog(out) as catalog:
        assert [r.title for r in catalog.rows()] == ["good"]


def test_extract_skips_names_that_are_not_utf8(
    latin1_names: Path, tmp_path: Path, cli: Cli
) -> None:
    store = tmp_path / "store"
    summary = extract_dataset(latin1_names, store, ExtractOptions(clip_seconds=1.0))
    assert summary.counts == {"done": 1, "failed": 2}
    assert sorted((o.rel, o.reason) for o in summary.failures) == [
        ("caf\\xe9/x.wav", NOT_UTF8),
        ("rock/caf\\xe9.wav", NOT_UTF8),
    ]
    run = cli("extract", latin1_names, "-o", store, "--images", "--clip-seconds", 1)
    assert run.code == 1 and "Traceback" not in run.err
    assert f"rock/caf\\xe9.wav: {NOT_UTF8}" in run.out
    assert FeatureStore(store).genres == ["rock"]


# --- a damaged tracks.csv ---------------------------------------------------------------

DAMAGED_ROWS = {
    "superscript id": ("²,Rock,Song,Artist".encode(), "the track id '²' is not a number"),
    "huge id": (b"9" * 5000 + b",Rock,Song,Artist", "the track id '99999999999999999999' is"),
    "latin-1": (b"11,R\xf6ck,Song,Artist", "not valid UTF-8; save the file as UTF-8"),
    "huge field": (b"12,Rock," + b"x" * 200_000 + b",Artist", "field larger than field limit"),
}


@pytest.mark.parametrize("case", DAMAGED_ROWS)
def test_a_damaged_tracks_csv_row_is_one_listed_line(tmp_path: Path, cli: Cli, case: str) -> None:
    row, problem = DAMAGED_ROWS[case]
    csv, audio = fma(tmp_path, ["Rock"])
    csv.write_bytes(csv.read_bytes() + row + b"\n2,Rock,Song 2,Artist 2\n")  # a good row after it
    run = cli("import", audio, "-o", tmp_path / "data", "--fma-metadata", csv)
    assert run.code == 1 and "Traceback" not in run.err, run.err
    assert f"  ! {csv} line 5: {problem}" in run.out
    assert "1 added, 1 already in the catalog" in run.out  # the row after it was read


def test_a_tracks_csv_of_only_damaged_rows_is_one_error(tmp_path: Path, cli: Cli) -> None:
    csv, audio = fma(tmp_path, [])
    audio.mkdir()
    csv.write_bytes(csv.read_bytes() + b"\xb2,Rock,Song,Artist\n")
    run = cli("import", audio, "-o", tmp_path / "data", "--fma-metadata", csv)
    assert run.code == 2
    assert run.error_line == (
        f"error: {csv} line 4: not valid UTF-8; save the file as UTF-8; no track of the file "
        "could be read (1 damaged rows); give FMA's fma_metadata/tracks.csv"
    )


def test_a_duration_that_is_not_a_number_is_unknown(tmp_path: Path) -> None:
    from genrekit.importer import ImportSummary, fma_tracks

    audio = tmp_path / "fma"
    for tid in ("000002", "000003"):
        wav(audio / "000" / f"{tid}.wav", seed=int(tid)).rename(audio / "000" / f"{tid}.mp3")
    csv = tmp_path / "tracks.csv"
    csv.write_text(
        ",track,track,artist,track\n,genre_top,title,name,duration\ntrack_id,,,,\n"
        "2,Rock,a,b,²\n3,Rock,c,d,1e999\n",
        encoding="utf-8",
    )
    summary = ImportSummary()
    tracks = fma_tracks(csv, audio, summary)
    assert [t.info and t.info.duration for t in tracks] == [None, None]
    assert not summary.bad_rows


@pytest.mark.parametrize(
    "command", [["fetch", "deezer", "-g", "rock=search:x"], ["import", "in"], ["extract", "in"]]
)
def test_an_empty_output_path_is_refused(
    command: list[str], cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # '' would be this folder
    monkeypatch.setenv("GENREKIT_DEEZER_API", "http://127.0.0.1:1")  # never the real service
    wav(tmp_path / "in" / "rock" / "a.wav", seed=1)
    before = files_under(tmp_path)
    for args in ([*command, "-o", ""], [*command, "--out="]):
        run = cli(*args)
        assert run.code == 2
        assert run.error_line == (
            "error: -o/--out is empty (an unset shell variable?); give the folder to write"
        )
    assert files_under(tmp_path) == before


def test_embed_refuses_an_empty_output_path(cli: Cli, tmp_path: Path) -> None:
    run = cli("embed", tmp_path, "-o", "")
    assert run.code == 2 and "-o/--out is empty" in run.error_line
