"""The Explore page's API (``genrekit serve --store``) through the ASGI test client: the store's
clips and maps, each map's numbers equal to ``genrekit explore``'s, a clip's spectrogram from the
store, its audio only from inside a served folder, and what a server without a store answers."""

from __future__ import annotations

import base64
import json
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from genrekit import explore
from genrekit.dataset import FeatureStore, embedding_kind, feature_path
from genrekit.report import write_report
from genrekit.serve import create_app
from genrekit.serve import maps as serve_maps
from tests.stores import make_store

GENRES = ("clicks", "noise", "tones")
PER_GENRE = 6
BACKBONE = "msd-musicnn"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store of three generated genres (its input folder beside it), with stand-in
    embeddings (one cluster a genre) where ``genrekit embed`` would write them."""
    root = make_store(tmp_path_factory.mktemp("explore"), GENRES, PER_GENRE)
    loaded = FeatureStore(root)
    rng = np.random.default_rng(1)
    for track, label in zip(loaded.tracks, loaded.labels, strict=True):
        path = feature_path(root, embedding_kind(BACKBONE), track.sha256)
        path.parent.mkdir(parents=True, exist_ok=True)
        centre = np.zeros(16, dtype=np.float32)
        centre[label] = 5.0
        np.save(path, centre + rng.normal(0, 0.3, 16).astype(np.float32))
    return root


@pytest.fixture(scope="module")
def client(store: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    app = create_app(store=store, temp_parent=tmp_path_factory.mktemp("uploads"))
    with TestClient(app) as test_client:
        yield test_client


def test_the_store_lists_its_clips_and_maps(client: TestClient, store: Path) -> None:
    summary = client.get("/api/store").json()
    assert summary["genres"] == list(GENRES)
    assert summary["clips_in_store"] == len(summary["clips"]) == 3 * PER_GENRE
    tracks = FeatureStore(store).tracks
    for clip in summary["clips"]:
        assert clip["name"] == tracks[clip["id"]].path
        assert summary["genres"][clip["genre"]] == tracks[clip["id"]].genre
    assert [m["name"] for m in summary["maps"]] == ["mfcc_pca", f"embedding_tsne_{BACKBONE}"]
    assert summary["audio"] is True  # the folder extract read is still there
    assert client.get("/api/health").json()["store"] is True


def test_each_map_has_a_point_a_clip_and_the_numbers_of_genrekit_explore(
    client: TestClient, store: Path, tmp_path: Path
) -> None:
    clips = client.get("/api/store").json()["clips"]
    report = write_report(store, tmp_path / "report")
    for name in ("mfcc_pca", f"embedding_tsne_{BACKBONE}"):
        found = client.get(f"/api/store/maps/{name}").json()
        assert len(found["x"]) == len(found["y"]) == len(clips)
        assert found["separation"] == pytest.approx(report.numbers["separation"][name])
    pca = client.get("/api/store/maps/mfcc_pca").json()
    explained = report.numbers["explained_variance"]["mfcc"]
    assert pca["axes"][0] == f"PC1 ({100 * explained[0]:.1f} % of variance)"
    # Generated genres this different separate: far better than their shuffled labels.
    numbers = pca["separation"]
    assert numbers["knn_accuracy"] > 0.9 > numbers["knn_accuracy_shuffled"]


def test_a_map_is_computed_once(store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = explore.image_pca

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr("genrekit.serve.maps.image_pca", counted)
    maps = serve_maps.StoreMaps(store)
    assert maps.map("mfcc_pca") is maps.map("mfcc_pca")
    assert len(calls) == 1
    with pytest.raises(KeyError):
        maps.map("mel_pca")


def test_a_map_of_many_genres_is_bounded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, store: Path
) -> None:
    monkeypatch.setattr(serve_maps, "MAX_CLIPS", 9)
    maps = serve_maps.StoreMaps(store)
    assert maps.per_genre == 3 and len(maps.summary()["clips"]) == 9


def test_unknown_maps_and_clips_are_404(client: TestClient) -> None:
    for path in ("/api/store/maps/mel_pca", "/api/store/clips/999/spectrogram"):
        answer = client.get(path)
        assert answer.status_code == 404, path
        assert "no " in answer.json()["detail"]
    assert client.get("/api/store/clips/-1/audio").status_code == 404
    assert client.get("/api/store/clips/x/audio").status_code == 400


def test_a_clip_spectrogram_comes_from_the_store(client: TestClient, store: Path) -> None:
    track = FeatureStore(store).tracks[4]
    picture = client.get("/api/store/clips/4/spectrogram").json()
    assert picture["seconds"] == pytest.approx(track.duration, abs=1e-3)
    assert picture["columns"] == track.n_valid and picture["n_mels"] == 128
    levels = np.frombuffer(base64.b64decode(picture["data"]), dtype=np.uint8)
    assert levels.size == 128 * track.n_valid and levels.max() == 255  # dB re the loudest
    assert {"band", "label"} <= picture["ticks"][0].keys()


def test_a_clip_plays_from_the_folder_extract_read(client: TestClient, store: Path) -> None:
    track = FeatureStore(store).tracks[7]
    answer = client.get("/api/store/clips/7/audio")
    assert answer.status_code == 200
    assert answer.content == (store.parent / "in" / track.path).read_bytes()


def test_a_clip_plays_from_the_served_folder_when_extract_read_another(
    store: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "store"
    shutil.copytree(store, copy)
    _set_input(copy, tmp_path / "gone")
    served = tmp_path / "served"
    shutil.copytree(store.parent / "in", served)
    track = FeatureStore(copy).tracks[2]
    (served / track.path).write_bytes(b"RIFF" + b"\0" * 100)  # not the original: it is this one
    with TestClient(create_app(served, store=copy, temp_parent=tmp_path)) as client:
        answer = client.get("/api/store/clips/2/audio")
    assert answer.status_code == 200 and answer.content == b"RIFF" + b"\0" * 100
    with TestClient(create_app(store=copy, temp_parent=tmp_path)) as client:
        assert client.get("/api/store").json()["audio"] is False
        answer = client.get("/api/store/clips/2/audio")
    assert answer.status_code == 404
    assert answer.json()["detail"] == "this store's tracks are not served (no folder holds them)"


def test_a_store_that_recorded_no_input_folder_is_mapped_but_not_played(
    store: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "store"
    shutil.copytree(store, copy)
    with sqlite3.connect(copy / "index.sqlite") as db:  # as genrekit 0.1.0 wrote stores
        db.execute("DROP TABLE store_meta")
    db.close()
    assert FeatureStore(copy).input_folder() is None
    with TestClient(create_app(store=copy, temp_parent=tmp_path)) as client:
        summary = client.get("/api/store").json()
        assert client.get("/api/store/clips/0/audio").status_code == 404
    assert summary["audio"] is False and len(summary["clips"]) == 3 * PER_GENRE


def test_a_store_naming_a_path_out_of_its_folder_is_refused(store: Path, tmp_path: Path) -> None:
    copy = tmp_path / "store"
    shutil.copytree(store, copy)
    (tmp_path / "secret.wav").write_bytes(b"RIFF")
    with sqlite3.connect(copy / "index.sqlite") as db:  # a store made elsewhere, hostile
        first = db.execute("SELECT path FROM tracks ORDER BY genre, path").fetchone()[0]
        db.execute("UPDATE tracks SET path = '../../secret.wav' WHERE path = ?", (first,))
    db.close()
    with TestClient(create_app(store=copy, temp_parent=tmp_path)) as client:
        clips = client.get("/api/store").json()["clips"]
        bad = next(c["id"] for c in clips if c["name"] == "../../secret.wav")
        answer = client.get(f"/api/store/clips/{bad}/audio")
    assert answer.status_code == 403
    assert answer.json()["detail"].startswith("'..' and '.' are not served")


def test_a_clip_damaged_after_the_start_is_a_one_line_500(store: Path, tmp_path: Path) -> None:
    copy = tmp_path / "store"
    shutil.copytree(store, copy)
    with TestClient(create_app(store=copy, temp_parent=tmp_path)) as client:
        track = FeatureStore(copy).tracks[3]
        for kind in ("mfcc", "logmel"):
            feature_path(copy, kind, track.sha256).write_bytes(b"not an array")
        pca = client.get("/api/store/maps/mfcc_pca")
        picture = client.get("/api/store/clips/3/spectrogram")
        assert client.get("/api/health").status_code == 200
    assert pca.status_code == picture.status_code == 500
    assert pca.json()["detail"].startswith("the map cannot be computed: ")
    assert f"{track.sha256}.npy: cannot read features" in pca.json()["detail"]
    assert f"{track.sha256}.npy: cannot read features" in picture.json()["detail"]


def test_without_a_store_the_page_says_so_and_the_api_is_404(tmp_path: Path) -> None:
    with TestClient(create_app(temp_parent=tmp_path)) as client:
        page = client.get("/explore")
        answer = client.get("/api/store")
    assert page.status_code == 200 and '<canvas id="map"' in page.text
    assert answer.status_code == 404
    assert answer.json() == {"detail": "this server shows no feature store"}


def test_a_store_without_usable_clips_is_refused_at_start(tmp_path: Path) -> None:
    from genrekit.errors import FeatureStoreError

    root = make_store(tmp_path, ("tones",), 2)
    with pytest.raises(FeatureStoreError, match="a map needs at least 3 usable clips"):
        create_app(store=root, temp_parent=tmp_path)


def test_serve_store_without_the_explore_extra_names_it(store: Path, tmp_path: Path) -> None:
    from tests.hidden import env_without, run

    result = run(env_without(tmp_path, ("sklearn",)), "serve", "--store", str(store))
    assert result.returncode == 2
    assert result.stderr == (
        "error: genrekit serve --store needs scikit-learn: pip install 'genrekit[explore]'\n"
    )


def _set_input(store: Path, folder: Path) -> None:
    with sqlite3.connect(store / "index.sqlite") as db:
        db.execute("UPDATE store_meta SET value = ? WHERE key = 'input'", (str(folder),))
    db.close()
    assert json.loads((store / "store.json").read_text())["format"] == "genrekit-features"
