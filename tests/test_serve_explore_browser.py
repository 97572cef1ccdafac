"""The Explore page of ``genrekit serve --store`` in a real headless Chromium, as a person uses it.

The real command serves a small generated store (three genres, stand-in embeddings) on loopback;
Debian's ``chromium`` (Playwright, ``executable_path``) opens ``/explore``, sees a point per clip,
hovers one and reads its name, clicks it and sees its spectrogram and hears its track (from the
folder the store was extracted from), hides and shows a genre, switches to the t-SNE map, and
reads genrekit explore's numbers beside the maps. Skipped, saying why, without chromium or
Playwright; ``GENREKIT_REQUIRE_BROWSER=1`` (CI) makes that a failure.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from genrekit.dataset import FeatureStore, embedding_kind, feature_path
from tests.browser import launch, require_browser, serving
from tests.stores import make_store

GENRES = ("clicks", "noise", "tones")
PER_GENRE = 6


require_browser()


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three generated genres, and an embedding per clip where ``genrekit embed`` puts it."""
    root = make_store(tmp_path_factory.mktemp("explore"), GENRES, PER_GENRE)
    loaded = FeatureStore(root)
    rng = np.random.default_rng(1)
    for track, label in zip(loaded.tracks, loaded.labels, strict=True):
        path = feature_path(root, embedding_kind("msd-musicnn"), track.sha256)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, (5.0 * np.eye(16)[label] + rng.normal(0, 0.3, 16)).astype(np.float32))
    return root


@pytest.fixture(scope="module")
def url(store: Path) -> Iterator[str]:
    with serving("--store", str(store)) as address:
        yield address


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from launch()


def open_explore(browser: Any, url: str, width: int = 1280, height: int = 900) -> Any:
    page = browser.new_page(viewport={"width": width, "height": height})
    page.set_default_timeout(30_000)
    page.goto(url + "explore")
    page.wait_for_selector("body[data-map=mfcc_pca]")
    return page


def point(page: Any, k: int) -> tuple[float, float]:
    at = page.evaluate(f"explore.pointOnPage({k})")
    return at["x"], at["y"]


def test_points_name_their_clip_and_a_click_shows_and_plays_it(
    browser: Any, url: str, store: Path
) -> None:
    page = open_explore(browser, url)
    assert page.get_attribute("#map", "data-shown") == str(3 * PER_GENRE)
    assert page.locator("#tabs button").all_text_contents() == [
        "PCA of MFCC images",
        "t-SNE of msd-musicnn embeddings",
    ]
    tracks = FeatureStore(store).tracks
    clips = page.evaluate("view.store.clips")
    k = 7
    page.mouse.move(*point(page, k))
    page.wait_for_selector("#hover:not([hidden])")
    name, genre = tracks[clips[k]["id"]].path, tracks[clips[k]["id"]].genre
    assert page.locator("#hover strong").text_content() == name
    assert page.locator("#hover span").text_content() == genre
    page.mouse.click(*point(page, k))
    page.wait_for_selector(f"body[data-clip='{clips[k]['id']}']")
    assert page.text_content("#clip-name") == name
    assert page.text_content("#clip-genre") == genre
    assert page.is_visible("#clip-plot") and page.is_visible("#clip-cursor")
    source = page.get_attribute("#clip-player", "src") or ""
    assert source.endswith(f"/api/store/clips/{clips[k]['id']}/audio")
    page.evaluate("() => { const p = document.getElementById('clip-player'); p.muted = true; }")
    page.wait_for_function("document.getElementById('clip-player').currentTime > 0.3")
    assert page.evaluate("document.getElementById('clip-player').duration") == pytest.approx(2.0)
    page.close()


def test_a_genre_can_be_hidden_and_shown_and_the_maps_carry_their_numbers(
    browser: Any, url: str
) -> None:
    page = open_explore(browser, url)
    noise = page.locator("#genres button[data-genre=noise]")
    noise.click()
    assert noise.get_attribute("aria-pressed") == "false"
    assert page.get_attribute("#map", "data-shown") == str(2 * PER_GENRE)
    clips = page.evaluate("view.store.clips")
    hidden = next(k for k, c in enumerate(clips) if c["genre"] == GENRES.index("noise"))
    page.mouse.move(*point(page, hidden))  # a hidden clip is not named (nor one near it)
    shown = page.get_attribute("#hover", "data-clip")
    assert shown is None or clips[int(shown)]["genre"] != GENRES.index("noise")
    noise.click()
    assert page.get_attribute("#map", "data-shown") == str(3 * PER_GENRE)
    page.click("#tabs button[data-map=embedding_tsne_msd-musicnn]")
    page.wait_for_selector("body[data-map=embedding_tsne_msd-musicnn]")
    page.wait_for_function(
        "![...document.querySelectorAll('#numbers td')].some(td => td.textContent === '…')"
    )
    rows = page.locator("#numbers tr")
    assert rows.nth(0).locator("th").all_text_contents() == ["", "MFCC PCA", "msd-musicnn t-SNE"]
    knn = rows.nth(3).locator("td").all_text_contents()
    asked = "name => fetch('/api/store/maps/' + name).then(answer => answer.json())"
    expected = [
        page.evaluate(asked, name)["separation"]["knn_accuracy"]
        for name in ("mfcc_pca", "embedding_tsne_msd-musicnn")
    ]
    assert knn == [f"{100 * value:.1f} %" for value in expected]
    assert min(expected) > 0.8  # generated genres separate
    page.close()


def test_the_pages_link_to_each_other_and_a_phone_sees_it_all(browser: Any, url: str) -> None:
    page = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True)
    page.set_default_timeout(30_000)
    page.goto(url)
    page.click("header nav a[href='/explore']")
    page.wait_for_selector("body[data-map=mfcc_pca]")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert page.evaluate("document.getElementById('map').getBoundingClientRect().right") <= 390
    page.mouse.click(*point(page, 0))
    page.wait_for_selector("body[data-clip]")
    plot = page.evaluate("document.getElementById('clip-plot').getBoundingClientRect().right")
    assert plot <= 390
    page.click("header nav a[href='/']")
    page.wait_for_selector("body[data-ready]")
    assert page.is_visible("#drop")
    page.close()


def test_a_map_without_numbers_says_why(browser: Any, tmp_path: Path) -> None:
    """A genre of one clip: nothing to measure, and the page says so beside its dashes."""
    dash = "\u2013"
    tiny = make_store(tmp_path, GENRES, 1)
    with serving("--store", str(tiny)) as url:
        page = open_explore(browser, url)
        assert page.locator("#numbers tr").nth(1).locator("td").all_text_contents() == [dash]
        assert page.is_visible("#numbers-note")
        said = " ".join((page.text_content("#numbers-note") or "").split())
        assert said == f"{dash} not measured: that needs 2 genres or more on the map, " + (
            "each of 2 clips or more."
        )
        page.close()
