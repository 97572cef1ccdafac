"""Screenshots of genrekit serve's Classify page, desktop and phone, for the README.

Starts ``genrekit serve examples`` on a free loopback port, opens the page in Debian's headless
chromium (Playwright for Python, ``executable_path``: no browser download), picks the metal
example from the folder's list, waits for its answer, plays it muted for a moment so the cursor
shows, and writes ``docs/serve-classify.png`` (1280 wide) and ``docs/serve-classify-phone.png``
(390 wide), in 256 colours (Pillow). Prints the time the page took to show each answer.

    python scripts/serve_screenshots.py [--out docs] [--chromium /usr/bin/chromium]
"""

from __future__ import annotations

import argparse
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
TRACK = "metal/Muldjord - Armygeddon.mp3"
SIZES = {"serve-classify.png": (1280, 860), "serve-classify-phone.png": (390, 844)}


def start_server(*args: str) -> tuple[subprocess.Popen[str], str]:
    """``genrekit serve ARGS --port 0`` (both screenshot scripts): the process and its URL."""
    server = subprocess.Popen(
        [sys.executable, "-m", "genrekit", "serve", *args, "--port", "0"],
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
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    args = parser.parse_args()
    server, url = start_server(str(ROOT / "examples"))
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=args.chromium,
                args=["--no-sandbox", "--autoplay-policy=no-user-gesture-required"],
            )
            for name, (width, height) in SIZES.items():
                page = browser.new_page(viewport={"width": width, "height": height})
                page.goto(url)
                page.wait_for_selector("body[data-ready]")
                page.fill("#search", "army")
                page.click(f'#tracks button[data-name="{TRACK}"]')
                page.wait_for_selector("body[data-state=done]")
                answered = page.get_attribute("body", "data-answered-in")
                page.evaluate(
                    "() => { const p = document.getElementById('player');"
                    " p.muted = true; p.currentTime = 11; }"
                )
                page.wait_for_function("document.getElementById('cursor').dataset.seconds > 10")
                target = args.out / name
                page.screenshot(path=str(target), full_page=True)
                shrink(target)
                print(f"{name}: {width} px wide, answer shown in {answered} s")
                page.close()
            browser.close()
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
