"""What the browser tests of ``genrekit serve`` share: Debian's chromium through Playwright, and
the real command on a free loopback port.

A test module calls :func:`require_browser` at import: without chromium or Playwright it is
skipped, saying why, unless ``GENREKIT_REQUIRE_BROWSER=1`` (CI) makes that a failure. Its
``browser`` fixture comes from :func:`launch`, its server from :func:`serving`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest

CHROMIUM = shutil.which(os.environ.get("GENREKIT_CHROMIUM") or "chromium") or ""
REQUIRED = os.environ.get("GENREKIT_REQUIRE_BROWSER") == "1"


def _missing() -> str | None:
    if not CHROMIUM:
        return "no chromium on PATH (apt-get install chromium, or set GENREKIT_CHROMIUM)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed (pip install -e '.[test]')"
    return None


def require_browser() -> None:
    """Skip the calling test module (or fail it, in CI) when there is no browser to drive."""
    if (why := _missing()) is not None:
        if REQUIRED:
            pytest.fail(f"GENREKIT_REQUIRE_BROWSER=1 but {why}", pytrace=False)
        pytest.skip(f"browser tests: {why}", allow_module_level=True)


def launch() -> Iterator[Any]:
    """Headless chromium that may play audio without a click; closed after the module."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--autoplay-policy=no-user-gesture-required"],
        )
        yield chromium
        chromium.close()


@contextlib.contextmanager
def serving(*args: str) -> Iterator[str]:
    """The real ``genrekit serve ARGS --port 0`` on loopback: its URL; stopped with Ctrl-C,
    after which it must exit 130 saying "stopped", as every command does."""
    server = subprocess.Popen(
        [sys.executable, "-m", "genrekit", "serve", *args, "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    deadline = threading.Timer(120, server.kill)  # a server that never says its URL ends
    deadline.start()
    assert server.stdout is not None and server.stderr is not None
    line = server.stdout.readline()
    deadline.cancel()
    assert line.startswith("genrekit serve: http://127.0.0.1:"), (line, server.stderr.read())
    try:
        yield line.split()[2]
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=15)
        finally:
            server.kill()
    said = server.stderr.read()
    assert server.returncode == 130, said
    assert said.strip().endswith("stopped"), repr(said)
