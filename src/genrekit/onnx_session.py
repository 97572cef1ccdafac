"""Opening genrekit's ONNX graphs with onnxruntime: one place for the session options and errors.

Every graph genrekit ships or exports carries a JSON description under the metadata key
``genrekit``; a classifier and a backbone read different fields of it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from genrekit.errors import ModelError

MAX_REASON = 300
"""Characters of an onnxruntime message kept in an error line."""


def one_line(exc: BaseException) -> str:
    """An exception's message on one line, at most :data:`MAX_REASON` characters (onnxruntime's
    span several lines and repeat the path)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= MAX_REASON else text[: MAX_REASON - 3] + "..."


def open_session(path: Path, *, threads: int | None = None) -> tuple[Any, Any]:
    """An onnxruntime session on the CPU for ``path``, and the graph's genrekit metadata (parsed
    JSON, unchecked: the caller checks the fields it reads).

    ``threads`` caps the session's own threads (one per caller when callers run in parallel).
    Raises :class:`ModelError` naming ``path`` for a file onnxruntime cannot load (not ONNX,
    truncated, damaged) or one without genrekit's metadata.
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only: onnxruntime's notices are not the user's
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    try:
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        text = session.get_modelmeta().custom_metadata_map.get("genrekit")
    except Exception as exc:  # onnxruntime raises its own kinds for unreadable files
        reason = one_line(exc).replace(f"Load model from {path} failed:", "")
        raise ModelError(f"{path}: not a readable ONNX model ({reason})") from None
    if text is None:
        raise ModelError(f"{path}: an ONNX model, but not one genrekit exported")
    try:
        return session, json.loads(text)
    except ValueError as exc:
        raise ModelError(f"{path}: its genrekit metadata is not valid JSON ({exc})") from None
