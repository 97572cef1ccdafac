"""A fresh Python whose import system refuses some packages, as an install without them would:
for the tests of what works without PyTorch or without the extras."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

_SHIM = """
import sys

HIDDEN = {hidden!r}


class Hidden:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in HIDDEN:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None


sys.meta_path.insert(0, Hidden())
"""


def env_without(folder: Path, hidden: tuple[str, ...]) -> dict[str, str]:
    """The environment of a Python that cannot import ``hidden`` (a ``sitecustomize`` in
    ``folder`` refuses them)."""
    (folder / "sitecustomize.py").write_text(_SHIM.format(hidden=hidden))
    path = os.pathsep.join([str(folder), str(ROOT), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "PYTHONPATH": path, "COLUMNS": "200"}


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """``genrekit ARGS`` in a fresh Python with ``env``."""
    return subprocess.run(
        [sys.executable, "-m", "genrekit", *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
