"""Preloaded by the test cluster's workers (``dask worker --preload``): every clip takes 40 ms
more to extract, so that a run lasts long enough to be killed mid-run on any machine. Its
results are unchanged."""

from __future__ import annotations

import functools
import time
from typing import Any

from genrekit import extract

# Dask imports a preload file twice (import, then reload into the same namespace): wrap the
# original once, not the wrapper again.
_extract_one = getattr(extract._extract_one, "__wrapped__", extract._extract_one)


@functools.wraps(_extract_one)
def _slow(*args: Any, **kwargs: Any) -> Any:
    time.sleep(0.04)
    return _extract_one(*args, **kwargs)


extract._extract_one = _slow
