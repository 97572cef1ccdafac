"""Progress of long work: one shape for every library function that reports it.

A function that takes ``progress`` calls it with a :class:`Step` when it knows how much there is
to do (``done`` 0, ``item`` None) and after each thing it finishes (``item`` says what it was:
an extracted clip's outcome, an embedded clip, a fetched track, an epoch's log, a fold's
accuracy). A caller
draws a bar from ``done``/``total`` and reads ``item`` for what to print beside it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Step:
    stage: str  # what is being done: "extract", "embed", "list", "download", "epoch", "fold", ...
    done: int  # things finished in this stage so far
    total: int | None  # things to do in this stage; None while unknown
    item: Any = None  # the thing just finished, None for the announcement of a stage


Progress = Callable[[Step], None]
