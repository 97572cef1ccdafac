"""Preloaded by a test worker (``dask worker --preload``): this worker cannot import genrekit,
as a node where it was not installed."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType


class _NoGenrekit:
    def find_spec(
        self, name: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if name == "genrekit" or name.startswith("genrekit."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


for _name in [m for m in sys.modules if m == "genrekit" or m.startswith("genrekit.")]:
    del sys.modules[_name]
if not any(isinstance(finder, _NoGenrekit) for finder in sys.meta_path):
    sys.meta_path.insert(0, _NoGenrekit())
