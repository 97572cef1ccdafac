"""A second writer, a killed run, a full disk, a read-only folder: data sets and stores survive.

One writer per folder (``genrekit.lock``): a second ``fetch`` or ``extract`` into the same folder
is refused with one line naming the holder, a lock left by a dead process is taken over, clean-up
touches only files of dead runs. A full disk or a read-only output is one line naming the folder
(exit 2), nothing is corrupt, no track or file is blamed, and a rerun resumes. Runs killed with
SIGKILL at several moments leave a catalog and a store that pass their invariants.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from pytest_httpserver import HTTPServer

from genrekit import extract, lock, store_index
from genrekit.catalog import Catalog
from genrekit.collect import FetchOptions, fetch, remove_stale_parts
from genrekit.dataset import FeatureStore
from genrekit.errors import CatalogError, FeatureStoreError, FolderLockedError
from genrekit.extract import ExtractOptions, extract_dataset
from genrekit.http import HttpClient, RetryPolicy
from genrekit.lock import LOCK_NAME, FolderLock
from genrekit.sources import GenreQuery, TrackInfo
from genrekit.sources.deezer import Deezer
from genrekit.storage import save_npy_atomic
from tests.conftest import DEADLINE, Cli, music_like
from tests.services import FakeDeezer, Song, mp3_bytes
from tests.stores import make_store

MP3 = mp3_bytes(3.0)
SR = 22050


def songs(first: int, n: int) -> list[Song]:
    return [Song(first + i, f"Song {first + i}", f"Artist {i}", 100 + i) for i in range(n)]


def deezer(server: HTTPServer) -> Deezer:
    http = HttpClient("deezer", retry=RetryPolicy(attempts=2, base_delay=0.01))
    return Deezer(http, server.url_for("").rstrip("/"))


def make_input(root: Path, n: int, seconds: float = 2.0) -> Path:
    for i in range(n):
        path = root / ("jazz" if i % 2 else "metal") / f"t{i:02d}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, music_like(seconds, SR, seed=i), SR)
    return root


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def wait_for(condition: Callable[[], bool], what: str, timeout: float = DEADLINE) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.02)


def holder_written(folder: Path) -> bool:
    try:
        return "pid" in json.loads((folder / LOCK_NAME).read_text())
    except (OSError, ValueError):
        return False


def dead_pid() -> int:
    """The PID of a process that has exited (and been reaped)."""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait(timeout=DEADLINE)
    return dead.pid


def test_clean_up_removes_only_files_of_dead_runs(tmp_path: Path) -> None:
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    dead = dead_pid()
    try:
        folder = tmp_path / "rock"
        folder.mkdir()
        live = folder / f".deezer-1.{sleeper.pid}.abcd1234.part.mp3"
        mine = folder / f".deezer-2.{os.getpid()}.abcd1234.part.mp3"
        stale = folder / f".deezer-3.{dead}.abcd1234.part.mp3"
        copied = folder / f".big1.mp3.{dead}.k_9xyz00.part"  # a killed import --copy's
        no_pid = folder / ".deezer-4.abcd1234.part.mp3"  # not a name genrekit makes: not ours
        other = folder / f".notes.{dead}.txt"
        for path in (live, mine, stale, copied, no_pid, other):
            path.write_bytes(b"x")
        assert remove_stale_parts(tmp_path) == 2
        assert live.exists() and mine.exists() and no_pid.exists() and other.exists()
        assert not stale.exists() and not copied.exists()
    finally:
        sleeper.kill()
        sleeper.wait(timeout=DEADLINE)


# --- two writers, one folder -------------------------------------------------------------------


def test_second_fetch_into_a_locked_data_set_is_refused(tmp_path: Path, cli: Cli) -> None:
    with FolderLock(tmp_path, "fetch", what="data set"):
        run = cli("fetch", "deezer", "--genre", "x=playlist:1", "-o", tmp_path)
    assert run.code == 2
    assert run.error_line.startswith(f"error: {tmp_path}: another genrekit is writing to this")
    assert f"(fetch, PID {os.getpid()} on " in run.error_line


def test_two_fetch_processes_lose_nothing(server: HTTPServer, tmp_path: Path) -> None:
    fake = FakeDeezer(server, MP3, hold_after=2)  # two downloads, then the CDN stalls
    fake.playlists["5"] = songs(1, 5)
    out = tmp_path / "data"
    env = {**os.environ, "GENREKIT_DEEZER_API": server.url_for("/")}
    command = [sys.executable, "-m", "genrekit", "fetch", "deezer", "--genre", "rock=playlist:5"]
    command += ["-o", str(out), "--per-genre", "5", "--workers", "2"]
    first = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: sum(fake.downloads.values()) >= 2, "the first fetch to download")
        assert holder_written(out)
        second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=DEADLINE)
        assert second.returncode == 2, second.stderr
        assert second.stderr.startswith(f"error: {out}: another genrekit is writing to this")
        assert f"(fetch, PID {first.pid} on " in second.stderr
        assert len(second.stderr.splitlines()) == 1
    finally:
        fake.release.set()
    assert first.wait(timeout=DEADLINE) == 0
    with Catalog(out) as catalog:
        rows = catalog.rows()
    assert [r.status for r in rows] == ["done"] * 5 and all(r.attempts == 1 for r in rows)
    assert set(fake.downloads.values()) == {1}  # each preview downloaded once
    assert not list(out.glob("*/.*part*"))


def slow_extract(gate: Path | None = None, delay: float = 0.0) -> list[str]:
    """``genrekit extract`` as a real process whose clips wait for ``gate`` and whose files
    stay ``delay`` seconds under their temporary names (so a kill can find one there)."""
    code = (
        "import sys, time; from pathlib import Path; import genrekit.extract as e;"
        "import genrekit.storage as s;"
        "from genrekit.cli import main; gate, delay = sys.argv[1], float(sys.argv[2]);"
        "one = e._extract_one\n"
        "def slow(*a, **k):\n"
        "    end = time.monotonic() + 60\n"
        "    while gate and not Path(gate).exists() and time.monotonic() < end: time.sleep(0.02)\n"
        "    return one(*a, **k)\n"
        "def slow_write(target, data):\n"
        "    with s.atomic_path(target) as tmp: tmp.write_bytes(data); time.sleep(delay)\n"
        "e._extract_one = slow; s.write_bytes_atomic = slow_write\n"
        "sys.argv = ['genrekit', *sys.argv[3:]]; main()"
    )
    return [sys.executable, "-c", code, str(gate or ""), str(delay), "extract"]


def test_two_extract_processes_do_the_work_once(tmp_path: Path) -> None:
    source = make_input(tmp_path / "in", 4)
    store, gate = tmp_path / "store", tmp_path / "gate"
    args = [str(source), "-o", str(store), "--clip-seconds", "2", "-j", "1"]
    first = subprocess.Popen(
        [*slow_extract(gate), *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_for(lambda: holder_written(store), "the first extract to lock the store")
        second = subprocess.run(
            [*slow_extract(), *args], capture_output=True, text=True, timeout=DEADLINE
        )
    finally:
        gate.touch()
    assert first.wait(timeout=DEADLINE) == 0
    assert second.returncode == 2, second.stderr
    assert second.stderr.startswith(f"error: {store}: another genrekit is writing to this")
    assert f"(extract, PID {first.pid} on " in second.stderr
    assert len(second.stderr.splitlines()) == 1
    with sqlite3.connect(store / "index.sqlite") as db:
        assert db.execute("SELECT count(*) FROM clips").fetchone() == (4,)
        assert db.execute("SELECT count(*) FROM tracks WHERE status = 'ok'").fetchone() == (4,)


# --- another input folder into an existing store ------------------------------------------------


def test_extract_of_another_folder_keeps_the_first_ones_rows(tmp_path: Path, cli: Cli) -> None:
    first = make_input(tmp_path / "a", 2)
    second = make_input(tmp_path / "b", 3)
    store = tmp_path / "store"
    options = ExtractOptions(clip_seconds=2.0, workers=1)
    assert extract_dataset(first, store, options).ok
    run = cli("extract", second, "-o", store, "--clip-seconds", "2")
    assert run.code == 2
    assert run.error_line == (
        f"error: {store}: this feature store holds the tracks of {first.resolve()}, not of "
        f"{second}; extracting {second} here would drop them from its index: give {second} "
        "a feature store of its own"
    )
    with sqlite3.connect(store / "index.sqlite") as db:
        assert db.execute("SELECT count(*) FROM tracks").fetchone() == (2,)
    # The same folder again is a resume; a folder moved elsewhere is the same data set.
    assert extract_dataset(first, store, options).counts["cached"] == 2
    moved = first.rename(tmp_path / "moved")
    summary = extract_dataset(moved, store, options)
    assert summary.ok and summary.counts["cached"] == 2


# --- full disk, read-only output --------------------------------------------------------------


def check_store(store: Path) -> set[str]:
    """The store's invariants; returns the shas of its clips."""
    with sqlite3.connect(store / "index.sqlite") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        if db.execute("SELECT name FROM sqlite_master WHERE name = 'clips'").fetchone() is None:
            return set()  # killed before its schema was written
        clips = {sha for (sha,) in db.execute("SELECT sha256 FROM clips")}
        ok = {sha for (sha,) in db.execute("SELECT sha256 FROM tracks WHERE status = 'ok'")}
    assert ok <= clips
    for sha in clips:
        for kind in ("logmel", "mfcc"):
            array = np.load(store / "features" / kind / sha[:2] / f"{sha}.npy")
            assert array.dtype == np.float32 and array.ndim == 2
    return clips


def store_files(store: Path, pattern: str) -> list[Path]:
    return [p for p in store.rglob(pattern) if p.is_file()]


def test_full_disk_during_extract_stops_with_one_line_and_resumes(
    tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = make_input(tmp_path / "in", 6)
    store = tmp_path / "store"
    real_save = save_npy_atomic
    saved: list[Path] = []

    def save_until_full(target: Path, array: np.ndarray) -> None:
        if len(saved) >= 5:  # the third clip's second array: half a clip written
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_save(target, array)
        saved.append(target)

    monkeypatch.setattr(extract, "save_npy_atomic", save_until_full)
    run = cli("extract", source, "-o", store, "--clip-seconds", "2", "-j", "1")
    assert run.code == 2
    assert run.error_line == (
        f"error: {store}: cannot write (No space left on device); free some space there, then "
        "run the same command again (finished work is kept)"
    )
    assert "failed" not in run.out  # no input file was blamed
    assert len(check_store(store)) == 2
    assert not store_files(store, ".*.part")
    monkeypatch.setattr(extract, "save_npy_atomic", real_save)
    again = cli("extract", source, "-o", store, "--clip-seconds", "2", "-j", "1")
    assert again.code == 0, again.err
    assert len(check_store(store)) == 6
    with sqlite3.connect(store / "index.sqlite") as db:
        assert db.execute("SELECT count(*) FROM tracks WHERE status = 'ok'").fetchone() == (6,)


def test_full_index_during_extract_is_one_line(
    tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = make_input(tmp_path / "in", 2)
    store = tmp_path / "store"

    def full_disk(root: Path) -> sqlite3.Connection:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(store_index, "open_index", full_disk)
    run = cli("extract", source, "-o", store, "--clip-seconds", "2")
    assert run.code == 2
    assert run.error_line == (
        f"error: {store / 'index.sqlite'}: cannot open the index (database or disk is full)"
    )
    assert not (store / LOCK_NAME).exists()


def test_read_only_store_is_one_line(
    tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = make_input(tmp_path / "in", 2)
    store = tmp_path / "store"
    assert extract_dataset(source, store, ExtractOptions(clip_seconds=2.0)).ok
    make_input(tmp_path / "in", 3)  # one more file to extract
    if os.geteuid() == 0:  # root writes through any mode bits: refuse as a read-only disk would

        def read_only(path: Path) -> int:
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))

        monkeypatch.setattr(lock, "_open", read_only)
        reason = os.strerror(errno.EROFS)
    else:
        store.chmod(0o555)
        reason = os.strerror(errno.EACCES)
    try:
        run = cli("extract", source, "-o", store, "--clip-seconds", "2")
    finally:
        store.chmod(0o755)
    assert run.code == 2
    assert run.error_line == (
        f"error: {store}: cannot lock the feature store for writing ({reason}); make the folder "
        "writable or choose another one"
    )


def test_full_disk_during_fetch_blames_no_track_and_resumes(
    server: HTTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeDeezer(server, MP3)
    fake.playlists["7"] = songs(1, 4)
    source = deezer(server)
    real_download = source.http.download
    calls: list[str] = []

    def download_until_full(url: str, target: Path, **kwargs: int) -> int:
        calls.append(url)
        if len(calls) > 2:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))  # a write() names no file
        return real_download(url, target, **kwargs)

    monkeypatch.setattr(source.http, "download", download_until_full)
    query = [GenreQuery.parse("rock=playlist:7")]
    with pytest.raises(CatalogError) as caught:
        fetch(source, query, tmp_path, FetchOptions(per_genre=4, workers=1))
    assert str(caught.value) == (
        f"{tmp_path / 'rock'}: cannot write (No space left on device); free some space there, "
        "then run the same command again (finished work is kept)"
    )
    with Catalog(tmp_path) as catalog:
        rows = catalog.rows()
    assert sorted(r.status for r in rows) == ["done", "done", "pending", "pending"]
    assert all(r.attempts == 0 for r in rows if r.status != "done")
    assert not list(tmp_path.glob("*/.*part*"))
    monkeypatch.setattr(source.http, "download", real_download)
    summary = fetch(source, query, tmp_path, FetchOptions(per_genre=4, workers=1))
    assert summary.ok and summary.have == {"rock": 4}


# --- a read-only data set can be read ---------------------------------------------------------


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    """A folder another user can reach (pytest's tmp_path is private to its owner)."""
    folder = Path(tempfile.mkdtemp(prefix="genrekit-ro-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        for path in [folder, *folder.rglob("*")]:
            if path.is_dir():
                path.chmod(0o755)
        shutil.rmtree(folder)


def others_can_run(program: Path) -> bool:
    real = program.resolve()
    folders_open = all(p.stat().st_mode & 0o001 for p in real.parents)
    return folders_open and real.stat().st_mode & 0o005 == 0o005


def test_catalog_sqlite_cannot_share_memory_is_read_immutable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What SQLite says in a read-only folder, where it cannot create catalog.sqlite-shm.
    rows = make_catalog(tmp_path)
    connect = sqlite3.connect

    def read_only_folder(database: str, *args: Any, **kwargs: Any) -> sqlite3.Connection:
        if "immutable=1" not in database:
            raise sqlite3.OperationalError("attempt to write a readonly database")
        db: sqlite3.Connection = connect(database, *args, **kwargs)
        return db

    monkeypatch.setattr(sqlite3, "connect", read_only_folder)
    with Catalog.open_existing(tmp_path) as catalog:
        assert len(catalog.rows(status="done")) == rows


def test_store_in_a_read_only_folder_is_read_immutable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = make_store(tmp_path, ("tones", "noise"), 2)
    connect = sqlite3.connect

    def read_only_folder(database: str, *args: Any, **kwargs: Any) -> sqlite3.Connection:
        if "immutable=1" not in database:
            raise sqlite3.OperationalError("attempt to write a readonly database")
        db: sqlite3.Connection = connect(database, *args, **kwargs)
        return db

    monkeypatch.setattr(sqlite3, "connect", read_only_folder)
    assert len(FeatureStore(store)) == 4


def make_catalog(folder: Path) -> int:
    from genrekit.sources import TrackInfo

    with Catalog(folder) as catalog:
        for i in range(3):
            track = TrackInfo(source="local", source_id=str(i), title=f"t{i}", artist="a")
            catalog.add(track, "rock", "folder", status="done", path=f"/x/{i}.wav", sha256="0")
    return 3


def test_read_only_data_set_can_still_be_read(
    server: HTTPServer, shared_tmp: Path, tmp_path: Path
) -> None:
    fake = FakeDeezer(server, MP3)
    fake.playlists["3"] = songs(1, 2)
    data = shared_tmp / "data"
    summary = fetch(deezer(server), [GenreQuery.parse("rock=playlist:3")], data)
    assert summary.ok
    assert not (data / "catalog.sqlite-shm").exists()  # closed cleanly: WAL files are gone
    for path in [data, *data.rglob("*")]:
        path.chmod(0o555 if path.is_dir() else 0o444)
    store = shared_tmp / "store"
    store.mkdir()
    store.chmod(0o777)
    # Root reads and writes through any mode bits: read as another user, as on a shared disk.
    as_other: dict[str, Any] = {}
    if os.geteuid() == 0:
        if not others_can_run(Path(sys.executable)):
            pytest.skip(f"runs as root, and another user cannot run {sys.executable}")
        as_other = {"user": 65534, "group": 65534, "extra_groups": []}
    env = {**os.environ, "HOME": str(shared_tmp), "NUMBA_CACHE_DIR": str(shared_tmp)}
    genrekit = [sys.executable, "-m", "genrekit"]
    listed = subprocess.run(
        [*genrekit, "catalog", str(data)],
        capture_output=True,
        text=True,
        timeout=DEADLINE,
        cwd=shared_tmp,
        env=env,
        **as_other,
    )
    assert listed.returncode == 0, listed.stderr
    assert "rock" in listed.stdout
    extracted = subprocess.run(
        [*genrekit, "extract", str(data), "-o", str(store / "f"), "--clip-seconds", "2"],
        capture_output=True,
        text=True,
        timeout=DEADLINE,
        cwd=shared_tmp,
        env=env,
        **as_other,
    )
    assert extracted.returncode == 0, extracted.stderr
    assert sorted(p.name for p in data.iterdir()) == ["catalog.sqlite", "rock"]


# --- killed runs --------------------------------------------------------------------------------


def check_catalog(data: Path) -> None:
    """A catalog's invariants: intact, every done row's file present with its hash, no part."""
    with sqlite3.connect(data / "catalog.sqlite") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        if db.execute("SELECT name FROM sqlite_master WHERE name = 'tracks'").fetchone() is None:
            return  # killed before its schema was written
        for path, digest in db.execute("SELECT path, sha256 FROM tracks WHERE status = 'done'"):
            assert sha256(data / path) == digest


def kill_when(process: subprocess.Popen[bytes], ready: Callable[[], bool]) -> bool:
    """SIGKILL ``process`` once ``ready()``; whether it was still running then."""
    deadline = time.monotonic() + DEADLINE
    while process.poll() is None and not ready() and time.monotonic() < deadline:
        time.sleep(0.01)
    running = process.poll() is None
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=DEADLINE)
    return running


def done_rows(data: Path) -> int:
    try:
        with sqlite3.connect(f"{(data / 'catalog.sqlite').as_uri()}?mode=ro", uri=True) as db:
            (n,) = db.execute("SELECT count(*) FROM tracks WHERE status = 'done'").fetchone()
    except sqlite3.Error:  # not there yet, or its tables not yet
        return 0
    return int(n)


def test_fetch_killed_at_several_moments_keeps_its_invariants(
    server: HTTPServer, tmp_path: Path
) -> None:
    fake = FakeDeezer(server, MP3, delay=0.15)
    fake.playlists["9"] = songs(1, 8)
    data = tmp_path / "data"
    env = {**os.environ, "GENREKIT_DEEZER_API": server.url_for("/")}
    command = [sys.executable, "-m", "genrekit", "fetch", "deezer", "--genre", "rock=playlist:9"]
    command += ["-o", str(data), "--per-genre", "8", "--workers", "2"]
    moments: list[Callable[[], bool]] = [
        lambda: holder_written(data),  # listing or about to
        lambda: sum(fake.downloads.values()) >= 1,  # a download in flight
        lambda: done_rows(data) >= 4,  # half done, others in flight
    ]
    killed_running = 0
    ended: list[str] = []  # what a run that ended before its moment said
    for moment in moments:
        run = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        running = kill_when(run, moment)
        killed_running += running
        if not running and run.stderr is not None:
            ended.append(run.stderr.read().decode(errors="replace")[-500:])
        if (data / "catalog.sqlite").exists():
            check_catalog(data)
    assert killed_running >= 2, ended
    fake.delay = 0.0
    final = subprocess.run(command, env=env, capture_output=True, text=True, timeout=DEADLINE)
    assert final.returncode == 0, final.stderr
    check_catalog(data)
    assert done_rows(data) == 8
    assert not list(data.rglob(".*"))  # no part file, no lock left
    with Catalog(data) as catalog:
        assert all(r.status == "done" for r in catalog.rows())


def test_extract_killed_at_several_moments_keeps_its_invariants(tmp_path: Path) -> None:
    source = make_input(tmp_path / "in", 10)
    store = tmp_path / "store"
    args = [str(source), "-o", str(store), "--clip-seconds", "2", "-j", "2"]

    def arrays() -> int:
        return len(store_files(store, "*.npy"))

    moments: list[Callable[[], bool]] = [
        lambda: (store / "store.json").exists(),  # the store just made
        lambda: bool(store_files(store, ".*.part")),  # an array half written
        lambda: arrays() >= 9,
    ]
    killed_running = 0
    for moment in moments:
        run = subprocess.Popen(
            [*slow_extract(delay=0.05), *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        killed_running += kill_when(run, moment)
        if (store / "index.sqlite").exists():
            check_store(store)
    assert killed_running >= 2
    final = subprocess.run(
        [sys.executable, "-m", "genrekit", "extract", *args],
        capture_output=True,
        text=True,
        timeout=DEADLINE,
    )
    assert final.returncode == 0, final.stderr
    clips = check_store(store)
    assert len(clips) == 10
    assert not store_files(store, ".*")  # no part file, no lock left
    on_disk = {p.stem for p in store_files(store, "*.npy")}
    assert on_disk == clips  # no orphan array


def test_embed_refuses_while_another_writes_the_store(tmp_path: Path) -> None:
    from genrekit.embed import embed_dataset
    from tests.stores import make_store

    store = make_store(tmp_path, ("clicks", "tones"), 3)
    with FolderLock(store, "extract", what="feature store"), pytest.raises(FolderLockedError):
        embed_dataset(tmp_path / "in", store)
    assert embed_dataset(tmp_path / "in", store).done == 6  # once the lock is free


# --- links planted in an output folder ----------------------------------------------------------

PRECIOUS = b"someone else's file\n"


def planted(folder: Path, name: str, outside: Path, *, hard: bool = False) -> Path:
    """``folder/name`` made a (symbolic or hard) link to the file ``outside``."""
    folder.mkdir(parents=True, exist_ok=True)
    if not outside.exists():
        outside.write_bytes(PRECIOUS)
    link = folder / name
    if hard:
        os.link(outside, link)
    else:
        link.symlink_to(outside)
    return link


@pytest.mark.parametrize("hard", [False, True], ids=["symlink", "hard-link"])
def test_a_data_set_lock_planted_as_a_link_is_refused_not_written(
    tmp_path: Path, cli: Cli, hard: bool
) -> None:
    source = make_input(tmp_path / "in", 2)
    outside, data = tmp_path / "outside.txt", tmp_path / "data"
    link = planted(data, LOCK_NAME, outside, hard=hard)
    run = cli("import", source, "-o", data)
    assert run.code == 2
    problem = "has 2 hard links (it is also a file elsewhere)" if hard else "is a symbolic link"
    assert run.error_line == (
        f"error: {link}: {problem}; genrekit writes only files of its own here, never through "
        "a link: remove it, then run the command again"
    )
    assert outside.read_bytes() == PRECIOUS
    assert sorted(p.name for p in data.iterdir()) == [LOCK_NAME]  # no catalog made


@pytest.mark.parametrize("hard", [False, True], ids=["symlink", "hard-link"])
def test_a_store_lock_planted_as_a_link_is_refused_not_written(tmp_path: Path, hard: bool) -> None:
    source = make_input(tmp_path / "in", 2)
    outside, store = tmp_path / "outside.txt", tmp_path / "store"
    link = planted(store, LOCK_NAME, outside, hard=hard)
    with pytest.raises(FeatureStoreError, match=f"^{link}: (is a symbolic|has 2 hard) link"):
        extract_dataset(source, store, ExtractOptions(clip_seconds=2.0, workers=1))
    assert outside.read_bytes() == PRECIOUS
    assert sorted(p.name for p in store.iterdir()) == [LOCK_NAME]


@pytest.mark.parametrize("name", ["catalog.sqlite", "catalog.sqlite-wal"])
def test_a_catalog_planted_as_a_link_out_is_refused(tmp_path: Path, cli: Cli, name: str) -> None:
    source = make_input(tmp_path / "in", 2)
    outside, data = tmp_path / "outside.db", tmp_path / "data"
    outside.write_bytes(b"")  # empty: SQLite would make it a database
    link = planted(data, name, outside)
    run = cli("import", source, "-o", data)
    assert run.code == 2
    assert run.error_line.startswith(f"error: {link}: is a symbolic link; ")
    assert outside.read_bytes() == b""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "in", "outside.db"]


@pytest.mark.parametrize("name", ["index.sqlite", "store.json"])
def test_store_files_planted_as_links_out_are_refused(tmp_path: Path, name: str) -> None:
    source = make_input(tmp_path / "in", 2)
    store, outside = tmp_path / "store", tmp_path / "outside"
    options = ExtractOptions(clip_seconds=2.0, workers=1)
    assert extract_dataset(source, store, options).ok
    shutil.move(store / name, outside)  # someone else's file, which the link leads to
    before = outside.read_bytes()
    planted(store, name, outside)
    with pytest.raises(FeatureStoreError, match=f"^{store / name}: is a symbolic link; "):
        extract_dataset(source, store, options)
    assert outside.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in", "outside", "store"]


@pytest.mark.parametrize("level", ["features", "features/mfcc", "features/mfcc/<xx>"])
def test_store_folders_planted_as_links_out_are_refused(tmp_path: Path, level: str) -> None:
    source = make_input(tmp_path / "in", 2)
    store, outside = tmp_path / "store", tmp_path / "outside"
    options = ExtractOptions(clip_seconds=2.0, workers=1)
    assert extract_dataset(source, store, options).ok
    new = source / "jazz" / "new.wav"  # a clip whose arrays the next run writes
    sf.write(new, music_like(2.0, SR, seed=99), SR)
    link = store / level.replace("<xx>", sha256(new)[:2])
    if link.exists():
        shutil.move(link, outside)
    else:
        outside.mkdir()
    link.symlink_to(outside, target_is_directory=True)
    before = sorted(outside.rglob("*"))
    with pytest.raises(FeatureStoreError, match=f"^{link}: is a symbolic link; "):
        extract_dataset(source, store, options)
    assert sorted(outside.rglob("*")) == before


def test_clean_up_never_follows_a_linked_folder(tmp_path: Path) -> None:
    dead = dead_pid()
    outside = tmp_path / "outside"
    outside.mkdir()
    theirs = [  # named as genrekit's temporary files of a dead process, or close to it
        outside / f".deezer-3.{dead}.abcd1234.part.mp3",
        outside / f".x.npy.{dead}.abcd1234.part",
        outside / ".y.part.mp3",
    ]
    for path in theirs:
        path.write_bytes(PRECIOUS)
    data = tmp_path / "data"
    data.mkdir()
    (data / "rock").symlink_to(outside, target_is_directory=True)
    assert remove_stale_parts(data) == 0
    source = make_input(tmp_path / "in", 2)
    store = tmp_path / "store"
    options = ExtractOptions(clip_seconds=2.0, workers=1)
    assert extract_dataset(source, store, options).ok
    (store / "images").mkdir()
    (store / "images" / "rock").symlink_to(outside, target_is_directory=True)
    assert extract_dataset(source, store, options).ok  # its clean-up runs first
    (store / "features" / "logmel" / "zz").symlink_to(outside, target_is_directory=True)
    with pytest.raises(FeatureStoreError, match="is a symbolic link"):  # refused, not cleaned
        extract_dataset(source, store, options)
    assert all(path.read_bytes() == PRECIOUS for path in theirs)


# --- a killed import --copy --------------------------------------------------------------------


def test_a_killed_import_copy_leaves_no_part_file_after_the_next_run(
    tmp_path: Path, cli: Cli
) -> None:
    source = make_input(tmp_path / "in", 4)
    data, copied = tmp_path / "data", tmp_path / "copied"
    code = (
        "import shutil, sys, time; from pathlib import Path; from genrekit.cli import main\n"
        "real, gate = shutil.copyfile, Path(sys.argv[1])\n"
        "def slow(src, dst, **kw):\n"
        "    real(src, dst, **kw); gate.touch(); time.sleep(60)\n"
        "shutil.copyfile = slow\n"
        "sys.argv = ['genrekit', *sys.argv[2:]]; main()"
    )
    command = [sys.executable, "-c", code, str(copied), "import", str(source), "-o", str(data)]
    run = subprocess.Popen([*command, "--copy"], stderr=subprocess.PIPE)
    assert kill_when(run, copied.exists)  # killed mid-copy, its copy under a temporary name
    (left,) = [p for p in data.rglob(".*") if p.name != LOCK_NAME]
    assert left.name.endswith(".part")
    rerun = cli("import", source, "-o", data, "--copy")
    assert rerun.code == 0, rerun.err
    assert not list(data.rglob(".*"))  # no part file, no lock left
    assert len(list(data.glob("*/*.wav"))) == 4


# --- two extracts with different settings into a new store -------------------------------------


def test_extract_writes_no_store_description_before_it_holds_the_lock(tmp_path: Path) -> None:
    source = make_input(tmp_path / "in", 2)
    store = tmp_path / "store"
    with FolderLock(store, "extract", what="feature store"), pytest.raises(FolderLockedError):
        extract_dataset(source, store, ExtractOptions(clip_seconds=1.0, workers=1))
    assert not (store / "store.json").exists()  # the holder may be making it, with 2 s clips
    assert extract_dataset(source, store, ExtractOptions(clip_seconds=2.0, workers=1)).ok
    assert json.loads((store / "store.json").read_text())["clip_seconds"] == 2.0


# --- a full disk during import --copy -----------------------------------------------------------


def test_full_disk_during_import_copy_names_the_folder_and_resumes(
    tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = make_input(tmp_path / "in", 4)
    data = tmp_path / "data"
    real = shutil.copyfile
    copies: list[str] = []

    def copy_until_full(src: str, dst: str, **kwargs: Any) -> str:
        copies.append(dst)
        if len(copies) > 1:  # as shutil says it: the source and the destination named
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), src, None, dst)
        return real(src, dst, **kwargs)

    monkeypatch.setattr(shutil, "copyfile", copy_until_full)
    run = cli("import", source, "-o", data, "--copy")
    assert run.code == 2
    assert run.error_line == (
        f"error: {Path(copies[-1]).parent}: cannot write (No space left on device); free some "
        "space there, then run the same command again (finished work is kept)"
    )
    assert not list(data.rglob(".*"))  # no part file, no lock
    monkeypatch.setattr(shutil, "copyfile", real)
    rerun = cli("import", source, "-o", data, "--copy")
    assert rerun.code == 0, rerun.err
    assert "3 added, 1 already in the catalog" in rerun.out


def test_full_catalog_during_import_copy_is_one_line_and_leaves_no_orphan(
    tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = make_input(tmp_path / "in", 4)
    data = tmp_path / "data"
    real = Catalog.add
    calls: list[object] = []

    def add_until_full(self: Catalog, *args: Any, **kwargs: Any) -> str:
        calls.append(args)
        if len(calls) > 1:
            raise sqlite3.OperationalError("database or disk is full")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Catalog, "add", add_until_full)
    run = cli("import", source, "-o", data, "--copy")
    assert run.code == 2
    assert run.error_line == (
        f"error: {data / 'catalog.sqlite'}: cannot update the catalog (database or disk is full)"
    )
    assert len(list(data.glob("*/*.wav"))) == 1  # the one the catalog lists, no orphan copy
    assert not list(data.rglob(".*"))
    monkeypatch.setattr(Catalog, "add", real)
    rerun = cli("import", source, "-o", data, "--copy")
    assert rerun.code == 0, rerun.err
    assert len(list(data.glob("*/*.wav"))) == 4


# --- a catalog made by someone else -------------------------------------------------------------


def foreign_sqlite(path: Path, *statements: str) -> list[tuple[str, str]]:
    """A catalog.sqlite of another program; returns its schema, to check it is left alone."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as db:
        for statement in statements:
            db.execute(statement)
        return sorted(db.execute("SELECT name, sql FROM sqlite_master").fetchall())


@pytest.mark.parametrize(
    ("statements", "problem"),
    [
        (["CREATE TABLE tracks (a, b)", "INSERT INTO tracks VALUES (1, 2)"], "no column added"),
        (["CREATE TABLE notes (a)"], "no table tracks"),
    ],
)
def test_a_sqlite_file_of_another_program_is_not_a_catalog(
    tmp_path: Path, cli: Cli, statements: list[str], problem: str
) -> None:
    data = tmp_path / "data"
    schema = foreign_sqlite(data / "catalog.sqlite", *statements)
    wav = data.parent / "in" / "rock" / "a.wav"
    wav.parent.mkdir(parents=True)
    sf.write(wav, music_like(1.0, SR, seed=1), SR)
    for args in (["catalog", data], ["import", wav.parent.parent, "-o", data]):
        run = cli(*args)
        assert run.code == 2 and "not a genrekit catalog (" in run.error_line
        assert problem in run.error_line and str(data / "catalog.sqlite") in run.error_line
    assert foreign_sqlite(data / "catalog.sqlite") == schema  # nothing written into it


def test_a_catalog_value_of_the_wrong_type_is_one_error(tmp_path: Path, cli: Cli) -> None:
    data = tmp_path / "data"
    make_catalog(data)
    with sqlite3.connect(data / "catalog.sqlite") as db:
        db.execute("UPDATE tracks SET genre = CAST(genre AS BLOB) WHERE source_id = '1'")
    (row_id,) = (
        sqlite3.connect(data / "catalog.sqlite")
        .execute("SELECT id FROM tracks WHERE source_id = '1'")
        .fetchone()
    )
    expected = f"not a genrekit catalog (track {row_id}: genre is blob, not text)"
    for args in (["catalog", data], ["extract", data, "-o", tmp_path / "store"]):
        run = cli(*args)
        assert run.code == 2 and expected in run.error_line
    with pytest.raises(CatalogError, match="status 'gone' is not pending, done or failed"):
        with sqlite3.connect(data / "catalog.sqlite") as db:
            db.execute("UPDATE tracks SET genre = 'rock', status = 'gone'")
        Catalog(data)


def test_a_huge_file_is_checked_for_audio_before_it_is_hashed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from genrekit import extract as extract_module
    from genrekit import store_batch

    monkeypatch.setattr(store_batch, "HASH_AFTER_CHECK_BYTES", 4096)
    hashed: list[str] = []
    from genrekit.storage import sha256_file

    def counted(path: Path) -> str:
        hashed.append(Path(path).name)
        return sha256_file(path)

    monkeypatch.setattr(store_batch, "sha256_file", counted)
    (tmp_path / "in" / "rock").mkdir(parents=True)
    with (tmp_path / "in" / "rock" / "zeros.mp3").open("wb") as out:
        out.truncate(2**20)  # "huge": past the bound, and nothing but zeros
    sf.write(tmp_path / "in" / "rock" / "song.wav", music_like(2.0, 22050, seed=1), 22050)
    summary = extract_module.extract_dataset(
        tmp_path / "in", tmp_path / "store", extract_module.ExtractOptions(clip_seconds=1.0)
    )
    assert summary.counts["done"] == 1 and hashed == ["song.wav"]
    assert any("cannot be decoded" in (f.reason or "") for f in summary.failures)


def test_a_catalog_whose_making_was_cut_short_is_completed(tmp_path: Path) -> None:
    from genrekit.catalog import _SCHEMA

    data = tmp_path / "data"
    data.mkdir()
    tracks_only = _SCHEMA.split("CREATE TABLE IF NOT EXISTS conflicts")[0]
    with sqlite3.connect(data / "catalog.sqlite") as db:  # killed before its second table
        db.executescript(tracks_only)
    with Catalog(data) as catalog:
        catalog.add(TrackInfo("local", "1", "t", "a"), "rock", "test")
        assert catalog.selected("rock") == 1
    with sqlite3.connect(data / "catalog.sqlite") as db:
        tables = {n for (n,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"tracks", "conflicts"} <= tables
