"""Opening ONNX graphs (genrekit.onnx_session): the session's threads, its metadata, and
onnxruntime's messages cut to one line. Damaged and foreign graphs: test_failures_models.py."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from genrekit.onnx_session import MAX_REASON, one_line, open_session


def test_a_shipped_graph_opens_with_its_metadata_and_the_threads_asked_for() -> None:
    path = Path(str(files("genrekit.pretrained") / "gtzan-cnn.onnx"))
    session, meta = open_session(path, threads=1)
    assert meta["format"] == "genrekit-onnx" and meta["architecture"] == "cnn"
    assert meta["classes"][:3] == ["blues", "classical", "country"] and len(meta["classes"]) == 10
    options = session.get_session_options()
    assert (options.intra_op_num_threads, options.inter_op_num_threads) == (1, 1)
    unbounded, _ = open_session(path)
    assert unbounded.get_session_options().intra_op_num_threads == 0  # onnxruntime's default


def test_one_line_joins_lines_and_keeps_at_most_max_reason_characters() -> None:
    assert one_line(RuntimeError("Load failed:\n  bad   header\tat 12\n")) == (
        "Load failed: bad header at 12"
    )
    assert one_line(RuntimeError("")) == "RuntimeError"
    long = one_line(RuntimeError("x" * 1000))
    assert len(long) == MAX_REASON and long.endswith("x...")
