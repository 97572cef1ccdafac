"""Figures written to files: matplotlib without a display, saved atomically, always closed.

Every figure genrekit draws (spectrograms, confusion matrices, learning curves, the exploration
report's maps) goes through :func:`pyplot` and :func:`save`, so none needs a display, none is
left half-written, and none stays open in a long run.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from genrekit import extras
from genrekit.storage import atomic_path


def pyplot(what: str = "drawing figures") -> Any:
    """``matplotlib.pyplot`` on the Agg backend (files, no display); one line if not installed."""
    extras.require(what, "matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(figure: Any, path: str | os.PathLike[str], *, dpi: float | None = None) -> Path:
    """Write ``figure`` to ``path`` atomically (format from its suffix, PNG by default), then
    close it. Returns the path written."""
    import matplotlib.pyplot as plt

    target = Path(path)
    try:
        with atomic_path(target) as tmp:
            figure.savefig(tmp, format=target.suffix.lstrip(".").lower() or "png", dpi=dpi)
    finally:
        plt.close(figure)
    return target


def literal(text: str) -> str:
    """``text`` for a matplotlib label, shown as written: a "$" in a name is a dollar, not math."""
    return text.replace("$", r"\$")
