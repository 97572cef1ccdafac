"""Screenshots of genrekit serve's Explore page, desktop and phone, for the README.

Starts ``genrekit serve [FOLDER] --store STORE`` on a free loopback port, opens ``/explore`` in
Debian's headless chromium (Playwright for Python, ``executable_path``: no browser download),
waits for every map's numbers, shows the t-SNE map if there is one, clicks the clip nearest the
middle of the first genre's points and hovers another, and writes ``docs/serve-explore.png``
(1280 wide) and ``docs/serve-explore-phone.png`` (390 wide) in 256 colours (Pillow). Prints how
long the page took to show its first map.

    python scripts/serve_explore_screenshots.py STORE [--folder FOLDER] [--out docs]
"""

from __future__ import annotations

import argparse
import shutil
import signal
import time
from pathlib import Path

from playwright.sync_api import sync_playwright
from serve_screenshots import shrink, start_server  # the sibling script: the same server, PNGs

ROOT = Path(__file__).resolve().parent.parent
SIZES = {"serve-explore.png": (1280, 820), "serve-explore-phone.png": (390, 844)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("store", type=Path)
    parser.add_argument("--folder", type=Path)
    parser.add_argument("--clip", type=int, help="the store's clip to click (default: one)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    args = parser.parse_args()
    folder = [str(args.folder)] if args.folder else []
    server, url = start_server(*folder, "--store", str(args.store))
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=args.chromium,
                args=["--no-sandbox", "--autoplay-policy=no-user-gesture-required"],
            )
            for name, (width, height) in SIZES.items():
                page = browser.new_page(viewport={"width": width, "height": height})
                page.set_default_timeout(120_000)
                started = time.monotonic()
                page.goto(url + "explore")
                page.wait_for_selector("body[data-map]")
                shown = time.monotonic() - started
                page.wait_for_function(
                    "!document.querySelector('#numbers td:empty') && "
                    "![...document.querySelectorAll('#numbers td')]"
                    ".some(td => td.textContent === '…')"
                )
                tabs = page.locator("#tabs button")
                if tabs.count() > 1:
                    tabs.nth(1).click()
                    page.wait_for_function(
                        f"document.body.dataset.map === {tabs.nth(1).get_attribute('data-map')!r}"
                    )
                k = page.evaluate(f"explore.clipIndex({args.clip})") if args.clip is not None else 0
                at = page.evaluate(f"explore.pointOnPage({k})")
                page.mouse.click(at["x"], at["y"])
                page.wait_for_selector("body[data-clip]")
                page.evaluate(
                    "() => { const p = document.getElementById('clip-player');"
                    " p.muted = true; p.pause(); p.currentTime = 9; }"
                )
                shown = int(page.get_attribute("#map", "data-shown") or 1)
                there = page.evaluate(f"explore.pointOnPage({(k + 40) % shown})")  # another one
                page.mouse.move(there["x"], there["y"])
                page.wait_for_selector("#hover:not([hidden])")
                target = args.out / name
                page.screenshot(path=str(target), full_page=True)
                shrink(target)
                print(f"{name}: {width} px wide, first map shown in {shown:.2f} s")
                page.close()
            browser.close()
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
