"""Hostile names: labels, ids and file names from outside never make a path outside the output.

Every writer (fetch, import --copy, extract --images) is run with labels such as
``../../../../tmp/x``, ``/abs/path`` and FMA's real ``Old-Time / Historic``, NFC and NFD spellings
of one label, labels longer than a file name may be, and ids such as ``1/2`` or one holding a NUL;
afterwards the whole temporary folder is walked to check that nothing was written anywhere else.
"""

from __future__ import annotations

import os
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
from genrekit.errors import ParameterError
from genrekit.extract import ExtractOptions, extract_dataset
from genrekit.http import HttpClient, RateLimit, RetryPolicy
from genrekit.naming import (
    MAX_NAME_BYTES,
    label_folder,
    normalize_label,
    path_inside,
    safe_id,
    safe_name,
    track_file_name,
)
from genrekit.sources import GenreQuery, TrackInfo
from genrekit.sources.deezer import Deezer
from tests.conftest import music_like
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
    assert "Old-Time _ Historic" in folders
    assert all(p.is_dir() and len(list(p.iterdir())) == 2 for p in (store / "images").iterdir())
    assert "_abs_path" in folders  # not /abs/path, outside every folder the walk sees


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
