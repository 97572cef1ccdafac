"""Opening genrekit's ONNX graphs with onnxruntime: one place for the session options and errors.

Every graph genrekit ships or exports carries a JSON description under the metadata key
``genrekit``; a classifier and a backbone read different fields of it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from genrekit.errors import ModelError


def open_session(path: Path, *, threads: int | None = None) -> tuple[Any, dict[str, Any]]:
    """An onnxruntime session on the CPU for ``path``, and the graph's genrekit metadata.

    ``threads`` caps the session's own threads (one per caller when callers run in parallel).
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only: onnxruntime's notices are not the user's
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    try:
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        meta: dict[str, Any] = json.loads(session.get_modelmeta().custom_metadata_map["genrekit"])
    except KeyError:
        raise ModelError(f"{path}: an ONNX model, but not one genrekit exported") from None
    except Exception as exc:  # onnxruntime raises its own kinds for unreadable files
        raise ModelError(f"{path}: not a readable ONNX model ({exc})") from exc
    return session, meta
