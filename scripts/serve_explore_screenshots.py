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
import subprocess
import sys
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
SIZES = {"serve-explore.png": (1280, 820), "serve-explore-phone.png": (390, 844)}


def start_server(store: Path, folder: Path | None) -> tuple[subprocess.Popen[str], str]:
    args = [str(folder)] if folder else []
    server = subprocess.Popen(
        [sys.executable, "-m", "genrekit", "serve", *args, "--store", str(store), "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None
    line = server.stdout.readline()  # "genrekit serve: http://127.0.0.1:PORT/ (Ctrl-C stops it)"
    if "http://" not in line:
        server.kill()
        raise SystemExit(f"the server did not start: {line!r}")
    return server, line.split()[2]


def shrink(path: Path) -> None:
    """The PNG in 256 colours (Pillow's adaptive palette): a third of the bytes, for the repo."""
    from PIL import Image

    with Image.open(path) as image:
        small = image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    small.save(path, optimize=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("store", type=Path)
    parser.add_argument("--folder", type=Path)
    parser.add_argument("--clip", type=int, help="the store's clip to click (default: one)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    args = parser.parse_args()
    server, url = start_server(args.store, args.folder)
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
                there = page.evaluate(f"explore.pointOnPage({k + 40})")
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
