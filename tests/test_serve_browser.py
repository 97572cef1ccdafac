"""The Classify page of ``genrekit serve`` in a real headless Chromium, as a person uses it.

The real command (``python -m genrekit serve examples --port 0``) serves on loopback; Debian's
``chromium``, driven by Playwright for Python (``executable_path``: no browser download), opens
the page, uploads a bundled example, waits for its probabilities, checks the genre shown, plays
it and sees the cursor move; picks a track from the folder's search; and shows the CLI's reason
for a file that is not audio. Without chromium (or Playwright) these tests are skipped, saying
why; ``GENREKIT_REQUIRE_BROWSER=1`` (CI) makes that a failure instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser import launch, require_browser, serving
from tests.conftest import EXAMPLES

METAL = "metal/Muldjord - Armygeddon.mp3"


require_browser()


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    """The real ``genrekit serve examples``."""
    with serving(str(EXAMPLES)) as address:
        yield address


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from launch()


@pytest.fixture
def page(browser: Any, url: str) -> Iterator[Any]:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(20_000)
    page.goto(url)
    page.wait_for_selector("body[data-ready]")
    yield page
    page.close()


def cursor_seconds(page: Any) -> float:
    return float(page.get_attribute("#cursor", "data-seconds") or "nan")


def test_an_upload_shows_its_genre_and_the_cursor_follows_the_player(page: Any) -> None:
    page.set_input_files("#file", str(EXAMPLES / METAL))
    page.wait_for_selector("body[data-state=done]")
    assert page.text_content("#top-genre") == "metal"
    assert page.text_content("#name") == "Muldjord - Armygeddon.mp3"
    bars = page.locator("#bars li")
    assert bars.count() == 14
    assert bars.first.get_attribute("data-genre") == "metal"
    assert page.text_content("#bars li.top .value") == "87 %"
    assert page.locator("#tags .tagger h4").all_text_contents() == ["msd-musicnn", "mtt-musicnn"]
    assert page.is_visible("#plot") and page.is_visible("#cursor")
    legend = page.locator("#legend span").all_text_contents()
    assert "metal" in legend
    start = page.eval_on_selector("#cursor", "c => parseFloat(c.style.left)")
    assert cursor_seconds(page) == 0.0
    page.evaluate(
        "() => { const p = document.getElementById('player'); p.muted = true; p.play(); }"
    )
    page.wait_for_function("document.getElementById('cursor').dataset.seconds > 0.5")
    moved = page.eval_on_selector("#cursor", "c => parseFloat(c.style.left)")
    assert moved > start
    # Seeking moves it too, in proportion: 20 s is twice as far from the start as 10 s.
    at = {}
    for seconds in (10, 20):
        page.evaluate(
            f"() => {{ const p = document.getElementById('player'); p.pause(); "
            f"p.currentTime = {seconds}; }}"
        )
        page.wait_for_function(
            f"Math.abs(document.getElementById('cursor').dataset.seconds - {seconds}) < 0.3"
        )
        at[seconds] = page.eval_on_selector("#cursor", "c => parseFloat(c.style.left)")
    assert at[20] - start == pytest.approx(2 * (at[10] - start), rel=0.05)


def test_a_track_found_in_the_folder_is_classified_and_played_from_it(page: Any) -> None:
    page.fill("#search", "army")
    page.wait_for_function("document.querySelectorAll('#tracks button').length === 1")
    page.click(f'#tracks button[data-name="{METAL}"]')
    page.wait_for_selector("body[data-state=done]")
    assert page.text_content("#top-genre") == "metal"
    assert page.text_content("#name") == METAL
    source = page.get_attribute("#player", "src") or ""
    assert source.endswith("/api/tracks/metal/Muldjord%20-%20Armygeddon.mp3/audio")
    page.wait_for_function("document.getElementById('player').readyState >= 1")
    assert page.evaluate("document.getElementById('player').duration") == pytest.approx(30, abs=1)


def test_a_file_that_is_not_audio_gets_the_cli_reason(page: Any, tmp_path: Path) -> None:
    fake = tmp_path / "song.mp3"
    fake.write_text("a text file named .mp3")
    page.set_input_files("#file", str(fake))
    page.wait_for_selector("body[data-state=error]")
    reason = page.text_content("#error") or ""
    assert reason.startswith("cannot classify: cannot be decoded as audio (tried libsndfile")
    assert page.is_hidden("#figure")


def test_a_phone_sees_the_whole_page_without_scrolling_sideways(browser: Any, url: str) -> None:
    page = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True)
    page.set_default_timeout(20_000)
    page.goto(url)
    page.wait_for_selector("body[data-ready]")
    page.set_input_files("#file", str(EXAMPLES / METAL))
    page.wait_for_selector("body[data-state=done]")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert page.evaluate("document.getElementById('plot').getBoundingClientRect().right") <= 390
    page.close()


def test_a_silent_file_says_why_it_has_no_probabilities(page: Any, tmp_path: Path) -> None:
    import numpy as np
    import soundfile as sf

    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(22050 * 3, np.float32), 22050)
    page.set_input_files("#file", str(silent))
    page.wait_for_selector("body[data-state=done]")
    assert page.text_content("#top-genre") == "unknown"
    assert page.locator("#bars li").all_text_contents() == [
        "none: not classified (silent: never louder than -60 dBFS)"
    ]


def test_the_api_docs_fit_a_phone(browser: Any, url: str) -> None:
    """Every operation's path and fields stay inside its card on a 390-pixel screen."""
    page = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True)
    page.set_default_timeout(20_000)
    page.goto(url + "docs")
    page.wait_for_selector("section.operation table.fields")
    poking_out = page.evaluate(
        """() => [...document.querySelectorAll('section.operation')].flatMap((card) => {
          const inner = card.getBoundingClientRect().right
            - parseFloat(getComputedStyle(card).paddingRight);
          return [...card.querySelectorAll('h2, table.fields')]
            .filter((part) => part.getBoundingClientRect().right > inner + 0.5
              || part.scrollWidth > part.clientWidth)
            .map((part) => part.textContent.slice(0, 40));
        })"""
    )
    assert poking_out == []
    page.close()


def test_a_name_s_hidden_characters_are_shown_as_the_cli_shows_them(page: Any) -> None:
    """ESC and a right-to-left override in a file's name are written out, not acted on."""
    name = "\x1b[31mred\u202eevil.mp3"
    page.set_input_files(
        "#file", files=[{"name": name, "mimeType": "audio/mpeg", "buffer": b"not audio"}]
    )
    page.wait_for_selector("body[data-state=error]")
    assert page.text_content("#name") == "\\x1b[31mred\\u202eevil.mp3"
